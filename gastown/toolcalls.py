"""Tool calls, parsed strictly first and leniently second, and never silently dropped.

A model's reply may carry structured ``tool_calls`` (strict), or it may have written the
call as text: ``<tool_call>{json}</tool_call>``, a bare or fenced JSON object, or XML
``<invoke name=…><parameter name=…>…</parameter></invoke>`` with any vendor prefix on the
tags. Text calls are recovered and counted as recovered. A structured document nested
inside an argument (a ``write_file`` whose content itself looks like a tool call) stays
the content of the outer call: tags are matched with a stack, outermost first. What
cannot be recovered becomes an error the agent sends back to the model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolCall:
    """One call: the tool's name, its arguments, and how it reached us."""

    name: str
    arguments: Mapping[str, Any]
    id: str = ""
    source: str = "structured"  # "structured" or the text form it was recovered from


@dataclass
class Parsed:
    """What a reply asked for."""

    calls: list[ToolCall] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    text: str = ""  # the reply's prose with any recovered calls taken out

    @property
    def recovered(self) -> int:
        return sum(1 for c in self.calls if c.source not in ("structured", "schema"))


@dataclass(frozen=True)
class ToolSpec:
    """What the parser needs to know of a tool: its name and its parameters."""

    name: str
    required: tuple[str, ...] = ()
    properties: Mapping[str, str] = field(default_factory=dict)  # name -> JSON type


def parse(
    structured: Sequence[Mapping[str, Any]] | None,
    content: str | None,
    tools: Mapping[str, ToolSpec],
) -> Parsed:
    """Every tool call in a reply, strict (``structured``) first, then recovered from text."""
    result = Parsed(text=content or "")
    for n, raw in enumerate(structured or ()):
        function = raw.get("function") or {}
        name = str(function.get("name") or "").strip()
        arguments = _arguments(function.get("arguments"))
        if arguments is None:
            result.errors.append(
                f"tool call {n + 1} ({name or 'unnamed'}): its arguments are not a JSON object; "
                "send them as a JSON object matching the tool's parameters"
            )
            continue
        _accept(result, ToolCall(name, arguments, str(raw.get("id") or ""), "structured"), tools)
    if result.calls or result.errors or not content:
        return result
    for form, finder in (("xml", _xml_calls), ("tool_call", _tagged_calls), ("json", _json_calls)):
        found, errors, rest = finder(content)
        if found or errors:
            for call in found:
                _accept(result, ToolCall(call[0], call[1], "", form), tools)
            result.errors += errors
            result.text = rest.strip()
            break
    return result


def _accept(result: Parsed, call: ToolCall, tools: Mapping[str, ToolSpec]) -> None:
    name = _base_name(call.name)
    spec = tools.get(name)
    if spec is None:
        known = ", ".join(sorted(tools))
        result.errors.append(f"unknown tool {call.name!r}; the tools are: {known}")
        return
    missing = [p for p in spec.required if p not in call.arguments]
    if missing:
        result.errors.append(f"{name}: missing required argument(s) {', '.join(missing)}")
        return
    for key, value in call.arguments.items():
        expected = spec.properties.get(key)
        if expected is None:
            continue
        if not _is_type(value, expected):
            result.errors.append(f"{name}: argument {key!r} must be {expected}, got {type(value).__name__}")
            return
    result.calls.append(ToolCall(name, dict(call.arguments), call.id, call.source))


def _base_name(name: str) -> str:
    """``functions.write_file`` or ``default_api:write_file`` -> ``write_file``."""
    return re.split(r"[.:]", name.strip())[-1]


def _is_type(value: Any, expected: str) -> bool:
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }
    check = checks.get(expected)
    return True if check is None else bool(check(value))


def _arguments(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, dict):
        return raw
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, str):
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        value = _first_json_object(raw)
    return value if isinstance(value, dict) else None


# ---- <tool_call>{json}</tool_call> -------------------------------------------------

_OPEN, _CLOSE = "<tool_call>", "</tool_call>"


def _tagged_calls(text: str) -> tuple[list[tuple[str, dict[str, Any]]], list[str], str]:
    """JSON inside ``<tool_call>`` tags, decoded as JSON so tags inside strings stay text."""
    calls: list[tuple[str, dict[str, Any]]] = []
    errors: list[str] = []
    kept: list[str] = []
    decoder = json.JSONDecoder()
    at = 0
    while (start := text.find(_OPEN, at)) != -1:
        kept.append(text[at:start])
        body = start + len(_OPEN)
        match = re.compile(r"\s*(?:```(?:json)?\s*)?").match(text, body)
        begin = match.end() if match else body
        try:
            data, end = decoder.raw_decode(text, begin)
        except ValueError:
            close = text.find(_CLOSE, body)
            errors.append("a <tool_call> block did not hold a JSON object with a name and arguments")
            at = len(text) if close == -1 else close + len(_CLOSE)
            continue
        close = text.find(_CLOSE, end)
        call = _json_call(data)
        if call is None:
            errors.append("a <tool_call> block did not hold a JSON object with a name and arguments")
        else:
            calls.append(call)
        at = len(text) if close == -1 else close + len(_CLOSE)  # an unclosed tag is forgiven
    kept.append(text[at:])
    return calls, errors, "".join(kept)


