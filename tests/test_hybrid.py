"""The hybrid machine with real processes: four watchers of three roles share a pretend
10 GiB GPU. Scripted model servers that declare their size stand in for a 3B, a 7B and a
small docs model; the cloud is a scripted server on 127.0.0.1 with a price.

A 5k-token bead runs on the 3B's two slots, a 10k-token one swaps the 7B in once the 3B has
gone idle, a 20k-token one goes to the cloud and is priced by `gt cost` — and the governor's
reservations, sampled throughout, never exceed the budget.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from conftest import gt_process, wait_for
from fake_llm import FakeLLM, per_bead, script, tool
from watchers import COMBO_CODE, commit_beads, make_rig, set_config, start_watcher, stop_watchers

from gastown.agents import rig as rigmod
from gastown.machine.governor import Governor
from gastown.town import times
from gastown.town.history import read_log

FAKE = str(Path(__file__).with_name("fake_llm.py"))
BUDGET_MIB = 10240
# small ×2: 2500 + 0.1 × 8192 × 2 = 4138 MiB; mid: 5000 + 0.2 × 16384 = 8277; doc: 1000.
# small and doc fit together, mid and doc too; mid and small do not.


def roster(cloud_url: str, combo: Path, hold_first: Path | None = None) -> str:
    """The machine; ``hold_first``: the 3B holds the first request it gets (120 s)."""

    def stand_in(name: str, weights: int, kv: float, context: int) -> str:
        launch = [sys.executable, FAKE, "--port", "{port}", "--write", f"beatscore/combo.py={combo}"]
        if hold_first is not None and name == "small":
            launch += ["--hold-first", str(hold_first)]
        return (
            f'[models.{name}]\nlaunch = {json.dumps(launch)}\ndevice = "gpu"\n'
            f"weights_mib = {weights}\nkv_mib_per_token = {kv}\ncontext = {context}\n\n"
        )

    return (
        f"[machine]\nvram_mib = {BUDGET_MIB}\nidle_s = 2\n\n"
        + stand_in("small", 2500, 0.1, 8192)
        + stand_in("mid", 5000, 0.2, 16384)
        + stand_in("doc", 1000, 0.0, 8192)
        + "[models.cloud]\n"
        'kind = "cloud"\n'
        f'endpoint = "{cloud_url}"\n'
        'model = "fake"\n'
        "context = 100000\n"
        "price_in_per_mtok = 1.0\n"
        "price_out_per_mtok = 5.0\n\n"
        "[roles.polecat]\n"
        'bands = [{ max_tokens = 6000, model = "small", parallel = 2 }, { max_tokens = 14000, model = "mid" }]\n'
        'cloud = "cloud"\n'
        'when_nothing_fits = "wait"\n\n'
        '[roles.librarian]\nmodel = "doc"\n\n'
        '[roles.crew]\nmodel = "doc"\n'
    )


def bead(bead_id: str, tokens: int, role: str = "polecat", **fields: object) -> dict[str, object]:
    stamp = times.iso(time.time())
    return {
        "id": bead_id,
        "title": f"Implement the combo multiplier ({tokens} tokens)",
        "rig": "example",
        "role": role,
        "description": "beatscore.combo.multiplier as the README says",
        "estimated_tokens": tokens,
        "created_at": stamp,
        "updated_at": stamp,
        **fields,
    }


class Sampler:
    """Reads the governor's live reservations every 20 ms while the run goes on."""

    def __init__(self, path: Path) -> None:
        self.governor = Governor(lambda: None, path)  # type: ignore[arg-type, return-value]  # read only
        self.samples: list[tuple[float, set[str]]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.02):
            held = self.governor.held()
            self.samples.append((sum(r.vram_mib for r in held), {r.model for r in held}))

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()


def push_beads(person: Path, *beads: dict[str, object]) -> None:
    """A person's push of new beads, rebased and pushed again when a watcher's commit landed first."""
    commit_beads(person, *beads)
    for _ in range(10):
        if (
            subprocess.run(["git", "push", "--quiet", "origin", "tasks"], cwd=person, capture_output=True).returncode
            == 0
        ):
            return
        subprocess.run(["git", "pull", "--quiet", "--rebase", "origin", "tasks"], cwd=person, check=True)
    raise AssertionError("the push lost the race ten times")


def state_of(town, env: dict[str, str]):
    """What a timed-out wait shows: each bead's status and why, the machine, the log."""

    def describe() -> str:
        shown = gt_process("--town", str(town.path), "status", env=env).out
        log = gt_process("--town", str(town.path), "log", "-n", "30").out
        return f"{shown}\n{log}"

    return describe


def closed(town, *bead_ids: str) -> bool:
    snap = town.store().snapshot()
    return all(snap.index.get(b) is not None and snap.index.get(b).status in ("done", "failed") for b in bead_ids)


@pytest.fixture
def hybrid(town, tmp_path, clone):
    rig_path = make_rig(tmp_path)
    rigmod.add(town.store(), "example", str(rig_path), template="example")
    combo = tmp_path / "combo.py"
    combo.write_text(COMBO_CODE)
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}  # this test's own governor
    return town, clone(town.path, "person"), combo, env, tmp_path / "state" / "gastown" / "governor.json"


