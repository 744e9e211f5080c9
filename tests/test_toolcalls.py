"""Tool calls parsed strictly, then leniently, over a corpus of what models really send."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gastown.agents.toolcalls import ToolSpec, parse
from gastown.agents.toolspecs import TOOL_SCHEMAS, parser_specs

TOOLS = parser_specs(TOOL_SCHEMAS)
CORPUS = json.loads((Path(__file__).parent / "corpus" / "toolcalls.json").read_text())


@pytest.mark.parametrize("case", CORPUS, ids=[c["name"] for c in CORPUS])
def test_corpus(case):
    parsed = parse(None, case["text"], TOOLS)
    assert [[c.name, dict(c.arguments)] for c in parsed.calls] == case["calls"]
    if case.get("source"):
        assert {c.source for c in parsed.calls} == {case["source"]}
        assert parsed.recovered == len(case["calls"])
    if "repaired" in case:
        assert parsed.repaired == case["repaired"]
    if "rest" in case:
        assert parsed.text == case["rest"]
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


def test_a_repaired_text_call_counts_as_recovered_once():
    parsed = parse(None, '{"name": "read_file", "arguments": {"path": "a.py",},}', TOOLS)
    assert [(c.source, c.repaired) for c in parsed.calls] == [("json", True)]
    assert (parsed.recovered, parsed.repaired) == (1, 1)


def test_structured_arguments_are_repaired_but_not_counted_as_recovered():
    arguments = '{"path": "a.py", "start_line": "3",}'
    parsed = parse([{"id": "c1", "function": {"name": "read_file", "arguments": arguments}}], None, TOOLS)
    assert [(dict(c.arguments), c.source, c.repaired) for c in parsed.calls] == [
        ({"path": "a.py", "start_line": 3}, "structured", True)
    ]
    assert (parsed.recovered, parsed.repaired) == (0, 1)


LENIENT = {
    "type": "object",
    "properties": {
        "path": {"type": "string"},
        "depth": {"type": "integer", "minimum": 1},
        "regex": {"type": "boolean"},
        "files": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["path"],
}
STRICT = {**LENIENT, "additionalProperties": False}


def check(parameters, arguments):
    """The calls and errors of one structured call of a tool ``t`` with ``parameters``."""
    structured = [{"id": "c1", "function": {"name": "t", "arguments": arguments}}]
    parsed = parse(structured, None, {"t": ToolSpec("t", parameters)})
    return [dict(c.arguments) for c in parsed.calls], parsed.errors


def test_arguments_are_checked_against_the_whole_schema_naming_the_argument():
    assert check(LENIENT, {"path": "a", "depth": 0}) == ([], ["t: argument 'depth': 0 is less than the minimum of 1"])
    assert check(LENIENT, {"path": "a", "files": ["x", 3]}) == (
        [],
        ["t: argument 'files'[1]: 3 is not of type 'string'"],
    )
    assert check(LENIENT, {"depth": 2}) == ([], ["t: missing required argument(s) path"])


def test_extra_arguments_are_an_error_only_when_the_schema_forbids_them():
    assert check(LENIENT, {"path": "a", "mode": "r"}) == ([{"path": "a", "mode": "r"}], [])
    calls, errors = check(STRICT, {"path": "a", "mode": "r"})
    assert calls == [] and errors == ["t: unknown argument(s) 'mode'; it takes: path, depth, regex, files"]


def test_the_few_coercions_happen_before_validation():
    calls, errors = check(LENIENT, {"path": "a", "depth": " 12 ", "regex": "True", "files": '["x.py"]'})
    assert errors == [] and calls == [{"path": "a", "depth": 12, "regex": True, "files": ["x.py"]}]
    assert check(LENIENT, {"path": "a", "depth": 2.0}) == ([{"path": "a", "depth": 2}], [])
    assert check(LENIENT, {"path": 5})[1] == ["t: argument 'path': 5 is not of type 'string'"]  # never to a string
    assert check(LENIENT, {"path": "a", "depth": "two"})[1] == ["t: argument 'depth': 'two' is not of type 'integer'"]


def test_a_tool_without_a_schema_takes_any_object():
    reply = '{"name": "submit_plan", "arguments": {"title": "x", "beads": []}}'
    parsed = parse(None, reply, {"submit_plan": ToolSpec("submit_plan")})
    assert [dict(c.arguments) for c in parsed.calls] == [{"title": "x", "beads": []}]


def test_a_repair_must_land_on_a_known_tool():
    repaired = parse(None, "{'name': 'rm_rf', 'arguments': {'path': '/'}}", TOOLS)
    assert repaired.calls == [] and repaired.errors == []
    strict = parse(None, '{"name": "rm_rf", "arguments": {"path": "/"}}', TOOLS)
    assert strict.calls == [] and "unknown tool 'rm_rf'" in strict.errors[0]


def test_a_repair_never_keeps_arguments_the_tool_does_not_have():
    # with single quotes the docstring's ''' ends the string, and what follows reads as new keys
    reply = "{'name': 'write_file', 'arguments': {'path': 'a.py', 'content': 'def f():\\n    '''Doc.'''\\n'}}"
    parsed = parse(None, reply, TOOLS)
    assert all(set(c.arguments) == {"path", "content"} for c in parsed.calls)
    assert parsed.calls or parsed.errors


def test_a_clean_reply_does_not_load_json_repair():
    reply = '<tool_call>{"name": "read_file", "arguments": {"path": "a"}}</tool_call>'
    code = (
        "import sys\nfrom gastown.agents.toolcalls import parse\nfrom gastown.agents.toolspecs import TOOL_SCHEMAS, parser_specs\n"
        f"parsed = parse(None, {reply!r}, parser_specs(TOOL_SCHEMAS))\n"
        "assert parsed.calls and not parsed.errors\nprint('json_repair' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_long_reply_of_code_with_call_like_braces_is_read_in_one_pass():
    code = 'payload = {"name": "read_file", "arguments": args}\n' * 2000
    began = time.monotonic()
    parsed = parse(None, code + '{"name": "finish", "arguments": {"summary": "ok"}}', TOOLS)
    assert [c.name for c in parsed.calls] == ["finish"]
    assert time.monotonic() - began < 5


def test_a_docstrings_own_fenced_example_does_not_end_the_file_block():
    """Libraries documented with mkdocs write ```pycon examples inside docstrings, indented
    with the code: only a fence at the margin (at most three spaces in) closes the block."""
    reply = (
        "src/humanize/number.py\n```python\ndef fractional(value):\n"
        '    """Convert to a fraction.\n\n    Examples:\n        ```pycon\n'
        "        >>> fractional(0.3)\n        '3/10'\n\n        ```\n"
        '    """\n    return str(value)\n```\nThat is all.\n'
    )
    (call,) = parse(None, reply, TOOLS).calls
    content = call.arguments["content"]
    assert content.startswith("def fractional(value):") and content.endswith("    return str(value)\n")
    compile(content, "number.py", "exec")  # cut at the docstring's fence, it would not compile


