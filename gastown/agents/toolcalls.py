"""Tool calls, parsed strictly first and leniently second, and never silently dropped.

A model's reply may carry structured ``tool_calls`` (strict), or it may have written its
calls as text, recovered here and counted as recovered:

* JSON: ``<tool_call>{json}</tool_call>``, bare objects (one, or several one a line), or a
  ```json fence with prose around it; ``arguments`` may be an object or a JSON string;
* XML: ``<invoke name=…><parameter name=…>…</parameter></invoke>`` with any vendor prefix
  on the tags, and ``<function=NAME><parameter=NAME>`` (Qwen3-Coder);
* a file: its path and a fenced block (see ``fileblocks``), or a "call" named by the file's
  path (or its module's dotted name) with its code as the arguments, read as ``write_file``
  when the reply holds no call.

JSON that small models damage (Python triple-quoted strings, trailing commas, raw newlines
inside strings, single quotes, a missing closing brace; see ``jsonfix``) is repaired, but
only where an object opening its line starts with a call's keys, and kept only when it then
names a known tool and holds an arguments object with that tool's argument names: repair
never makes a call out of prose or code. Such a call is marked ``repaired``.

Every form reports the span of text it read, and the outermost span wins, so a document
inside an argument stays the content of its call: tags inside a JSON call's strings are
never read as XML, an ``<invoke>`` inside a parameter is that parameter's text, and a
nameless ``<invoke>`` fragment is an error only when the reply holds no call at all.

Arguments then get a few explicit coercions (``_coerce``) and are checked against the
tool's JSON Schema. What cannot be used becomes an error the agent sends back.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gastown.agents import fileblocks, jsonfix
from gastown.town import schema


@dataclass(frozen=True)
class ToolCall:
    """One call: the tool's name, its arguments, and how it reached us."""

    name: str
    arguments: Mapping[str, Any]
    id: str = ""
    source: str = "structured"  # "structured" or the text form it was recovered from
    repaired: bool = False  # its JSON was damaged and had to be repaired


@dataclass
class Parsed:
    """What a reply asked for."""

    calls: list[ToolCall] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    text: str = ""  # the reply's prose with any recovered calls taken out

    @property
    def recovered(self) -> int:
        """Calls read from the reply's text; a repaired one counts once, like any other."""
        return sum(1 for c in self.calls if c.source not in ("structured", "schema"))

    @property
    def repaired(self) -> int:
        """Calls whose JSON had to be repaired (text or structured)."""
        return sum(1 for c in self.calls if c.repaired)


@dataclass(frozen=True)
class ToolSpec:
    """What the parser needs to know of a tool: its name and its parameters' JSON Schema."""

    name: str
    parameters: Mapping[str, Any] | None = None  # None: any JSON object is taken


def parse(
    structured: Sequence[Mapping[str, Any]] | None,
    content: str | None,
    tools: Mapping[str, ToolSpec],
    module_file: Callable[[str], str | None] | None = None,
) -> Parsed:
    """Every tool call in a reply, strict (``structured``) first, then recovered from text.
    ``module_file`` finds the file a module's dotted name means (a "call" named by a module,
    see fileblocks.named_by_json)."""
    result = Parsed(text=content or "")
    for n, raw in enumerate(structured or ()):
        function = raw.get("function") or {}
        name = str(function.get("name") or "").strip()
        arguments, repaired = _arguments(function.get("arguments"))
        if arguments is None:
            result.errors.append(
                f"tool call {n + 1} ({name or 'unnamed'}): its arguments are not a JSON object; "
                "send them as a JSON object matching the tool's parameters"
            )
            continue
        _accept(result, ToolCall(name, arguments, str(raw.get("id") or ""), "structured", repaired), tools)
    if result.calls or result.errors or not content:
        return result
    calls, errors, rest = _text_calls(content, tools)
    if "write_file" in tools and not calls and not errors:
        blocks, rest = fileblocks.file_blocks(content)
        calls = [file_call(path, body) for path, body in blocks]
    if "write_file" in tools and all(_base_name(c.name) not in tools for c in calls):
        # nothing usable: a "call" named by a file's path, or by a module's dotted name (read
        # as an unknown tool's until here), whose arguments are the code
        named = fileblocks.named_by_json(content, module_file)
        if named:
            calls, errors, rest = [file_call(path, body) for path, body in named], [], ""
    for call in calls:
        _accept(result, call, tools)
    result.errors += errors
    if calls or errors:
        result.text = rest.strip()
    return result


def file_call(path: str, body: str) -> ToolCall:
    """A file written as code (its path and a block), as the ``write_file`` it means."""
    return ToolCall("write_file", {"path": path, "content": body}, "", "file")


# ---- checking a call against its tool ---------------------------------------------


def _accept(result: Parsed, call: ToolCall, tools: Mapping[str, ToolSpec]) -> None:
    name = _base_name(call.name)
    spec = tools.get(name)
    if spec is None:
        known = ", ".join(sorted(tools))
        result.errors.append(f"unknown tool {call.name!r}; the tools are: {known}")
        return
    arguments = _coerce(call.arguments, spec.parameters)
    problem = _problem(spec.parameters, arguments)
    if problem:
        result.errors.append(f"{name}: {problem}")
        return
    result.calls.append(replace(call, name=name, arguments=arguments))


def _base_name(name: str) -> str:
    """``functions.write_file`` or ``default_api:write_file`` -> ``write_file``."""
    return re.split(r"[.:]", name.strip())[-1]


