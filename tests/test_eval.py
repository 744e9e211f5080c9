"""``gt eval`` against the scripted model server: real towns, real git, real watchers.

The scripted model reads which script to follow from the bead's text (``script: NAME``)
and which step it is at from the number of its own replies in the conversation, so it
answers the same however the agent loop shapes its prompts and whatever it refuses.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import git, gt_inprocess, wait_for
from fake_llm import Answer, FakeLLM, text, tool

from gastown import evaluation
from gastown.agents import checks
from gastown.agents.commands import Run
from gastown.agents.jail import Jail
from gastown.errors import EXIT_INTERRUPTED
from gastown.evaluation import plain

FAKE = str(Path(__file__).with_name("fake_llm.py"))

NAMES_TESTS = """from calc.names import initials


def test_one_initial_per_word():
    assert initials("ada lovelace") == "A.L."


def test_hyphens_split_parts():
    assert initials("Jean-Paul Sartre") == "J.P.S."
"""

PLAN = {
    "title": "Add calc.power",
    "plan": "Tests first, then the code.",
    "beads": [
        {"key": "t1", "title": "Tests for power", "role": "refinery", "kind": "tests", "estimated_tokens": 2000},
        {
            "key": "c1",
            "title": "Write calc.power",
            "role": "polecat",
            "kind": "code",
            "estimated_tokens": 3000,
            "depends_on": ["t1"],
        },
    ],
}

SCRIPTS: dict[str, list[Answer]] = {
    "solve": [
        tool("write_file", path="calc/double.py", content="def double(x):\n    return 2 * x\n"),
        tool("run_tests"),
        tool("finish", summary="calc.double written; the tests pass"),
    ],
    "botch": [
        tool("write_file", path="calc/half.py", content="def half(x):\n    return x\n"),
        tool("finish", summary="All tests pass."),
    ],
    "cheat": [
        tool("write_file", path="checks/test_triple.py", content="def test_triple():\n    assert True\n"),
        tool("finish", summary="All tests pass."),
    ],
    "hang": [Answer(hang=60)],
    "tests": [
        tool("write_file", path="tests/test_names.py", content=NAMES_TESTS),
        tool("finish", summary="tests/test_names.py written"),
    ],
    "answer": [text("calc.add adds two numbers; the project needs Python 3.11 [README.md].")],
    "plan": [text(json.dumps(PLAN))],
}


def plain_answer(steps: list[Answer]) -> Answer:
    """A plain prompt's answer: the script's first file, whole, under its path (and a path
    outside the rig that must not be written)."""
    for step in steps:
        for call in step.tool_calls:
            arguments = json.loads(call["function"]["arguments"])
            if call["function"]["name"] == "write_file":
                blocks = f"{arguments['path']}\n```python\n{arguments['content']}```\n"
                return text(f"Here it is.\n\n{blocks}\n../outside.py\n```python\nx = 1\n```\n")
    return text("I cannot do this.")


def responder(request: dict[str, Any]) -> Answer:
    """The step of the script the bead names; ``finish`` once it has run out."""
    messages = request.get("messages", [])
    joined = "\n".join(str(m.get("content") or "") for m in messages)
    found = re.search(r"script: (\w+)", joined)
    steps = SCRIPTS.get(found.group(1) if found else "", [])
    if messages and messages[0].get("content") == plain.SYSTEM:  # the control: one prompt, no tools
        return plain_answer(steps)
    if found and found.group(1) == "plan" and request.get("tools"):  # asked for a forced tool call instead
        return tool("submit_plan", **PLAN)
    turn = sum(1 for m in messages if m.get("role") == "assistant")
    if found and found.group(1) in ("hang", "answer", "plan"):
        return steps[0]
    return steps[turn] if turn < len(steps) else tool("finish", summary="script finished")


SUITE = """
[suite]
name = "tiny"
bead_timeout = 120

