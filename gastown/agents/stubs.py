"""Placeholders a model left itself: functions whose body is only ``pass``, ``...`` or a
``raise NotImplementedError`` (or nothing but a docstring and a comment) and that the code
calls or the tests import — a helper it meant to write later (``def _get_number_name(n):
pass  # implement the logic``), or the function the bead asks for left empty — which the
done check names.
Pure: text in, text out.
"""

from __future__ import annotations

import ast
from collections.abc import Collection

from gastown.agents.excerpt import parse
from gastown.agents.merge import is_stub

_MEANT_EMPTY = frozenset(
    {"abstractmethod", "abstractproperty", "abstractclassmethod", "abstractstaticmethod", "overload", "singledispatch"}
    | {"ABC", "ABCMeta", "Protocol"}
)  # decorators and bases of a body nothing is meant to run


def placeholders(text: str, imported: Collection[str] = ()) -> set[str]:
    """The functions and methods (``Class.method``) of a module's text that something in it
    calls, or top-level functions the tests import (``imported``), whose body is only a
    placeholder (``merge.is_stub``): a helper the model meant to write later, or the
    function the bead asks for answered with its docstring and ``# Your code here``. Not
    those meant to be empty (abstract, ``@overload``, of an ABC or a Protocol); none when
    the text does not parse."""
    tree = parse(text)
    if tree is None:
        return set()
    called = {
        part.func.attr if isinstance(part.func, ast.Attribute) else getattr(part.func, "id", "")
        for part in ast.walk(tree)
        if isinstance(part, ast.Call)
    }
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            if _named([*node.bases, *(k.value for k in node.keywords)]) & _MEANT_EMPTY:
                continue
            found |= {
                f"{node.name}.{m.name}"
                for m in node.body
                if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
                and m.name in called
                and is_stub(m)
                and not _named(m.decorator_list) & _MEANT_EMPTY
            }
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in called | set(imported):
            if is_stub(node) and not _named(node.decorator_list) & _MEANT_EMPTY:
                found.add(node.name)
    return found


def functions(text: str) -> set[str]:
    """The functions and methods (``Class.method``) a module's text defines (none when it does not parse)."""
    tree = parse(text)
    found: set[str] = set()
    for node in [] if tree is None else tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.add(node.name)
        elif isinstance(node, ast.ClassDef):
            methods = [m for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))]
            found |= {f"{node.name}.{m.name}" for m in methods}
    return found


def _named(nodes: list[ast.expr]) -> set[str]:
    """The last names of decorators or bases (``abc.abstractmethod`` -> abstractmethod,
    ``Protocol[T]`` -> Protocol)."""
    found: set[str] = set()
    for node in nodes:
        target = node.func if isinstance(node, ast.Call) else node
        target = target.value if isinstance(target, ast.Subscript) else target
        if isinstance(target, ast.Attribute):
            found.add(target.attr)
        elif isinstance(target, ast.Name):
            found.add(target.id)
    return found
