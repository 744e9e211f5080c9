"""The machine's one owner: the switcher decides with the governor, a band's slots reach the server."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from conftest import wait_for

from gastown.errors import Unavailable
from gastown.machine.machine import Machine, loaded
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
    assert machine.room_for(machine._config().roster.model("huge"), 1) is None
    with pytest.raises(Unavailable, match="no local model fits now; waiting"):
        machine.for_bead("polecat", 1000, 0)
    assert machine.runner.servers() == []  # nothing was started to find out


# ---- room for the next model: idle servers stopped, busy ones never --------------------


def two_models(town, idle_s: float, when: str = "wait") -> Machine:
    """A 9000 MiB machine: small (3000 MiB) and mid (7000 MiB) do not fit together."""
    serve = f'launch = ["{sys.executable}", "{FAKE}", "--port", "{{port}}"]\ndevice = "gpu"\ncontext = 16384\n'
    return machine_for(
        town,
        f"[machine]\nvram_mib = 9000\nidle_s = {idle_s}\n\n"
        f"[models.small]\n{serve}weights_mib = 3000\n\n"
        f"[models.mid]\n{serve}weights_mib = 7000\n\n"
        "[roles.polecat]\n"
        'bands = [{ max_tokens = 6000, model = "small" }, { max_tokens = 14000, model = "mid" }]\n'
        f'when_nothing_fits = "{when}"\n',
    )


@pytest.fixture
def own_governor(tmp_path, monkeypatch):
    """This test's own governor state, apart from every other test's reservations."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def stop_all(machine: Machine) -> None:
    machine.close()
    for server in machine.runner.servers():
        machine.runner.stop(server.name)


def test_an_idle_server_is_stopped_to_make_room_for_the_next_model(town, own_governor):
    machine = two_models(town, idle_s=0)
    try:
        small, _, _ = machine.for_bead("polecat", 5000, 0)
        small_pid = machine.runner.get("small").pid
        assert small.chat([{"role": "user", "content": "hi"}]).tool_calls  # used, then idle
        client, _, why = machine.for_bead("polecat", 10000, 0)
        assert client.spec.name == "mid"
        assert why == "10000 tokens ≤ 14000: mid ×1; stopped idle small to make room"
        assert machine.runner.get("small") is None and not psutil.pid_exists(small_pid)
        held = machine.governor.reservations()
        assert [r.model for r in held] == ["mid"] and sum(r.vram_mib for r in held) <= 9000
    finally:
        stop_all(machine)


def test_a_server_with_a_request_in_flight_is_never_stopped(town, own_governor):
    machine = two_models(town, idle_s=0)
    try:
        machine.for_bead("polecat", 5000, 0)
        with machine.runner.using("small"):  # a request in flight, from this or any process
            assert machine.room_for(machine._config().roster.model("mid"), 1) is None
            with pytest.raises(Unavailable, match="no local model fits now; waiting"):
                machine.for_bead("polecat", 10000, 0)
            assert machine.runner.get("small").alive()
        assert machine.for_bead("polecat", 10000, 0)[0].spec.name == "mid"  # the request ended
    finally:
        stop_all(machine)


def test_a_server_started_or_used_within_idle_s_keeps_its_place_then_makes_room(town, own_governor):
    """The hysteresis: a model brought in is not stopped for another before idle_s has passed."""
    machine = two_models(town, idle_s=1.5)
    try:
        machine.for_bead("polecat", 5000, 0)
        with pytest.raises(
            Unavailable, match=r"waiting \(mid: VRAM: needs 7000 MiB, 6000 of 9000 MiB free; small idle"
        ):
            machine.for_bead("polecat", 10000, 0)
        assert machine.runner.get("small").alive()
        pause = machine.next_room_in()  # when the waiting bead should look again
        assert 1.0 < pause <= 1.5
        time.sleep(pause)
        assert machine.for_bead("polecat", 10000, 0)[0].spec.name == "mid"
    finally:
        stop_all(machine)


def test_a_server_held_for_a_bead_is_not_stopped_between_its_calls(town, own_governor):
    """A bead's tool runs between two calls leave no request in flight: the bead's hold keeps
    its server from being stopped for room all the same."""
    machine = two_models(town, idle_s=0)
    try:
        small, _, _ = machine.for_bead("polecat", 5000, 0)
        mid = machine._config().roster.model("mid")
        with machine.hold(small):
            small.chat([{"role": "user", "content": "hi"}])  # a call, then "tools" with none in flight
            assert machine.room_for(mid, 1) is None
            assert [s.model for s in loaded(machine.runner, [], 0) if s.in_use] == ["small"]
        assert [s.name for s in machine.room_for(mid, 1)] == ["small"]
    finally:
        stop_all(machine)