def test_four_watchers_share_a_10_gib_gpu_swap_by_size_and_send_the_biggest_to_the_cloud(hybrid):
    town, person, combo, env, governor_file = hybrid
    cloud_script = per_bead(
        lambda _bead: script(
            [tool("write_file", path="beatscore/combo.py", content=COMBO_CODE), tool("finish", summary="ok")]
        )
    )
    watchers = []
    with FakeLLM(cloud_script) as cloud:
        set_config(town.path, roster(cloud.url, combo))
        try:
            for role, agent in (("polecat", "p1"), ("polecat", "p2"), ("librarian", "l1"), ("crew", "c1")):
                watchers.append(start_watcher(town.path, role, agent, "--idle-exit", "300", env=env, quiet=True))
            with Sampler(governor_file) as sampler:
                push_beads(
                    person,
                    bead("gt-sm4ll1", 5000),
                    bead("gt-sm4ll2", 5000),
                    bead("gt-d0cs01", 3000, "librarian"),
                    bead("gt-qu3st1", 1000, "crew", issue_type="question", title="What does combo do?"),
                )
                wait_for(
                    lambda: closed(town, "gt-sm4ll1", "gt-sm4ll2", "gt-d0cs01", "gt-qu3st1"), 120, state_of(town, env)
                )
                push_beads(person, bead("gt-m1d001", 10000))
                wait_for(lambda: closed(town, "gt-m1d001"), 120, state_of(town, env))
                push_beads(person, bead("gt-cl0ud1", 20000))
                wait_for(lambda: closed(town, "gt-cl0ud1"), 60, state_of(town, env))
        finally:
            stop_watchers(*watchers)
            gt_process("--town", str(town.path), "down", env=env)
    queue = town.queue()
    small = [queue.show(b) for b in ("gt-sm4ll1", "gt-sm4ll2")]
    assert [(b.status, b.result["model"]) for b in small] == [("done", "small"), ("done", "small")]
    assert small[0].result["model_choice"] == "5000 tokens ≤ 6000: small ×2"
    mid = queue.show("gt-m1d001")
    assert (mid.status, mid.result["model"]) == ("done", "mid"), mid.close_reason
    assert "stopped idle small to make room" in mid.result["model_choice"]
    big = queue.show("gt-cl0ud1")
    assert (big.status, big.result["model"]) == ("done", "cloud")
    assert big.result["model_choice"] == "20000 tokens: more than any local model takes, so cloud (cloud)"
    entry = read_log(town.store().git, "refs/heads/tasks", bead="gt-m1d001", limit=1)[0]
    assert "stopped idle small" in dict(entry.trailers)["Model-Choice"]  # git log says why
    # Never over budget, and the run did hold each local model at some point.
    assert len(sampler.samples) > 100
    assert max(vram for vram, _ in sampler.samples) <= BUDGET_MIB
    seen = set().union(*(models for _, models in sampler.samples))
    assert {"small", "mid", "doc"} <= seen
    assert not any({"small", "mid"} <= models for _, models in sampler.samples)
    priced = gt_process("--town", str(town.path), "cost", "--json")
    assert priced.code == 0, priced.out
    lines = {line["model"]: line for line in json.loads(priced.out)["lines"]}
    assert lines["cloud"]["cloud_dollars"] > 0 and lines["small"]["cloud_dollars"] == 0


def test_a_waiting_watcher_sleeps_says_why_and_wakes_when_a_kill_9_returns_the_room(hybrid, tmp_path):
    """p1 is mid-bead on the 3B (its first request held); p2's 10k bead needs the 7B, which
    does not fit beside it: p2 says why in `gt status` and uses no CPU while it waits. When
    p1 is kill -9'd, as the OOM killer would, its hold on the 3B goes with it and p2 swaps
    the 7B in within seconds (its nap without the budget watch would be 30 s)."""
    town, person, combo, env, _ = hybrid
    held = tmp_path / "held"
    with FakeLLM(script([])) as cloud:
        set_config(town.path, roster(cloud.url, combo, hold_first=held))
        first = start_watcher(town.path, "polecat", "p1", "--idle-exit", "300", env=env, quiet=True)
        second = None
        try:
            push_beads(person, bead("gt-sm4ll1", 5000))
            wait_for(held.exists, 60, state_of(town, env))  # p1's first call hangs: it is mid-bead
            second = start_watcher(town.path, "polecat", "p2", "--idle-exit", "300", env=env, quiet=True)
            push_beads(person, bead("gt-m1d001", 10000))

            def says_waiting() -> bool:
                shown = gt_process("--town", str(town.path), "status", env=env)
                return "waiting for room: gt-m1d001" in shown.out

            wait_for(says_waiting, 30, state_of(town, env))
            shown = gt_process("--town", str(town.path), "status", env=env).out
            assert "server small: running, in use" in shown, shown
            assert "watcher p1 (polecat" in shown and "working gt-sm4ll1 (model small" in shown, shown
            waiting = psutil.Process(second.pid)
            before = sum(waiting.cpu_times()[:2])
            time.sleep(3)  # a window to measure: a watcher that spun would burn most of it
            assert sum(waiting.cpu_times()[:2]) - before < 0.3
            first.kill()  # SIGKILL: no handler runs, no release is written
            first.wait()
            wait_for(lambda: len(claims_of(town, "gt-m1d001")) == 2, 10, state_of(town, env))
            wait_for(lambda: closed(town, "gt-m1d001"), 60, state_of(town, env))
        finally:
            stop_watchers(first, second)
            gt_process("--town", str(town.path), "down", env=env)
    mid = town.queue().show("gt-m1d001")
    assert (mid.status, mid.result["model"]) == ("done", "mid")
    assert "stopped idle small to make room" in mid.result["model_choice"]
    assert len(claims_of(town, "gt-m1d001")) == 2  # handed back once with the reason, then claimed when room was made


def claims_of(town, bead_id: str) -> list[object]:
    return [e for e in read_log(town.store().git, "refs/heads/tasks", bead=bead_id) if e.event == "claim"]
