"""The OS sandbox for every command that runs a model's code.

`shell_exec`, the bead's tests (the loop's and `run_tests`), the Refinery's gates and
coverage, and `gt eval`'s judge all run code a model wrote. In ``bwrap`` mode (the
default) each runs under bubblewrap: the system read-only; the bead's worktree the one
writable folder beside a private ``/tmp``; the home folder and gastown's state hidden
(the interpreter the command needs is shown again, read-only); no network unless the rig
allows it; its own PID namespace and session, so nothing it starts outlives it, nor its
watcher (``--die-with-parent``), and ``/proc`` shows no other process. In every mode the
environment starts empty and gets only ``PATH``, the locale, what the rig names and, for a
``src/`` layout's Python package, that folder of the worktree on ``PYTHONPATH``;
``prlimit`` caps CPU time, address space, processes and file size; where this process may
make control groups, the command and everything it starts share one group that caps their
processes and memory together and is emptied when the command ends (see ``cgroups``);
output past a limit stops the command. Without bubblewrap a model's commands are refused,
unless the town opts in to ``mode = "none"`` — the same environment and limits, no
namespaces.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from gastown.agents import cgroups
from gastown.errors import ConfigError

PASSED = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ", "TERM")
MIB = 1024 * 1024
INSTALL_HINT = (
    'install bubblewrap (Debian and Ubuntu: apt-get install bubblewrap), or put [sandbox] mode = "none" '
    "in town.toml to run model commands unconfined"
)


class SandboxUnavailable(ConfigError):
    """Model commands cannot run: the sandbox the town asks for is missing."""


@dataclass(frozen=True)
class Policy:
    """What a rig's commands may have: its ``[sandbox]`` table."""

    network: bool = False  # the host's network (else only a loopback of their own)
    memory_mb: int = 4096  # address space of each process, and the memory of the whole command
    processes: int = 256  # processes and threads the command may have
    file_mb: int = 1024  # the largest file a command may write
    output_mb: int = 16  # printed output kept; past it the command is stopped
    env: tuple[str, ...] = ()  # variables passed in besides PASSED
    visible: tuple[str, ...] = ()  # host folders shown read-only though under a hidden one
    src_path: bool = True  # a src/ layout's package imported from the worktree (see python_source)

    @classmethod
    def of(cls, table: Mapping[str, Any] | None) -> Policy:
        """The policy of a rig's ``[sandbox]`` table (already checked by rig.schema.json)."""
        table = table or {}
        names = ("network", "memory_mb", "processes", "file_mb", "output_mb", "src_path")
        known = {k: table[k] for k in names if k in table}
        return cls(
            **known,
            env=tuple(table.get("env", ())),
            visible=tuple(str(Path(p).expanduser()) for p in table.get("visible", ())),
        )


@dataclass(frozen=True)
class Prepared:
    """A command ready to start: what to exec, with which environment, and what to remove after."""

    argv: list[str]
    env: dict[str, str]
    scratch: Path | None = None  # a private home and tmp (mode "none"), removed when the command ends
    output_limit: int = 16 * MIB
    group: cgroups.Group | None = None  # its control group: what is left in it is killed at the end

    def cleanup(self) -> None:
        if self.group is not None:
            self.group.close()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


