"""Control groups for a model's commands: one limit on the processes and the memory of a
command and everything it starts, and a sure way to end them all.

``prlimit`` caps each process on its own, and the kernel never applies its process cap to
root. A control group counts the whole command. Each command gets a group of its own
(``gastown-<watcher pid>-<n>`` under the watcher's own group) that it joins before it execs;
when it ends every member left is killed and the group removed, and the groups of a
watcher that died are swept by the next command. cgroup v2 is used where the watcher's
own group may have children with the ``pids`` and ``memory`` controllers (a delegated
subtree: a container of its own, a systemd unit with ``Delegate=yes``); else the v1
hierarchies of those controllers where this process may write them; else none, and
``gt status`` says that only ``prlimit``'s caps hold.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

WANTED = ("pids", "memory")
PREFIX = "gastown-"
EMPTY_WAIT_S = 2.0  # how long the members of a group may take to die before it is left for a sweep
_NAME = re.compile(r"gastown-(\d+)-\d+")
_numbers = itertools.count(1)


@dataclass(frozen=True)
class Hierarchy:
    """A folder this process may make groups in, and the controllers they get there."""

    folder: Path
    controllers: tuple[str, ...]
    version: int


@dataclass(frozen=True)
class Place:
    """Where this process makes its commands' groups ("" ``why`` when it can)."""

    hierarchies: tuple[Hierarchy, ...] = ()
    why: str = ""

    def describe(self) -> str:
        if not self.hierarchies:
            return f"prlimit's caps per process only (no control group: {self.why})"
        version = self.hierarchies[0].version
        controllers = ", ".join(c for h in self.hierarchies for c in h.controllers)
        return f"a control group per command (cgroup v{version}: {controllers})"


@dataclass(frozen=True)
class Group:
    """One command's control group: a folder per hierarchy."""

    folders: tuple[Path, ...]

    def join(self, argv: list[str]) -> list[str]:
        """``argv`` started by a shell that first puts itself in this group, then execs it."""
        steps = "".join(f'echo $$ > "${i}" || exit 125; ' for i in range(1, len(self.folders) + 1))
        script = f'{steps}shift {len(self.folders)}; exec "$@"'
        return ["/bin/sh", "-c", script, "gastown-join", *(str(f / "cgroup.procs") for f in self.folders), *argv]

    def close(self) -> None:
        """Kill every member left and remove the group (left for a sweep if they linger)."""
        for folder in self.folders:
            _end(folder)


def make(processes: int, memory_bytes: int) -> Group | None:
    """A new group holding at most ``processes`` tasks and ``memory_bytes`` of memory, or
    None where this process may make none (the command then runs with prlimit's caps)."""
    place = find()
    if not place.hierarchies:
        return None
    _sweep()
    name = f"{PREFIX}{os.getpid()}-{next(_numbers)}"
    made: list[Path] = []
    try:
        for hierarchy in place.hierarchies:
            folder = hierarchy.folder / name
            folder.mkdir()
            made.append(folder)
            for controller in hierarchy.controllers:
                _limit(folder, controller, hierarchy.version, processes, memory_bytes)
    except OSError as error:
        log.info("no control group for this command (%s): prlimit's caps hold", error)
        for folder in made:
            _end(folder)
        return None
    return Group(tuple(made))


def _limit(folder: Path, controller: str, version: int, processes: int, memory_bytes: int) -> None:
    if controller == "pids":
        (folder / "pids.max").write_text(str(processes))
    elif version == 2:
        (folder / "memory.max").write_text(str(memory_bytes))
        swap = folder / "memory.swap.max"
        if swap.exists():
            swap.write_text("0")
    else:
        (folder / "memory.limit_in_bytes").write_text(str(memory_bytes))
        with_swap = folder / "memory.memsw.limit_in_bytes"
        if with_swap.exists():  # memory and swap together: no way round the limit through swap
            with_swap.write_text(str(memory_bytes))


@cache
def find() -> Place:
    """Where this process may make groups: cgroup v2 where its own group delegates the
    controllers, else the writable v1 hierarchies, else nowhere (and why)."""
    try:
        own = _own_groups(Path("/proc/self/cgroup").read_text())
        mounts = list(_mounts(Path("/proc/self/mountinfo").read_text()))
    except OSError as error:
        return Place(why=f"cannot read this process's groups: {error.strerror}")
    v2 = _unified(own, mounts)
    if v2 is not None:
        return Place((v2,))
    found = []
    for controller in WANTED:
        folder = _v1_folder(controller, own, mounts)
        if folder is not None and os.access(folder, os.W_OK) and os.access(folder / "cgroup.procs", os.W_OK):
            found.append(Hierarchy(folder, (controller,), 1))
    if not any("pids" in h.controllers for h in found):
        return Place(why="this user may not make groups with the pids controller")
    return Place(tuple(found))


