"""The whole loop on the example rig: plan → tests written → code written → gates → merged.

Scripted Mayor, Refinery and Polecat answers over a real OpenAI-compatible HTTP server on
127.0.0.1; real watcher processes; real git in the town and the rig.
"""

from __future__ import annotations

import json

import pytest
from conftest import git
from fake_llm import Answer, FakeLLM, tool
from watchers import COMBO_CODE, COMBO_TEST, make_rig, set_config, start_watcher

from gastown.agents import rig as rigmod
from gastown.town.history import read_log

pytestmark = pytest.mark.slow

PLAN = {
    "title": "Combo multiplier",
    "plan": "Score streaks: a multiplier that grows with the streak (1, 2, 3, 4).",
    "beads": [
        {
            "key": "t1",
            "title": "Tests for beatscore.combo.multiplier",
            "role": "refinery",
            "kind": "tests",
            "estimated_tokens": 2000,
            "files": ["tests/test_combo.py"],
        },
        {
            "key": "c1",
            "title": "Implement beatscore.combo.multiplier",
            "role": "polecat",
            "kind": "code",
            "estimated_tokens": 3000,
            "depends_on": ["t1"],
            "files": ["beatscore/combo.py"],
        },
    ],
}

BAD_CODE = "def multiplier(streak: int) -> int:\n    return 1\n"


def role_of(request) -> str:
    system = request["messages"][0]["content"]
    for role in ("Mayor", "Refinery", "Polecat"):
        if f"You are the {role}" in system or f"You are a {role}" in system:
            return role.lower()
    return "?"


class Scripted:
    """Answers by role (and by model name for the Polecat), one step after another."""

    def __init__(self, polecat_code: dict[str, list[str]] | None = None) -> None:
        self.steps: dict[str, int] = {}
        self.code = polecat_code or {"fake": [COMBO_CODE]}
        self.attempt: dict[str, int] = {}
        self.swept: set[str] = set()  # beads whose suspect lines were asked about since their last answer

    def __call__(self, request) -> Answer:
        role = role_of(request)
        if role == "mayor":
            return Answer(content=json.dumps(PLAN))
        turn = sum(1 for m in request["messages"] if m["role"] == "assistant")
        if role == "refinery":
            steps = [
                tool("write_file", path="tests/test_combo.py", content=COMBO_TEST),
                tool("finish", summary="combo tests written"),
            ]
            return steps[min(turn, 1)]
        model = request["model"]
        from fake_llm import bead_of

        key = f"{model}/{bead_of(request)}"
        asked = request["messages"][1]["content"]
        if turn == 0 and "## The line at fault" in asked:  # a bug fix's suspect line, before its own answer
            self.swept.add(key)  # a retry of a failed bead is one: it starts from the code that failed
            return Answer(content="The line is right.")
        fresh_try = "## An earlier try" in asked  # the same attempt, unless its sweep came just before it
        if turn == 0 and (not fresh_try or key in self.swept):  # a new attempt: per model, and per bead
            self.swept.discard(key)
            n = self.attempt[model] = self.attempt.get(model, -1) + 1
            self.attempt[key] = n
        else:
            n = self.attempt[key]
        versions = self.code[model]
        code = versions[min(n, len(versions) - 1)]
        steps = [
            tool("read_file", path="tests/test_combo.py"),
            tool("run_tests"),
            tool("write_file", path="beatscore/combo.py", content=code),  # passing tests end the bead here
            tool("finish", summary=f"{model} wrote combo.py"),
        ]
        return steps[min(turn, 3)]


def roster(url: str, fallback: bool = False) -> str:
    text = f"""
[models.fake]
endpoint = "{url}"
context = 16384
retries = 1
structured_output = true
{'fallback = "fake2"' if fallback else ""}

[models.fake2]
endpoint = "{url}"
context = 16384
retries = 1

[roles.mayor]
model = "fake"

[roles.refinery]
model = "fake"

[roles.polecat]
model = "fake"
{'fallback = "fake2"' if fallback else ""}
"""
    return text


@pytest.fixture
def world(town, tmp_path):
    rig_path = make_rig(tmp_path, with_combo_test=False)
    git(rig_path, "checkout", "--quiet", "--detach")  # main is not checked out: gastown may move it
    rigmod.add(town.store(), "example", str(rig_path), template="example")
    return town, rig_path


def run_watcher(town, role, beads=1, timeout=120):
    proc = start_watcher(town.path, role, f"{role}-1", "--max-beads", str(beads), "--idle-exit", "5")
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return err


def plan(town):
    result = town.gt_process("mayor", "plan", "Add a combo multiplier to beatscore", "--rig", "example", "--json")
    assert result.code == 0, result.err
    return result.json()