# ---- bare or fenced JSON -------------------------------------------------------------

_FENCE_RE = re.compile(r"```(?:json|JSON|tool_call)?\s*\n?(.*?)```", re.DOTALL)


def _strip_fence(text: str) -> str:
    match = _FENCE_RE.search(text)
    return match.group(1) if match else text


def _json_calls(text: str) -> tuple[list[tuple[str, dict[str, Any]]], list[str], str]:
    candidates = [m.group(1) for m in _FENCE_RE.finditer(text)] or [text]
    calls = []
    for candidate in candidates:
        data = _first_json_object(candidate)
        items = data if isinstance(data, list) else [data]
        for item in items:
            call = _json_call(item)
            if call is not None:
                calls.append(call)
    rest = _FENCE_RE.sub("", text) if calls and candidates != [text] else ("" if calls else text)
    return calls, [], rest


def _json_call(data: Any) -> tuple[str, dict[str, Any]] | None:
    """``{"name", "arguments"}`` and its common spellings, or None."""
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("function"), dict):
        data = data["function"]
    name = data.get("name") or data.get("tool") or data.get("tool_name")
    if not isinstance(name, str) or not name:
        return None
    args: Any = next((data[k] for k in ("arguments", "parameters", "args", "input") if k in data), {})
    parsed = _arguments(args)
    return None if parsed is None else (name, parsed)


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

_TAG_RE = re.compile(
    r"<(/?)((?:[^\s<>/=\"']*?[^\w\s<>/=\"'])?)(invoke|parameter|function_calls|tool_calls|function)(?![\w-])([^>]*)>",
    re.IGNORECASE,
)
_ATTR_RE = re.compile(r"""([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def _attrs(text: str) -> dict[str, str]:
    """Attributes of a tag; ``<function=NAME>`` / ``<parameter=NAME>`` give ``name``."""
    found = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3) for m in _ATTR_RE.finditer(text)}
    if "name" not in found and text.startswith("="):
        found["name"] = text[1:].strip().strip("\"'")
    return found


def _xml_calls(text: str) -> tuple[list[tuple[str, dict[str, Any]]], list[str], str]:
    """Outermost ``invoke`` elements; nested markup inside a parameter stays its value."""
    tags = list(_TAG_RE.finditer(text))
    if not any(t.group(3).lower() in ("invoke", "function") and not t.group(1) for t in tags):
        return [], [], text
    calls: list[tuple[str, dict[str, Any]]] = []
    errors: list[str] = []
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(tags):
        tag = tags[i]
        kind = tag.group(3).lower()
        if tag.group(1) or kind not in ("invoke", "function"):
            i += 1
            continue
        close = _matching(tags, i)
        name = _attrs(tag.group(4)).get("name", "")
        if close is None:
            errors.append(
                f"the tool call {name or '(unnamed)'} was opened with <{tag.group(2)}{tag.group(3)}> "
                "but never closed; send the whole call again"
            )
            break
        params, problem = _parameters(text, tags, i, close)
        if problem:
            errors.append(f"the tool call {name or '(unnamed)'}: {problem}")
        elif not name:
            errors.append("an <invoke> without a name attribute")
        else:
            calls.append((name, params))
        spans.append((tag.start(), tags[close].end()))
        i = close + 1
    rest = text
    for start, end in reversed(spans):
        rest = rest[:start] + rest[end:]
    if calls:
        rest = re.sub(r"</?tool_call>", "", _TAG_RE.sub("", rest))
    return calls, errors, rest


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


def _parameters(text: str, tags: list[re.Match[str]], start: int, end: int) -> tuple[dict[str, Any], str | None]:
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
        params[key] = _parameter_value(raw, attrs)
        j = close + 1
    return params, None


def _parameter_value(raw: str, attrs: Mapping[str, str]) -> Any:
    if raw.startswith("\n"):  # <parameter>\nvalue\n</parameter>: the newlines are layout
        raw = raw[1:]
        if raw.endswith("\n"):
            raw = raw[:-1]
    if attrs.get("string", "").lower() == "true":
        return raw
    stripped = raw.strip()
    if stripped[:1] in "[{" or stripped in ("true", "false", "null") or re.fullmatch(r"-?\d+(\.\d+)?", stripped):
        try:
            return json.loads(stripped)
        except ValueError:
            pass
    return raw
