"""Build the held-out toolz suite of new functions for `gt eval`: six functions taken out of a real library.

    python bench/toolz_new.py DIR [--sdist toolz-1.2.0.tar.gz]

toolz 1.2.0 (BSD), as bench/toolz_bugs.py unpacks it, with six functions taken out of
their modules (the ``def``, its name in the module's ``__all__`` and in ``toolz.curried``).
Each bead asks for one of them back the way a user asks for a new function: its signature
in backticks, what it does, an example, where its tests are. The library's own tests of
that function judge it, moved into a test file of their own (``toolz/tests/test_NAME.py``)
so that one bead's missing function does not break another's test module; the untouched
library is every bead's solution.

Like the bug suite, it is built outside the repository: work gastown was never tuned on.

    gt eval --suite DIR --check
    gt eval --suite DIR --models qwen2.5-coder-1.5b --role polecat --timeout 300 --keep -v --json
"""

from __future__ import annotations

import ast
import re
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path

from toolz_bugs import RIG, VERSION, arguments, unpack

HEADER = f"""\
# Held-out new functions in a real library: toolz {VERSION} (BSD), built by bench/toolz_new.py.
# Six functions taken out at once; each bead asks for one back, judged by the library's
# own tests of it in a test file of their own. overlays/solution is the untouched library.

[suite]
name = "toolz-new"
description = "toolz, a real functional-utilities library, with six functions taken out: each bead adds one back, judged by the library's own tests"
bead_timeout = 600
"""

# key: (module, its tests' module, the tests of it there, the new test file's imports,
#       title, the bead's text less where its tests are)
FUNCTIONS = {
    "interpose": (
        "toolz/itertoolz.py",
        "toolz/tests/test_itertoolz.py",
        ("test_interpose", "test_interpose_empty"),
        "import itertools\n\nfrom toolz.itertoolz import first, interpose, rest\n",
        "Add interpose() to toolz.itertoolz",
        """Add `interpose(el, seq) -> Iterator` to toolz/itertoolz.py: a lazy iterator of the
items of seq with el between each two of them. `list(interpose("a", [1, 2, 3]))` is
`[1, "a", 2, "a", 3]` and an empty seq gives nothing. seq may be an endless iterator.""",
    ),
    "take-nth": (
        "toolz/itertoolz.py",
        "toolz/tests/test_itertoolz.py",
        ("test_take_nth",),
        "from toolz.itertoolz import take_nth\n",
        "Add take_nth() to toolz.itertoolz",
        """Add `take_nth(n: int, seq) -> Iterator` to toolz/itertoolz.py: every nth item of seq,
lazily, starting with the first. `list(take_nth(2, [10, 20, 30, 40, 50]))` is
`[10, 30, 50]`.""",
    ),
    "isdistinct": (
        "toolz/itertoolz.py",
        "toolz/tests/test_itertoolz.py",
        ("test_isdistinct",),
        "from toolz.itertoolz import isdistinct\n",
        "Add isdistinct() to toolz.itertoolz",
        """Add `isdistinct(seq) -> bool` to toolz/itertoolz.py: True when no value occurs twice
in seq, False otherwise. `isdistinct([1, 2, 3])` is True and `isdistinct("Hello")` is
False. seq may be a one-shot iterator.""",
    ),
    "sliding-window": (
        "toolz/itertoolz.py",
        "toolz/tests/test_itertoolz.py",
        ("test_sliding_window", "test_sliding_window_of_short_iterator"),
        "from toolz.itertoolz import sliding_window\n",
        "Add sliding_window() to toolz.itertoolz",
        """Add `sliding_window(n: int, seq) -> Iterator` to toolz/itertoolz.py: the overlapping
runs of n consecutive items of seq, each a tuple, in order.
`list(sliding_window(2, [1, 2, 3, 4]))` is `[(1, 2), (2, 3), (3, 4)]`; a seq shorter
than n gives none.""",
    ),
    "topk": (
        "toolz/itertoolz.py",
        "toolz/tests/test_itertoolz.py",
        ("test_topk", "test_topk_is_stable"),
        "from toolz.itertoolz import topk\n",
        "Add topk() to toolz.itertoolz",
        """Add `topk(k: int, seq, key=None) -> tuple` to toolz/itertoolz.py: the k largest items
of seq, largest first, as a tuple. `topk(2, [1, 100, 10, 1000])` is `(1000, 100)`. key
is what to compare by: a function of an item, or else an index or a dict key that
`getter(key)` (in the same module) turns into one. Items that compare equal keep their
order in seq.""",
    ),
    "complement": (
        "toolz/functoolz.py",
        "toolz/tests/test_functoolz.py",
        ("test_complement",),
        "from toolz.functoolz import complement\n\n\ndef iseven(x):\n    return x % 2 == 0\n\n\n"
        "def isodd(x):\n    return x % 2 == 1\n",
        "Add complement() to toolz.functoolz",
        """Add `complement(func) -> Callable` to toolz/functoolz.py: a function that calls func
with the arguments it is given and returns `not` of its result.
`complement(iseven)(1)` is True.""",
    ),
}
CURRIED = "toolz/curried/__init__.py"


