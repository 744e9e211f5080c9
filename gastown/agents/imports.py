"""Imports a model forgot or misplaced: standard-library names, and the project's own
from the modules beside it, that a Python file uses and never binds, and ``from
__future__`` imports that are not first.

A small model writes ``math.ceil(...)`` or ``Counter(words)`` and leaves out the import
more often than it gets the logic wrong; the tests then fail with a ``NameError`` that
costs it a whole try. Like an editor's quick fix, a write gets the one import that can
only be meant: a common standard-library module used as ``module.name`` (``math.ceil``;
not ``datetime``, whose ``datetime.now()`` means the class), or a
well-known name of ``typing``, ``collections``, ``dataclasses``, ``functools`` or
``itertools`` used bare, when nothing in the file binds that name; or a function or class
of the rig's own that exactly one other module of the same package defines
(``neighbours``): the 1.5B's ``summary()`` in textkit/cli.py called the ``reading_time``
it had just written in textkit/stats.py, never imported it, and the bead ended on that
``NameError``. Anything else (a name the file binds anywhere, a file with ``import *``, a
file that does not parse) is left alone.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Collection, Mapping
from pathlib import Path

# Names used bare that can only mean these (the module a name comes from, by name).
_FROM = {
    **{name: "typing" for name in ("Any", "Callable", "Dict", "Iterable", "Iterator", "List", "Optional")},
    **{name: "typing" for name in ("Sequence", "Set", "Tuple", "Union", "Mapping", "TypeVar")},
    **{name: "collections" for name in ("Counter", "OrderedDict", "defaultdict", "deque", "namedtuple")},
    "dataclass": "dataclasses",
    **{name: "functools" for name in ("lru_cache", "partial", "reduce", "wraps")},
    **{name: "itertools" for name in ("chain", "groupby", "islice", "zip_longest")},
}
_BUILTINS = frozenset(dir(builtins))
# Modules a name used as ``module.attr`` can only mean. Not every standard-library name:
# ``datetime.now()`` means the class (``from datetime import datetime``), and an unbound
# ``code`` or ``token`` is more likely a typo than ``import code`` (``this`` prints a poem).
_MODULES = frozenset(
    {
        *("bisect", "collections", "copy", "csv", "dataclasses", "decimal", "difflib", "enum"),
        *("fnmatch", "fractions", "functools", "glob", "hashlib", "heapq", "itertools", "json"),
        *("logging", "math", "operator", "os", "pathlib", "random", "re", "shutil", "statistics"),
        *("string", "struct", "subprocess", "sys", "textwrap", "time", "typing", "unicodedata", "uuid"),
    }
)


def missing(source: str, known: Mapping[str, str] | None = None) -> list[str]:
    """The import lines ``source`` needs and lacks (``import math``, ``from typing import List``,
    ``from .stats import reading_time`` for a name ``known`` maps to its module, see
    ``neighbours``), in a stable order; empty when it parses badly or needs none."""
    found = _unbound(source)
    if found is None:
        return []
    used_as_module, used_bare = found
    lines = [f"import {name}" for name in sorted(used_as_module) if name in _MODULES]
    wanted: dict[str, list[str]] = {}
    for name in sorted(used_bare):
        module = (known or {}).get(name) or _FROM.get(name)  # the project's own name first
        if module:
            wanted.setdefault(module, []).append(name)
    lines += [f"from {module} import {', '.join(names)}" for module, names in sorted(wanted.items())]
    return lines


def unbound(source: str) -> set[str]:
    """The names ``source`` uses bare and never binds, builtins aside: what an import could
    be missing for (none when it parses badly or has ``import *``)."""
    found = _unbound(source)
    return set() if found is None else found[1]


def _unbound(source: str) -> tuple[set[str], set[str]] | None:
    """Names ``source`` never binds: those used as ``name.attr`` (a module, perhaps), and
    those used bare (not builtins, not also used as ``name.attr``); None when it does not
    parse or star-imports (anything could come from there)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    bound: set[str] = set()
    used_as_module: set[str] = set()
    used_bare: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
            return None
        if isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            bound.update(node.names)
        elif isinstance(node, ast.MatchAs | ast.MatchStar) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.Name):
            if not isinstance(node.ctx, ast.Load):
                bound.add(node.id)
            else:
                used_bare.add(node.id)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            used_as_module.add(node.value.id)
    return used_as_module - bound, used_bare - bound - used_as_module - _BUILTINS


