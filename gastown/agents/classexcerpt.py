"""A long module shown as the methods a bug fix is about, in their class, under a list of the rest.

excerpt.py cuts a module to its top-level functions; a bead about a method of a class was
outlined instead (focus.outline): every class's line and its methods' signatures, with
``...`` bodies. Shown that outline of cachetools' 900-line module for a fix in
``Cache.pop``, the 1.5B sent all of it back (1,276 tokens, 94 s of its 300), ``pop``
unchanged. Here the class keeps its line, its docstring, the class attributes its kept
methods use and those methods, as the file has them; a class the bead names with none of
its methods kept is shown whole; the module's imports stay (a reply that starts with them
copies these); everything else is listed in a note at the top (prose above the code
block, see prompts.bead_text), so there is nothing to copy but the methods. Sent back, the
class merges member by member (merge.py) and changes only what was rewritten.

A stub among the kept methods (a hole to fill) keeps the outline: there a sibling class's
method of the same name, which the outline shows, is the best hint there is.
"""

from __future__ import annotations

import ast
from collections.abc import Collection

from gastown.agents import merge
from gastown.agents.excerpt import ALSO_IN_IT, AS_IN_THE_FILE, assigned, briefly, first_line, names_in, parse, read_hint

BRIEF_PER_LINE = 6  # names listed on one line of the note
WHOLE_LINES = 120  # a class longer than this is not shown whole (focus.OUTLINE_LINES)


def class_excerpt(source: str, keep: set[str], named: Collection[str], path: str = "") -> str | None:
    """``source`` cut to the classes the bead is about (those in ``keep`` with a method the
    bead's text ``named``, each as those methods; or, when no class is kept, the one class
    holding such methods), the other classes in ``keep``, whole, and the top-level functions
    in ``keep``, with the module's imports and the module-level names the shown code uses,
    under a note listing the rest. The methods the tests call are not enough: cachetools'
    test of ``LRUCache`` calls ``popitem``, and the bug is in ``__getitem__``. None when no
    method is named, when a named method is a stub (a hook a subclass overrides is none),
    when more than one class could be meant, when a class to show whole is longer than
    WHOLE_LINES, or when the cut would not read as a part of the file (merge.is_fragment)."""
    tree = parse(source)
    if tree is None:
        return None
    chosen = keep & set(named)
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    members = {c.name: [m for m in c.body if _name(m) in chosen and _is_function(m)] for c in classes}
    cut = [c for c in classes if c.name in keep and members[c.name]]
    if not cut:
        holders = [c for c in classes if members[c.name]]
        cut = holders if len(holders) == 1 else []
    whole = [c for c in classes if c.name in keep and c not in cut]
    entire = not cut and len(whole) == 1
    if entire:  # the one class the bead is about, none of its methods named: all of them
        cut, members[whole[0].name], whole = whole, [m for m in whole[0].body if _is_function(m)], []
    if not cut or any(
        merge.is_stub(m) and not merge.overridden(tree, c, _name(m)) for c in cut for m in members[c.name]
    ):
        return None
    if any(_length(c) > WHOLE_LINES for c in whole) or (entire and _length(cut[0]) > WHOLE_LINES):
        return None  # whole, a long class would be sent back whole: the outline cuts it
    functions = [n for n in tree.body if _is_function(n) and _name(n) in keep]
    # the module's names the shown methods use (a table, a constant), each with its assignment
    uses = set().union(*(names_in(m) for c in cut for m in members[c.name]), *(names_in(f) for f in functions))
    lines = source.splitlines()
    body: list[str] = []
    listed: list[str] = []
    after = -1  # the last line of the statement shown last, when nothing was left out since
    for node in tree.body:
        start, end = first_line(node), node.end_lineno or node.lineno
        if (
            isinstance(node, (ast.Import, ast.ImportFrom))
            or node in whole
            or node in functions
            or assigned(node) & uses
        ):
            # next to the one before it: as the file has them, blank lines and comments too
            body += lines[after:end] if after >= 0 else ["", "", *lines[start - 1 : end]]
            after = end
            continue
        after = -1
        if node in cut:
            assert isinstance(node, ast.ClassDef)
            cut_lines, rest = _class_cut(lines, node, members[node.name])
            body += ["", "", *cut_lines]
            if rest:
                listed.append(f"{node.name}, the rest of it: {', '.join(rest)}")
        elif not (node is tree.body[0] and isinstance(node, ast.Expr)):  # not the module's docstring
            listed.append(briefly(node, lines))
    about = ", ".join(f"{c.name}.{_name(m)}" for c in cut for m in members[c.name])
    about = f"class {cut[0].name}" if entire else f"{about} in {'its class' if len(cut) == 1 else 'their classes'}"
    head = [
        f"# {path or 'This file'} has {len(lines)} lines. Shown: {about}, {AS_IN_THE_FILE}; "
        f"the rest is listed below ({read_hint(path)} with start_line and end_line shows any part).",
        "# Send back only the methods you change, inside their class (the `class` line, then each method "
        "indented under it): the rest of the class and of the file stays as it is.",
    ]
    if listed:
        head.append(f"# {ALSO_IN_IT}")
        head += [f"#   {'; '.join(listed[at : at + BRIEF_PER_LINE])}" for at in range(0, len(listed), BRIEF_PER_LINE)]
    text = "\n".join(head + body[1:]) + "\n"
    return text if merge.is_fragment(source, text) else None


def _class_cut(lines: list[str], node: ast.ClassDef, kept: list[ast.stmt]) -> tuple[list[str], list[str]]:
    """A class as its decorators and line, its docstring, the class attributes and nested
    classes its ``kept`` methods use, and those methods; and the rest of its members, a name
    and its lines each."""
    used = set().union(*(names_in(m) for m in kept))
    out = lines[first_line(node) - 1 : first_line(node.body[0]) - 1]  # decorators and the class line
    header = len(out)
    rest: list[str] = []
    for member in node.body:
        start, end = first_line(member), member.end_lineno or member.lineno
        is_doc = member is node.body[0] and isinstance(member, ast.Expr)
        if (
            is_doc
            or member in kept
            or assigned(member) & used
            or (isinstance(member, ast.ClassDef) and member.name in used)
        ):
            if len(out) > header and out[-1].strip():  # a blank line between members, as the file has
                out.append("")
            out += lines[start - 1 : end]
        elif _name(member) or assigned(member):
            rest.append(briefly(member, lines))
    return out, rest


def _length(node: ast.stmt) -> int:
    return (node.end_lineno or node.lineno) - first_line(node) + 1


def _name(node: ast.stmt) -> str:
    return getattr(node, "name", "") or ""


def _is_function(node: ast.stmt) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