def test_a_slow_loading_server_is_idle_only_from_when_it_answers(town, own_governor):
    slow = f'launch = ["{sys.executable}", "{FAKE}", "--port", "{{port}}", "--slow-start", "2"]\ndevice = "gpu"\n'
    machine = machine_for(
        town,
        "[machine]\nvram_mib = 9000\nidle_s = 1\n\n"
        f"[models.small]\n{slow}weights_mib = 3000\ncontext = 16384\n\n"
        f'[models.mid]\nlaunch = ["false"]\ndevice = "gpu"\nweights_mib = 7000\ncontext = 16384\n\n'
        "[roles.polecat]\n"
        'bands = [{ max_tokens = 6000, model = "small" }, { max_tokens = 14000, model = "mid" }]\n'
        'when_nothing_fits = "wait"\n',
    )
    try:
        machine.for_bead("polecat", 5000, 0)  # two seconds to load, longer than idle_s
        assert machine.runner.idle_for(machine.runner.get("small")) < 1
        assert machine.room_for(machine._config().roster.model("mid"), 1) is None
    finally:
        stop_all(machine)


def test_kill_9_of_a_process_mid_request_frees_the_server_for_room(town, own_governor, tmp_path):
    machine = two_models(town, idle_s=0)
    try:
        machine.for_bead("polecat", 5000, 0)
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys, time\n"
                "from pathlib import Path\n"
                "from gastown.machine.runner import Runner\n"
                "with Runner(Path(sys.argv[1])).using('small'):\n"
                "    print('holding', flush=True)\n"
                "    time.sleep(600)\n",
                str(machine.runner.folder.parent),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout.readline().strip() == "holding"
        assert machine.room_for(machine._config().roster.model("mid"), 1) is None
        holder.kill()  # SIGKILL, as the OOM killer would: the kernel drops its lock
        holder.wait()
        holder.stdout.close()
        assert [s.name for s in machine.room_for(machine._config().roster.model("mid"), 1)] == ["small"]
    finally:
        stop_all(machine)


def test_the_budget_watch_wakes_on_a_release_and_on_a_holders_death(town, own_governor):
    machine = two_models(town, idle_s=0)
    changed = threading.Event()
    sleeper = subprocess.Popen(["sleep", "600"])
    try:
        spec = machine._config().roster.model("small")
        first = machine.governor.admit(spec, pid=sleeper.pid)
        second = machine.governor.admit(spec)
        assert first.ok and second.ok
        machine.watch_budget(changed)
        assert not changed.wait(0.5)  # nothing moved
        machine.governor.release(second.reservation.id)
        began = time.monotonic()
        assert changed.wait(5), "a release did not wake the watch"
        assert time.monotonic() - began < 2
        changed.clear()
        assert not changed.wait(0.5)  # settled: what follows is the death's doing
        sleeper.kill()
        began = time.monotonic()
        assert changed.wait(5), "a holder's death did not wake the watch"
        assert time.monotonic() - began < 2  # a pidfd, not the refresh timer
    finally:
        sleeper.kill()
        sleeper.wait()
        stop_all(machine)


def test_a_gpu_reading_counts_gastowns_own_servers_once(own_governor, tmp_path):
    """With NVML, the VRAM a reserved server uses is its reservation, not the desktop's: so
    stopping it frees what it held."""
    from gastown.machine.governor import governor_for
    from gastown.machine.hardware import GPU, Reading
    from gastown.town.config import MachineConfig
    from gastown.town.roster import ModelSpec

    server = subprocess.Popen(["sleep", "600"])
    desktop = ((1, 3000.0),)
    seen = [GPU(0, "pretend", 10240.0, 3000.0, processes=desktop)]  # before the server loads
    try:
        governor = governor_for(
            MachineConfig(desktop_reserve_mib=1000),
            read=lambda: Reading(gpus=(seen[0],), ram_total_mib=65536, cpu_threads=4),
        )
        assert governor.admit(ModelSpec("small", "small", weights_mib=4000), pid=server.pid).ok
        seen[0] = GPU(0, "pretend", 10240.0, 7000.0, processes=((server.pid, 4000.0), *desktop))  # loaded
        budget = governor.budget()
        assert budget.desktop_mib == 3000  # the desktop's own 3000, not 7000 with the server's
        assert governor.check(ModelSpec("mid", "mid", weights_mib=3000)).ok  # 10240 - 3000 - 4000 left
    finally:
        server.kill()
        server.wait()


def test_an_exited_holder_not_yet_reaped_holds_nothing(own_governor, tmp_path):
    from gastown.machine.governor import Governor, machine_budget
    from gastown.machine.hardware import Reading
    from gastown.town.config import MachineConfig
    from gastown.town.roster import ModelSpec

    governor = Governor(machine_budget(MachineConfig(vram_mib=9000), Reading(ram_total_mib=65536, cpu_threads=4)))
    child = subprocess.Popen(["sleep", "600"])
    assert governor.admit(ModelSpec("small", "small", weights_mib=3000), pid=child.pid).ok
    child.kill()
    wait_for(lambda: psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE, 5, "not a zombie")
    assert governor.held() == []  # a zombie is gone: its share is back
    child.wait()
