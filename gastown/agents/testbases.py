"""Where a test a class inherits is written: its base class, in the same file or another.

unittest suites of real libraries write a test once, in a mixin or base class, and run it
for each class under test: cachetools' ``tests/test_lru.py`` holds ``class
LRUCacheTest(unittest.TestCase, CacheTestMixin)`` and ``Cache = LRUCache``, while
``test_pop`` itself is in ``tests/__init__.py`` (``from . import CacheTestMixin``). Shown
only the file of the id ``tests/test_cache.py::CacheTest::test_pop``, the 1.5B never saw
what the test asserts. ``written_in`` follows the class's bases, through the file's
imports (relative or absolute) to the rig's files, to the class that defines the test.
Pure: the files are read through a function.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Collection, Iterable
from pathlib import PurePosixPath

from gastown.agents.excerpt import parse

MAX_CLASSES = 16  # classes looked in at most, for one test (a framework's tower of mixins)

Read = Callable[[str], "str | None"]
Trees = Callable[[str], "ast.Module | None"]


def written_in(test_ids: Iterable[str], read: Read, files: Collection[str]) -> list[str]:
    """For each id ``file::Class::test`` whose class inherits ``test``, the id where the test is
    written (``tests/__init__.py::CacheTestMixin::test_pop``), once each; a test its own
    class defines, or whose base is outside the rig, gives none."""
    parsed: dict[str, ast.Module | None] = {}

    def tree_of(path: str) -> ast.Module | None:
        if path not in parsed:
            parsed[path] = parse(read(path) or "")
        return parsed[path]

    found: list[str] = []
    for test_id in test_ids:
        parts = test_id.split("[")[0].split("::")
        if len(parts) != 3:
            continue
        path, owner, name = parts
        where = _defining(path, owner, name, tree_of, set(files), set())
        if where is not None and where != (path, owner):
            written = f"{where[0]}::{where[1]}::{name}"
            if written not in found:
                found.append(written)
    return found


def _defining(
    path: str, owner: str, name: str, tree_of: Trees, files: set[str], seen: set[tuple[str, str]]
) -> tuple[str, str] | None:
    """``(file, class)`` of the class that defines method ``name`` for class ``owner`` of
    ``path``: itself, or the first base that does, depth first and bases left to right (the
    order Python looks in along the usual single line of mixins). None past MAX_CLASSES, and
    for a class already ``seen``."""
    tree = tree_of(path)
    if tree is None or (path, owner) in seen or len(seen) >= MAX_CLASSES:
        return None
    seen.add((path, owner))
    node = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == owner), None)
    if node is None:
        return None
    if any(isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)) and m.name == name for m in node.body):
        return path, owner
    for base in node.bases:
        place = _class_of(base, path, tree, node, files)
        if place is not None:
            found = _defining(place[0], place[1], name, tree_of, files, seen)
            if found is not None:
                return found
    return None


def _class_of(
    base: ast.expr, path: str, tree: ast.Module, owner: ast.ClassDef, files: set[str]
) -> tuple[str, str] | None:
    """``(file, class name)`` a base class expression of class ``owner`` of ``path`` names,
    when it is the rig's: ``Mixin`` defined above it in the file or imported (``from .
    import Mixin``, ``from tests.base import Mixin as M``), or ``base.Mixin`` of an imported
    module. A class named like its base (``class TestCase(TestCase)``) has the imported one."""
    if isinstance(base, ast.Name):
        above = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.lineno < owner.lineno]
        if any(n.name == base.id for n in above):
            return path, base.id
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if (alias.asname or alias.name) == base.id:
                        module = _module_file(path, node.level, node.module, files)
                        return (module, alias.name) if module is not None else None
        return None
    if isinstance(base, ast.Attribute) and isinstance(base.value, ast.Name):
        module = _bound_module(base.value.id, path, tree, files)
        return (module, base.attr) if module is not None else None
    return None


def _bound_module(name: str, path: str, tree: ast.Module, files: set[str]) -> str | None:
    """The rig file of the module ``name`` is bound to (``import tests.base as name``, ``from
    . import name``)."""
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return _module_file(path, 0, alias.name, files)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    dotted = f"{node.module}.{alias.name}" if node.module else alias.name
                    return _module_file(path, node.level, dotted, files)
    return None


def _module_file(path: str, level: int, module: str | None, files: set[str]) -> str | None:
    """The rig file of an import from ``path`` (``level`` dots, then ``module``)."""
    if level:
        folder = PurePosixPath(path).parent
        for _ in range(level - 1):
            folder = folder.parent
        base = folder.joinpath(*module.split(".")) if module else folder
        candidates = [f"{base}.py", f"{base}/__init__.py"]
    elif module:
        base = PurePosixPath(*module.split("."))
        beside = PurePosixPath(path).parent / base  # pytest puts a test's own folder on sys.path
        candidates = [f"{base}.py", f"{base}/__init__.py", f"src/{base}.py", f"src/{base}/__init__.py"]
        candidates += [f"{beside}.py", f"{beside}/__init__.py"]
    else:
        return None
    return next((c.removeprefix("./") for c in candidates if c.removeprefix("./") in files), None)
