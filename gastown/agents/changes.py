"""What an answer changed of a module, as code: for a fresh try shown a near miss (tries.py).

Code is compared with its docstrings aside (``code_of``): an answer that only reworded a
docstring changed nothing, and a function sent back without its docstring keeps its own
(docstrings.py). Pure: text in, text out.
"""

from __future__ import annotations

import ast
import copy

from gastown.agents import docstrings, merge
from gastown.agents.excerpt import lift_docstrings


def changed(old: str | None, new: str) -> str | None:
    """What ``new`` changed of the module ``old``, as code: all of ``new`` when there was no
    ``old`` (or it does not parse), else each top-level statement of ``new`` that ``old``
    lacks — a definition by its name, added or with other code; anything else (an import,
    a table, a call) by its code — in ``new``'s order. Long docstrings are lifted either
    way (excerpt.lift_docstrings). None when ``new`` does not parse or changes nothing."""
    tree = docstrings.parse(new)
    if tree is None or not new.strip():
        return None
    before = docstrings.parse(old) if old is not None else None
    if before is None:
        return lift_docstrings(new)[0]
    had = {name: code_of(node) for name, node in merge.defined(before).items()}
    had_code = {code_of(node) for node in before.body}
    names = {id(node): name for name, node in merge.defined(tree).items()}
    lines = new.split("\n")
    parts: list[str] = []
    module_doc = docstrings.docstring(tree)
    for node in tree.body:
        if node is module_doc:
            continue
        name = names.get(id(node))
        fresh = had.get(name) != code_of(node) if name is not None else code_of(node) not in had_code
        if fresh:
            parts.append("\n".join(docstrings.source_of(lines, node)))
    if not parts:
        return None
    return lift_docstrings("\n\n\n".join(parts) + "\n")[0]


def code_of(node: ast.AST) -> str:
    """A module's or a statement's code, the docstrings of it and of what it defines aside."""
    node = copy.deepcopy(node)
    for inner in ast.walk(node):
        kinds = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        if isinstance(inner, kinds) and inner.body and docstrings.docstring(inner) is not None:
            inner.body = inner.body[1:] or [ast.Pass()]
    return ast.dump(node)
