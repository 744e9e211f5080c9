"""The governor with real processes competing for a tight budget."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from conftest import wait_for

from gastown.machine.governor import Budget, Governor
from gastown.town.roster import ModelSpec

HOLDER = """
import json, sys, time
from pathlib import Path
from gastown.machine.governor import Budget, Governor
from gastown.town.roster import ModelSpec
path, log, hold = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
gov = Governor(Budget(10000, 64000, frozenset(range(4)), "config"), path)
spec = ModelSpec("m", "m", weights_mib=3000, context=1)
while True:
    verdict = gov.admit(spec)
    if verdict.ok:
        break
    time.sleep(0.02)
with log.open("a") as out:
    out.write(json.dumps({"event": "in", "t": time.time()}) + "\\n")
time.sleep(hold)
with log.open("a") as out:
    out.write(json.dumps({"event": "out", "t": time.time()}) + "\\n")
gov.release(verdict.reservation.id)
"""


def spawn(tmp_path: Path, hold: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "gov.json"), str(tmp_path / "log"), str(hold)]
    )


def test_competing_processes_never_oversubscribe(tmp_path):
    procs = [spawn(tmp_path, 1.0) for _ in range(8)]  # each needs 3000 of 10000 MiB: 3 at a time
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    inside = peak = 0
    events = sorted(
        (json.loads(line) for line in (tmp_path / "log").read_text().splitlines()),
        key=lambda e: (e["t"], e["event"] == "in"),
    )
    for event in events:
        inside += 1 if event["event"] == "in" else -1
        peak = max(peak, inside)
    assert peak == 3 and len(events) == 16


def test_a_kill_9d_holders_reservation_comes_back(tmp_path):
    gov = Governor(Budget(10000, 64000, frozenset(range(4)), "config"), tmp_path / "gov.json")
    spec = ModelSpec("m", "m", weights_mib=3000, context=1)
    holders = [spawn(tmp_path, 60) for _ in range(3)]
    wait_for(lambda: len(gov.reservations()) == 3, 20, lambda: gov.reservations())
    refused = gov.admit(spec)
    assert not refused.ok and "VRAM: needs 3000 MiB, 1000 of 10000 MiB free" in refused.reason
    os.kill(holders[0].pid, signal.SIGKILL)
    holders[0].wait()
    admitted = gov.admit(spec)
    assert admitted.ok, admitted.reason
    for proc in holders[1:]:
        proc.kill()
        proc.wait()
    assert [r.pid for r in gov.reservations()] == [os.getpid()]


def test_a_reused_pid_is_not_mistaken_for_the_holder(tmp_path):
    gov = Governor(Budget(10000, 64000, frozenset(range(4)), "config"), tmp_path / "gov.json")
    verdict = gov.admit(ModelSpec("m", "m", weights_mib=3000, context=1))
    state = json.loads((tmp_path / "gov.json").read_text())
    state["reservations"][0]["process_start"] -= 3600  # as if this PID belonged to an older process
    (tmp_path / "gov.json").write_text(json.dumps(state))
    assert gov.reservations() == []
    assert verdict.ok


def test_cloud_models_need_nothing_and_cpu_models_need_ram_and_cores(tmp_path):
    gov = Governor(Budget(0, 4000, frozenset({0, 1}), "config"), tmp_path / "gov.json")
    assert gov.check(ModelSpec("c", "c", local=False, endpoints=("x",))).ok
    big = ModelSpec("cpu", "cpu", device="cpu", weights_mib=5000, context=1)
    assert "RAM: needs 5000 MiB" in gov.check(big).reason
    pinned = ModelSpec("cpu", "cpu", device="cpu", weights_mib=100, context=1, cpu_cores=(2, 3))
    assert "cores [2, 3] are not available" in gov.check(pinned).reason