@dataclass(frozen=True)
class Jail:
    """How this process runs a model's commands."""

    mode: str = "bwrap"
    policy: Policy = field(default_factory=Policy)
    hidden: tuple[Path, ...] = ()  # folders besides the home folder the commands may not see (the town)
    bwrap: str = "bwrap"
    groups: bool = True  # a control group per command where this process may make one

    def for_rig(self, policy: Policy) -> Jail:
        return Jail(self.mode, policy, self.hidden, self.bwrap, self.groups)

    def problem(self) -> str:
        """Why commands cannot run here ("" when they can)."""
        if self.mode == "none":
            return ""
        found = shutil.which(self.bwrap)
        if found is None:
            return f"model commands are refused: bubblewrap ({self.bwrap}) is not installed"
        why = _bwrap_works(found)
        return f"model commands are refused: bubblewrap cannot make a sandbox here: {why}" if why else ""

    def check(self) -> None:
        """SandboxUnavailable when commands cannot run here."""
        why = self.problem()
        if why:
            raise SandboxUnavailable(why, INSTALL_HINT)

    def describe(self) -> str:
        """One line for ``gt status``."""
        why = self.problem()
        if why:
            return f"{self.mode}: {why}"
        limits = cgroups.find().describe() if self.groups else "prlimit's caps per process only"
        if self.mode == "none":
            return f'none: model commands run unconfined (opted in with [sandbox] mode = "none"); limits: {limits}'
        return f"bwrap: model commands run in bubblewrap; limits: {limits}"

    def prepare(self, argv: Sequence[str], root: Path, timeout: float, env: Mapping[str, str]) -> Prepared:
        """``argv`` to run in ``root`` under this jail, given the caller's environment ``env``."""
        policy = self.policy
        names = (*PASSED, *policy.env)
        child = {k: env[k] for k in names if k in env}
        child.setdefault("PATH", os.defpath)
        child["PYTHONDONTWRITEBYTECODE"] = "1"  # no stale caches left in the worktree between tries
        source = python_source(root) if policy.src_path else None
        if source is not None:
            # A src layout's package comes from this worktree: an editable install points at
            # the user's own checkout, and without one the package would not import at all.
            # The tests must run the code the bead wrote.
            child["PYTHONPATH"] = os.pathsep.join(p for p in (str(source), child.get("PYTHONPATH")) if p)
        scratch: Path | None = None
        if self.mode == "none":
            scratch = Path(tempfile.mkdtemp(prefix="gt-cmd-"))
            child["HOME"] = child["TMPDIR"] = str(scratch)
            inner = list(argv)
        else:
            child["HOME"] = child["TMPDIR"] = "/tmp"
            inner = self._bwrap(argv, root.resolve(), env)
        command = [*_limits(policy, timeout), *inner]
        group = cgroups.make(policy.processes, policy.memory_mb * MIB) if self.groups else None
        if group is not None:
            command = group.join(command)
        return Prepared(command, child, scratch, policy.output_mb * MIB, group)

    def _bwrap(self, argv: Sequence[str], root: Path, env: Mapping[str, str]) -> list[str]:
        found = shutil.which(self.bwrap)
        if found is None:
            raise SandboxUnavailable(f"bubblewrap ({self.bwrap}) is not installed", INSTALL_HINT)
        args = [found, "--die-with-parent", "--new-session", "--unshare-all"]
        if os.geteuid() == 0:
            # Run by root, bubblewrap leaves the command root's capabilities: it could raise
            # its own limits, read any file and change its mounts.
            args += ["--cap-drop", "ALL"]
        if self.policy.network:
            args.append("--share-net")
        args += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        # /run holds the sockets of the user's session (D-Bus, an ssh agent, docker): none of them
        args += ["--tmpfs", "/run"]
        if self.policy.network:  # name resolution may live there
            resolver = Path("/etc/resolv.conf").resolve()
            if resolver.is_relative_to("/run") and resolver.exists():
                args += ["--ro-bind", str(resolver.parent), str(resolver.parent)]
        home = env.get("HOME") or os.environ.get("HOME") or ""
        hidden = [Path(p) for p in (home, *map(str, self.hidden)) if p and Path(p).is_dir() and Path(p) != Path("/")]
        for folder in hidden:
            args += ["--tmpfs", str(folder)]
        covered = [Path("/tmp"), Path("/run"), *hidden]
        for shown in _shown(argv, env, self.policy.visible, root):
            # strictly inside what is hidden, and holding nothing hidden: never the home folder itself
            inside = any(shown != folder and shown.is_relative_to(folder) for folder in covered)
            holds = any(folder.is_relative_to(shown) for folder in covered)
            if shown.exists() and inside and not holds:
                args += ["--ro-bind", str(shown), str(shown)]
        args += ["--bind", str(root), str(root)]
        if (root / ".git").is_file():  # the worktree's link to its repository: gastown's git follows it
            args += ["--ro-bind", str(root / ".git"), str(root / ".git")]
        args += ["--chdir", str(root), "--", *argv]
        return args


EXTENSION_SOURCES = (".c", ".cc", ".cpp", ".cxx", ".pyx", ".rs")  # a package built before it imports


def python_source(root: Path) -> Path | None:
    """``root/src`` when it holds Python (a module, a package, a namespace package: a ``.py``
    file within four levels) and no extension sources there: a package built in place
    (Cython, C, Rust) imports only from where it was built, not from a worktree's sources."""
    source = root.resolve() / "src"
    if not source.is_dir():
        return None
    suffixes = {p.suffix for depth in range(1, 5) for p in source.glob("/".join(["*"] * depth))}
    if ".py" not in suffixes or suffixes & set(EXTENSION_SOURCES):
        return None
    return source


def _limits(policy: Policy, timeout: float) -> list[str]:
    """The ``prlimit`` prefix that caps what the command may use ([] without prlimit)."""
    found = shutil.which("prlimit")
    if found is None:
        return []
    seconds = max(1, math.ceil(timeout)) * 2  # CPU time: the wall timeout catches the rest
    return [
        found,
        f"--cpu={seconds}",
        f"--as={policy.memory_mb * MIB}",
        f"--nproc={_tasks() + policy.processes}",
        f"--fsize={policy.file_mb * MIB}",
        "--core=0",
        "--",
    ]


def _tasks() -> int:
    """Every task on the machine (its users' processes and threads are fewer): the process
    limit counts a user's tasks, so the limit is this plus the command's share."""
    try:
        return int(Path("/proc/loadavg").read_text().split()[3].split("/")[1])
    except (OSError, IndexError, ValueError):
        return 4096


def _shown(argv: Sequence[str], env: Mapping[str, str], visible: Sequence[str], root: Path) -> list[Path]:
    """Folders the command needs though they may lie under a hidden one: the prefix of its
    interpreter (a virtual environment's, and the Python it was made from), gastown's own."""
    found: list[Path] = [Path(v) for v in visible]
    program = argv[0] if argv else ""
    located = shutil.which(program, path=env.get("PATH")) if "/" not in program else str(root / program)
    candidates = [Path(sys.executable)]
    if located:
        candidates.append(Path(located))
    for exe in candidates:
        for path in (exe.absolute(), exe.resolve()):
            prefix = path.parent.parent
            found.append(prefix)
            config = prefix / "pyvenv.cfg"
            if config.is_file():
                for line in config.read_text(errors="replace").splitlines():
                    key, _, value = line.partition("=")
                    if key.strip() == "home" and value.strip():
                        found.append(Path(value.strip()).parent)
    return list(dict.fromkeys(p for p in found if p != Path("/")))


@cache
def _bwrap_works(path: str) -> str:
    """ "" when bubblewrap makes a sandbox here (a user namespace may be off), else its error."""
    try:
        proc = subprocess.run(
            [path, "--unshare-all", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    return "" if proc.returncode == 0 else proc.stderr.decode(errors="replace").strip()[:300]
