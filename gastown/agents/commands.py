"""Commands a bead runs: each under the jail (see ``jail``), in its own process group,
timed, its group killed on timeout or past the output limit, and every group a stopping
watcher must end kept in ``CHILDREN``; and the test counts read from what a test runner
printed. What a command printed comes back without terminal escape codes: a project whose
test settings force colour (pytest's ``--color=yes`` in its addopts) is read as any other,
and a model is not shown the codes.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gastown.agents.cgroups import Group
from gastown.agents.jail import Jail, SandboxUnavailable

OUTPUT_LIMIT = 12000
# A terminal's control sequences: CSI (colours, cursor moves), OSC (titles, links), a
# character set's choice (``tput sgr0`` ends with one) and the other two-character escapes.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[()*+][0-9A-Za-z]|\x1b[=>78]")


def tail(text: str, limit: int = OUTPUT_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return f"[... {len(text) - limit} characters cut ...]\n" + text[-limit:]


class Children:
    """Process groups (and control groups) started by tools, so a stopping watcher can end
    them all — a process that left the process group included, where its control group holds it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pids: set[int] = set()
        self._groups: set[Group] = set()

    def add_group(self, group: Group) -> None:
        with self._lock:
            self._groups.add(group)

    def discard_group(self, group: Group) -> None:
        with self._lock:
            self._groups.discard(group)

    def add(self, pid: int) -> None:
        with self._lock:
            self._pids.add(pid)

    def discard(self, pid: int) -> None:
        with self._lock:
            self._pids.discard(pid)

    def kill_all(self) -> None:
        with self._lock:
            pids, groups = list(self._pids), list(self._groups)
        for group in groups:
            group.kill()
        for pid in pids:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


CHILDREN = Children()


@dataclass(frozen=True)
class Run:
    """A finished command."""

    argv: tuple[str, ...]
    exit_code: int
    output: str
    timed_out: bool = False


def run_command(argv: Sequence[str], cwd: Path, timeout: float, env: Mapping[str, str], jail: Jail) -> Run:
    """Run ``argv`` in ``cwd`` under ``jail``, in its own process group; kill the whole group
    on timeout or when its output passes the jail's limit."""
    try:
        ready = jail.prepare(argv, cwd, timeout, env)
    except SandboxUnavailable as error:
        return Run(tuple(argv), 126, error.line())
    try:
        proc = subprocess.Popen(
            ready.argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=ready.env,
            start_new_session=True,
        )
    except FileNotFoundError:
        ready.cleanup()
        return Run(tuple(argv), 127, f"{argv[0]}: command not found")
    except OSError as error:
        ready.cleanup()
        return Run(tuple(argv), 126, f"{argv[0]}: {error.strerror}")
    CHILDREN.add(proc.pid)
    if ready.group is not None:
        CHILDREN.add_group(ready.group)
    deadline = time.monotonic() + timeout
    try:
        out, stopped = _collect(proc, deadline, ready.output_limit)
        if not stopped:  # its output ended; the command may not have (it closed its output and runs on)
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                stopped = "timeout"
        if stopped:
            _kill_group(proc.pid)
        code = proc.wait()
        text = _ESCAPES.sub("", out.decode(errors="replace"))
        if stopped == "output":
            text += f"\n[stopped: the output passed {ready.output_limit // (1024 * 1024)} MiB]"
        elif stopped == "held":
            text += "\n[a process it started kept the output open after it ended; what it printed after is not shown]"
        return Run(tuple(argv), -9 if stopped == "timeout" else code, text, timed_out=stopped == "timeout")
    finally:
        CHILDREN.discard(proc.pid)
        if ready.group is not None:
            CHILDREN.discard_group(ready.group)
        ready.cleanup()


LINGER_S = 1.0  # how long output is read after the command ended (a process it started may hold it open)


def _collect(proc: subprocess.Popen[bytes], deadline: float, limit: int) -> tuple[bytes, str]:
    """The command's output and why reading stopped early: "timeout", "output" (past
    ``limit``), "held" (it ended but something it started kept the pipe open), or ""."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    ended_at: float | None = None
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                return b"".join(chunks), "timeout"
            if ended_at is None and proc.poll() is not None:
                ended_at = now
            if ended_at is not None and now - ended_at > LINGER_S:
                return b"".join(chunks), "held"
            if not _readable(fd, min(0.2, deadline - now)):
                continue
            data = os.read(fd, 65536)
            if not data:
                return b"".join(chunks), ""
            chunks.append(data[: max(0, limit - size)])
            size += len(data)
            if size > limit:
                return b"".join(chunks), "output"
    finally:
        proc.stdout.close()


def _readable(fd: int, seconds: float) -> bool:
    """Whether ``fd`` has output (or its end) within ``seconds`` (poll: no limit on fd numbers)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    return bool(poller.poll(max(0, int(seconds * 1000))))


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


_COUNT_RE = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)\b")
_GUT_RE = re.compile(r"^\s*(Passing|Failing|Pending|Errors?)(?: Tests)?\s*[:=]?\s*(\d+)", re.MULTILINE)


def count_tests(output: str) -> dict[str, int]:
    """passed / failed / errors / skipped counted from pytest's or GUT's summary."""
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    found = False
    for number, word in _COUNT_RE.findall(output):
        key = {
            "error": "errors",
            "xfailed": "skipped",
            "xpassed": "passed",
            "deselected": "skipped",
        }.get(word, word)
        if key in counts:
            counts[key] = int(number)  # the last summary line wins
            found = True
    if not found:
        for word, number in _GUT_RE.findall(output):
            key = {"Passing": "passed", "Failing": "failed", "Pending": "skipped"}.get(word, "errors")
            counts[key] = int(number)
    return counts
