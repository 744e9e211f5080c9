"""Control groups for a model's commands: one limit on the processes and the memory of a
command and everything it starts, and a sure way to end them all.

``prlimit`` caps each process on its own, and the kernel never applies its process cap to
root. A control group counts the whole command. Each command gets a group of its own that
it joins before it execs; when it ends every member left is killed and the group removed.
A group is named for its watcher (PID namespace, pid, start time), so the groups of a
watcher that died are swept by the next command of another, and a reused pid is never
taken for its predecessor.

Where groups can be made: cgroup v2 where the controllers ``pids`` and ``memory`` are
already enabled for the children of the watcher's group or of its parent (a delegated
subtree: systemd's ``Delegate=yes`` with ``DelegateSubgroup=``, a container whose own
processes sit in a leaf group) — gastown never enables them itself; else the v1
hierarchies of those controllers where this process may write them (a container run as
root, a VM); else nowhere, and ``gt status`` says that only ``prlimit``'s caps hold, and why.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

WANTED = ("pids", "memory")
EMPTY_WAIT_S = 2.0  # how long the members of a group may take to die before it is left for a sweep
SWEEP_EVERY_S = 30.0  # how often the groups of watchers that are gone are looked for
_NAME = re.compile(r"gastown-(\d+)-(\d+)-(\d+)-\d+")  # PID namespace, pid, start time, number
_numbers = itertools.count(1)

Mount = tuple[str, str, str, set[str]]  # file system type, mount root, mount point, options


@dataclass(frozen=True)
class Hierarchy:
    """A folder this process may make groups in, and the controllers they get there."""

    folder: Path
    controllers: tuple[str, ...]
    version: int


@dataclass(frozen=True)
class Place:
    """Where this process makes its commands' groups, or (``hierarchies`` empty) ``why`` not."""

    hierarchies: tuple[Hierarchy, ...] = ()
    why: str = ""

    def describe(self) -> str:
        """The limits a command gets here, in words for ``gt status``."""
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
        steps = "".join(
            f'echo $$ > "${i}" || {{ echo "gastown: cannot join the control group ${i}" >&2; exit 125; }}; '
            for i in range(1, len(self.folders) + 1)
        )
        script = f'{steps}shift {len(self.folders)}; exec "$@"'
        return ["/bin/sh", "-c", script, "gastown-join", *(str(f / "cgroup.procs") for f in self.folders), *argv]

    def close(self) -> None:
        """Kill every member left and remove the group (retried by the next ``make`` if they linger)."""
        for folder in self.folders:
            if not _end(folder):
                with _lock:
                    _lingering.add(folder)

    def kill(self) -> None:
        """Kill every member now, without waiting for them (a watcher stopping at once)."""
        for folder in self.folders:
            _kill_members(folder)


def make(processes: int, memory_bytes: int) -> Group | None:
    """A new group holding at most ``processes`` tasks and ``memory_bytes`` of memory, or
    None where this process may make none (the command then runs with prlimit's caps)."""
    place = find()
    if not place.hierarchies:
        return None
    _sweep(place)
    name = f"gastown-{_me()}-{next(_numbers)}"
    made: list[Path] = []
    try:
        for hierarchy in place.hierarchies:
            folder = hierarchy.folder / name
            folder.mkdir()
            made.append(folder)
            for controller in hierarchy.controllers:
                _limit(folder, controller, hierarchy.version, processes, memory_bytes)
    except OSError as error:
        log.warning("no control group for this command (%s): only prlimit's caps hold", error)
        Group(tuple(made)).close()
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
    """Where this process may make groups (read once; nothing is written)."""
    try:
        return locate(Path("/proc/self/cgroup").read_text(), Path("/proc/self/mountinfo").read_text())
    except OSError as error:
        return Place(why=f"cannot read this process's control groups: {error.strerror}")


