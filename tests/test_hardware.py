"""The no-GPU path is real: NVML is asked and its real refusal is handled."""

import pytest

from gastown import hardware
from gastown.governor import machine_budget


def test_reading_without_a_gpu_says_why_and_still_reads_ram_and_cpus():
    reading = hardware.read()
    if reading.gpus:
        pytest.skip("this machine has a GPU; see the gpu-marked tests")
    assert reading.gpu_note and reading.ram_total_mib > 0 and reading.cpu_threads >= 1


def test_without_a_gpu_the_budget_comes_from_the_config():
    reading = hardware.read()
    if reading.gpus:
        pytest.skip("this machine has a GPU")
    budget = machine_budget({"vram_mib": 10240, "desktop_reserve_mib": 1650})
    assert budget.source == "config" and budget.vram_mib == 8590 and budget.note


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
