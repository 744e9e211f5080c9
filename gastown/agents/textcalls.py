"""Tool calls a model wrote as text, in every form small models use:

* JSON: ``<tool_call>{json}</tool_call>``, bare objects (one, or several one a line), or a
  ```json fence with prose around it; ``arguments`` may be an object or a JSON string;
* XML: ``<invoke name=…><parameter name=…>…</parameter></invoke>`` with any vendor prefix
  on the tags, and ``<function=NAME><parameter=NAME>`` (Qwen3-Coder).

JSON that small models damage (Python triple-quoted strings, trailing commas, raw newlines
inside strings, single quotes, a missing closing brace; see ``jsonfix``) is repaired, but
only where an object opening its line starts with a call's keys, and kept only when it then
names a known tool and holds an arguments object with that tool's argument names: repair
never makes a call out of prose or code. Such a call is marked ``repaired``.

Every form reports the span of text it read, and the outermost span wins (``text_calls``),
so a document inside an argument stays the content of its call: tags inside a JSON call's
strings are never read as XML, an ``<invoke>`` inside a parameter is that parameter's text,
and a nameless ``<invoke>`` fragment is an error only when the reply holds no call at all.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gastown.agents import callargs, fileblocks, jsonfix


@dataclass(frozen=True)
class ToolCall:
    """One call: the tool's name, its arguments, and how it reached us."""

    name: str
    arguments: Mapping[str, Any]
    id: str = ""
    source: str = "structured"  # "structured" or the text form it was recovered from
    repaired: bool = False  # its JSON was damaged and had to be repaired


@dataclass(frozen=True)
class ToolSpec:
    """What the parser needs to know of a tool: its name and its parameters' JSON Schema."""

    name: str
    parameters: Mapping[str, Any] | None = None  # None: any JSON object is taken


@dataclass
class _Found:
    """What one span of a reply held: calls, or why it could not be used."""

    start: int
    end: int
    calls: list[ToolCall] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    exact: bool = False  # its end is where the JSON really ends (XML tags inside are content)
    soft: bool = False  # its errors count only when the reply holds no call (markup in content)
    weak: bool = False  # gives way to any span found inside it (<tool_call> tags around XML)


def text_calls(text: str, tools: Mapping[str, ToolSpec]) -> tuple[list[ToolCall], list[str], str]:
    """Calls of every text form, in reply order; the outermost span wins where spans nest."""
    found = _json_spans(text, tools)
    found += _xml_spans(text, [(f.start, f.end) for f in found if f.exact], tools)
    found = [f for f in found if not (f.weak and any(o is not f and f.start <= o.start < f.end for o in found))]
    kept: list[_Found] = []
    edge = -1
    for f in sorted(found, key=lambda f: (f.start, -f.end)):
        if f.start >= edge:
            kept.append(f)
            edge = f.end
    calls = [c for f in kept for c in f.calls]
    used = [f for f in kept if f.calls or (f.errors and not (f.soft and calls))]
    errors = [e for f in used for e in f.errors]
    rest = text
    for f in reversed(used):
        rest = rest[: f.start] + rest[f.end :]
    if calls:
        rest = _EMPTY_FENCE_RE.sub("", re.sub(r"</?tool_call>", "", _TAG_RE.sub("", rest)))
    return calls, errors, rest


_ARG_KEYS = ("arguments", "parameters", "args", "input")
_START_RE = re.compile(r"<tool_call>|```[ \t]*([\w+-]*)[^\n`]*\n?|[\[{]")
_JSON_FENCES = ("", "json", "json5", "jsonc", "tool_call", "tool_code")
_FENCE_CLOSE_RE = re.compile(r"^[ \t]*```[ \t]*$", re.MULTILINE)
_EMPTY_FENCE_RE = re.compile(r"```[\w+-]*\s*```")
_CALL_KEYS = r"""["']?(?:name|function|tool|tool_name|arguments|parameters)["']?\s*:"""
_CALL_START_RE = re.compile(r"\{\s*" + _CALL_KEYS)
_NEXT_CALL_RE = re.compile(r"\n[ \t]*(?:<tool_call>|\{\s*" + _CALL_KEYS + ")")
_NAMED_RE = re.compile(r"""["']?(?:name|tool|tool_name)["']?\s*:\s*["']([^"'\n]+)["']""")
_NOT_A_CALL = "a <tool_call> block did not hold a JSON object with a name and arguments"