def locate(cgroup_text: str, mountinfo_text: str) -> Place:
    """Where a process whose ``/proc/self/cgroup`` and ``/proc/self/mountinfo`` read so may
    make groups: cgroup v2 where a group it may write already enables the controllers for
    its children, else the writable v1 hierarchies, else nowhere (and why)."""
    own = _own_groups(cgroup_text)
    mounts = list(_mounts(mountinfo_text))
    v2 = _unified(own, mounts)
    if v2 is not None:
        return Place((v2,))
    found = []
    for controller in WANTED:
        folder = _v1_folder(controller, own, mounts)
        if folder is not None and os.access(folder, os.W_OK) and os.access(folder / "cgroup.procs", os.W_OK):
            found.append(Hierarchy(folder, (controller,), 1))
    if any("pids" in h.controllers for h in found):
        return Place(tuple(found))
    unified = [point for kind, _, point, _ in mounts if kind == "cgroup2"]
    if "" in own and unified:
        return Place(
            why=f"cgroup v2: neither this process's group ({own['']}) nor its parent enables pids for "
            "groups this user may make (run watchers in a delegated group: systemd's Delegate=yes "
            "with DelegateSubgroup=)"
        )
    return Place(why="no control group hierarchy with the pids controller that this user may write")


def _own_groups(text: str) -> dict[str, str]:
    """Each hierarchy's key (a controller, a ``name=`` or "" for v2) → this process's path in it."""
    own: dict[str, str] = {}
    for line in text.splitlines():
        _, _, rest = line.partition(":")
        keys, _, path = rest.partition(":")
        for key in keys.split(",") if keys else [""]:
            own[key] = path
    return own


def _mounts(text: str) -> Iterator[Mount]:
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


def _unified(own: dict[str, str], mounts: list[Mount]) -> Hierarchy | None:
    """A v2 group whose children get ``pids`` (and ``memory`` where it has it): this
    process's own group, or its parent (the process sits in a leaf of a delegated group)."""
    path = own.get("")
    for kind, root, point, _ in mounts:
        if kind != "cgroup2" or path is None:
            continue
        folder = _inside(root, point, path)
        if folder is None:
            continue
        for candidate in (folder, folder.parent) if folder != Path(point) else (folder,):
            enabled = _words(candidate / "cgroup.subtree_control")
            writable = os.access(candidate, os.W_OK) and os.access(candidate / "cgroup.procs", os.W_OK)
            if "pids" in enabled and writable:
                return Hierarchy(candidate, tuple(c for c in WANTED if c in enabled), 2)
    return None


def _v1_folder(controller: str, own: dict[str, str], mounts: list[Mount]) -> Path | None:
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


def _end(folder: Path) -> bool:
    """Kill the members of ``folder``'s group and remove it: False when they outlast EMPTY_WAIT_S."""
    deadline = time.monotonic() + EMPTY_WAIT_S
    pause = 0.001  # a member killed a moment ago is usually gone within a millisecond or two
    while True:
        try:
            folder.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            pass
        if time.monotonic() > deadline:
            log.debug("control group %s not empty yet: tried again later", folder)
            return False
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


_lock = threading.Lock()
_lingering: set[Path] = set()  # this process's groups whose members outlasted their close
_swept: dict[Path, float] = {}


def _sweep(place: Place) -> None:
    """Remove this process's lingering groups, and (every SWEEP_EVERY_S) the groups of
    watchers of this PID namespace that are gone (killed with a command still running)."""
    with _lock:
        lingering = list(_lingering)
        _lingering.clear()
    for folder in lingering:
        if not _end(folder):
            with _lock:
                _lingering.add(folder)
    namespace = _namespace()
    now = time.monotonic()
    for hierarchy in place.hierarchies:
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
            if match and int(match.group(1)) == namespace and not _alive(int(match.group(2)), int(match.group(3))):
                _end(hierarchy.folder / name)


def _me() -> str:
    """This process in a group's name: its PID namespace, pid and start time."""
    pid = os.getpid()
    return f"{_namespace()}-{pid}-{_started(pid) or 0}"


def _namespace() -> int:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


def _started(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return int(stat.rsplit(")", 1)[1].split()[19])  # field 22, counted after the name
    except (IndexError, ValueError):
        return None


def _alive(pid: int, started: int) -> bool:
    """Whether the process that made a group still runs (not another that took its pid)."""
    return _started(pid) == started