def main() -> int:
    args = arguments(__doc__)
    if args is None:
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        built, project = unpack(args.sdist, Path(tmp))
        for key, (module, tests, test_names, imports, _, _) in FUNCTIONS.items():
            name = key.replace("-", "_")
            try:
                take_out(project, name, module, tests, test_names, imports)
            except ValueError as error:
                print(f"{key}: {error}; is this toolz {VERSION}?", file=sys.stderr)
                return 1
        (built / "suite.toml").write_text(HEADER + RIG + "".join(_bead(key) for key in FUNCTIONS))
        shutil.move(built, args.dir)  # whole or not at all
    print(f"built {args.dir}: {len(FUNCTIONS)} beads; check it with: gt eval --suite {args.dir} --check")
    return 0


def take_out(project: Path, name: str, module: str, tests: str, test_names: tuple[str, ...], imports: str) -> None:
    """Take function ``name`` out of ``module`` (its ``def``, its entry in ``__all__`` and in
    toolz.curried) and its tests out of ``tests`` into ``toolz/tests/test_NAME.py``."""
    path = project / module
    source = path.read_text()
    function = _top_level(source, name)
    source = _cut(source, function)
    path.write_text(_without_name(source, "__all__", name))
    curried = project / CURRIED
    kept = [
        line
        for line in curried.read_text().splitlines(keepends=True)
        if line.strip() not in (f"{name},", f"{name} = toolz.curry(toolz.{name})")
    ]
    curried.write_text("".join(kept))
    test_path = project / tests
    test_source = test_path.read_text()
    moved = []
    for test in test_names:
        node = _top_level(test_source, test)
        moved.append(ast.get_source_segment(test_source, node, padded=True))
        test_source = _cut(test_source, node)
    test_path.write_text(_without_import(test_source, module, name))
    body = "\n\n\n".join(textwrap.dedent(text or "").strip() for text in moved)
    (project / "toolz" / "tests" / f"test_{name}.py").write_text(f"{imports}\n\n{body}\n")


def _top_level(source: str, name: str) -> ast.FunctionDef:
    found = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == name]
    if len(found) != 1:
        raise ValueError(f"no one top-level function {name}")
    return found[0]


def _cut(source: str, node: ast.FunctionDef) -> str:
    """``source`` without ``node`` (decorators included) and the blank lines after it."""
    lines = source.splitlines(keepends=True)
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
    last = node.end_lineno or node.lineno
    while last < len(lines) and not lines[last].strip():
        last += 1
    return "".join(lines[:first] + lines[last:])


def _without_name(source: str, variable: str, name: str) -> str:
    """``source`` with ``name`` taken out of the tuple of names assigned to ``variable``."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [variable]:
            text = ast.get_source_segment(source, node) or ""
            changed = _drop(text, rf"""['"]{re.escape(name)}['"]""")
            if changed == text:
                break
            return source.replace(text, changed, 1)
    raise ValueError(f"{name} is not in {variable}")


def _without_import(source: str, module: str, name: str) -> str:
    """``source`` with ``name`` taken out of its ``from <module> import (...)``."""
    dotted = module.removesuffix(".py").replace("/", ".")
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom) and node.module == dotted and any(a.name == name for a in node.names):
            text = ast.get_source_segment(source, node) or ""
            changed = _drop(text, rf"\b{re.escape(name)}\b")
            return source.replace(text, changed, 1)
    raise ValueError(f"{name} is not imported from {dotted}")


def _drop(text: str, item: str) -> str:
    """``text`` without the first ``item`` (a pattern) of a comma-separated list, and its
    comma: the one after it, else (the last item) the one before it; lines stay as they are."""
    changed = re.sub(rf"{item},[ \t]*", "", text, count=1)
    if changed == text:
        changed = re.sub(rf",\s*{item}", "", text, count=1)
    return re.sub(r"[ \t]+\n", "\n", changed)


def _bead(key: str) -> str:
    _, _, _, _, title, text = FUNCTIONS[key]
    name = key.replace("-", "_")
    test_file = f"toolz/tests/test_{name}.py"
    return f'''
[[beads]]
key = "{key}"
kind = "new-function"
role = "polecat"
issue_type = "feature"
title = "{title}"
description = """
{text} The tests are in {test_file}.
"""
acceptance_tests = ["{test_file}"]
judge = {{ solution = "overlays/solution" }}
'''


if __name__ == "__main__":
    sys.exit(main())
