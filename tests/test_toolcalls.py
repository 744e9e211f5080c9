"""Tool calls parsed strictly, then leniently, over a corpus of what models really send."""

import json
from pathlib import Path

import pytest

from gastown.toolcalls import parse
from gastown.tools import TOOL_SCHEMAS, parser_specs

TOOLS = parser_specs(TOOL_SCHEMAS)
CORPUS = json.loads((Path(__file__).parent / "corpus" / "toolcalls.json").read_text())


@pytest.mark.parametrize("case", CORPUS, ids=[c["name"] for c in CORPUS])
def test_corpus(case):
    parsed = parse(None, case["text"], TOOLS)
    assert [[c.name, dict(c.arguments)] for c in parsed.calls] == case["calls"]
    if case.get("source"):
        assert {c.source for c in parsed.calls} == {case["source"]}
        assert parsed.recovered == len(case["calls"])
    if case.get("error"):
        assert any(case["error"] in e for e in parsed.errors), parsed.errors
    else:
        assert parsed.errors == []


def test_structured_calls_win_and_text_is_then_left_alone():
    structured = [{"id": "c1", "function": {"name": "read_file", "arguments": '{"path": "a.py"}'}}]
    parsed = parse(
        structured,
        '<tool_call>{"name": "finish", "arguments": {"summary": "x"}}</tool_call>',
        TOOLS,
    )
    assert [(c.name, c.source, c.id) for c in parsed.calls] == [("read_file", "structured", "c1")]
    assert parsed.recovered == 0


def test_structured_calls_with_broken_arguments_are_errors_not_drops():
    structured = [
        {
            "id": "c1",
            "function": {"name": "write_file", "arguments": '{"path": "a.py", "content": '},
        }
    ]
    parsed = parse(structured, None, TOOLS)
    assert parsed.calls == [] and "not a JSON object" in parsed.errors[0]
    recovered = parse(
        [{"id": "c2", "function": {"name": "read_file", "arguments": 'sure: {"path": "b.py"} ok'}}],
        None,
        TOOLS,
    )
    assert [c.arguments for c in recovered.calls] == [{"path": "b.py"}]
