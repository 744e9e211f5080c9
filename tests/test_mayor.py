"""Planning, reconciling and the Crew."""

from __future__ import annotations

import json
import time

import pytest
from conftest import git
from fake_llm import Answer, FakeLLM, script, tool
from watchers import make_rig, set_config, start_watcher

from gastown import events
from gastown import mayor as mayormod
from gastown import rig as rigmod
from gastown.reconcile import bring_up_to_date
from gastown.store import Update

GOOD = {
    "title": "Combo",
    "plan": "Add a multiplier.",
    "beads": [
        {"key": "t1", "title": "Tests", "role": "refinery", "kind": "tests", "estimated_tokens": 1000},
        {
            "key": "c1",
            "title": "Code",
            "role": "polecat",
            "kind": "code",
            "estimated_tokens": 2000,
            "depends_on": ["t1"],
        },
        {
            "key": "d1",
            "title": "Docs",
            "role": "librarian",
            "kind": "docs",
            "estimated_tokens": 500,
            "depends_on": ["c1"],
        },
    ],
}


@pytest.fixture
def rigged(town, tmp_path):
    rig_path = make_rig(tmp_path)
    rigmod.add(town.store(), "example", str(rig_path), template="example")
    return town, rig_path


def mayor_roster(url, structured=True):
    return f'[models.boss]\nendpoint = "{url}"\nretries = 0\nstructured_output = {str(structured).lower()}\n\n[roles.mayor]\nmodel = "boss"\n'


@pytest.mark.parametrize(
    "bad, message",
    [
        ({**GOOD, "beads": []}, "should be non-empty"),
        (
            {**GOOD, "beads": GOOD["beads"][:1] + [{**GOOD["beads"][1], "depends_on": ["ghost"]}]},
            "'ghost' is not a key",
        ),
        ({**GOOD, "beads": [{**GOOD["beads"][0], "depends_on": ["c1"]}, {**GOOD["beads"][1]}]}, "dependency cycle"),
        ({**GOOD, "beads": GOOD["beads"] * 15}, "is too long"),
        ({**GOOD, "beads": [GOOD["beads"][0]]}, "no code (Polecat) bead"),
        ({**GOOD, "beads": [GOOD["beads"][0], GOOD["beads"][0], GOOD["beads"][1]]}, "used twice"),
    ],
)
def test_bad_plans_are_named(bad, message):
    assert any(message in p for p in mayormod.check_plan(bad)), mayormod.check_plan(bad)


def test_normalize_makes_code_wait_for_tests_and_adds_the_review():
    loose = {**GOOD, "beads": [GOOD["beads"][0], {**GOOD["beads"][1], "depends_on": []}]}
    done = mayormod.normalize(loose)
    by_key = {b["key"]: b for b in done["beads"]}
    assert by_key["c1"]["depends_on"] == ["t1"]
    assert by_key["review"]["role"] == "refinery" and by_key["review"]["depends_on"] == ["t1", "c1"]


def test_an_invalid_plan_goes_back_to_the_model_then_lands_in_one_commit(rigged):
    town, _ = rigged
    broken = {**GOOD, "beads": [{**GOOD["beads"][0], "depends_on": ["c1"]}, GOOD["beads"][1]]}
    answers = [
        Answer(content="not json at all"),
        Answer(content=json.dumps(broken)),
        Answer(content=json.dumps(GOOD)),
        Answer(content=json.dumps(GOOD)),
    ]
    with FakeLLM(script(answers)) as llm:
        set_config(town.path, mayor_roster(llm.url))
        tip = town.tip()
        dry = town.gt_process("mayor", "plan", "combo", "--rig", "example", "--dry-run", "--json")
        assert dry.code == 0 and dry.json()["committed"] is None and dry.json()["attempts"] == 3
        assert town.tip() == tip
        corrections = [m["content"] for m in llm.requests[2]["messages"] if m["role"] == "user"]
        assert "dependency cycle" in corrections[-1] and llm.requests[0]["response_format"]["type"] == "json_schema"
        result = town.gt_process("mayor", "plan", "combo", "--rig", "example", "--json").json()
    assert town.git("log", "-1", "--format=%s", "tasks").startswith("plan 4 beads mayor: Combo")
    files = town.git("show", "--name-only", "--format=", "tasks").split()
    assert (
        len(files) == 6 and any(f.startswith("plans/") for f in files) and any(f.startswith("convoys/") for f in files)
    )
    convoy = result["convoy"]
    assert convoy["target_branch"] == f"convoy/{convoy['id']}" and len(convoy["beads"]) == 4


