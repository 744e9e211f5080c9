"""The resource governor: what may run on this machine now.

One per machine, shared by every gastown process through a lock-protected state file
(``~/.local/state/gastown/governor.json``, or ``$XDG_STATE_HOME/gastown/``). A model
run is admitted only if its VRAM (weights + KV × context × slots), RAM and CPU cores fit
the budget beside what is already reserved. Each reservation names the process that
holds it; a reservation whose process is gone (a ``kill -9``'d watcher or server) is
dropped at the next decision, so nothing leaks.

The budget: VRAM is the GPU's total (read through NVML, or ``[machine] vram_mib`` when
there is no GPU) minus what the desktop needs (``desktop_reserve_mib``, or more when
NVML shows other programs using more); RAM is the total minus ``ram_reserve_mib``;
cores are the machine's threads minus ``reserved_cores``.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gastown.machine import hardware
from gastown.town.config import MachineConfig
from gastown.town.roster import ModelSpec


@dataclass(frozen=True)
class Budget:
    """What gastown may use of this machine."""

    vram_mib: float
    ram_mib: float
    cores: frozenset[int]
    source: str  # "nvml" or "config": where the VRAM figure came from
    note: str = ""
    desktop_mib: float = 0.0


@dataclass
class Reservation:
    """A model run holding part of the budget."""

    id: str
    model: str
    pid: int
    vram_mib: float = 0.0
    ram_mib: float = 0.0
    cores: list[int] = field(default_factory=list)
    started: float = 0.0
    process_start: float = 0.0  # the holder's start time, so a reused PID is not mistaken


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str
    reservation: Reservation | None = None


def state_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "gastown" / "governor.json"


def _process_start(pid: int) -> float:
    """When ``pid`` started; 0.0 when it is gone (an exited child not yet reaped counts as gone)."""
    try:
        import psutil

        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return 0.0
        return float(process.create_time())
    except Exception:
        return 0.0


def _alive(reservation: Reservation) -> bool:
    started = _process_start(reservation.pid)
    if started == 0.0:
        return False
    return not reservation.process_start or abs(started - reservation.process_start) < 1.0


def machine_budget(
    machine: MachineConfig,
    reading: hardware.Reading | None = None,
    vram_override: float | None = None,
    our_pids: Collection[int] = (),
) -> Budget:
    """The budget from ``[machine]`` and (when there is a GPU) a live reading.

    ``our_pids`` are gastown's own GPU processes: their VRAM is already reserved, so it
    does not count as the desktop's."""
    reading = reading or hardware.read()
    desktop = machine.desktop_reserve_mib
    gpu = next((g for g in reading.gpus if g.index == machine.gpu_index), None)
    note = ""
    if vram_override is not None:
        total, source = vram_override, "override"
    elif gpu is not None:
        total, source = gpu.total_mib, "nvml"
        others = sum(mib for pid, mib in gpu.processes if pid not in our_pids)
        desktop = max(desktop, others)
    else:
        total, source = machine.vram_mib, "config"
        note = reading.gpu_note or "no GPU"
    ram_total = machine.ram_mib if machine.ram_mib is not None else reading.ram_total_mib
    ram = ram_total - machine.ram_reserve_mib
    threads = machine.cpu_threads if machine.cpu_threads is not None else reading.cpu_threads
    cores = frozenset(range(threads)) - set(machine.reserved_cores)
    return Budget(max(0.0, total - desktop), max(0.0, ram), cores, source, note, desktop)


def need(spec: ModelSpec, slots: int | None = None) -> tuple[float, float, list[int]]:
    """(VRAM MiB, RAM MiB, cores) a run of ``spec`` with ``slots`` slots takes."""
    if not spec.local:
        return 0.0, 0.0, []
    footprint = spec.footprint_mib(None, slots)
    if spec.device == "cpu":
        return 0.0, footprint + spec.ram_mib, list(spec.cpu_cores)
    return footprint, spec.ram_mib, list(spec.cpu_cores)