@dataclass(frozen=True)
class _Marks:
    """Where lines open a call and where names are given, found once per reply (not per brace)."""

    text: str
    calls: list[int]  # a line opening a call: where one damaged call's text must end
    names: list[tuple[int, str]]  # a "name": "..." pair

    @classmethod
    def of(cls, text: str) -> _Marks:
        calls = [m.start() for m in _NEXT_CALL_RE.finditer(text)]
        return cls(text, calls, [(m.start(), m.group(1)) for m in _NAMED_RE.finditer(text)])

    def next_call(self, after: int) -> int:
        at = bisect.bisect_right(self.calls, after)
        return self.calls[at] if at < len(self.calls) else len(self.text)

    def name_in(self, start: int, stop: int) -> str | None:
        at = bisect.bisect_left(self.names, (start, ""))
        return self.names[at][1] if at < len(self.names) and self.names[at][0] < stop else None


def _json_spans(text: str, tools: Mapping[str, ToolSpec]) -> list[_Found]:
    """JSON calls left to right; a call's span covers its strings, tags and fences included."""
    marks = _Marks.of(text)
    found: list[_Found] = []
    block_end = -1  # the end of the <tool_call> block we are in
    zone_end, zone_limit = -1, len(text)  # where the block or fence we are in closes
    pos = 0
    while match := _START_RE.search(text, pos):
        token = match.group()
        if token == "<tool_call>":
            close = text.find("</tool_call>", match.end())
            zone_limit = len(text) if close == -1 else close
            block_end = zone_end = len(text) if close == -1 else close + len("</tool_call>")
            named = _NAMED_RE.search(text, match.end(), zone_limit)
            if not (named and "write_file" in tools and fileblocks.names_a_file(named.group(1).strip())):
                found.append(_Found(match.start(), block_end, errors=[_NOT_A_CALL], weak=True))
            pos = match.end()  # (named by a file's path: a file block written as a call, see named_by_json)
            continue
        if token.startswith("```"):
            close_line = _FENCE_CLOSE_RE.search(text, match.end())
            if (match.group(1) or "").lower() in _JSON_FENCES:
                zone_end = close_line.end() if close_line else len(text)
                zone_limit = close_line.start() if close_line else len(text)
                pos = match.end()  # calls in a JSON fence are read like bare ones
            else:
                pos = close_line.end() if close_line else len(text)  # code is content, never a call
            continue
        at = match.start()
        form = "tool_call" if at < block_end else "json"
        item = _json_at(marks, at, zone_limit if at < zone_end else len(text), form, tools)
        if isinstance(item, int):
            pos = item
            continue
        found.append(item)
        pos = item.end
    return found


def _json_at(marks: _Marks, at: int, limit: int, form: str, tools: Mapping[str, ToolSpec]) -> _Found | int:
    """The call(s) in the JSON value opening at ``at``, or where to look next."""
    text = marks.text
    for decoder, repaired in callargs.DECODERS:
        try:
            value, end = decoder.raw_decode(text, at)
        except (ValueError, RecursionError):
            continue
        calls, errors = _calls_in(value, form, repaired, tools)
        if calls or errors:
            return _Found(at, end, calls, errors, exact=True)
        return end  # JSON that is not a call (data, an example): skip it whole
    # Only a call that opens its line is repaired: a brace inside code (``x = {"name": ...``)
    # is content, and trying each one against the rest of the reply would cost n^2.
    opens_line = text[text.rfind("\n", 0, at) + 1 : at].strip() in ("", "<tool_call>")
    if opens_line and _CALL_START_RE.match(text, at):
        return _repaired_at(marks, at, limit, form, tools) or at + 1
    return at + 1


