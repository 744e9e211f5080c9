"""Definitions shown to the model only as an outline's stub stay as they are until it reads them.

An outline (focus.outline) shows a long module's other functions as a signature, the first
line of a docstring and ``...``. Sent back with only ``...``, such a function stays as it is
(merge.py). But a small model may fill the ``...`` in: shown `boltons.mathutils` outlined for
a bug in `Bits`, the 1.5B answered with new bodies for `clamp`, `ceil` and `floor`, whose code
it had never seen (run B1, docs/eval.md, stop 50), and the write replaced three working
functions with guesses and broke four tests. A body the model was never shown is not the
model's to rewrite unread: such a definition, sent back changed, is put back as the module
has it, and the write says where to read it. Reading all its lines (``read_file``, in one
read or several) shows it, and then a change to it stands; a fresh try starts unread
again (its conversation holds no read). A function the module itself leaves as ``...`` is
the bead's to write, not a stub. Not covered: a class the outline names in one line with
no methods shown, a nested class's methods, and a property's getter and setter (one name
for two definitions). Pure: text in, text out.
"""

from __future__ import annotations

import ast
from collections.abc import Collection

from gastown.agents.docstrings import lines_of, parse, source_of, span
from gastown.agents.merge import elided


def _definitions(tree: ast.Module) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """Top-level functions by name and class methods as ``Class.method``, each name once (a
    property's getter and setter share theirs: left out)."""
    found: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.setdefault(node.name, []).append(node)
        elif isinstance(node, ast.ClassDef):
            for member in node.body:
                if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    found.setdefault(f"{node.name}.{member.name}", []).append(member)
    return {name: nodes[0] for name, nodes in found.items() if len(nodes) == 1}


def stubs(shown: str, whole: str) -> frozenset[str]:
    """The definitions ``shown`` (a file as a prompt showed it) gives as stubs — only ``...``
    after the signature and docstring line — that ``whole`` (the file itself) does not: a
    function the module leaves to write (its body ``...``) is the bead's to write."""
    tree, real = parse(shown), parse(whole)
    if tree is None or real is None:
        return frozenset()
    empty = {name for name, node in _definitions(real).items() if elided(node)}
    return frozenset(name for name, node in _definitions(tree).items() if elided(node) and name not in empty)


def unread(text: str, names: Collection[str], lines_read: Collection[int]) -> frozenset[str]:
    """``names`` less those whose every line in ``text`` (1-based, decorators included) is
    in ``lines_read``: read, in one read or several."""
    tree = parse(text)
    if tree is None:
        return frozenset(names)
    spans = {name: span(node) for name, node in _definitions(tree).items()}
    return frozenset(
        name for name in names if name not in spans or not all(n + 1 in lines_read for n in range(*spans[name]))
    )


def restored(old: str, new: str, names: Collection[str]) -> tuple[str, tuple[tuple[str, int, int], ...]]:
    """``new`` with each definition in ``names`` that it changed put back as ``old`` has it,
    and for each, its name and its first and last line in ``old``; ``new`` itself when none
    changed. A definition ``new`` indents otherwise is left as sent: moved, the lines of a
    string in it would change too."""
    if not names:
        return new, ()
    before, after = parse(old), parse(new)
    if before is None or after is None:
        return new, ()
    olds, news = _definitions(before), _definitions(after)
    lines, parts = lines_of(old), lines_of(new)
    swaps: list[tuple[int, int, list[str], tuple[str, int, int]]] = []
    for name in sorted(names):
        was, now = olds.get(name), news.get(name)
        if was is None or now is None or elided(now):
            continue
        source = source_of(lines, was)
        if source == source_of(parts, now):
            continue
        if lines[was.lineno - 1][: was.col_offset] != parts[now.lineno - 1][: now.col_offset]:
            continue
        first, end = span(was)
        swaps.append((*span(now), source, (name, first + 1, end)))
    for first, end, source, _where in sorted(swaps, key=lambda swap: swap[0], reverse=True):
        parts[first:end] = source
    if not swaps:
        return new, ()
    return "\n".join(parts) + ("\n" if new.endswith("\n") else ""), tuple(where for *_, where in swaps)
