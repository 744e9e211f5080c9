"""The no-GPU path is real: NVML is asked and its real refusal is handled."""

import pytest

from gastown.machine import hardware
from gastown.machine.governor import machine_budget
from gastown.town.config import MachineConfig


def test_reading_without_a_gpu_says_why_and_still_reads_ram_and_cpus():
    reading = hardware.read()
    if reading.gpus:
        pytest.skip("this machine has a GPU; see the gpu-marked tests")
    assert reading.gpu_note and reading.ram_total_mib > 0 and reading.cpu_threads >= 1


def test_without_a_gpu_the_budget_comes_from_the_config():
    reading = hardware.read()
    if reading.gpus:
        pytest.skip("this machine has a GPU")
    budget = machine_budget(MachineConfig(vram_mib=10240, desktop_reserve_mib=1650))
    assert budget.source == "config" and budget.vram_mib == 8590 and budget.note


def test_other_programs_on_the_gpu_count_as_the_desktops_share_but_ours_do_not():
    gpu = hardware.GPU(0, "RTX 3080", total_mib=10240, used_mib=3000, processes=((111, 2000.0), (222, 1000.0)))
    reading = hardware.Reading(gpus=(gpu,), ram_total_mib=65536, cpu_threads=8)
    machine = MachineConfig(desktop_reserve_mib=1650, ram_reserve_mib=16384, reserved_cores=(0, 1))
    assert machine_budget(machine, reading).vram_mib == 10240 - 3000  # the others use more than the reserve
    budget = machine_budget(machine, reading, our_pids={111})
    assert budget.vram_mib == 10240 - 1650 and budget.source == "nvml"
    assert budget.ram_mib == 65536 - 16384 and budget.cores == frozenset(range(2, 8))


def test_the_energy_meter_falls_back_to_configured_watts():
    meter = hardware.EnergyMeter(gpu_index=0, watts=100.0)
    meter.begin()
    import time

    time.sleep(0.05)
    spent = meter.end()
    if meter.source.startswith("nvml"):
        pytest.skip("measured by a real GPU")
    assert meter.source == "configured" and 4.0 < spent < 20.0
    cpu = hardware.EnergyMeter(gpu_index=None, watts=None)
    cpu.begin()
    assert cpu.end() == 0.0 and cpu.source == ""


@pytest.mark.gpu
def test_nvml_reads_a_real_gpu():
    gpus, note = hardware.read_gpus()
    if not gpus:
        pytest.skip(f"no GPU: {note}")
    assert gpus[0].total_mib > 0 and gpus[0].name
