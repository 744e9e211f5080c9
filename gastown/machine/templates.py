"""Chat templates gastown renders itself, so that a reply can be started for the model.

A chat completion cannot begin the assistant's turn with given text: the server ends every
message it is sent, the last one too, and opens a new turn for the answer. A text
completion can: the conversation rendered as the model's chat template renders it, the
assistant's turn opened, and the start of the reply after it; the model goes on from
there. Rendered exactly as the server's own template would, the prompt is the same tokens
as the chat request's, so the server's cache of the conversation serves both.

Only templates known here are rendered (a model's ``template`` in town.toml names one); a
model without one is asked by chat, and the start is only shown in its prompt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

CHATML = "chatml"  # <|im_start|>role ... <|im_end|>: Qwen2.5's template when no tools are sent
TEMPLATES = (CHATML,)
STOPS: dict[str, tuple[str, ...]] = {CHATML: ("<|im_end|>", "<|endoftext|>")}


def render(template: str, messages: Sequence[Mapping[str, Any]]) -> str:
    """The prompt of ``messages`` as ``template`` renders it, up to the assistant's next turn.

    Only what the chat requests of a text-mode agent hold: roles and text content (a
    system message first; Qwen's template puts its own default system message where there
    is none, which this does not render)."""
    if template != CHATML:
        raise ValueError(f"unknown chat template {template!r} (known: {', '.join(TEMPLATES)})")
    turns = [f"<|im_start|>{m['role']}\n{m.get('content') or ''}<|im_end|>\n" for m in messages]
    return "".join(turns) + "<|im_start|>assistant\n"


def renders(template: str | None, messages: Sequence[Mapping[str, Any]]) -> bool:
    """Whether ``messages`` can be rendered as ``template`` exactly as the server would: a
    known template, a system message first, text content only (no tool calls or parts)."""
    if template not in TEMPLATES or not messages or messages[0].get("role") != "system":
        return False
    return all(
        m.get("role") in ("system", "user", "assistant")
        and isinstance(m.get("content"), str)
        and not m.get("tool_calls")
        for m in messages
    )


def begun(request: Mapping[str, Any], template: str | None, start: str) -> dict[str, Any] | None:
    """The chat ``request`` as a text completion whose reply begins with ``start``: its
    messages rendered as ``template``, then ``start``; None when the template is not one
    rendered here or the messages are not ones it renders exactly."""
    messages = request["messages"]
    if template is None or not renders(template, messages):
        return None
    kept = {key: value for key, value in request.items() if key != "messages"}
    return {**kept, "prompt": render(template, messages) + start, "stop": list(STOPS[template])}
