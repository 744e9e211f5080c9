"""Lay a fragment of a Python module over the module: what a small model means by a partial file.

Asked to add ``truncate()`` to a 60-line module, a small model answers with a file holding
only ``truncate()`` (and maybe the imports it needs). Written as it is, that loses the module;
refused, the model rarely finds another way. ``merge`` reads the fragment as "these
definitions, changed or new": each top-level function or class replaces the one of the same
name in the module (decorators and all) or is added at the end, an import the module lacks
goes after its imports, and an assignment replaces the one to the same name or is added.
Everything else in the module stays as it was.

A fragment is a text that compiles and leaves out at least one of the module's top-level
definitions; ``is_fragment`` says so. Pure: text in, text out.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass


@dataclass(frozen=True)
class Merged:
    """The module with the fragment laid over it, and what changed, by name."""

    text: str
    replaced: tuple[str, ...]
    added: tuple[str, ...]
    kept: int  # the module's top-level definitions the fragment did not touch


def _defined(tree: ast.Module) -> dict[str, ast.stmt]:
    """Top-level functions, classes and single-name assignments, by name."""
    names: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            names[node.targets[0].id] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
    return names


def _definitions(tree: ast.Module) -> set[str]:
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def _parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None


def is_fragment(old: str, new: str) -> bool:
    """True when ``new`` compiles, defines something, and leaves out a definition ``old`` has."""
    before, after = _parse(old), _parse(new)
    if before is None or after is None:
        return False
    wanted, given = _definitions(before), _definitions(after)
    return bool(given) and bool(wanted - given)


def _span(node: ast.stmt) -> tuple[int, int]:
    """The 0-based first line (decorators included) and the end line (exclusive) of a node."""
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return first - 1, node.end_lineno or node.lineno


def _source(lines: list[str], node: ast.stmt) -> list[str]:
    first, end = _span(node)
    return lines[first:end]


def merge(old: str, new: str) -> Merged:
    """``old`` with every definition of the fragment ``new`` replaced or added (see the module doc)."""
    before, after = ast.parse(old), ast.parse(new)
    lines, parts = old.splitlines(), new.splitlines()
    existing = _defined(before)
    replacements: dict[int, list[str]] = {}  # first line of an old node -> its new lines
    spans: dict[int, int] = {}
    imports: list[str] = []
    appended: list[list[str]] = []
    replaced: list[str] = []
    added: list[str] = []
    have_imports = {ast.unparse(n) for n in before.body if isinstance(n, (ast.Import, ast.ImportFrom))}
    for node in after.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
            if not future and ast.unparse(node) not in have_imports:  # __future__ must come first: left out
                imports.extend(_source(parts, node))
            continue
        name = next((k for k, v in _defined(ast.Module(body=[node], type_ignores=[])).items()), None)
        if name is None:
            continue  # a bare expression or a docstring of the fragment: not the module's
        if name in existing:
            first, end = _span(existing[name])
            replacements[first], spans[first] = _source(parts, node), end
            replaced.append(name)
        else:
            appended.append(_source(parts, node))
            added.append(name)
    out: list[str] = []
    skip_to = -1
    last_import = max(
        (_span(n)[1] for n in before.body if isinstance(n, (ast.Import, ast.ImportFrom))),
        default=_docstring_end(before),
    )
    for number, line in enumerate(lines):
        if number < skip_to:
            continue
        if number in replacements:
            out.extend(replacements[number])
            skip_to = spans[number]
            continue
        out.append(line)
        if number + 1 == last_import and imports:
            out.extend(imports)
            imports = []
    if imports:  # a module with neither imports nor a docstring: they go first
        out = imports + ([""] if out else []) + out
    for block in appended:
        while out and not out[-1].strip():
            out.pop()
        out.extend(["", "", *block])
    touched = set(replaced) | set(added)
    kept = len(_definitions(before) - touched)
    return Merged("\n".join(out) + "\n", tuple(replaced), tuple(added), kept)


def _docstring_end(tree: ast.Module) -> int:
    first = tree.body[0] if tree.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first.end_lineno or first.lineno
    return 0
