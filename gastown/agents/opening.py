"""The first lines of a reply that adds one function: shown last in the first prompt.

Asked to add one function to a short module it was shown whole, the 1.5B model sends the
module back as it was, or only its path: 6 of the 10 replies of the starter suite's
`truncate` bead (run J); asked its first prompt four times, it wrote `truncate` once. With
the reply's start at the end of the prompt (the file's path, the fence and the function's
``def`` line), 4 of 4 replies were that function. The same held for a function whose body
is a hole (humanize's ``ordinal``: replies of 100–250 tokens instead of 250–400, no module
sent back; docs/eval.md).

Only for a function that has no body to copy: one the tests import that the module lacks
(its signature written in the bead's text), or a stub (see merge.is_stub). Shown the
``def`` line of a function it must fix, the model copied the body below it: on the starter
suite's `camel-case`, 3 of 5 replies sent the function back as it was and none passed,
against 3 of 5 passing without. So a fix gets no opening. Nor does a bead with more than
one such function, a new module to write, or a function of another module to change:
shown the start of one of its two changes, the model made only that one (`reading-time`,
4 of 4).

Shown as the prompt's last section, the start holds at 0.2 and loses its hold at 0.7, in
fresh tries: the 1.5B sent the module back as it was in 4 of 8 of `truncate`'s. So the
agent also begins the reply with it (prompts.reply_start, ModelClient.chat's ``start``)
where the model's chat template is one gastown renders: the model then writes on from the
``def`` line and cannot send anything else.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence

from gastown.agents.merge import definitions, docstring, is_stub

# `name(...)` or `def name(...) -> type:` in backticks, as a bead's text writes a signature
_SIGNATURE_RE = r"`(?:def\s+)?({name}\([^`]*?\)(?:\s*->\s*[^`:]+)?)\s*:?`"


def opening(
    texts: Iterable[str],
    files: Sequence[tuple[str, str]],
    absent: Sequence[tuple[str, str]],
    missing: Sequence[str],
    names: Iterable[str],
) -> tuple[str, str] | None:
    """``(path, first lines)`` of the reply when the bead adds exactly one function: one of
    ``absent`` (``(path, name)`` the tests import and the module lacks) whose signature the
    bead's ``texts`` give in backticks, or else one stub among ``files`` (whole rig files,
    ``(path, text)``) whose name is in ``names`` (the names the bead's text writes as code);
    None otherwise, and None when ``names`` holds a function of another of ``files``. A
    function of the same module may be named ("next to wrap() and fill()"): what the bead
    says of its neighbours is mostly "keep them"."""
    names = set(names)
    if missing:
        return None
    shown = dict(files)
    if absent:
        if len(absent) != 1 or absent[0][0] not in shown:
            return None
        path, name = absent[0]
        signature = signature_in(texts, name)
        found = (path, f"def {signature}:") if signature else None
    else:
        holes = [(path, header) for path, text in files if path.endswith(".py") for header in stub_headers(text, names)]
        found = holes[0] if len(holes) == 1 else None
    others = (text for path, text in files if path != (found and found[0]) and path.endswith(".py"))
    if found is None or any(names & definitions(text) for text in others):
        return None  # the bead changes another file too
    return found


def signature_in(texts: Iterable[str], name: str) -> str | None:
    """``name(...) -> type`` as the bead's text writes it in backticks, when it is a valid
    ``def`` line with an annotation (``truncate(text, width=10)`` is more likely a call, with
    an example's values); None for a class (a capitalised name: its signature is its
    ``__init__``'s)."""
    if name[:1].isupper():
        return None
    pattern = re.compile(_SIGNATURE_RE.format(name=re.escape(name)))
    for text in texts:
        for found in pattern.findall(text or ""):
            signature = " ".join(found.split())
            try:
                tree = ast.parse(f"def {signature}:\n    pass\n")
            except SyntaxError:
                continue
            function = tree.body[0]
            assert isinstance(function, ast.FunctionDef)
            arguments = function.args
            every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            if function.returns is not None or any(a.annotation is not None for a in every):
                return signature
    return None


def stub_headers(source: str, names: set[str]) -> list[str]:
    """The header of each stub in ``source`` named in ``names``: its decorators and ``def``
    lines as the file writes them; a method's under its class's header."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    lines = source.splitlines()
    headers: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            inside = [_header(lines, m) for m in node.body if is_stub(m) and getattr(m, "name", "") in names]
            headers += [f"{_upto(lines, node.lineno, node.body[0])}\n{h}" for h in inside if h]
        elif is_stub(node) and getattr(node, "name", "") in names:
            headers.append(_header(lines, node))
    return headers


def _header(lines: list[str], node: ast.stmt) -> str:
    """A function's decorators and ``def`` lines, up to its docstring or body."""
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return _upto(lines, first, docstring(node) or node.body[0])


def _upto(lines: list[str], first: int, body: ast.stmt) -> str:
    """The lines from ``first`` to where ``body`` starts: the comments and blank lines just
    above it left out, and a body on the header's own line (``def f(x): ...``) cut off."""
    start = min([body.lineno, *(d.lineno for d in getattr(body, "decorator_list", []))])
    header = lines[first - 1 : start - 1]
    while header and (not header[-1].strip() or header[-1].lstrip().startswith("#")):
        header.pop()
    before = lines[start - 1][: body.col_offset] if start == body.lineno else ""
    if before.strip():  # the body on the header's last line: "...) -> str: ..."
        header.append(before.rstrip())
    return "\n".join(header).rstrip()