def test_without_structured_output_the_plan_comes_as_a_forced_tool_call(rigged):
    town, _ = rigged
    with FakeLLM(script([tool("submit_plan", **GOOD)])) as llm:
        set_config(town.path, mayor_roster(llm.url, structured=False))
        result = town.gt_process("mayor", "plan", "combo", "--rig", "example", "--json")
        assert result.code == 0, result.err
        assert llm.requests[0]["tool_choice"] == {"type": "function", "function": {"name": "submit_plan"}}


def test_a_plan_that_never_gets_valid_is_refused_with_the_reasons(rigged):
    town, _ = rigged
    with FakeLLM(script([Answer(content=json.dumps({**GOOD, "beads": []}))] * 5)) as llm:
        set_config(town.path, mayor_roster(llm.url))
        tip = town.tip()
        result = town.gt_process("mayor", "plan", "combo", "--rig", "example")
    assert result.code == 2 and "should be non-empty" in result.err and "Traceback" not in result.err
    assert town.tip() == tip


def test_no_mayor_model_says_what_to_do(rigged):
    town, _ = rigged
    result = town.gt_process("mayor", "plan", "combo", "--rig", "example")
    assert result.code == 2 and "no mayor model is configured" in result.err and "push" in result.err


def test_reconcile_reads_only_what_is_new_and_rereads_a_rewritten_history(town):
    first = town.add("one")
    store = town.store()
    folder = store.town.state_dir / "mayor"
    ledger = bring_up_to_date(store.git, store.tip(), folder)
    assert ledger.last == store.tip() and ledger.timeline(first).events == 1
    town.add("two")
    store = town.store()
    bring_up_to_date(store.git, store.tip(), folder)
    frames = 0
    import pickle

    with (folder / "records.pickle").open("rb") as source:
        while True:
            try:
                _, frame = pickle.load(source)
            except EOFError:
                break
            frames += 1
            last_frame = frame
    assert frames == 2 and len(last_frame) == 1  # the second read took only the new commit
    git(town.path, "update-ref", "refs/heads/tasks", f"{store.tip()}~1")
    town.add("three")
    store = town.store()
    rewritten = bring_up_to_date(store.git, store.tip(), folder)
    assert rewritten.rewritten == 1 and rewritten.last == store.tip()


def test_reconcile_releases_expired_leases_and_escalates_repeated_failures(town):
    q = town.queue()
    stuck = town.add("stuck")
    q.claim("polecat", "dead-worker", lease=0.1, bead_id=stuck)
    time.sleep(0.2)  # its worker died: the lease runs out
    flaky = town.add("flaky")
    for n in range(3):
        q.claim("polecat", "w", lease=60, bead_id=flaky)
        q.fail(flaky, "w", f"tests failed {n}")
        if n < 2:
            decided = town.gt("mayor", "reconcile", "--json").json()
            assert {(d["bead"], d["kind"]) for d in decided["decisions"]} >= {(flaky, "retry")}
    result = town.gt("mayor", "reconcile", "--json").json()
    kinds = {d["bead"]: d["kind"] for d in result["decisions"]}
    assert kinds == {flaky: "needs-human"}
    assert town.queue().show(stuck).status == "open"
    flaky_bead = town.queue().show(flaky)
    assert "needs-human" in flaky_bead.labels and "failed 3 times" in flaky_bead.notes
    from gastown.history import read_log

    log = [e for e in read_log(town.store().git, "refs/heads/tasks") if e.event == "decide"]
    assert {dict(e.trailers)["Decision"] for e in log} == {"retry", "release-expired", "needs-human"}
    release = next(e for e in log if dict(e.trailers)["Decision"] == "release-expired")
    assert dict(release.trailers)["Recovery"] == "yes" and dict(release.trailers)["Previous-Agent"] == "dead-worker"
    assert town.gt("mayor", "reconcile", "--json").json()["decisions"] == []  # nothing left to decide
    assert town.gt("metrics", "--json").json()["orchestrator"]["recoveries"] == 1


