"""A function keeps its docstring when a reply sends it back without one.

Shown a module with its long docstrings lifted out of the code (excerpt.lift_docstrings), or
asked for only the function it changes, a small model sends functions back without their
docstrings. Merged as a fragment (merge.py) or written whole (tools.py), each function and
method that comes without one gets its old docstring back, at the body's indent. Also here:
where a definition's lines are in its module (``span``, ``source_of``, ``lines_of``). Pure:
text in, text out.
"""

from __future__ import annotations

import ast


def lines_of(text: str) -> list[str]:
    """The lines of ``text`` as ast numbers them: split at newlines only, where
    ``str.splitlines`` also splits at a form feed, which Python reads as whitespace (a
    module with one would be laid out a line off from its nodes)."""
    if not text:
        return []
    return (text[:-1] if text.endswith("\n") else text).split("\n")


def span(node: ast.stmt) -> tuple[int, int]:
    """The 0-based first line (decorators included) and the end line (exclusive) of a node."""
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return first - 1, node.end_lineno or node.lineno


def source_of(lines: list[str], node: ast.stmt) -> list[str]:
    first, end = span(node)
    return lines[first:end]


def docstring(node: ast.AST) -> ast.Expr | None:
    """The docstring statement of a module, class or function; None without one."""
    body = getattr(node, "body", None)
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first
    return None


def kept_docstring(parts: list[str], node: ast.stmt, lines: list[str], old: ast.stmt) -> list[str]:
    """A function's new source; when it comes without a docstring and the old one had one,
    the old docstring goes back in: a model asked for the changed function need not copy it."""
    source = source_of(parts, node)
    kept = docstring(old)
    if (
        not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        or not isinstance(old, (ast.FunctionDef, ast.AsyncFunctionDef))
        or kept is None
        or docstring(node) is not None
        or node.body[0].lineno == node.lineno  # the body on the def line: nowhere to put it
        or kept.lineno == old.lineno  # the old docstring shares the def's line
        or (len(old.body) > 1 and old.body[1].lineno == kept.end_lineno)  # or its last line
    ):
        return source
    first, _ = span(node)
    at = node.body[0].lineno - 1 - first  # the body's first line within ``source``
    indent = len(parts[node.body[0].lineno - 1]) - len(parts[node.body[0].lineno - 1].lstrip())
    doc = lines[kept.lineno - 1 : kept.end_lineno or kept.lineno]
    old_indent = len(doc[0]) - len(doc[0].lstrip())
    shifted = [" " * indent + _dedent(line, old_indent) if line.strip() else line for line in doc]
    return source[:at] + shifted + source[at:]


def with_docstrings(old: str, new: str) -> str:
    """``new``, a whole module (not a fragment), with the docstrings ``old`` gives the
    functions and methods it sends without one: shown the code with its docstrings lifted out
    (see excerpt.lift_docstrings), a model rewriting the whole file leaves them out."""
    before, after = parse(old), parse(new)
    if before is None or after is None:
        return new
    lines, parts = lines_of(old), lines_of(new)
    had = dict(_functions(before))
    swaps = []
    for key, node in _functions(after):
        if key in had:
            first, end = span(node)
            kept = kept_docstring(parts, node, lines, had[key])
            if kept != parts[first:end]:
                swaps.append((first, end, kept))
    if not swaps:
        return new
    for first, end, kept in sorted(swaps, key=lambda swap: swap[0], reverse=True):
        parts[first:end] = kept
    return "\n".join(parts) + ("\n" if new.endswith("\n") else "")


def _functions(tree: ast.Module) -> list[tuple[str, ast.stmt]]:
    """The module's functions and its classes' methods, by ``name`` or ``Class.name``."""
    found: list[tuple[str, ast.stmt]] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append((node.name, node))
        elif isinstance(node, ast.ClassDef):
            kinds = (ast.FunctionDef, ast.AsyncFunctionDef)
            found += [(f"{node.name}.{m.name}", m) for m in node.body if isinstance(m, kinds)]
    return found


def _dedent(line: str, width: int) -> str:
    """``line`` without up to ``width`` leading spaces (never any of its text)."""
    spaces = len(line) - len(line.lstrip(" "))
    return line[min(spaces, width) :]


def parse(text: str) -> ast.Module | None:
    """``text``'s syntax tree; None when it does not parse."""
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None
