"""The imports a model forgot: found from the code, put at the top, and nothing else touched."""

import subprocess
import sys

import pytest

from gastown.agents.imports import add_missing, future_first, missing, neighbours, unbound, without_self_import


@pytest.mark.parametrize(
    "source, expected",
    [
        ("def f(n):\n    return math.ceil(n / 2)\n", ["import math"]),
        ("def f(words):\n    return Counter(words).most_common(1)\n", ["from collections import Counter"]),
        (
            "def f(xs: List[int]) -> Optional[int]:\n    return re.sub('a', 'b', xs)\n",
            ["import re", "from typing import List, Optional"],
        ),
        # bound anywhere: a parameter, an assignment, an import under another name, a class
        ("def f(math):\n    return math.ceil(1)\n", []),
        ("import numpy as re\nre.sub(1)\n", []),
        ("class Counter:\n    pass\nCounter()\n", []),
        ("for string in 'ab':\n    string.upper()\n", []),
        # not the standard library, a star import, a file that does not parse
        ("def f():\n    return numpy.zeros(3)\n", []),
        # a module name that would not be meant: datetime.now() wants the class; this.x is a typo
        ("def f():\n    return datetime.now()\n", []),
        ("def f(y):\n    this.x = y\n", []),
        ("from os.path import *\njoin(1)\nmath.ceil(1)\n", []),
        ("def f(:\n    math.ceil(1)\n", []),
    ],
)
def test_only_standard_library_names_used_and_never_bound_are_missing(source, expected):
    assert missing(source) == expected


def test_the_imports_go_after_the_docstring_and_the_imports_already_there():
    source = '"""Reading time."""\n\nimport re\n\n\ndef minutes(text):\n    return math.ceil(len(re.findall("\\\\w+", text)) / 200)\n'
    fixed, lines = add_missing(source)
    assert lines == ["import math"]
    assert fixed.startswith('"""Reading time."""\n\nimport re\nimport math\n\n\ndef minutes')
    run = subprocess.run(
        [sys.executable, "-c", fixed + "\nprint(minutes('one two ' * 300))"], capture_output=True, text=True
    )
    assert run.stdout.strip() == "3", run.stderr
    assert add_missing(fixed) == (fixed, [])  # nothing more to add


def test_a_file_with_no_imports_gets_them_at_the_top_apart_from_the_code():
    fixed, _ = add_missing("def f(n):\n    return math.floor(n)")
    assert fixed == "import math\n\ndef f(n):\n    return math.floor(n)\n"


def test_future_imports_move_above_an_import_a_model_put_before_them():
    source = '"""Wrap."""\nimport re\n\nfrom __future__ import annotations\n\nWORDS: list[str] = re.findall("a", "a")\n'
    fixed = future_first(source)
    assert fixed == (
        '"""Wrap."""\nfrom __future__ import annotations\nimport re\n\n\nWORDS: list[str] = re.findall("a", "a")\n'
    )
    compile(fixed, "wrap.py", "exec")
    assert future_first(fixed) == fixed  # already first: as it was


def test_a_module_that_imports_itself_loses_that_import_and_nothing_else():
    """The 1.5B began textkit/slug.py with the test's own import line; the module then could
    not be imported, and every test of the bead errored."""
    source = "from textkit.slug import slugify, SlugError\nimport unicodedata\n\n\ndef slugify(t):\n    return t\n"
    assert without_self_import(source, "textkit/slug.py") == "import unicodedata\n\n\ndef slugify(t):\n    return t\n"
    assert without_self_import("from textkit.slug import a\n\nB = 1\n", "textkit/slug.py") == "B = 1\n"
    wrapped = "from humanize.number import (\n    ordinal,\n)\nX = 1\n"
    assert without_self_import(wrapped, "src/humanize/number.py") == "X = 1\n"  # a src layout's name
    assert without_self_import("from textkit.slug import a  # noqa: F401\nB = 1\n", "textkit/slug.py") == "B = 1\n"
    for kept in ("from textkit.case import words\n", "from . import case\n", "x = 1; import textkit.slug\n"):
        assert without_self_import(kept, "textkit/slug.py") == kept
    package = "from textkit import case, slug\n"  # a package importing its modules
    assert without_self_import(package, "textkit/__init__.py") == package


def test_a_function_of_a_module_beside_it_gets_its_import_when_only_that_module_defines_it(tmp_path):
    """The 1.5B's summary() in textkit/cli.py called the reading_time it had just written in
    textkit/stats.py and never imported it: the bead ended on that NameError."""
    package = tmp_path / "lib" / "textkit"  # a package below the root: imported relatively
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("def version():\n    return 1\n")
    (package / "stats.py").write_text("def reading_time(text):\n    return 1\n\n\ndef words(text):\n    return 2\n")
    (package / "case.py").write_text("def words(text):\n    return 3\n\n\nclass Title:\n    pass\n")
    (package / "test_cli.py").write_text("def helper():\n    return 4\n")  # a test beside it: not the rig's code
    (package / "shout_test.py").write_text("def loud():\n    return 4\n")
    (package / "report.py").write_text("from .cli import summary\n\n\ndef overview(text):\n    return 6\n")  # a cycle
    (package / "more.py").write_text("def _private(text):\n    return 7\n")
    (package / "alias.py").symlink_to(package / "more.py")
    (tmp_path / "elsewhere.py").write_text("def summary_line(text):\n    return 5\n")  # another folder
    cli = (
        '"""The command line."""\n\nimport sys\n\n\ndef summary(text):\n'
        "    return [reading_time(text), words(text), Title(), helper(), loud(), overview(text), _private(text),"
        " summary_line(text), len(text), open]\n"
    )
    wanted = unbound(cli)
    assert "len" not in wanted and "open" not in wanted and "reading_time" in wanted  # builtins are bound
    known = neighbours(tmp_path, "lib/textkit/cli.py", wanted)
    # words: two modules define it; overview: report.py imports cli (circular); _private: private
    assert known == {"reading_time": ".stats", "Title": ".case"}
    fixed, lines = add_missing(cli, known)
    assert lines == ["from .case import Title", "from .stats import reading_time"]
    assert fixed.startswith('"""The command line."""\n\nimport sys\nfrom .case import Title\n')
    assert missing("def reading_time(t):\n    return 0\nreading_time(1)\n", known) == []  # its own
    assert neighbours(tmp_path, "lib/textkit/cli.py", set()) == {}  # nothing wanted: nothing read
    (tmp_path / "lib" / "tools").mkdir()
    (tmp_path / "lib" / "tools" / "stats.py").write_text("def reading_time(text):\n    return 1\n")
    assert neighbours(tmp_path, "lib/tools/cli.py", wanted) == {}  # no package, not the root: a guess


def test_the_projects_own_name_wins_over_a_standard_librarys():
    assert missing("def f(xs):\n    return chain(xs)\n", {"chain": ".links"}) == ["from .links import chain"]
    assert missing("def f(xs):\n    return chain(xs)\n") == ["from itertools import chain"]