def test_an_indented_block_ends_at_its_own_fence_and_the_next_block_is_read_too():
    reply = "    calc/a.py\n    ```python\n    x = 1\n    ```\n\ncalc/b.py\n```python\ny = 2\n```\n"
    calls = parse(None, reply, TOOLS).calls
    assert [(c.arguments["path"], c.arguments["content"]) for c in calls] == [
        ("calc/a.py", "x = 1\n"),  # without the indent of its fence: it compiles
        ("calc/b.py", "y = 2\n"),
    ]


def test_a_path_fenced_on_its_own_names_the_next_block_not_the_prose_between():
    # a 1.5B's reply, as it came: an earlier snippet, the path in a block, a sentence, the code
    reply = (
        'The line of your code that gives this result is:\n\n```python\nreturn "\\n".join(lines)\n```\n\n'
        "The file's path on one line is:\n\n```python\ntextkit/wrap.py\n```\n\n"
        "And the code block holding the functions you change, corrected, is:\n\n"
        "```python\ndef truncate(text):\n    return text[:10]\n```\n"
    )
    (call,) = parse(None, reply, TOOLS).calls
    assert call.arguments == {"path": "textkit/wrap.py", "content": "def truncate(text):\n    return text[:10]\n"}


def test_a_fenced_path_with_no_block_after_it_writes_nothing():
    assert parse(None, "```python\ntextkit/wrap.py\n```\n", TOOLS).calls == []


def test_a_bare_path_atop_a_block_of_code_names_it_and_a_listing_of_paths_is_no_file():
    # a 1.5B's reply, as it came: a numbered list, the block indented in its item
    reply = (
        "1. **The line that gives this result is**: the rounding.\n"
        "2. **The file's path and a code block with that line corrected**:\n"
        "   ```\n   textkit/stats.py\n   def reading_time(text):\n       return 1\n   ```\n"
    )
    (call,) = parse(None, reply, TOOLS).calls
    assert call.arguments == {"path": "textkit/stats.py", "content": "def reading_time(text):\n    return 1\n"}
    assert parse(None, "The files:\n```\ntextkit/stats.py\ntextkit/cli.py\n```\n", TOOLS).calls == []


def test_a_blocks_closing_fence_never_opens_one_so_the_code_after_the_next_path_is_written():
    # the retry hint's form: a sentence about the faulty line quoted in a block, the path, the code
    reply = "The fault is this line:\n```\nreturn x\n```\ntextkit/slug.py\n```\ndef slugify(t):\n    return t\n```\n"
    (call,) = parse(None, reply, TOOLS).calls
    assert call.arguments == {"path": "textkit/slug.py", "content": "def slugify(t):\n    return t\n"}


def test_a_fenced_path_does_not_name_a_shell_block_nor_a_dotted_name_a_file():
    shell = "```python\ntextkit/slug.py\n```\nRun the tests with:\n```bash\npytest\n```\n"
    assert parse(None, shell, TOOLS).calls == []
    dotted = "```python\nos.path\nimport os\n```\n"
    assert parse(None, dotted, TOOLS).calls == []