[rig]
name = "calc"
language = "python"
test_command = ["{python}", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:anyio"]
test_timeout = 60
test_paths = ["tests/**"]
docs = ["README.md"]
allowed_commands = [["{python}", "-m", "pytest"]]

[[beads]]
key = "double"
title = "Add calc.double"
description = "Write calc/double.py with double(x) returning twice x. script: solve"
acceptance_tests = ["tests/test_double.py"]

[[beads]]
key = "half"
title = "Add calc.half"
description = "Write calc/half.py with half(x) returning x divided by 2. script: botch"
acceptance_tests = ["tests/test_half.py::test_half"]

[[beads]]
key = "triple"
title = "Add calc.triple"
description = "Write calc/triple.py with triple(x) returning three times x. script: cheat"
acceptance_tests = ["checks/test_triple.py"]

[[beads]]
key = "stalled"
title = "Add calc.half again"
description = "Write calc/half.py with half(x). script: hang"
acceptance_tests = ["tests/test_half.py"]
timeout = 4

[[beads]]
key = "names-tests"
role = "refinery"
title = "Tests for calc.names.initials"
description = "Write tests/test_names.py for calc.names.initials. script: tests"
judge = { stub = "overlays/stub", reference = "overlays/reference", tests = ["tests/test_names.py"] }

[[beads]]
key = "question"
role = "crew"
title = "Python version"
description = "Which Python version does calc need? script: answer"
judge = { facts = ["3.11"], sources = ["README.md"] }

[[beads]]
key = "power-plan"
role = "mayor"
title = "Plan calc.power"
description = "Add calc.power(x, n). script: plan"
"""


@pytest.fixture(autouse=True)
def _bare_pytest(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suites' projects need no pytest plugins; loading this environment's costs ~1 s per run."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def write(root: Path, files: dict[str, str]) -> None:
    for name, body in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    """A tiny suite: the calc project, its acceptance tests, a refinery bead's overlays."""
    folder = tmp_path / "tiny"
    write(
        folder,
        {
            "suite.toml": SUITE,
            "project/README.md": "# calc\n\nTiny arithmetic. calc.add(a, b) adds. Needs Python 3.11.\n",
            "project/conftest.py": "# makes `import calc` work from the project root\n",
            "project/calc/__init__.py": '"""Tiny arithmetic."""\n',
            "project/calc/basic.py": "def add(a, b):\n    return a + b\n",
            "project/calc/names.py": "def initials(name):\n    raise NotImplementedError\n",
            "project/tests/test_basic.py": "from calc.basic import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
            "project/tests/test_double.py": "from calc.double import double\n\n\ndef test_double():\n    assert double(4) == 8\n",
            "project/tests/test_half.py": "from calc.half import half\n\n\ndef test_half():\n    assert half(8) == 4\n",
            "project/checks/test_triple.py": "from calc.triple import triple\n\n\ndef test_triple():\n    assert triple(2) == 6\n",
            "overlays/stub/calc/names.py": "def initials(name):\n    return ''.join(p[0].upper() + '.' for p in name.split())\n",
            "overlays/reference/calc/names.py": (
                "import re\n\n\ndef initials(name):\n"
                "    return ''.join(p[0].upper() + '.' for p in re.split(r'[\\s-]+', name) if p)\n"
            ),
        },
    )
    return folder


@pytest.fixture
def fake_config(tmp_path: Path):
    with FakeLLM(responder) as llm:
        path = tmp_path / "models.toml"
        path.write_text(
            "[models.fake]\n"
            f'endpoint = "{llm.url}"\nmodel = "fake"\ncontext = 16384\nretries = 1\ntimeout_s = 30\nmax_turns = 6\n'
        )
        yield path, llm


def run_eval(suite: Path, config: Path, *args: str):
    return gt_inprocess("eval", "--suite", str(suite), "--models", "fake", "--config", str(config), "--json", *args)


def by_key(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {bead["key"]: bead for bead in data["beads"]}


def test_a_solved_bead_passes_and_a_botched_one_fails_with_its_reason(suite, fake_config, tmp_path):
    config, _llm = fake_config
    chart = tmp_path / "chart.svg"
    result = run_eval(suite, config, "--beads", "double,half", "--svg", str(chart))
    assert result.code == 0, result.err[-3000:]
    data = result.json()
    (model,) = data["models"]
    assert (model["model"], model["beads"], model["passed"], model["pass_rate"]) == ("fake", 2, 1, 0.5)
    assert model["median_wall_s"] > 0 and model["tokens_in"] > 0 and model["tool_calls"]["total"] >= 4
    beads = by_key(data)
    assert beads["double"]["verdict"] == "passed", beads["double"]
    assert beads["half"]["verdict"] == "failed"
    assert "acceptance tests failed" in beads["half"]["why"] and "test_half" in beads["half"]["why"]
    # the chart: valid XML, one labelled point for the one model
    root = ElementTree.fromstring(chart.read_text())
    assert root.tag.endswith("svg")
    assert len(root.findall("{http://www.w3.org/2000/svg}circle")) == 1
    assert "fake" in chart.read_text()


def test_the_plain_control_runs_beside_the_loop_and_is_judged_the_same_way(suite, fake_config, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the towns --keep keeps: gone with the test's folder
    """--runtime loop,plain: a row each; the control asks once (no tools) with the bead's
    tests and README, writes the answer's files as they come, and is judged on its branch."""
    config, llm = fake_config
    result = run_eval(suite, config, "--beads", "double,half,question", "--runtime", "loop,plain", "--keep")
    assert result.code == 0, result.err[-3000:]
    data = result.json()
    loop, control = data["models"]
    assert (loop["runtime"], loop["beads"], loop["passed"]) == ("loop", 3, 2)
    assert (control["runtime"], control["beads"], control["passed"]) == ("plain", 2, 1)  # no control for a question
    assert control["tool_calls"]["total"] == 0 and control["tokens_in"] > 0
    rows = {(b["runtime"], b["key"]): b for b in data["beads"]}
    assert rows["plain", "double"]["verdict"] == "passed", rows["plain", "double"]
    assert rows["plain", "double"]["reported"] == "wrote calc/double.py"  # not ../outside.py
    assert rows["plain", "half"]["verdict"] == "failed" and "test_half" in rows["plain", "half"]["why"]
    asked = [r for r in llm.requests if r["messages"][0]["content"] == plain.SYSTEM]
    assert len(asked) == 2 and not any(r.get("tools") for r in asked)  # one call a bead, no tools
    double_prompt = next(r["messages"][1]["content"] for r in asked if "script: solve" in r["messages"][1]["content"])
    assert "def test_double():" in double_prompt and "Needs Python 3.11" in double_prompt
    town = Path(control["town"])
    assert not (town / "outside.py").exists() and not (town / "plain" / "outside.py").exists()
    table = gt_inprocess(
        "eval",
        "--suite",
        str(suite),
        "--models",
        "fake",
        "--config",
        str(config),
        "--beads",
        "double",
        "--runtime",
        "plain",
    )
    assert table.code == 0, table.err[-2000:]
    assert "fake (plain)" in table.out and " 1/1 " in table.out


def test_repeats_work_every_bead_again_and_the_report_gives_each_repeat_and_each_bead(
    suite, fake_config, tmp_path, monkeypatch
):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the towns --keep keeps: gone with the test's folder
    """--repeat 2 --seed 7: each bead twice, loop and control, each repeat counted apart;
    repeat 2's watchers and plain prompts sample from seed 1007, repeat 1's from 7."""
    config, llm = fake_config
    args = ("--beads", "double,half", "--runtime", "loop,plain", "--repeat", "2", "--seed", "7", "--keep")
    result = run_eval(suite, config, *args)
    assert result.code == 0, result.err[-3000:]
    data = result.json()
    assert (data["repeat"], data["seed"]) == (2, 7)
    for model in data["models"]:
        assert (model["beads"], model["passed"], model["repeats"]) == (4, 2, 2), model
        assert model["passed_per_repeat"] == [1, 1]
        assert model["by_bead"] == {"double": {"passed": 2, "runs": 2}, "half": {"passed": 0, "runs": 2}}
    assert sorted((b["runtime"], b["key"], b["repeat"]) for b in data["beads"]) == [
        (runtime, key, repeat) for runtime in ("loop", "plain") for key in ("double", "half") for repeat in (1, 2)
    ]
    loop_ids = [b["bead"] for b in data["beads"] if b["runtime"] == "loop"]
    assert len(set(loop_ids)) == 4  # a bead worked again is a new bead of the town

    def first_seeds(is_plain: bool) -> list[int]:
        """The seed of each bead's first request, in the order asked."""
        firsts = [
            r
            for r in llm.requests
            if not any(m["role"] == "assistant" for m in r["messages"])
            and "## An earlier try" not in (r["messages"][-1]["content"] or "")  # not a fresh try of the bead
            and "## The line at fault" not in (r["messages"][-1]["content"] or "")  # nor a suspect line's
        ]
        return [r["seed"] for r in firsts if (r["messages"][0]["content"] == plain.SYSTEM) == is_plain]

    assert first_seeds(is_plain=False) == [7, 7, 1007, 1007]  # a watcher a bead: its first request is its seed
    assert first_seeds(is_plain=True) == [7, 8, 1007, 1008]  # one client a repeat: one seed a request
    rig = Path(data["models"][1]["town"]) / "calc"
    plain_branches = git(rig, "for-each-ref", "--format=%(refname:short)", "refs/heads/eval/plain").split()
    assert sorted(plain_branches) == [
        "eval/plain/double",
        "eval/plain/double.r2",
        "eval/plain/half",
        "eval/plain/half.r2",
    ]
    table = gt_inprocess("eval", "--suite", str(suite), "--models", "fake", "--config", str(config), "-v", *args[:6])
    assert table.code == 0, table.err[-2000:]
    assert "fake: passed 1, 1 of 2 in its 2 repeats; double 2/2, half 0/2; pass rate 50%, 95% interval 15%-85%" in (
        table.out
    )
    assert "fake (plain): passed 1, 1 of 2 in its 2 repeats" in table.out
    assert "double.r2 " in table.out and "repeat 2/2, bead 1/2 double" in table.err
    assert re.search(r"^fake {23}double {13}passed .* tries  1  ", table.out, re.M), table.out  # the loop's tries
    assert re.search(r"^fake {23}half {15}failed .* tries +[2-9]  ", table.out, re.M), table.out  # a try, then more
    assert [m["pass_rate_interval"] for m in data["models"]] == [[0.15, 0.85]] * 2


def test_a_saved_report_is_read_back_by_compare(suite, fake_config, tmp_path):
    """`gt eval --json > FILE`, then `gt eval --compare FILE`: the same beads and verdicts."""
    config, _llm = fake_config
    result = run_eval(suite, config, "--beads", "double,half")
    assert result.code == 0, result.err[-3000:]
    saved = tmp_path / "report.json"
    saved.write_text(result.out)
    compared = gt_inprocess("eval", "--compare", str(saved), "--json")
    assert compared.code == 0, compared.err
    (model,) = compared.json()["models"]
    assert model["beads"] == {"double": [[1, 1]], "half": [[0, 1]]}
    assert model["totals"][0] | {"median_wall_s": None} == {
        "report": "report",
        "passed": 1,
        "runs": 2,
        "rate": 0.5,
        "interval": [0.0945, 0.9055],
        "median_wall_s": None,
    }


def test_check_runs_no_model_so_it_refuses_repeats_and_seeds(suite):
    for given, said in ((("--repeat", "1"), "--repeat does not apply"), (("--seed", "3"), "--seed does not apply")):
        refused = gt_inprocess("eval", "--suite", str(suite), "--check", *given)
        assert refused.code == 2 and said in refused.err and "hint:" in refused.err, refused.err


def test_a_plain_answer_writes_only_inside_the_checkout(tmp_path):
    """Paths that climb out, links that lead outside, a path through a file: not written, and
    said; the rest is."""
    tree, outside = tmp_path / "tree", tmp_path / "outside"
    tree.mkdir()
    outside.mkdir()
    (tree / "link").symlink_to(outside)
    (tree / "calc.py").write_text("x = 0\n")
    files = [(p, "x = 1\n") for p in ("../up.py", "a/../../b.py", "link/in.py", "calc.py/x.py", "ok/a.py")]
    assert plain.write(tree, files) == (["ok/a.py"], ["../up.py", "a/../../b.py", "link/in.py", "calc.py/x.py"])
    assert (tree / "ok" / "a.py").read_text() == "x = 1\n" and list(outside.iterdir()) == []
    assert not (tmp_path / "up.py").exists() and not (tmp_path / "b.py").exists()
    # what a reply's parsing lets through to the writer: paths under the project only
    reply = "".join(f"{path}\n```python\nx = 1\n```\n\n" for path in ("/abs.py", ".git/hooks/x.py", "ok/b.py"))
    assert [path for path, _ in plain.answer_files(reply)] == ["ok/b.py"]
    # asked for one file, a block under no path is that file; asked for several, it is nothing
    bare = "Here:\n```python\nimport re\n\n\ndef f():\n    pass\n```\nand `f()` calls nothing:\n```\nf()\n```\n"
    assert plain.answer_files(bare, ["pkg/f.py"]) == [("pkg/f.py", "import re\n\n\ndef f():\n    pass\n")]
    assert plain.answer_files(bare, ["pkg/f.py", "pkg/g.py"]) == []


def test_a_runtime_that_cannot_run_is_a_clear_error(suite, fake_config):
    config, _llm = fake_config
    unknown = run_eval(suite, config, "--beads", "double", "--runtime", "loop,oneshot")
    assert unknown.code == 2 and "unknown runtime 'oneshot'" in unknown.err and "Traceback" not in unknown.err
    checked = gt_inprocess("eval", "--suite", str(suite), "--check", "--runtime", "PLAIN")
    assert checked.code == 2 and "unknown runtime 'PLAIN'" in checked.err  # --check reads it as a run does
    nothing = run_eval(suite, config, "--beads", "question", "--runtime", "plain")
    assert nothing.code == 2 and "none of the chosen beads" in nothing.err and "Traceback" not in nothing.err


def test_the_report_of_a_worker_is_not_trusted(suite, fake_config):
    """The cheat rewrote its acceptance test to pass; the hung model was stopped at its budget."""
    config, _llm = fake_config
    result = run_eval(suite, config, "--beads", "triple,stalled")
    assert result.code == 0, result.err[-3000:]
    beads = by_key(result.json())
    triple = beads["triple"]
    assert triple["verdict"] == "failed", triple
    assert "acceptance tests failed" in triple["why"]  # judged on the original checks/test_triple.py
    stalled = beads["stalled"]
    assert stalled["verdict"] == "failed" and stalled["timed_out"]
    assert stalled["why"].startswith("timed out after 4s")
    assert stalled["wall_s"] < 30  # stopped, not waited on


def test_refinery_crew_and_mayor_beads_are_judged_by_their_own_rules(suite, fake_config):
    config, _llm = fake_config
    result = run_eval(suite, config, "--beads", "names-tests,question,power-plan")
    assert result.code == 0, result.err[-3000:]
    beads = by_key(result.json())
    assert beads["names-tests"]["verdict"] == "passed", beads["names-tests"]["why"]
    assert "fail on the stub and pass on the reference" in beads["names-tests"]["why"]
    assert beads["question"]["verdict"] == "passed", beads["question"]["why"]  # the dict's repr is cut short
    assert beads["power-plan"]["verdict"] == "passed", beads["power-plan"]["why"]
    assert "3 beads (1 tests, 1 code)" in beads["power-plan"]["why"]  # a review bead closes the convoy


def test_verification_puts_the_original_tests_back(suite, tmp_path):
    """A branch that edits its acceptance test into passing is judged on the original."""
    loaded = evaluation.load_suite(suite)
    ws = evaluation.prepare(loaded, tmp_path / "ws", evaluation.load_config(None), None, ())
    rig = ws.rig.path
    git(rig, "switch", "--quiet", "-c", "bead/x")
    (rig / "tests" / "test_half.py").write_text("def test_half():\n    assert True\n")
    git(rig, "commit", "--quiet", "-am", "make the test pass")
    git(rig, "switch", "--quiet", "main")
    ok, why = evaluation.verify_tests(
        ws.rig, ws.base, "bead/x", ["tests/test_half.py"], tmp_path / "scratch", Jail(policy=ws.rig.sandbox)
    )
    assert not ok
    assert "tests/test_half.py were undone" in why and "No module named 'calc.half'" in why


def test_a_bad_suite_or_an_unknown_model_is_a_clear_error(suite, fake_config, tmp_path):
    config, _llm = fake_config
    missing = gt_inprocess("eval", "--suite", str(tmp_path / "nowhere"), "--models", "fake")
    assert missing.code != 0 and "no suite at" in missing.err and "Traceback" not in missing.err
    unknown = gt_inprocess("eval", "--suite", str(suite), "--models", "nonesuch", "--config", str(config))
    assert unknown.code != 0 and "unknown model 'nonesuch'" in unknown.err and "Traceback" not in unknown.err
    mistaken = tmp_path / "mine.toml"
    mistaken.write_text("[models.fake]\nendpoint = 'http://127.0.0.1:1/v1'\nkv_cache = 'f16'\n")
    wrong = gt_inprocess("eval", "--suite", str(suite), "--models", "fake", "--config", str(mistaken))
    assert wrong.code == 2 and f"{mistaken}: models.fake: unknown key 'kv_cache'" in wrong.err, wrong.err
    assert "town.toml" not in wrong.err  # the file the user named, and no advice about the town's
    mistaken.write_text("[machine]\ndesktop_reserve_mib = 'lots'\n")
    machine = gt_inprocess("eval", "--suite", str(suite), "--models", "fake", "--config", str(mistaken))
    assert machine.code == 2 and f"hint: fix the key in {mistaken}" in machine.err, machine.err
    mistaken.write_bytes("[models.fake]\n".encode("utf-16"))  # a Windows editor's UTF-16
    utf16 = gt_inprocess("eval", "--suite", str(suite), "--models", "fake", "--config", str(mistaken))
    assert utf16.code == 2 and "not UTF-8 text" in utf16.err and "Traceback" not in utf16.err, utf16.err
    broken = tmp_path / "broken"
    write(broken, {"suite.toml": "[rig]\nname = 'x'\n", "project/README.md": "x\n"})
    bad = gt_inprocess("eval", "--suite", str(broken), "--models", "fake")
    assert bad.code != 0 and "suite.toml" in bad.err and "Traceback" not in bad.err


TEST_COMMAND_LINE = next(line for line in SUITE.splitlines() if line.startswith("test_command ="))


@pytest.mark.parametrize(
    ("mistake", "said"),
    [
        (("bead_timeout = 120", "bead_timeot = 120"), "[suite]: unknown key 'bead_timeot'"),
        (('key = "double"', 'key = "double"\nrole = "polecats"'), "beads[0] (double).role: 'polecats' is no role"),
        (
            ('acceptance_tests = ["tests/test_double.py"]', 'acceptance_tests = "tests/test_double.py"'),
            "beads[0] (double).acceptance_tests: a list of strings, like",
        ),
        (('key = "double"\n', ""), "beads[0].key: required"),
        ((TEST_COMMAND_LINE, 'test_command = "pytest"'), "[rig].test_command: a list of strings, like"),
        (('test_paths = ["tests/**"]', 'test_paths = "tests"'), "[rig].test_paths: a list of strings, like"),
        (('name = "calc"', 'name = "calc'), "not valid TOML"),
    ],
)
def test_a_mistake_in_a_suite_is_one_line_naming_the_file_the_field_and_what_it_takes(suite, mistake, said):
    text = SUITE.replace(*mistake, 1)
    assert text != SUITE
    (suite / "suite.toml").write_text(text)
    checked = gt_inprocess("eval", "--suite", str(suite), "--check")
    assert checked.code == 2 and said in checked.err and str(suite / "suite.toml") in checked.err, checked.err
    assert "Traceback" not in checked.err and "town.toml" not in checked.err, checked.err
    assert "\nhint: " in checked.err, checked.err  # and what to do
    if "polecats" in said:
        assert "did you mean 'polecat'" in checked.err


def test_check_says_an_acceptance_test_that_is_not_there_names_no_test(suite):
    (suite / "overlays" / "solution" / "calc").mkdir(parents=True)
    (suite / "overlays" / "solution" / "calc" / "double.py").write_text("def double(x):\n    return 2 * x\n")
    text = SUITE.replace(
        'acceptance_tests = ["tests/test_double.py"]', 'acceptance_tests = ["tests/test_double.py::test_nope"]'
    )
    (suite / "suite.toml").write_text(
        text.replace('script: solve"\n', 'script: solve"\njudge = { solution = "overlays/solution" }\n', 1)
    )
    checked = gt_inprocess("eval", "--suite", str(suite), "--check", "--beads", "double")
    said = checked.out + checked.err
    assert checked.code != 0 and "its acceptance tests name no test there is" in said, checked.out
    assert "tests/test_double.py::test_nope" in said and "does not pass" not in said


@pytest.mark.slow
def test_every_bead_of_the_starter_suite_is_fair():
    """Each bead's judge rejects the project as it starts and accepts the bead's solution."""
    checked = evaluation.check_suite(evaluation.load_suite())
    assert len(checked) >= 8
    assert [row for row in checked if not row[1]] == []


@pytest.mark.slow
def test_every_bead_of_the_library_suite_is_fair_and_it_is_found_by_name():
    """inflection with six holes: each judge rejects the holes and accepts the original module."""
    suite = evaluation.load_suite("inflection")
    assert suite.name == "inflection-holes" and len(suite.beads) == 6
    checked = evaluation.check_suite(suite)
    assert [row for row in checked if not row[1]] == []


def test_a_model_whose_server_does_not_start_is_reported_and_the_eval_exits_non_zero(suite, tmp_path):
    config = tmp_path / "broken.toml"
    config.write_text(
        '[models.broken]\nlaunch = ["{python}", "-c", "raise SystemExit(3)"]\ndevice = "cpu"\ncontext = 2048\n'
    )
    result = gt_inprocess(
        "eval", "--suite", str(suite), "--models", "broken", "--config", str(config), "--beads", "double", "--json"
    )
    assert result.code == 6, result.err
    (model,) = result.json()["models"]
    assert model["beads"] == 0 and model["error"].startswith("could not start")
    assert "could not run broken" in result.err and "Traceback" not in result.err


def test_check_chooses_its_beads_as_a_run_does(suite):
    """--check with --role or --beads checks those beads only, and refuses what the suite lacks."""
    role = gt_inprocess("eval", "--suite", str(suite), "--check", "--role", "nosuch")
    assert role.code == 2 and "no beads of role 'nosuch'" in role.err and "Traceback" not in role.err
    assert "its roles: crew, mayor, polecat, refinery" in role.err
    key = gt_inprocess("eval", "--suite", str(suite), "--check", "--beads", "question,nosuch")
    assert key.code == 2 and "no bead 'nosuch'" in key.err and "Traceback" not in key.err
    crew = gt_inprocess("eval", "--suite", str(suite), "--check", "--role", "crew", "--json")
    assert crew.code == 0, crew.err
    assert [(row["bead"], row["fair"]) for row in crew.json()] == [("question", True)]


@pytest.mark.parametrize(
    ("exit_code", "output", "timed_out", "passed"),
    [
        (0, "PASSED tests/test_a.py::test_a\n1 passed in 0.01s", False, True),
        (0, "SKIPPED [1] tests/test_a.py:3: later\n1 skipped in 0.01s", False, False),
        (5, "no tests ran in 0.01s", False, False),
        (1, "FAILED tests/test_a.py::test_a - assert 1 == 2\n1 failed in 0.01s", False, False),
        (0, "Totals\nTests 3\nPassing 3\nAll tests passed!", False, True),  # GUT: no per-test outcomes
        (0, "PASSED tests/test_a.py::test_a\n1 passed in 0.01s", True, False),
    ],
)
def test_the_judge_passes_tests_by_the_done_checks_rule(exit_code, output, timed_out, passed):
    run = Run(("pytest", "-rA"), exit_code, output, timed_out)
    assert checks.read_run(run).passed is passed
    assert evaluation.judged(run)[0] is passed


def _command(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # a short-lived child (a git command) that has ended since
        return ""


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_signal_while_the_model_server_loads_leaves_no_server(suite, tmp_path):
    """SIGTERM while the eval's local server is still loading its model: exit 130, the
    half-started server gone with it."""
    config = tmp_path / "local.toml"
    launch = ["{python}", FAKE, "--port", "{port}", "--slow-start", "60"]
    config.write_text(f'[models.slow]\nlaunch = {json.dumps(launch)}\ndevice = "cpu"\ncontext = 2048\n')
    err = tmp_path / "err"
    argv = [sys.executable, "-m", "gastown", "eval", "--suite", str(suite), "--models", "slow"]
    argv += ["--config", str(config), "--beads", "double", "--timeout", "300"]
    with open(err, "w") as stderr:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
    process = psutil.Process(proc.pid)
    servers: list[psutil.Process] = []

    def loading() -> bool:
        servers[:] = [c for c in process.children(recursive=True) if "fake_llm.py" in _command(c)]
        return bool(servers) and "starting its server" in err.read_text()

    try:
        wait_for(loading, 120, lambda: err.read_text()[-2000:])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == EXIT_INTERRUPTED, err.read_text()[-3000:]
        assert [server for server in servers if _alive(server)] == []
        assert "Traceback" not in err.read_text()
    finally:
        for left in [*servers, process]:
            if _alive(left):
                left.kill()
        proc.wait(timeout=10)


def test_a_signal_stops_the_eval_and_everything_it_started(suite, tmp_path):
    """SIGTERM while a watcher waits on a hung local model: exit 130, no watcher or server left."""
    held = tmp_path / "held"  # the scripted server writes it when it starts holding a request
    config = tmp_path / "local.toml"
    launch = ["{python}", FAKE, "--port", "{port}", "--hold-first", str(held)]
    config.write_text(f'[models.hung]\nlaunch = {json.dumps(launch)}\ndevice = "cpu"\ncontext = 2048\ntimeout_s = 60\n')
    out, err = tmp_path / "out", tmp_path / "err"
    argv = [sys.executable, "-m", "gastown", "eval", "--suite", str(suite), "--models", "hung"]
    argv += ["--config", str(config), "--beads", "double", "--timeout", "300", "--json"]
    with open(out, "w") as stdout, open(err, "w") as stderr:
        proc = subprocess.Popen(argv, stdout=stdout, stderr=stderr, start_new_session=True)
    process = psutil.Process(proc.pid)
    started: list[psutil.Process] = []
    try:
        wait_for(held.exists, 120, lambda: err.read_text()[-2000:])
        started = process.children(recursive=True)
        commands = [_command(child) for child in started]
        assert any(" watch " in c for c in commands) and any("fake_llm.py" in c for c in commands), commands
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == EXIT_INTERRUPTED, err.read_text()[-3000:]
        assert [child for child in started if _alive(child)] == []
        report = json.loads(out.read_text())
        assert report["interrupted"] is True and report["beads"] == []
        assert "gt: interrupted" in err.read_text() and "Traceback" not in err.read_text()
    finally:
        for left in [*started, process]:
            if _alive(left):
                left.kill()
        proc.wait(timeout=10)