def _own_groups(text: str) -> dict[str, str]:
    """Each hierarchy's key (a controller, a ``name=`` or "" for v2) → this process's path in it."""
    own: dict[str, str] = {}
    for line in text.splitlines():
        _, _, rest = line.partition(":")
        keys, _, path = rest.partition(":")
        for key in keys.split(",") if keys else [""]:
            own[key] = path
    return own


def _mounts(text: str) -> Iterator[tuple[str, str, str, set[str]]]:
    """(file system type, mount root, mount point, options) of each control group mount."""
    for line in text.splitlines():
        fields, _, tail = line.partition(" - ")
        parts, rest = fields.split(), tail.split()
        if len(parts) < 5 or len(rest) < 3 or rest[0] not in ("cgroup", "cgroup2"):
            continue
        root, point = (_unescape(p) for p in parts[3:5])
        yield rest[0], root, point, set(rest[2].split(","))


def _unescape(path: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def _inside(root: str, point: str, own: str) -> Path | None:
    """This process's group folder on a mount of ``root`` at ``point``, or None."""
    if own == root or own.startswith(root.rstrip("/") + "/"):
        return Path(point) / own[len(root.rstrip("/")) :].lstrip("/")
    return None


def _unified(own: dict[str, str], mounts: list[tuple[str, str, str, set[str]]]) -> Hierarchy | None:
    path = own.get("")
    for kind, root, point, _ in mounts:
        if kind != "cgroup2" or path is None:
            continue
        folder = _inside(root, point, path)
        if folder is None or not os.access(folder / "cgroup.subtree_control", os.W_OK):
            continue
        enabled = _words(folder / "cgroup.subtree_control")
        missing = [c for c in WANTED if c not in enabled and c in _words(folder / "cgroup.controllers")]
        if missing:
            try:  # refused while the group holds processes itself (and is not a root)
                (folder / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in missing))
            except OSError:
                pass
            enabled = _words(folder / "cgroup.subtree_control")
        controllers = tuple(c for c in WANTED if c in enabled)
        if "pids" in controllers:
            return Hierarchy(folder, controllers, 2)
    return None


def _v1_folder(controller: str, own: dict[str, str], mounts: list[tuple[str, str, str, set[str]]]) -> Path | None:
    path = own.get(controller)
    for kind, root, point, options in mounts:
        if kind == "cgroup" and controller in options and path is not None:
            return _inside(root, point, path)
    return None


def _words(path: Path) -> set[str]:
    try:
        return set(path.read_text().split())
    except OSError:
        return set()


def _end(folder: Path) -> None:
    """Kill the members of ``folder``'s group and remove it (best effort)."""
    deadline = time.monotonic() + EMPTY_WAIT_S
    pause = 0.001  # a member killed a moment ago is usually gone within a millisecond or two
    while True:
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            pass
        if time.monotonic() > deadline:
            log.debug("control group %s not empty yet: left for a sweep", folder)
            return
        _kill_members(folder)
        time.sleep(pause)
        pause = min(0.02, pause * 2)


def _kill_members(folder: Path) -> None:
    kill = folder / "cgroup.kill"
    if kill.exists():
        try:
            kill.write_text("1")
            return
        except OSError:
            pass
    try:
        members = (folder / "cgroup.procs").read_text().split()
    except OSError:
        return
    for pid in members:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError, ValueError):
            pass


SWEEP_EVERY_S = 30.0
_swept: dict[Path, float] = {}


def _sweep() -> None:
    """Remove the groups of watchers that are gone (killed with a command still running),
    at most every SWEEP_EVERY_S."""
    now = time.monotonic()
    for hierarchy in find().hierarchies:
        last = _swept.get(hierarchy.folder)
        if last is not None and now - last < SWEEP_EVERY_S:
            continue
        _swept[hierarchy.folder] = now
        try:
            names = [entry.name for entry in os.scandir(hierarchy.folder) if entry.is_dir()]
        except OSError:
            continue
        for name in names:
            match = _NAME.fullmatch(name)
            if match and not _alive(int(match.group(1))):
                _end(hierarchy.folder / name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
