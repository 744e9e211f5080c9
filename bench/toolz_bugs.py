"""Build the held-out toolz suite of `gt eval`: six one-line bugs in a real library.

    python bench/toolz_bugs.py DIR [--sdist toolz-1.2.0.tar.gz]

toolz 1.2.0 (BSD) from its PyPI source distribution (`pip download --no-deps
--no-binary :all: toolz==1.2.0`, run here when --sdist is not given), its own pytest suite
and six bugs put in at once. Each bead is the bug report a user would write: what a call
gives, what it should give, the function and the file, its tests. The library's own tests
of that function judge it; the untouched library is every bead's solution.

The suite is built outside the repository on purpose: it is work gastown was never tuned
on. docs/eval.md has its runs. Check it is fair before a run:

    gt eval --suite DIR --check
    gt eval --suite DIR --models qwen2.5-coder-1.5b --role polecat --timeout 300 --keep -v --json
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

VERSION = "1.2.0"
SDIST = f"toolz-{VERSION}.tar.gz"
PACKAGING = {"PKG-INFO", "setup.cfg", "toolz.egg-info"}

# (file, the original text, the text with the bug): each original occurs exactly once.
BUGS = {
    "unique-key": ("toolz/itertoolz.py", "                seen_add(val)\n", "                seen_add(item)\n"),
    "tail": ("toolz/itertoolz.py", "        return seq[-n:]\n", "        return seq[n:]\n"),
    "thread-last": ("toolz/functoolz.py", "            args = args + (val,)\n", "            args = (val,) + args\n"),
    "get-in-default": (
        "toolz/dicttoolz.py",
        "    except (KeyError, IndexError, TypeError):\n",
        "    except (KeyError, IndexError):\n",
    ),
    "dissoc-many": ("toolz/dicttoolz.py", "        remaining.difference_update(keys)\n", ""),
    "update-in-default": ("toolz/dicttoolz.py", "        inner[k] = func(default)\n", "        inner[k] = default\n"),
}

HEADER = f"""\
# Held-out bug fixes in a real library: toolz {VERSION} (BSD), built by bench/toolz_bugs.py.
# Six one-line bugs, all in at once; each bead is a user's bug report, judged by the
# library's own tests of that function. overlays/solution is the untouched library.

