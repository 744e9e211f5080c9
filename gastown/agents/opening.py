"""The first lines of a reply that adds one function: shown last in the first prompt.

Asked to add one function to a short module it was shown whole, the 1.5B model sends the
module back as it was, or only its path: 6 of the 10 replies of the starter suite's
`truncate` bead (run J); asked its first prompt four times, it wrote `truncate` once. With
the reply's start at the end of the prompt (the file's path, the fence and the function's
``def`` line), 4 of 4 replies were that function. The same held for
a function whose body is a hole (humanize's ``ordinal``: replies of 100–250 tokens
instead of 250–400, no module sent back).

Only for a function that has no body to copy: one the tests import that the module lacks
(its signature written in the bead's text), or a stub (see merge.is_stub). Shown the
``def`` line of a function it must fix, the model sent that function back as it was (5
of 5 on the starter suite's `camel-case`; 2 of 5 without), so a fix gets no opening.
Nor does a bead with more than one such function, a new module to write, or a function
of another module to change: shown the start of one of its two changes, the model made
only that one (`reading-time`, 4 of 4).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence

from gastown.agents.merge import docstring, is_stub

_SIGNATURE_RE = r"`({name}\([^`]*\)(?:\s*->\s*[^`]+)?)`"


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
    None otherwise, and None when ``names`` holds a function of another of ``files``."""
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
    if found is None or any(names & _defined(text) for path, text in files if path != found[0]):
        return None  # the bead changes another file too
    return found


def signature_in(texts: Iterable[str], name: str) -> str | None:
    """``name(...) -> type`` as the bead's text writes it in backticks, when it is a valid
    ``def`` line (annotations and defaults included)."""
    pattern = re.compile(_SIGNATURE_RE.format(name=re.escape(name)))
    for text in texts:
        for found in pattern.findall(text or ""):
            signature = " ".join(found.split())
            try:
                ast.parse(f"def {signature}:\n    pass\n")
            except SyntaxError:
                continue
            return signature
    return None


def stub_headers(source: str, names: set[str]) -> list[str]:
    """The header of each stub in ``source`` named in ``names``: its decorators and ``def``
    lines as the file writes them; a method's under its class's first line."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    lines = source.splitlines()
    headers: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            inside = [_header(lines, m) for m in node.body if is_stub(m) and getattr(m, "name", "") in names]
            headers += [f"{lines[node.lineno - 1]}\n{h}" for h in inside if h]
        elif is_stub(node) and getattr(node, "name", "") in names:
            headers += [h for h in [_header(lines, node)] if h]
    return headers


def _defined(source: str) -> set[str]:
    """The top-level functions and classes of a module (none when it does not parse)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _header(lines: list[str], node: ast.stmt) -> str:
    """A function's decorators and ``def`` lines ("" when its body starts on its ``def`` line)."""
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    body = docstring(node) or node.body[0]
    if body.lineno <= node.lineno:
        return ""
    return "\n".join(lines[first - 1 : body.lineno - 1]).rstrip()