def _coerce(arguments: Mapping[str, Any], parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    """The few harmless fixes small models need, made before validation.

    Where the schema asks for an integer, a number or a boolean: a string that spells one
    (``"12"`` -> 12, ``"true"`` -> True), and a whole float for an integer (12.0 -> 12).
    Where it asks for an array or an object: JSON text of one. Nothing else is changed.
    """
    fixed: dict[str, Any] = {}
    for key, value in arguments.items():
        wanted = _wanted_type(parameters, key)
        fixed[key] = value if wanted is None else _as_type(value, wanted)
    return fixed


def _wanted_type(parameters: Mapping[str, Any] | None, key: str) -> str | None:
    """The one JSON type the schema gives argument ``key``, if it gives one."""
    prop = ((parameters or {}).get("properties") or {}).get(key)
    wanted = prop.get("type") if isinstance(prop, Mapping) else None
    return wanted if isinstance(wanted, str) else None


_INTEGER_RE = re.compile(r"[-+]?\d+")
_NUMBER_RE = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _as_type(value: Any, wanted: str) -> Any:
    """``value`` as the ``wanted`` JSON type where it plainly spells one; else unchanged."""
    if wanted == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, str):
        return value
    text = value.strip()
    if wanted == "integer" and _INTEGER_RE.fullmatch(text):
        return int(text)
    if wanted == "number" and _NUMBER_RE.fullmatch(text):
        return int(text) if _INTEGER_RE.fullmatch(text) else float(text)
    if wanted == "boolean" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if wanted in ("array", "object") and text[:1] in "[{":
        try:
            decoded = json.loads(text)
        except ValueError:
            return value
        if isinstance(decoded, list if wanted == "array" else dict):
            return decoded
    return value


def _loose_value(raw: str) -> Any:
    """An untyped XML parameter: JSON when it looks like JSON, else the text."""
    stripped = raw.strip()
    if stripped[:1] in "[{" or stripped in ("true", "false", "null") or re.fullmatch(r"-?\d+(\.\d+)?", stripped):
        try:
            return json.loads(stripped)
        except ValueError:
            pass
    return raw


def _problem(parameters: Mapping[str, Any] | None, arguments: Mapping[str, Any]) -> str | None:
    """Why ``arguments`` do not fit the tool's schema, naming the argument; None when they do."""
    if parameters is None:
        return None
    missing = [p for p in parameters.get("required", ()) if p not in arguments]
    if missing:
        return f"missing required argument(s) {', '.join(missing)}"
    reasons = []
    for path, keyword, reason in schema.violations(parameters, arguments):
        if path:
            inner = "".join(f"[{p!r}]" for p in path[1:])
            reasons.append(f"argument {path[0]!r}{inner}: {reason}")
        elif keyword == "additionalProperties":
            known = parameters.get("properties") or {}
            extra = ", ".join(repr(k) for k in arguments if k not in known)
            reasons.append(f"unknown argument(s) {extra}; it takes: {', '.join(known) or 'no arguments'}")
        else:
            reasons.append(reason)
    return "; ".join(reasons) or None


def _arguments(raw: Any) -> tuple[dict[str, Any] | None, bool]:
    """Arguments as an object, and whether they had to be repaired; None when not an object."""
    if isinstance(raw, dict):
        return raw, False
    if raw is None or raw == "":
        return {}, False
    if not isinstance(raw, str):
        return None, False
    for decoder, repaired in _DECODERS:
        try:
            value = decoder.decode(raw)
        except (ValueError, RecursionError):
            continue
        return (value, repaired) if isinstance(value, dict) else (None, False)
    text = raw.strip()
    value = None if text.startswith("{") else _first_json_object(text)  # prose around whole JSON
    if not isinstance(value, dict) and "{" in text:
        value = jsonfix.repair(text[text.index("{") :])
    return (value, True) if isinstance(value, dict) else (None, False)


# ---- calls written as text ------------------------------------------------------------


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


def _text_calls(text: str, tools: Mapping[str, ToolSpec]) -> tuple[list[ToolCall], list[str], str]:
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


# ---- JSON: <tool_call> blocks, fences, bare objects ------------------------------------

_ARG_KEYS = ("arguments", "parameters", "args", "input")
# Strict first; then raw newlines and tabs inside strings are taken as they are (a repair).
_DECODERS = ((json.JSONDecoder(), False), (json.JSONDecoder(strict=False), True))
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
    for decoder, repaired in _DECODERS:
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
    if name is None or _base_name(name) not in tools:
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
    spec = tools.get(_base_name(name))
    if repaired and spec is None:
        return None  # a repair must land on one of our tools, or it was not a call
    if spec is None and "write_file" in tools and fileblocks.names_a_file(name.strip()):
        return None  # a file's path: a file block written as a call (fileblocks.named_by_json)
    if key is None:
        # {"name": "Ada", "age": 3} is data; {"name": "run_tests"} is a call with no arguments
        return ToolCall(name, {}, "", form) if spec and len(data) == 1 and not repaired else None
    arguments, fixed = _arguments(data[key])
    if arguments is None:
        return f"{name}: its arguments are not a JSON object; send them as a JSON object matching the tool's parameters"
    known = ((spec.parameters if spec else None) or {}).get("properties")
    if (repaired or fixed) and known and any(k not in known for k in arguments):
        return None  # a repair that cut a string into made-up keys ({"a": 1} in unescaped code)
    return ToolCall(name, arguments, "", form, repaired or fixed)


def _first_json_object(text: str) -> Any:
    """The first complete JSON value in ``text`` starting at a ``{`` or ``[``."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[\[{]", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        return value
    return None


# ---- XML invoke / parameter, with vendor prefixes -----------------------------------

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
        spec = tools.get(_base_name(name))
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
        typed = attrs.get("string", "").lower() == "true" or _wanted_type(parameters, key) is not None
        params[key] = raw if typed else _loose_value(raw)
        j = close + 1
    return params, None
