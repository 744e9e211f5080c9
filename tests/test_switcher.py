"""The AeroBeat switcher rules, on the AeroBeat roster shipped in rigs/aerobeat/town.toml."""

import pytest

from gastown.machine.governor import Governor, machine_budget
from gastown.machine.hardware import Reading
from gastown.machine.switcher import choose
from gastown.town import config, roster
from gastown.town.resources import data_dir


@pytest.fixture
def aerobeat():
    parsed = config.parse((data_dir("rigs") / "aerobeat" / "town.toml").read_text())
    return roster.load(parsed.models, parsed.roles), parsed.machine


def ten_gb(machine, tmp_path):
    """The AeroBeat machine without a GPU to read: the configured 10 GB RTX 3080."""
    budget = machine_budget(machine, Reading(ram_total_mib=131072, cpu_threads=20))
    assert budget.vram_mib == 10240 - 1650 and budget.source == "config"
    return Governor(budget, tmp_path / "governor.json")


def test_a_5k_bead_runs_two_3b_polecats_in_parallel_on_10_gb(aerobeat, tmp_path):
    roster_, machine = aerobeat
    governor = ten_gb(machine, tmp_path)
    pick = choose(roster_, "polecat", 5000, fits=lambda m, n: governor.check(roster_.model(m), n).ok)
    assert (pick.model, pick.parallel) == ("qwen3-coder-3b", 2)
    assert governor.admit(roster_.model("qwen3-coder-3b"), 2).ok


def test_a_10k_bead_gets_one_7b(aerobeat, tmp_path):
    roster_, machine = aerobeat
    governor = ten_gb(machine, tmp_path)
    pick = choose(roster_, "polecat", 10000, fits=lambda m, n: governor.check(roster_.model(m), n).ok)
    assert (pick.model, pick.parallel) == ("qwen3-coder-7b", 1)


def test_a_20k_bead_goes_to_cloud_or_waits_as_configured(aerobeat):
    roster_, _ = aerobeat
    assert choose(roster_, "polecat", 20000).model == "gemini-3-flash"
    waiting = roster.Roster(
        roster_.models,
        {
            **roster_.roles,
            "polecat": roster.RoleRule("polecat", bands=roster_.rule("polecat").bands, when_nothing_fits="wait"),
        },
    )
    pick = choose(waiting, "polecat", 20000)
    assert pick.model is None and "waiting" in pick.reason


def test_a_busy_gpu_sends_the_7b_bead_to_cloud(aerobeat, tmp_path):
    roster_, machine = aerobeat
    governor = ten_gb(machine, tmp_path)
    assert governor.admit(roster_.model("qwen3-coder-3b"), 2).ok  # two small polecats run
    pick = choose(roster_, "polecat", 10000, fits=lambda m, n: governor.check(roster_.model(m), n).ok)
    assert pick.model == "gemini-3-flash"


def test_after_a_rejected_result_the_fallback_works_the_bead(aerobeat):
    roster_, _ = aerobeat
    assert choose(roster_, "polecat", 3000, attempts=1).model == "qwen3-coder-7b"


def test_the_refinery_runs_on_the_p_cores_and_the_librarian_on_the_e_cores(aerobeat, tmp_path):
    roster_, machine = aerobeat
    governor = ten_gb(machine, tmp_path)
    refinery = governor.admit(roster_.model("deepseek-r1-qwen-32b"))
    librarian = governor.admit(roster_.model("smollm2-1.7b"))
    assert refinery.ok and librarian.ok
    assert refinery.reservation.cores == [0, 1, 2, 3, 4, 5] and librarian.reservation.cores == [
        8,
        9,
        10,
        11,
    ]
    assert refinery.reservation.ram_mib > 19000 and refinery.reservation.vram_mib == 0
    again = governor.check(roster_.model("deepseek-r1-qwen-32b"))
    assert not again.ok and "pinned to another model" in again.reason
