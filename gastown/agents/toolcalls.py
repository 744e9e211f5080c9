"""Tool calls, parsed strictly first and leniently second, and never silently dropped.

A model's reply may carry structured ``tool_calls`` (strict), or it may have written its
calls as text, recovered in ``textcalls`` (its forms, and when damaged JSON is repaired)
and counted as recovered; failing those, a file written as its path and a fenced block
(``fileblocks``), or a "call" named by the file's path (or its module's dotted name) with
its code as the arguments, is read as ``write_file`` when the reply holds no call.

Arguments then get a few explicit coercions and are checked against the tool's JSON Schema
(``callargs``). What cannot be used becomes an error the agent sends back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gastown.agents import callargs, fileblocks, textcalls
from gastown.agents.textcalls import ToolCall as ToolCall
from gastown.agents.textcalls import ToolSpec as ToolSpec


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
        arguments, repaired = callargs.arguments(function.get("arguments"))
        if arguments is None:
            result.errors.append(
                f"tool call {n + 1} ({name or 'unnamed'}): its arguments are not a JSON object; "
                "send them as a JSON object matching the tool's parameters"
            )
            continue
        _accept(result, ToolCall(name, arguments, str(raw.get("id") or ""), "structured", repaired), tools)
    if result.calls or result.errors or not content:
        return result
    calls, errors, rest = textcalls.text_calls(content, tools)
    if "write_file" in tools and not calls and not errors:
        blocks, rest = fileblocks.file_blocks(content)
        calls = [file_call(path, body) for path, body in blocks]
    if "write_file" in tools and all(callargs.base_name(c.name) not in tools for c in calls):
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


def _accept(result: Parsed, call: ToolCall, tools: Mapping[str, ToolSpec]) -> None:
    name = callargs.base_name(call.name)
    spec = tools.get(name)
    if spec is None:
        known = ", ".join(sorted(tools))
        result.errors.append(f"unknown tool {call.name!r}; the tools are: {known}")
        return
    arguments = callargs.coerce(call.arguments, spec.parameters)
    problem = callargs.problem(spec.parameters, arguments)
    if problem:
        result.errors.append(f"{name}: {problem}")
        return
    result.calls.append(replace(call, name=name, arguments=arguments))