def _repaired_at(marks: _Marks, at: int, limit: int, form: str, tools: Mapping[str, ToolSpec]) -> _Found | None:
    """A damaged JSON call opening at ``at``, repaired; why it cannot be; or None for prose."""
    text = marks.text
    stop = marks.next_call(at)
    name = marks.name_in(at, stop)
    if name is None or callargs.base_name(name) not in tools:
        return None  # a brace in prose or code, not a call of ours: no repair can make it one
    fixed, origin, _ = jsonfix.fix_strings(text[at:stop])
    try:  # the usual damage fixed exactly, so the call's end is known
        value, end = json.JSONDecoder(strict=False).raw_decode(fixed)
    except (ValueError, RecursionError):
        pass
    else:
        calls, _ = _calls_in(value, form, True, tools)
        if calls:
            return _Found(at, at + origin[end - 1] + 1, calls, exact=True)
    region = text[at : min(stop, limit)]
    closed = region[: region.rfind("}") + 1]
    for candidate in dict.fromkeys(c for c in (closed, region.rstrip()) if c):
        value = jsonfix.repair(candidate)
        calls, _ = _calls_in(value, form, True, tools)
        if calls:
            return _Found(at, at + len(candidate), calls)
    return _Found(
        at,
        at + len(region),
        errors=[
            f"a {name} call written as JSON could not be read ({_json_error(region)}); send it "
            'again as one JSON object: {"name": ..., "arguments": {...}}, strings in double quotes, '
            'newlines inside strings as \\n and quotes as \\"'
        ],
    )


def _json_error(text: str) -> str:
    try:
        json.loads(text)
    except (ValueError, RecursionError) as error:
        return str(error)
    return "not a call"


def _calls_in(value: Any, form: str, repaired: bool, tools: Mapping[str, ToolSpec]) -> tuple[list[ToolCall], list[str]]:
    """The calls in a decoded JSON value: one object, a list of them, or ``{"tool_calls": [...]}``."""
    if isinstance(value, dict) and isinstance(value.get("tool_calls"), list):
        value = value["tool_calls"]
    calls, errors = [], []
    for item in value if isinstance(value, list) else [value]:
        call = _json_call(item, form, repaired, tools)
        if isinstance(call, ToolCall):
            calls.append(call)
        elif call is not None:
            errors.append(call)
    return calls, errors


def _json_call(data: Any, form: str, repaired: bool, tools: Mapping[str, ToolSpec]) -> ToolCall | str | None:
    """A call from ``{"name", "arguments"}`` and its common spellings; an error text; or None (not a call)."""
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("function"), dict):
        data = data["function"]
    name = data.get("name") or data.get("tool") or data.get("tool_name")
    if not isinstance(name, str) or not name.strip():
        return None
    key = next((k for k in _ARG_KEYS if k in data), None)
    spec = tools.get(callargs.base_name(name))
    if spec is None and "write_file" in tools and fileblocks.names_a_file(name.strip()):
        # an edit named by its file; else None: a file block written as a call (fileblocks.named_by_json)
        return _edit_named_by_path(name.strip(), data.get(key) if key else None, form, repaired, tools)
    if repaired and spec is None:
        return None  # a repair must land on one of our tools, or it was not a call
    if key is None:
        # {"name": "Ada", "age": 3} is data; {"name": "run_tests"} is a call with no arguments
        return ToolCall(name, {}, "", form) if spec and len(data) == 1 and not repaired else None
    arguments, fixed = callargs.arguments(data[key])
    if arguments is None:
        return f"{name}: its arguments are not a JSON object; send them as a JSON object matching the tool's parameters"
    known = ((spec.parameters if spec else None) or {}).get("properties")
    if (repaired or fixed) and known and any(k not in known for k in arguments):
        return None  # a repair that cut a string into made-up keys ({"a": 1} in unescaped code)
    return ToolCall(name, arguments, "", form, repaired or fixed)


def _edit_named_by_path(
    path: str, raw: Any, form: str, repaired: bool, tools: Mapping[str, ToolSpec]
) -> ToolCall | None:
    """An ``edit_file`` written as a call named by the file's path, its arguments the
    edit's ``old`` and ``new`` (``{"name": "textkit/cli.py", "arguments": {"old": …, "new":
    …}}``: the 1.5B, 4 of 399 replies over five eval runs; told to send a code block
    instead, it sent the same call again), raw newlines in its code or not; None for
    anything else."""
    arguments, fixed = callargs.arguments(raw)
    if "edit_file" not in tools or arguments is None or set(arguments) != {"old", "new"}:
        return None
    if not all(isinstance(value, str) for value in arguments.values()):
        return None
    return ToolCall("edit_file", {"path": path, **arguments}, "", form, repaired or fixed)