def future_first(source: str) -> str:
    """``source`` with its ``from __future__`` imports moved up to just after the docstring,
    where Python requires them (a model that adds ``import re`` at the very top of a module
    that starts with one writes a file that does not compile); as it was when they are
    already there, or it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return source
    body = tree.body
    docstring = bool(body) and _is_docstring(body[0])
    futures = [n for n in body if isinstance(n, ast.ImportFrom) and n.module == "__future__"]
    first = body[int(docstring) : int(docstring) + len(futures)]
    if not futures or first == futures:
        return source
    lines = _lines(source)
    spans = [range(n.lineno - 1, n.end_lineno or n.lineno) for n in futures]
    moved = [lines[i] if lines[i].endswith("\n") else lines[i] + "\n" for span in spans for i in span]
    kept = [line for i, line in enumerate(lines) if not any(i in span for span in spans)]
    after = (body[0].end_lineno or 0) if docstring else 0  # every future import is below it
    return "".join(kept[:after] + moved + kept[after:])


def module_names(relative: str) -> set[str]:
    """The names a file is imported by: ``textkit/slug.py`` is ``textkit.slug``, a package's
    ``__init__.py`` its package, and under ``src/`` without it."""
    parts = relative.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    names = {".".join(parts)} if parts else set()
    if len(parts) > 1 and parts[0] == "src":
        names.add(".".join(parts[1:]))
    return names


def without_self_import(source: str, relative: str) -> str:
    """``source`` without its top-level imports of itself (``from textkit.slug import
    slugify`` in textkit/slug.py: a small model copies the test's import line into the module,
    and the module then cannot be imported at all); as it was when there are none, for a
    package's ``__init__.py``, or when it does not parse."""
    if relative.endswith("__init__.py"):
        return source  # a package's ``from pkg import module`` imports its modules, not itself
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return source
    itself = module_names(relative)
    lines = _lines(source)
    spans = [
        range(node.lineno - 1, node.end_lineno or node.lineno)
        for node in tree.body
        if (
            (isinstance(node, ast.ImportFrom) and not node.level and node.module in itself)
            or (isinstance(node, ast.Import) and all(alias.name in itself for alias in node.names))
        )
        and _own_lines(node, lines)
    ]
    kept = "".join(line for i, line in enumerate(lines) if not any(i in span for span in spans))
    return kept if kept[:1] == source[:1] else kept.lstrip("\n")  # no blank lines left at the top


def _own_lines(node: ast.stmt, lines: list[str]) -> bool:
    """Whether ``node`` has its lines to itself (not ``x = 1; import m``)."""
    after = lines[(node.end_lineno or node.lineno) - 1].rstrip("\n")[node.end_col_offset :].strip()
    return node.col_offset == 0 and (not after or after.startswith("#"))  # a comment may follow it


def neighbours(root: Path, relative: str, wanted: Collection[str]) -> dict[str, str]:
    """Which module beside ``relative`` (in the worktree at ``root``) defines each of the
    ``wanted`` names at its top level, as a function or class, as an import would name it:
    ``.stats`` in a package (a folder with ``__init__.py``), ``stats`` at the root or under
    ``src/``; none elsewhere (the import's name would be a guess). Only a name exactly one
    module defines, never a private one (``_helper`` of another module is another helper),
    and never from a module that imports ``relative``'s (the import would be circular).
    Tests, links and ``__init__.py`` are left out."""
    folder = (root / relative).parent
    names = {name for name in wanted if not name.startswith("_")}
    package = (folder / "__init__.py").is_file()
    if not names or not (package or folder in (root, root / "src")):
        return {}
    own = Path(relative).stem
    found: dict[str, set[str]] = {}
    try:
        siblings = sorted(folder.glob("*.py"))
    except OSError:
        return {}
    pattern = re.compile(r"^(?:async\s+)?(?:def|class)\s+(" + "|".join(map(re.escape, sorted(names))) + r")\b", re.M)
    for path in siblings:
        if path.stem == own or path.name == "__init__.py" or _named_like_a_test(path.name):
            continue
        if path.is_symlink() or not path.is_file():
            continue
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        if not pattern.search(text):
            continue  # defines none of them: not worth parsing
        tree = _parse(text)
        if tree is None or _imports(tree, own, package):
            continue
        module = f".{path.stem}" if package else path.stem
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name in names:
                found.setdefault(node.name, set()).add(module)
    return {name: modules.pop() for name, modules in found.items() if len(modules) == 1}


def _named_like_a_test(name: str) -> bool:
    return name.startswith(("test_", "conftest")) or name.endswith("_test.py")


def _imports(tree: ast.Module, module: str, package: bool) -> bool:
    """Whether a module's ``tree`` imports its sibling ``module`` (by a relative import in a
    package, or by its name, last part or whole)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            named = node.module or ""
            if named.split(".")[-1] == module or (node.level and any(a.name == module for a in node.names)):
                return True
        elif isinstance(node, ast.Import) and any(a.name.split(".")[-1] == module for a in node.names):
            return True
    return False


def _parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None


def add_missing(source: str, known: Mapping[str, str] | None = None) -> tuple[str, list[str]]:
    """``source`` with the imports it lacks put after its docstring and leading imports
    (``insertion_line``), and those import lines (none: ``source`` as it was); ``known``
    maps the rig's own names to their modules (``neighbours``)."""
    lines = missing(source, known)
    if not lines:
        return source, []
    after = insertion_line(source)
    text = _lines(source)
    if text and not text[-1].endswith("\n"):
        text[-1] += "\n"
    block = [line + "\n" for line in lines]
    if after == 0 and text and text[0].strip():
        block.append("\n")  # keep the imports apart from the code they serve
    return "".join(text[:after] + block + text[after:]), lines


def insertion_line(source: str) -> int:
    """The line (1-based; 0 for the very top) imports go after: the module's docstring and
    the imports that follow it."""
    after = 0
    for n, node in enumerate(ast.parse(source).body):
        if (n == 0 and _is_docstring(node)) or isinstance(node, ast.Import | ast.ImportFrom):
            after = node.end_lineno or node.lineno
        else:
            break
    return after


def _lines(source: str) -> list[str]:
    """The lines of ``source`` with their ends, split only at ``\\n`` as ``ast`` counts them
    (``str.splitlines`` also splits at form feeds and other separators)."""
    parts = [line + "\n" for line in source.split("\n")]
    parts[-1] = parts[-1][:-1]
    return parts if parts[-1] else parts[:-1]


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