def test_inconsistencies_are_reported_not_fixed(town, clone):
    bead_id = town.add("tampered")
    person = clone(town.path, "p")
    path = next(person.glob(f"beads/**/{bead_id}.json"))
    data = json.loads(path.read_text())
    data["title"] = "changed by hand"
    path.write_text(json.dumps(data))
    git(person, "commit", "--quiet", "-am", "just a tweak")
    git(person, "push", "--quiet", "origin", "tasks")
    store = town.store()
    lease_less = events.Event(events.CLAIM, (bead_id,), "ghost", "claim without lease", (("Generation", "9"),))
    store.update(lambda snap: Update(lease_less, files={"README.md": b"touched\n"}))
    done = events.Event(events.COMPLETE, (bead_id,), "ghost", "a result from nowhere", (("Generation", "7"),))
    store.update(lambda snap: Update(done, files={"README.md": b"touched again\n"}))
    tip = town.tip()
    result = town.gt("mayor", "reconcile", "--json").json()
    problems = "\n".join(result["problems"])
    assert "changed outside the protocol" in problems
    assert "a claim without a lease" in problems
    assert "without a matching claim" in problems
    assert town.tip() == tip  # reported, never silently fixed


def test_crew_answers_from_the_rigs_files_and_says_when_it_cannot(rigged):
    town, _ = rigged
    found = town.gt_process("crew", "ask", "example", "How is the combo multiplier computed for a streak?", "--json")
    assert found.code == 0 and found.json()["found"] and "README.md" in found.json()["sources"]
    assert "streak" in found.json()["answer"]
    missing = town.gt_process("crew", "ask", "example", "Which Kubernetes cluster hosts production?")
    assert missing.code == 1 and "not in this rig's files" in missing.out


def test_a_question_bead_is_answered_by_the_crew_asynchronously(rigged):
    town, _ = rigged
    bead_id = town.add("What grade does a 50 ms offset get?", role="crew", rig="example", issue_type="question")
    proc = start_watcher(town.path, "crew", "crew-1", "--once")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    shown = town.queue().show(bead_id)
    assert shown.status == "done" and shown.result["outcome"] == "answered" and "README.md" in shown.result["summary"]


def test_a_bead_too_big_for_the_local_models_is_split_by_the_mayor(rigged):
    town, _ = rigged
    halves = {
        "title": "Split",
        "plan": "Two halves.",
        "beads": [
            {"key": "a", "title": "First half", "role": "polecat", "kind": "code", "estimated_tokens": 5000},
            {
                "key": "b",
                "title": "Second half",
                "role": "polecat",
                "kind": "code",
                "estimated_tokens": 5000,
                "depends_on": ["a"],
            },
        ],
    }
    with FakeLLM(script([Answer(content=json.dumps(halves))])) as llm:
        set_config(
            town.path,
            mayor_roster(llm.url)
            + '\n[models.small]\nendpoint = "http://127.0.0.1:9/v1"\n\n[roles.polecat]\nbands = [{ max_tokens = 6000, model = "small", parallel = 2 }]\n',
        )
        from gastown import convoy

        made = convoy.create(town.store(), "big work", rig="example")
        big = town.add("Everything at once", rig="example", estimated_tokens=50000, convoy=made.id)
        after = town.add(
            "Document it",
            role="librarian",
            rig="example",
            dependencies=(__import__("gastown.queue", fromlist=["x"]).parse_dependency(big),),
        )
        q = town.queue()
        q.claim("polecat", "p", lease=60, bead_id=big)
        q.fail(big, "p", "the context filled up")
        result = town.gt_process("mayor", "reconcile", "--json")
        assert result.code == 0, result.err
        assert [(d["bead"], d["kind"]) for d in result.json()["decisions"]] == [(big, "split")]
    original = q.show(big)
    assert original.status == "failed" and "split" in original.labels and "split into" in original.notes
    children = [e for e in town.store().snapshot().index if e.title in ("First half", "Second half")]
    assert len(children) == 2 and all(c.convoy == made.id and c.estimated_tokens == 5000 for c in children)
    first = next(c for c in children if c.title == "First half")
    second = next(c for c in children if c.title == "Second half")
    assert second.blocks == (first.id,)
    assert set(town.store().snapshot().index.get(after).blocks) == {first.id, second.id}  # rewired
    assert set(convoy.load(town.store().snapshot(), made.id).beads) >= {first.id, second.id}
    assert [e.id for e in q.ready("polecat")] == [first.id]
    assert town.gt("mayor", "reconcile", "--json").json()["decisions"] == []  # split once, not again