class Governor:
    """Admits model runs against the machine's budget; state shared through a locked file."""

    def __init__(
        self,
        budget: Budget | Callable[[], Budget],
        path: Path | None = None,
    ) -> None:
        self._budget = budget
        self.path = path or state_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def budget(self) -> Budget:
        return self._budget() if callable(self._budget) else self._budget

    @contextmanager
    def _state(self) -> Iterator[list[Reservation]]:
        with open(self.path.with_suffix(".lock"), "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                live = self._read()  # a dead holder's share comes back
                before = [asdict(r) for r in live]
                yield live
                after = [asdict(r) for r in live]
                if after != before or not self.path.exists():  # a write wakes every watcher waiting for room
                    tmp = self.path.with_suffix(".tmp")
                    tmp.write_text(json.dumps({"reservations": after}, indent=2))
                    os.replace(tmp, self.path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def reservations(self) -> list[Reservation]:
        with self._state() as held:
            return list(held)

    def held(self) -> list[Reservation]:
        """The live reservations, read without taking the lock or writing (for a page that
        only looks: the file is replaced whole, so a read sees one state or the next)."""
        return self._read()

    def _read(self) -> list[Reservation]:
        """The reservations in the state file whose holders are alive (none when it is unreadable)."""
        try:
            raw = json.loads(self.path.read_text())
            found = [Reservation(**r) for r in raw.get("reservations", [])]
        except (OSError, ValueError, TypeError):
            return []
        return [r for r in found if _alive(r)]

    def check(self, spec: ModelSpec, slots: int | None = None, held: list[Reservation] | None = None) -> Verdict:
        """Would ``spec`` fit now? (No reservation is made.)"""
        if held is None:
            held = self.reservations()
        return _verdict(spec, slots, self.budget(), held)

    def admit(self, spec: ModelSpec, slots: int | None = None, pid: int | None = None) -> Verdict:
        """Reserve ``spec``'s share for process ``pid`` (default: this one) if it fits."""
        holder = pid or os.getpid()
        budget = self.budget()
        with self._state() as held:
            verdict = _verdict(spec, slots, budget, held)
            if not verdict.ok:
                return verdict
            vram, ram, cores = need(spec, slots)
            reservation = Reservation(
                uuid.uuid4().hex[:12],
                spec.name,
                holder,
                vram,
                ram,
                cores,
                time.time(),
                _process_start(holder),
            )
            held.append(reservation)
            return Verdict(True, verdict.reason, reservation)

    def transfer(self, reservation_id: str, pid: int) -> None:
        """Hand a reservation to another process (a model server the caller started)."""
        with self._state() as held:
            for r in held:
                if r.id == reservation_id:
                    r.pid, r.process_start = pid, _process_start(pid)

    def release(self, reservation_id: str) -> None:
        with self._state() as held:
            held[:] = [r for r in held if r.id != reservation_id]


def _verdict(spec: ModelSpec, slots: int | None, budget: Budget, held: list[Reservation]) -> Verdict:
    vram, ram, cores = need(spec, slots)
    if not spec.local:
        return Verdict(True, "cloud: uses no local resources")
    used_vram = sum(r.vram_mib for r in held)
    used_ram = sum(r.ram_mib for r in held)
    taken = {c for r in held for c in r.cores}
    problems = []
    if vram and used_vram + vram > budget.vram_mib:
        problems.append(
            f"VRAM: needs {vram:.0f} MiB, {budget.vram_mib - used_vram:.0f} of {budget.vram_mib:.0f} MiB free"
        )
    if ram and used_ram + ram > budget.ram_mib:
        problems.append(f"RAM: needs {ram:.0f} MiB, {budget.ram_mib - used_ram:.0f} MiB free")
    outside = sorted(set(cores) - budget.cores)
    if outside:
        problems.append(f"cores {outside} are not available to gastown on this machine")
    busy = sorted(set(cores) & taken)
    if busy:
        problems.append(f"cores {busy} are pinned to another model")
    if problems:
        return Verdict(False, "; ".join(problems))
    where = f"{vram:.0f} MiB VRAM" if vram else f"{ram:.0f} MiB RAM"
    return Verdict(True, f"fits: {where}")


def governor_for(
    machine: MachineConfig,
    vram_override: float | None = None,
    read: Callable[[], hardware.Reading] = hardware.read,
) -> Governor:
    """The governor of this machine: ``[machine]`` beside a fresh hardware ``read`` at each
    decision. The GPU memory of processes holding reservations is theirs, not the desktop's:
    counted once, so stopping one of them frees what it held."""

    def budget() -> Budget:
        ours = {r.pid for r in governor.held()}
        return machine_budget(machine, read(), vram_override, ours)

    governor = Governor(budget)
    return governor
