"""The machine's one owner: the switcher decides with the governor, a band's slots reach the server."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil
import pytest

from gastown.errors import Unavailable
from gastown.machine.machine import Machine
from gastown.town import config as configmod
from gastown.town.town import locate

FAKE = str(Path(__file__).with_name("fake_llm.py"))


def machine_for(town, text: str) -> Machine:
    parsed = configmod.parse(text)
    return Machine(locate(town.path), lambda: parsed)


def test_a_band_of_two_starts_its_server_with_two_slots(town):
    machine = machine_for(
        town,
        "[models.small]\n"
        f'launch = ["{sys.executable}", "{FAKE}", "--port", "{{port}}", "--slots", "{{parallel}}"]\n'
        'device = "cpu"\n'
        "ram_mib = 10\n"
        "\n"
        "[roles.polecat]\n"
        'bands = [{ max_tokens = 6000, model = "small", parallel = 2 }]\n',
    )
    try:
        client, fallback, why = machine.for_bead("polecat", 1000, 0)
        assert client.spec.name == "small" and client.spec.parallel == 2 and fallback is None
        assert why == "1000 tokens ≤ 6000: small ×2"
        (server,) = machine.runner.servers()
        assert psutil.Process(server.pid).cmdline()[-2:] == ["--slots", "2"]
    finally:
        for server in machine.runner.servers():
            machine.runner.stop(server.name)


def test_a_model_that_does_not_fit_waits_when_the_role_says_wait(town):
    machine = machine_for(
        town,
        '[models.huge]\nlaunch = ["false"]\ndevice = "cpu"\nram_mib = 1e12\n\n'
        '[roles.polecat]\nbands = [{ max_tokens = 6000, model = "huge" }]\nwhen_nothing_fits = "wait"\n',
    )
    assert not machine.fits(machine._config().roster.model("huge"), 1)
    with pytest.raises(Unavailable, match="no local model fits now; waiting"):
        machine.for_bead("polecat", 1000, 0)
    assert machine.runner.servers() == []  # nothing was started to find out