[suite]
name = "toolz-bugs"
description = "toolz, a real functional-utilities library, with six one-line bugs: each bead fixes one, judged by the library's own tests"
bead_timeout = 600
"""

# the rig of both toolz suites (this one and bench/toolz_new.py's)
RIG = """
[rig]
name = "toolz"
language = "python"
description = "toolz: functional utilities for iterators, functions and dictionaries"
test_command = ["{python}", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:anyio"]
test_timeout = 120
test_paths = ["toolz/tests/**", "toolz/*/tests/**"]
docs = ["README.rst"]
allowed_commands = [["python", "-m", "pytest"], ["{python}", "-m", "pytest"], ["ls"], ["cat"]]
shell_timeout = 60
"""

# key: (title, report, acceptance tests)
BEADS = {
    "unique-key": (
        "unique(seq, key=...) keeps items whose key was already seen",
        """`toolz.itertoolz.unique` with a `key` function gives the wrong items:
`tuple(unique(['cat', 'mouse', 'dog', 'hen'], key=len))` gives
`('cat', 'mouse', 'dog', 'hen')` but should give `('cat', 'mouse')`: an item whose key was
already seen must be skipped. Without `key` it works. The function is in
toolz/itertoolz.py; its test is `test_unique` in toolz/tests/test_itertoolz.py.""",
        ["toolz/tests/test_itertoolz.py::test_unique"],
    ),
    "tail": (
        "tail(n, seq) drops the first n items instead of keeping the last n",
        """`toolz.itertoolz.tail` should return the last `n` elements:
`tail(2, [10, 20, 30, 40, 50])` gives `[30, 40, 50]` but should give `[40, 50]`.
The function is in toolz/itertoolz.py; its test is `test_tail` in
toolz/tests/test_itertoolz.py.""",
        ["toolz/tests/test_itertoolz.py::test_tail"],
    ),
    "thread-last": (
        "thread_last passes the value as the first argument",
        """`toolz.functoolz.thread_last` should pass the value as the *last* argument of each
form: `thread_last(1, (pow, 2))` gives `1` (it computes `pow(1, 2)`) but should give `2`
(`pow(2, 1)`), and with `inc = lambda x: x + 1`, `list(thread_last([1, 2, 3], (map, inc)))`
raises `TypeError: 'function' object is not iterable` where it should give `[2, 3, 4]`.
The function is in toolz/functoolz.py; its test is `test_thread_last` in
toolz/tests/test_functoolz.py.""",
        ["toolz/tests/test_functoolz.py::test_thread_last"],
    ),
    "get-in-default": (
        "get_in raises TypeError instead of returning the default",
        """`toolz.dicttoolz.get_in` should return `default` when the path cannot be followed:
`get_in(['a', 'b', 'c'], {'a': {'b': 7}}, default=-1)` raises
`TypeError: 'int' object is not subscriptable` but should give `-1`. With
`no_default=True` it should still raise. The function is in toolz/dicttoolz.py; its tests
are `test_get_in_returns_default_for_a_missing_path` and
`test_get_in_raises_when_no_default_is_set` in toolz/tests/test_dicttoolz.py.""",
        [
            "toolz/tests/test_dicttoolz.py::test_get_in_returns_default_for_a_missing_path",
            "toolz/tests/test_dicttoolz.py::test_get_in_raises_when_no_default_is_set",
        ],
    ),
    "dissoc-many": (
        "dissoc removes nothing when given many of the dict's keys",
        """`toolz.dicttoolz.dissoc` keeps the keys it was asked to remove when they are many
for the dict's size (about 60 % of its keys or more): `dissoc({'a': 1, 'b': 2}, 'a', 'b')`
gives `{'a': 1, 'b': 2}` but should give `{}`, and `dissoc({'a': 1}, 'a')` gives `{'a': 1}`,
while `dissoc({str(i): i for i in range(10)}, '1')` works. The function is in
toolz/dicttoolz.py; its tests are `test_dissoc_agrees_on_both_sides_of_its_size_heuristic`
and `TestDict.test_dissoc` in toolz/tests/test_dicttoolz.py.""",
        [
            "toolz/tests/test_dicttoolz.py::test_dissoc_agrees_on_both_sides_of_its_size_heuristic",
            "toolz/tests/test_dicttoolz.py::TestDict::test_dissoc",
        ],
    ),
    "update-in-default": (
        "update_in stores the default without applying func",
        """`toolz.dicttoolz.update_in` on a missing key should store `func(default)`:
`update_in({}, ['z'], str, None)` gives `{'z': None}` but should give `{'z': 'None'}`, and
`update_in({}, ['z'], inc, 0)` gives `{'z': 0}` instead of `{'z': 1}`. The function is in
toolz/dicttoolz.py; its test is `TestDict.test_update_in` in toolz/tests/test_dicttoolz.py.""",
        ["toolz/tests/test_dicttoolz.py::TestDict::test_update_in"],
    ),
}


def main() -> int:
    args = arguments(__doc__)
    if args is None:
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        built, project = unpack(args.sdist, Path(tmp))
        wrong = put_in(project, BUGS, f"toolz {VERSION}")
        if wrong:
            print(wrong, file=sys.stderr)
            return 1
        (built / "suite.toml").write_text(HEADER + RIG + "".join(_bead(key) for key in BEADS))
        shutil.move(built, args.dir)  # whole or not at all
    print(f"built {args.dir}: {len(BEADS)} beads; check it with: gt eval --suite {args.dir} --check")
    return 0


def pytest_rig(name: str, description: str, docs: str) -> str:
    """The ``[rig]`` table of a suite.toml for a library whose pytest tests are under tests/."""
    return f"""
[rig]
name = "{name}"
language = "python"
description = "{description}"
test_command = ["{{python}}", "-m", "pytest", "-q", "-p", "no:cacheprovider"]
test_timeout = 120
test_paths = ["tests/**"]
docs = ["{docs}"]
allowed_commands = [["python", "-m", "pytest"], ["{{python}}", "-m", "pytest"], ["ls"], ["cat"]]
shell_timeout = 60
"""


def put_in(project: Path, bugs: Mapping[str, tuple[str, str, str]], release: str) -> str | None:
    """Each of ``bugs`` (file, the original text, the text with the bug) put into ``project``;
    what is wrong when an original is not in its file exactly once (another ``release``)."""
    for key, (path, good, bad) in bugs.items():
        target = project / path
        text = target.read_text()
        if text.count(good) != 1:
            return f"{key}: {path} does not hold its line exactly once; is this {release}?"
        target.write_text(text.replace(good, bad))
    return None


def bug_suite(
    args: argparse.Namespace,
    library: str,
    version: str,
    package: str,
    bugs: Mapping[str, tuple[str, str, str]],
    beads: Mapping[str, tuple[str, str, list[str]]],
    head: str,
    packaging: Sequence[str] = ("PKG-INFO", "*.egg-info"),
) -> int:
    """A suite of bug fixes in ``library`` ``version`` built at ``args.dir``: its sdist
    (``args.sdist``, else downloaded) as the project, less packaging output, with ``bugs``
    put in; its ``package`` folder untouched as the solution; a suite.toml of ``head`` (its
    comment, ``[suite]`` and ``[rig]``) and a bug-fix bead for each of ``beads``."""
    name = f"{library}-{version}"
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        extract(args.sdist or download(f"{library}=={version}", scratch, f"{name}.tar.gz"), scratch)
        source = scratch / name
        if not source.is_dir():
            print(f"{args.sdist} holds no {name}/; give {name}.tar.gz", file=sys.stderr)
            return 2
        built = scratch / "suite"
        left_out = shutil.ignore_patterns(*packaging)  # the library as its repository holds it
        shutil.copytree(source / package, built / "overlays" / "solution" / package, ignore=left_out)
        shutil.copytree(source, built / "project", ignore=left_out)
        wrong = put_in(built / "project", bugs, f"{library} {version}")
        if wrong:
            print(wrong, file=sys.stderr)
            return 1
        (built / "suite.toml").write_text(head + "".join(bead_toml(key, *bead) for key, bead in beads.items()))
        shutil.move(built, args.dir)  # whole or not at all
    print(f"built {args.dir}: {len(bugs)} beads; check it with: gt eval --suite {args.dir} --check")
    return 0


def arguments(doc: str | None, sdist_name: str = SDIST) -> argparse.Namespace | None:
    """The command line (``dir``, ``--sdist``) of a script whose docstring is ``doc`` and whose
    library comes as ``sdist_name``; None, once what is wrong with it is printed, when it
    cannot be used."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("dir", type=Path, help="where to build the suite (must not exist)")
    parser.add_argument("--sdist", type=Path, help=f"{sdist_name} (downloaded with pip when not given)")
    args = parser.parse_args()
    refused = refusal(args.dir, args.sdist, sdist_name)
    if refused:
        print(refused, file=sys.stderr)
        return None
    return args


def refusal(folder: Path, sdist: Path | None, sdist_name: str = SDIST) -> str | None:
    """What is wrong with the command line's folder and source distribution, if anything."""
    if folder.exists():
        return f"{folder} exists; give a new folder"
    if sdist is not None and not sdist.is_file():
        what = "a folder, not a file" if sdist.is_dir() else "no such file"
        return f"{sdist}: {what}; give {sdist_name}, or leave out --sdist to download it"
    if sdist is not None and not tarfile.is_tarfile(sdist):
        return f"{sdist}: not a source distribution (a .tar.gz); give {sdist_name}"
    return None


def unpack(sdist: Path | None, tmp: Path) -> tuple[Path, Path]:
    """toolz from ``sdist`` (downloaded when None) unpacked in ``tmp`` as a suite's folder
    begins: ``(suite folder, its project)``, the untouched package also in
    ``overlays/solution``."""
    extract(sdist or download(f"toolz=={VERSION}", tmp, SDIST), tmp)
    source = tmp / f"toolz-{VERSION}"
    # its test_parallel starts a multiprocessing pool in every run of the suite, and no bead is about it
    shutil.rmtree(source / "toolz" / "sandbox" / "tests")
    built = tmp / "suite"
    shutil.copytree(source / "toolz", built / "overlays" / "solution" / "toolz")
    project = built / "project"
    project.mkdir(parents=True)  # the library as its repository holds it, less packaging output
    for item in source.iterdir():
        if item.name in PACKAGING:
            continue
        copy = shutil.copytree if item.is_dir() else shutil.copy2
        copy(item, project / item.name)
    return built, project


def extract(sdist: Path, into: Path) -> None:
    """A source distribution unpacked into ``into``."""
    with tarfile.open(sdist) as archive:
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4 on: no member lands outside ``into``
            archive.extractall(into, filter="data")
        else:
            archive.extractall(into)  # a pinned release from the package index


def download(spec: str, into: Path, name: str) -> Path:
    """The source distribution ``spec`` (``toolz==1.2.0``) fetched with pip into ``into``, as ``name``."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            spec,
            "-d",
            str(into),
        ],
        check=True,
    )
    return into / name


def _bead(key: str) -> str:
    return bead_toml(key, *BEADS[key])


def bead_toml(key: str, title: str, report: str, tests: list[str]) -> str:
    """A bug-fix bead of a suite.toml: the report a user would write, judged by ``tests``
    against overlays/solution."""
    listed = ", ".join(f'"{t}"' for t in tests)
    return f'''
[[beads]]
key = "{key}"
kind = "bug-fix"
role = "polecat"
issue_type = "bug"
title = "{title}"
description = """
{report}
"""
acceptance_tests = [{listed}]
judge = {{ solution = "overlays/solution" }}
'''


if __name__ == "__main__":
    sys.exit(main())