# A tag's name, then nothing, ``=NAME`` or attributes: never a Python repr written in prose
# (``<function thread_last.<locals>.evalform_back at 0x7f…>``, the 1.5B naming a line at fault)
_TAG_RE = re.compile(
    r"<(/?)((?:[^\s<>/=\"']*?[^\w\s<>/=\"'])?)(invoke|parameter|function_calls|tool_calls|function)(?![\w-])"
    r"((?:=[^>]*|\s+[\w:-]+\s*=[^>]*|\s*/?))>",
    re.IGNORECASE,
)
_NAMELESS = "an <invoke> without a name attribute"
_ATTR_RE = re.compile(r"""([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def _attrs(text: str) -> dict[str, str]:
    """Attributes of a tag; ``<function=NAME>`` / ``<parameter=NAME>`` give ``name``."""
    found = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3) for m in _ATTR_RE.finditer(text)}
    if "name" not in found and text.startswith("="):
        found["name"] = text[1:].strip().strip("\"'")
    return found


def _xml_spans(text: str, skip: Sequence[tuple[int, int]], tools: Mapping[str, ToolSpec]) -> list[_Found]:
    """Outermost ``invoke`` elements, ignoring tags inside ``skip`` (the strings of JSON calls)."""
    tags = [t for t in _TAG_RE.finditer(text) if not any(a <= t.start() < b for a, b in skip)]
    found: list[_Found] = []
    i = 0
    while i < len(tags):
        tag = tags[i]
        if tag.group(1) or tag.group(3).lower() not in ("invoke", "function"):
            i += 1
            continue
        close = _matching(tags, i)
        name = _attrs(tag.group(4)).get("name", "")
        if close is None and not name:  # a fragment of markup, likely in prose: the tag alone
            found.append(_Found(tag.start(), tag.end(), errors=[_never_closed(tag, name)], soft=True))
            i += 1
            continue
        if close is None:  # a call cut short: the rest of the reply was its content
            found.append(_Found(tag.start(), len(text), errors=[_never_closed(tag, name)]))
            break
        span = (tag.start(), tags[close].end())
        spec = tools.get(callargs.base_name(name))
        params, problem = _parameters(text, tags, i, close, spec.parameters if spec else None)
        if problem or not name:  # a nameless one gives way to calls written inside it
            why = f"the tool call {name or '(unnamed)'}: {problem}" if problem else _NAMELESS
            found.append(_Found(*span, errors=[why], soft=not name, weak=not name))
        else:
            found.append(_Found(*span, calls=[ToolCall(name, params, "", "xml")]))
        i = close + 1
    return found


def _never_closed(tag: re.Match[str], name: str) -> str:
    return (
        f"the tool call {name or '(unnamed)'} was opened with <{tag.group(2)}{tag.group(3)}> "
        "but never closed; send the whole call again"
    )


def _matching(tags: list[re.Match[str]], at: int) -> int | None:
    """The index of the tag closing ``tags[at]``, counting nested tags of the same kind."""
    kind = tags[at].group(3).lower()
    depth = 0
    for j in range(at, len(tags)):
        if tags[j].group(3).lower() != kind:
            continue
        depth += -1 if tags[j].group(1) else 1
        if depth == 0:
            return j
    return None


def _parameters(
    text: str, tags: list[re.Match[str]], start: int, end: int, parameters: Mapping[str, Any] | None
) -> tuple[dict[str, Any], str | None]:
    """One invoke's parameters: text where the tool's schema types them (coerced later), else JSON if it looks so."""
    params: dict[str, Any] = {}
    j = start + 1
    while j < end:
        tag = tags[j]
        if tag.group(3).lower() != "parameter" or tag.group(1):
            j += 1
            continue
        close = _matching(tags, j)
        if close is None or close > end:
            return params, "a <parameter> was never closed"
        attrs = _attrs(tag.group(4))
        key = attrs.get("name")
        if not key:
            return params, "a <parameter> without a name attribute"
        raw = text[tag.end() : tags[close].start()]
        if raw.startswith("\n"):  # <parameter>\nvalue\n</parameter>: the newlines are layout
            raw = raw[1:]
            if raw.endswith("\n"):
                raw = raw[:-1]
        typed = attrs.get("string", "").lower() == "true" or callargs.wanted_type(parameters, key) is not None
        params[key] = raw if typed else callargs.loose_value(raw)
        j = close + 1
    return params, None