def test_a_tool_call_named_by_a_files_path_with_code_for_arguments_is_that_file_block():
    """The 1.5B wrote a bug fix as a call of no tool: the file's path as its name, the
    changed function (raw newlines, the JSON's indent) as an argument. It meant the block."""
    reply = (
        '```json\n{\n    "name": "toolz/itertoolz.py",\n    "arguments": {\n        "tail(n, seq)": '
        '"def tail(n, seq):\n            try:\n                return seq[-n:]\n'
        '            except TypeError:\n                return tuple(seq)[-n:]"\n    }\n}\n```'
    )
    parsed = parse(None, reply, TOOLS)
    assert [c.name for c in parsed.calls] == ["write_file"] and not parsed.errors
    assert parsed.calls[0].arguments == {
        "path": "toolz/itertoolz.py",
        "content": "def tail(n, seq):\n    try:\n        return seq[-n:]\n    except TypeError:\n        return tuple(seq)[-n:]\n",
    }
    well_formed = '{"name": "toolz/itertoolz.py", "arguments": {"tail": "def tail(n, seq):\\n    return seq[-n:]"}}'
    for form in (well_formed, f"```json\n{well_formed}\n```", f"<tool_call>{well_formed}</tool_call>"):
        parsed = parse(None, form, TOOLS)
        assert not parsed.errors and [c.arguments["content"] for c in parsed.calls] == [
            "def tail(n, seq):\n    return seq[-n:]\n"
        ], form
    # data is not a file: a name that is no path, or arguments that are not code
    assert not parse(None, '{"name": "Ada", "arguments": {"bio": "line one\nline two"}}', TOOLS).calls
    assert not parse(None, '{"name": "notes.txt", "arguments": {"n": 3}}', TOOLS).calls


def test_a_tool_call_named_by_a_files_path_with_an_edits_old_and_new_is_that_edit():
    """The 1.5B, a two-file bead: `{"name": "textkit/cli.py", "arguments": {"old", "new"}}`,
    and told to send a code block instead, the same call again. It meant edit_file."""
    reply = (
        '```json\n{\n    "name": "textkit/cli.py",\n    "arguments": {\n'
        '        "old": "f\\"average word length: {average_word_length(text):.1f}\\"",\n'
        '        "new": "f\\"reading time: {reading_time(text)} min\\""\n    }\n}\n```'
    )
    parsed = parse(None, reply, TOOLS)
    assert not parsed.errors and [c.name for c in parsed.calls] == ["edit_file"]
    assert parsed.calls[0].arguments == {
        "path": "textkit/cli.py",
        "old": 'f"average word length: {average_word_length(text):.1f}"',
        "new": 'f"reading time: {reading_time(text)} min"',
    }
    multiline = '{"name": "lib/a.py", "arguments": {"old": "x = 1\\ny = 2", "new": "x = 1\\ny = 3"}}'
    raw = multiline.replace("\\n", "\n")  # raw newlines in the strings, as the 1.5B writes code: repaired
    for form in (multiline, raw, f"```json\n{raw}\n```"):  # lines of code: the edit, not both texts as a file
        parsed = parse(None, form, TOOLS)
        assert [(c.name, c.arguments["new"]) for c in parsed.calls] == [("edit_file", "x = 1\ny = 3")], form
    # only an edit's two arguments: one more, or not text, is not an edit
    assert not parse(None, '{"name": "lib/a.py", "arguments": {"old": "a", "new": "b", "n": "c"}}', TOOLS).calls
    assert not parse(None, '{"name": "lib/a.py", "arguments": {"old": "a", "new": 2}}', TOOLS).calls


def test_a_tool_call_named_by_a_modules_dotted_name_is_a_block_of_the_file_it_names():
    """The 1.5B, three replies running in a bead adding reading_time to textkit/stats.py: a
    "call" named by the module, its code a Python triple-quoted string holding a docstring."""
    reply = (
        '```json\n{\n    "name": "textkit.stats",\n    "arguments": {\n        "new_code": """\n'
        "import math\n\ndef reading_time(text: str, words_per_minute: int = 200) -> int:\n"
        '    """The minutes needed to read text, rounded up."""\n'
        "    return math.ceil(len(text.split()) / words_per_minute)\n"
        '"""\n    }\n}\n```'
    )
    modules = {"textkit.stats": "textkit/stats.py"}
    parsed = parse(None, reply, TOOLS, modules.get)
    assert not parsed.errors and [c.name for c in parsed.calls] == ["write_file"]
    assert parsed.calls[0].arguments["path"] == "textkit/stats.py"
    assert parsed.calls[0].arguments["content"] == (
        "import math\n\ndef reading_time(text: str, words_per_minute: int = 200) -> int:\n"
        '    """The minutes needed to read text, rounded up."""\n'
        "    return math.ceil(len(text.split()) / words_per_minute)\n"
    )
    # a module the project does not have is no file, and an unknown tool stays one
    assert parse(None, reply, TOOLS).calls == [] and parse(None, reply, TOOLS, {}.get).calls == []
    unknown = '{"name": "textkit.shout", "arguments": {"text": "hi"}}'
    assert "unknown tool 'textkit.shout'" in parse(None, unknown, TOOLS, modules.get).errors[0]
