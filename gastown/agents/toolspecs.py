"""The tools as the model is told of them: each tool's description and its arguments' JSON
Schema, in the forms a request takes (OpenAI ``tools``, a one-call schema for servers that
hold replies to it, prose for a prompt) and the form the tool-call parser checks against.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gastown.agents.toolcalls import ToolSpec

TOOL_SCHEMAS: dict[str, dict[str, Any]] = {
    "read_file": {
        "description": (
            "Read a text file of the project. Each line comes numbered, like '  12| text'; the numbers "
            "are not part of the file. For a long file, give start_line and end_line to read only that part."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "the file, relative to the project root, e.g. src/app.py"},
                "start_line": {"type": "integer", "minimum": 1, "description": "first line to show (1 = the first)"},
                "end_line": {"type": "integer", "minimum": 1, "description": "last line to show (included)"},
            },
            "required": ["path"],
            "additionalProperties": False,
        },
    },
    "edit_file": {
        "description": (
            "Change part of a file: replace one exact snippet of it. old is copied exactly from the file "
            "(whole lines, same indentation, no line numbers) and must occur exactly once: include enough "
            "surrounding lines to make it unique. new replaces it; an empty new deletes it. Prefer this over "
            "write_file for existing files. With an empty old on a missing file, creates it holding new."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "the file to change, relative to the project root"},
                "old": {"type": "string", "description": "the exact text to replace, copied from the file"},
                "new": {"type": "string", "description": "the text to put in its place (may be empty)"},
            },
            "required": ["path", "old", "new"],
            "additionalProperties": False,
        },
    },
    "write_file": {
        "description": (
            "Create a new file, or replace a whole file, with content. To change part of an existing file, "
            "use edit_file instead."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "the file, relative to the project root"},
                "content": {"type": "string", "description": "the complete text of the file"},
            },
            "required": ["path", "content"],
            "additionalProperties": False,
        },
    },
    "list_dir": {
        "description": "List the files and folders directly inside a folder (folders end with /).",
        "parameters": {
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "the folder, relative to the project root; . is the root"},
            },
            "additionalProperties": False,
        },
    },
    "directory_tree": {
        "description": "Show the project's folders and files as an indented tree (ignored files are left out).",
        "parameters": {
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "the folder to start from; . is the project root"},
                "depth": {"type": "integer", "minimum": 1, "description": "how many levels of folders to open (3)"},
            },
            "additionalProperties": False,
        },
    },
    "search": {
        "description": "Find the lines of the project's files that contain some text; answers path:line: text.",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "the text to look for"},
                "path": {"type": "string", "description": "a folder or file to search in; . is the whole project"},
                "regex": {"type": "boolean", "description": "true: query is a Python regular expression"},
            },
            "required": ["query"],
            "additionalProperties": False,
        },
    },
    "run_tests": {
        "description": "Run the project's tests and see the result.",
        "parameters": {"type": "object", "properties": {}},
    },
    "shell_exec": {
        "description": "Run one allowed command in the project folder.",
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "string"}},
            "required": ["command"],
        },
    },
    "ask_crew": {
        "description": "Ask the rig's Crew a question about this project; it answers from the project's files.",
        "parameters": {
            "type": "object",
            "properties": {"question": {"type": "string"}},
            "required": ["question"],
        },
    },
    "finish": {
        "description": "Say the work is done (or cannot be done) with a one-paragraph summary.",
        "parameters": {
            "type": "object",
            "properties": {"summary": {"type": "string"}},
            "required": ["summary"],
        },
    },
}


def openai_tools(names: Iterable[str]) -> list[dict[str, Any]]:
    """The tools in the OpenAI ``tools`` format."""
    return [{"type": "function", "function": {"name": n, **TOOL_SCHEMAS[n]}} for n in names]


def call_schema(names: Iterable[str]) -> dict[str, Any]:
    """One tool call as a JSON object, for servers that hold replies to a schema."""
    return {
        "oneOf": [
            {
                "type": "object",
                "properties": {"name": {"const": n}, "arguments": TOOL_SCHEMAS[n]["parameters"]},
                "required": ["name", "arguments"],
            }
            for n in names
        ]
    }


def describe(names: Iterable[str], only_calls: bool = True) -> str:
    """The tools as prose, for a prompt (when they are not passed as ``tools``); with
    ``only_calls`` every reply is a call, else a call is one way to answer."""
    lead = (
        'Reply with exactly one tool call as a JSON object: {"name": TOOL, "arguments": {...}}.'
        if only_calls
        else 'A tool call is a JSON object in a reply of its own: {"name": TOOL, "arguments": {...}}.'
    )
    lines = [lead, "Tools:"]
    for name in names:
        params = TOOL_SCHEMAS[name]["parameters"].get("properties", {})
        args = ", ".join(params) or "no arguments"
        lines.append(f"- {name}({args}): {TOOL_SCHEMAS[name]['description']}")
    return "\n".join(lines)


def parser_specs(names: Iterable[str]) -> dict[str, ToolSpec]:
    """What the tool-call parser checks each call against: the tool's parameters schema."""
    return {name: ToolSpec(name, TOOL_SCHEMAS[name]["parameters"]) for name in names}