def test_plan_tests_code_gates_merge_and_the_metrics_that_happened(world):
    town, rig_path = world
    with FakeLLM(Scripted()) as llm:
        set_config(town.path, roster(llm.url))
        planned = plan(town)
        convoy = planned["convoy"]
        beads = {b["metadata"]["plan_key"]: b for b in planned["beads"]}
        assert set(beads) == {"t1", "c1", "review"}  # the review bead closes the convoy
        assert beads["c1"]["dependencies"] == [{"id": beads["t1"]["id"], "type": "blocks"}]
        assert {d["id"] for d in beads["review"]["dependencies"]} == {beads["t1"]["id"], beads["c1"]["id"]}
        assert town.git("show", f"tasks:plans/{convoy['id']}.md").startswith("# Combo multiplier")
        assert [e["id"] for e in town.gt("ready", "--json").json()] == [beads["t1"]["id"]]  # tests first

        run_watcher(town, "refinery")  # writes the tests; merged into the convoy's branch
        assert "tests/test_combo.py" in git(rig_path, "ls-tree", "-r", "--name-only", f"convoy/{convoy['id']}")
        run_watcher(town, "polecat")  # sees the tests, writes the code, gates pass, merged
        err3 = run_watcher(town, "refinery")  # the review: coverage, then the convoy onto main
    review = town.queue().show(beads["review"]["id"])
    assert review.status == "done", (review.status, review.close_reason, err3[-2000:])
    assert git(rig_path, "show", "main:beatscore/combo.py") == COMBO_CODE
    assert git(rig_path, "show", "main:tests/test_combo.py") == COMBO_TEST
    statuses = {k: town.queue().show(b["id"]).status for k, b in beads.items()}
    assert statuses == {"t1": "done", "c1": "done", "review": "done"}
    review = town.queue().show(beads["review"]["id"])
    assert review.result["coverage"] >= 80 and review.result["merge"]["status"] == "merged"
    events = [e.event for e in read_log(town.store().git, "refs/heads/tasks", reverse=True)]
    assert events.count("merge") == 3 and events.count("plan") == 1
    metrics = town.gt("metrics", "--json").json()
    assert metrics["orchestrator"]["decisions"] == 1 and metrics["orchestrator"]["planned_workers"] == 3
    assert metrics["orchestrator"]["worker_failure_rate"] == 0 and metrics["orchestrator"]["dependency_blocks"] == 2
    # the Refinery's bead ends once its test file is written, the Polecat's once its tests pass: no finish calls
    assert metrics["tool_calls"]["per_tool"] == {"write_file": 2, "read_file": 1, "run_tests": 1}
    assert metrics["tool_calls"]["total"] == 4 and metrics["tool_calls"]["distinct_tools"] == 3
    assert metrics["models"]["fake"]["tokens_in"] > 0
    convoy_only = town.gt("metrics", "--convoy", convoy["id"], "--role", "polecat", "--json").json()
    assert convoy_only["tool_calls"]["total"] == 3


def test_a_polecat_failing_the_gates_comes_back_and_the_fallback_takes_over(world):
    town, rig_path = world
    scripted = Scripted({"fake": [BAD_CODE], "fake2": [BAD_CODE, COMBO_CODE]})
    with FakeLLM(scripted) as llm:
        set_config(town.path, roster(llm.url, fallback=True))
        beads = {b["metadata"]["plan_key"]: b for b in plan(town)["beads"]}
        code = beads["c1"]["id"]
        run_watcher(town, "refinery")
        run_watcher(town, "polecat")
        first = town.queue().show(code)
        assert first.status == "failed" and "tests failed" in first.close_reason and first.result["model"] == "fake"
        decided = town.gt_process("mayor", "reconcile", "--json")
        assert decided.code == 0 and [d["kind"] for d in decided.json()["decisions"]] == ["retry-fallback"]
        run_watcher(town, "polecat")
        second = town.queue().show(code)
        assert second.status == "failed" and second.result["model"] == "fake2" and second.attempts == 2
        town.gt_process("mayor", "reconcile")
        run_watcher(town, "polecat")
    final = town.queue().show(code)
    assert (
        final.status == "done"
        and final.result["model"] == "fake2"
        and final.metadata["merged"]["into"].startswith("convoy/")
    )
    decisions = [e for e in read_log(town.store().git, "refs/heads/tasks") if e.event == "decide"]
    assert len(decisions) == 2 and all(dict(e.trailers)["Decision"] == "retry-fallback" for e in decisions)
    assert "retry with fake2" in dict(decisions[0].trailers)["Reason"]
    assert town.git("log", "--format=%s", "tasks", "--grep=retry-fallback").count("decide") == 2


