"""The one door to the machine's hardware: NVML for the GPU, psutil for RAM and CPUs.

No GPU is a normal case: ``read()`` then reports why (no NVIDIA driver, no device) and
the governor uses the configured figures instead. NVML is initialised per reading and
shut down again, so a process never holds the driver open between decisions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

MIB = 1024 * 1024


@dataclass(frozen=True)
class GPU:
    """One NVIDIA GPU as NVML reports it now."""

    index: int
    name: str
    total_mib: float
    used_mib: float
    power_w: float | None = None
    energy_mj: int | None = None  # millijoules since the driver loaded
    processes: tuple[tuple[int, float], ...] = ()  # (pid, MiB) of compute processes

    @property
    def free_mib(self) -> float:
        return self.total_mib - self.used_mib


@dataclass(frozen=True)
class Reading:
    """The machine now."""

    gpus: tuple[GPU, ...] = ()
    gpu_note: str = ""  # why there is no GPU reading, when there is none
    ram_total_mib: float = 0.0
    ram_available_mib: float = 0.0
    cpu_threads: int = 1
    extra: dict[str, str] = field(default_factory=dict)


def _nvml() -> Any:
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


def read_gpus() -> tuple[tuple[GPU, ...], str]:
    """Every GPU NVML can see, or none and the reason."""
    nvml = _nvml()
    if nvml is None:
        return (), "nvidia-ml-py is not installed"
    try:
        nvml.nvmlInit()
    except Exception as error:  # NVMLError_LibraryNotFound, _DriverNotLoaded ...
        return (), f"no NVIDIA GPU readable: {type(error).__name__}"
    try:
        gpus = []
        for index in range(nvml.nvmlDeviceGetCount()):
            gpus.append(_gpu(nvml, index))
        return tuple(gpus), "" if gpus else "NVML found no GPU"
    except Exception as error:
        return (), f"NVML failed: {type(error).__name__}: {error}"
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:
            pass


def _gpu(nvml: Any, index: int) -> GPU:
    n = nvml  # the pynvml module
    handle = n.nvmlDeviceGetHandleByIndex(index)
    name = n.nvmlDeviceGetName(handle)
    memory = n.nvmlDeviceGetMemoryInfo(handle)
    power = energy = None
    try:
        power = n.nvmlDeviceGetPowerUsage(handle) / 1000.0
    except Exception:
        pass
    try:
        energy = int(n.nvmlDeviceGetTotalEnergyConsumption(handle))
    except Exception:
        pass
    processes: list[tuple[int, float]] = []
    try:
        for proc in n.nvmlDeviceGetComputeRunningProcesses(handle):
            used = getattr(proc, "usedGpuMemory", None)
            processes.append((int(proc.pid), (used or 0) / MIB))
    except Exception:
        pass
    return GPU(
        index,
        name.decode() if isinstance(name, bytes) else str(name),
        memory.total / MIB,
        memory.used / MIB,
        power,
        energy,
        tuple(processes),
    )


def read() -> Reading:
    """GPUs (when readable), RAM and CPU threads."""
    import psutil

    gpus, note = read_gpus()
    memory = psutil.virtual_memory()
    return Reading(
        gpus=gpus,
        gpu_note=note,
        ram_total_mib=memory.total / MIB,
        ram_available_mib=memory.available / MIB,
        cpu_threads=psutil.cpu_count() or 1,
    )


@dataclass(eq=False)
class EnergyMeter:
    """Joules a stretch of work cost: NVML's energy counter, else power samples, else
    the configured watts × time. ``source`` says which one answered."""

    gpu_index: int | None = 0
    watts: float | None = None  # the configured draw, used when NVML cannot answer
    joules: float = 0.0
    source: str = ""
    _start_energy: float | None = None
    _start_power: float | None = None
    _started: float = 0.0

    def begin(self) -> None:
        import time

        self._started = time.monotonic()
        self._start_energy = self._start_power = None
        if self.gpu_index is None:
            return
        gpus, _ = read_gpus()
        gpu = next((g for g in gpus if g.index == self.gpu_index), None)
        if gpu is not None:
            self._start_energy = gpu.energy_mj / 1000.0 if gpu.energy_mj is not None else None
            self._start_power = gpu.power_w

    def end(self) -> float:
        """Add this stretch's joules to the total; returns them."""
        import time

        seconds = time.monotonic() - self._started
        spent = None
        source = ""
        if self.gpu_index is not None and (self._start_energy is not None or self._start_power is not None):
            gpus, _ = read_gpus()
            gpu = next((g for g in gpus if g.index == self.gpu_index), None)
            if gpu is not None and gpu.energy_mj is not None and self._start_energy is not None:
                spent, source = gpu.energy_mj / 1000.0 - self._start_energy, "nvml-counter"
            elif gpu is not None and gpu.power_w is not None and self._start_power is not None:
                spent, source = (gpu.power_w + self._start_power) / 2 * seconds, "nvml-power"
        if spent is None and self.watts is not None:
            spent, source = self.watts * seconds, "configured"
        if spent is None:
            return 0.0
        self.joules += max(0.0, spent)
        if not self.source or source == self.source:
            self.source = source
        else:
            self.source = "mixed"
        return spent