def test_a_merge_conflict_files_a_resolve_bead_and_keeps_the_branch(world):
    import threading
    import time

    from fake_llm import bead_of

    town, rig_path = world
    other = COMBO_CODE.replace('"""Combo multipliers."""', '"""Combo multipliers, another way."""')
    two = {
        **PLAN,
        "beads": PLAN["beads"]
        + [
            {
                "key": "c2",
                "title": "Also implement the multiplier",
                "role": "polecat",
                "kind": "code",
                "estimated_tokens": 3000,
                "depends_on": ["t1"],
            }
        ],
    }
    started: dict[str, threading.Event] = {}
    alone: list[str] = []  # a bead that went on without the other: the barrier ran out
    scripted = Scripted({"fake": [COMBO_CODE, other]})

    def respond(request):
        if role_of(request) == "mayor":
            return Answer(content=json.dumps(two))
        bead = bead_of(request)
        if role_of(request) == "polecat":
            started.setdefault(bead, threading.Event()).set()
            turn = sum(1 for m in request["messages"] if m["role"] == "assistant")
            if turn == 1:  # both branches exist before either writes: they must collide later
                deadline = time.monotonic() + 90
                while len(started) < 2 and time.monotonic() < deadline:
                    time.sleep(0.05)
                if len(started) < 2:
                    alone.append(bead)
        return scripted(request)

    with FakeLLM(respond) as llm:
        set_config(town.path, roster(llm.url))
        beads = {b["metadata"]["plan_key"]: b for b in plan(town)["beads"]}
        run_watcher(town, "refinery")
        watchers = [
            start_watcher(town.path, "polecat", f"p{i}", "--max-beads", "1", "--idle-exit", "5") for i in range(2)
        ]
        for proc in watchers:
            _, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err[-2000:]
    assert not alone, f"{alone} wrote before the other bead's branch existed: nothing to collide"
    ids = {beads["c1"]["id"], beads["c2"]["id"]}
    merged = [i for i in ids if "merged" in town.queue().show(i).metadata]
    assert len(merged) == 1, (town.gt("log").out, [town.queue().show(i).close_reason for i in ids])
    loser = (ids - set(merged)).pop()
    assert git(rig_path, "rev-parse", "--verify", f"bead/{loser}").strip()  # the branch is kept
    resolve = [e for e in town.store().snapshot().index if e.title.startswith("Resolve conflict")]
    lost = town.queue().show(loser)
    assert len(resolve) == 1 and resolve[0].convoy == beads["c1"]["convoy"], (lost.close_reason, lost.metadata)
    shown = town.queue().show(resolve[0].id)
    assert "beatscore/combo.py" in shown.description and shown.dependencies[0].type == "discovered-from"


def test_the_merge_queue_refuses_a_branch_that_changed_the_refinerys_tests(world):
    town, rig_path = world
    bead_id = town.add("sneaky", rig="example")
    q = town.queue()
    q.claim("polecat", "p", lease=60)
    git(rig_path, "branch", f"bead/{bead_id}", "main")
    work = rig_path.parent / "sneaky"
    git(rig_path, "worktree", "add", "--quiet", str(work), f"bead/{bead_id}")
    (work / "tests" / "test_scoring.py").write_text("def test_nothing():\n    pass\n")
    git(work, "commit", "--quiet", "-am", "weaken the tests")
    git(rig_path, "worktree", "remove", "--force", str(work))
    q.complete(bead_id, "p")
    result = town.gt_process("refinery", "merge", bead_id, "--json")
    assert result.code == 0 and result.json()[0]["status"] == "refused"
    shown = q.show(bead_id)
    assert (
        shown.status == "failed" and "test files: tests/test_scoring.py" in shown.close_reason and shown.attempts == 1
    )
    assert "weaken" not in git(rig_path, "log", "--format=%s", "main")


def test_with_a_rig_remote_branches_and_merges_are_pushed_and_read_back(town, tmp_path):
    source = make_rig(tmp_path, with_combo_test=False)
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(source), str(origin))
    rig_path = tmp_path / "rig-clone"
    git(tmp_path, "clone", "--quiet", str(origin), str(rig_path))  # main stays checked out here
    rigmod.add(town.store(), "example", str(rig_path), template="example")
    with FakeLLM(Scripted()) as llm:
        set_config(town.path, roster(llm.url))
        beads = {b["metadata"]["plan_key"]: b for b in plan(town)["beads"]}
        run_watcher(town, "refinery")
        run_watcher(town, "polecat")
        run_watcher(town, "refinery")
    assert git(origin, "show", "main:beatscore/combo.py") == COMBO_CODE  # pushed, then read back
    branches = git(origin, "for-each-ref", "--format=%(refname:short)", "refs/heads/bead/").split()
    assert sorted(branches) == sorted(f"bead/{beads[k]['id']}" for k in ("t1", "c1"))
    assert "beatscore/combo.py" not in git(
        rig_path, "ls-tree", "-r", "--name-only", "HEAD"
    )  # the checkout is untouched
    review = town.queue().show(beads["review"]["id"])
    assert review.result["merge"]["detail"] == "pushed to origin/main"
