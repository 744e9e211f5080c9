"""A bead's done check: its acceptance tests, and no regressions.

A bead is done when its acceptance tests pass and the tests that passed before it
started still pass — not when the whole suite is green, because sibling beads' tests
(for code nobody has written yet) fail in the same rig. The acceptance tests come from
the bead (``acceptance_tests``); a bead pushed without them gets the test files its
text names, or the ``test_<name>.py`` files of the modules and functions it names.

Scoping needs a runner that takes test ids: for pytest the tests are passed as
arguments and each test's outcome is read from ``-rA``'s summary. Other runners (GUT
for Godot) run whole, as the rig's command says, and their exit code decides.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gastown.agents.commands import Run, count_tests
from gastown.agents.testoutput import shown
from gastown.agents.tools import Sandbox
from gastown.town import secrets as secretsmod
from gastown.town.secrets import Secrets

_OUTCOME_RE = re.compile(r"^(PASSED|FAILED|ERROR|XFAIL|XPASS|SKIPPED) (.+?)(?: - .*)?$", re.MULTILINE)
_PATH_RE = re.compile(r"[\w./-]+\.(?:py|gd)(?:::[\w\[\]\-.,]+)*")
# names written as code: a.b.c, f(), `name` — plain prose words would pick unrelated test files
CODE_NAME_RE = re.compile(r"`([A-Za-z_][\w.]*)`|\b([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)\b|\b([A-Za-z_]\w*)\(")


def is_pytest(command: Sequence[str]) -> bool:
    """Whether the rig's test command is pytest (so tests can be named on its command line)."""
    return any(part == "pytest" or part.endswith(("/pytest", "py.test")) for part in command)


def named_test_files(texts: Iterable[str], is_test_path: Callable[[str], bool]) -> tuple[str, ...]:
    """Test files a bead's text names, whether or not they exist yet (what a Refinery writes)."""
    named: list[str] = []
    for text in texts:
        for match in _PATH_RE.findall(text):
            path = (match.strip("./") if match.startswith("./") else match).split("::")[0]
            if is_test_path(path) and path not in named:
                named.append(path)
    return tuple(named)


def find_tests(
    texts: Iterable[str],
    files: Sequence[str],
    is_test_path: Callable[[str], bool],
) -> tuple[str, ...]:
    """Test files (or ids) named by a bead's text, else ``test_<word>.py`` of words it names."""
    tracked = set(files)
    named: list[str] = []
    words: list[str] = []
    for text in texts:
        for match in _PATH_RE.findall(text):
            path = match.strip("./") if match.startswith("./") else match
            if path.split("::")[0] in tracked and is_test_path(path.split("::")[0]) and path not in named:
                named.append(path)
        for groups in CODE_NAME_RE.findall(text):
            name = next(g for g in groups if g)
            words += [part.lower() for part in name.split(".") if len(part) > 2]
    if named:
        return tuple(named)
    by_name: dict[str, list[str]] = {}
    for path in files:
        if is_test_path(path):
            stem = Path(path).stem
            key = stem.removeprefix("test_").removesuffix("_test")
            if key != stem:
                by_name.setdefault(key.lower(), []).append(path)
    found: list[str] = []
    for word in words:
        for path in by_name.get(word, ()):
            if path not in found:
                found.append(path)
    return tuple(found)


def named_files(texts: Iterable[str], files: Sequence[str], is_test_path: Callable[[str], bool]) -> list[str]:
    """Rig files (not tests) a bead's text names: paths, or modules written as ``a.b`` / ``a.b.c``."""
    tracked = set(files)
    found: list[str] = []
    for text in texts:
        for match in _PATH_RE.findall(text):
            path = match.split("::")[0].removeprefix("./")
            if path in tracked and not is_test_path(path) and path not in found:
                found.append(path)
        for groups in CODE_NAME_RE.findall(text):
            parts = next(g for g in groups if g).split(".")
            for end in range(len(parts), 1, -1):  # textkit.stats.reading_time -> textkit/stats.py
                base = "/".join(parts[:end])
                hit = next((c for c in (f"{base}.py", f"{base}/__init__.py") if c in tracked), None)
                if hit is not None:
                    if not is_test_path(hit) and hit not in found:
                        found.append(hit)
                    break
    return found


def imported_files(source: str, files: Sequence[str]) -> list[str]:
    """Files of the rig that a Python test imports (``a.b`` -> ``a/b.py`` or ``a/b/__init__.py``)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    modules: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.append(node.module)
            modules += [f"{node.module}.{alias.name}" for alias in node.names]
    tracked = set(files)
    found: list[str] = []
    for module in modules:
        base = module.replace(".", "/")
        for candidate in (f"{base}.py", f"{base}/__init__.py", f"src/{base}.py", f"src/{base}/__init__.py"):
            if candidate in tracked and candidate not in found:
                found.append(candidate)
    return found


def missing_modules(source: str, files: Sequence[str]) -> list[str]:
    """``from a.b import c`` in a test where neither ``a/b.py`` nor ``a/b/`` exists: to be written."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    folders = {str(Path(p).parent) for p in files}
    tracked = set(files)
    missing: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            base = node.module.replace(".", "/")
            package = str(Path(base).parent)
            if package == "." or package not in folders:
                continue  # the standard library or a third-party import, not a module of the rig's
            if f"{base}.py" not in tracked and base not in folders and f"{base}.py" not in missing:
                missing.append(f"{base}.py")
    return missing


def imported_from(source: str, paths: Collection[str]) -> list[tuple[str, str]]:
    """``(file, name)`` for each ``from a.b import name`` in a test where ``a/b.py`` (or
    ``src/a/b.py``) is one of ``paths``."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    found: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            path = _module_path(node.module, paths)
            found += [(path, a.name) for a in node.names if path and a.name != "*" and (path, a.name) not in found]
    return found


def defined_names(source: str) -> set[str] | None:
    """Names a module defines at its top level (functions, classes, assignments, imports); None
    when it does not parse, or imports ``*`` (its names come from elsewhere: say nothing).

    A name defined in any branch of a top-level ``if``, ``try`` or ``with`` counts
    (``try: import x`` / ``except ImportError: x = None``, toolz's ``if PYPY:``): a name is
    missing only when no branch defines it. Saying nothing about every such module left a
    new function of toolz's functoolz.py unnamed, and its reply unbegun."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    return _defined_in(tree.body)


def _defined_in(body: Sequence[ast.stmt]) -> set[str] | None:
    names: set[str] = set()
    for node in body:
        branches: list[Sequence[ast.stmt]] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(a.name == "*" for a in node.names):
                return None
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.If):
            branches = [node.body, node.orelse]
        elif isinstance(node, (ast.Try, ast.TryStar)):
            branches = [node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody]
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            branches = [node.body]
        for branch in branches:
            inner = _defined_in(branch)
            if inner is None:
                return None
            names |= inner
    return names


def called_unchanged(
    source: str, failing: Collection[str], named: Collection[str], files: Sequence[str], changed: Collection[str]
) -> list[tuple[str, str, str]]:
    """``(test, file, name)``: a failing test of this test file (``failing``, its test
    names) calls ``name``, which the test imports from the rig's ``file``, which the bead's
    text names as code (``named``), and which no change of the bead touched (``changed``):
    the other half of a change across two files ("add reading_time to stats.py and make
    summary() in cli.py show it": the 1.5B wrote the first, nine tests of ten passed, and
    it never touched cli.py in nine runs)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    tracked = set(files)
    imported: dict[str, str] = {}  # a name the test uses -> the rig file it comes from
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            path = _module_path(node.module, tracked)
            if path is not None and path not in changed:
                imported |= {alias.asname or alias.name: path for alias in node.names if alias.name in named}
    found: list[tuple[str, str, str]] = []
    tests = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name in failing]
    for test in tests:
        calls = {n.func.id for n in ast.walk(test) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        found += [(test.name, imported[name], name) for name in sorted(calls & imported.keys())]
    return found


def only_imports(source: str) -> bool:
    """Whether a module defines no function or class of its own (a package's ``__init__.py``
    that gathers names from its modules): code for a bead is seldom written there."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    return not any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for n in ast.walk(tree))


def missing_names(source: str, read: Callable[[str], str | None], files: Sequence[str]) -> list[tuple[str, str]]:
    """``(file, name)`` for each ``from a.b import name`` in a test where the rig's ``a/b.py``
    exists and defines no ``name``: a function (or class) the bead must add to that module."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    tracked = set(files)
    found: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ImportFrom) and node.module and not node.level):
            continue
        path = _module_path(node.module, tracked)
        text = read(path) if path else None
        names = defined_names(text) if text is not None else None
        if path is None or names is None or "__getattr__" in names:
            continue
        for alias in node.names:
            if alias.name != "*" and alias.name not in names and (path, alias.name) not in found:
                found.append((path, alias.name))
    return found


@dataclass(frozen=True)
class TestRun:
    """One run of the bead's tests: the command's result and what each test did."""

    run: Run
    counts: dict[str, int]
    outcomes: dict[str, str]
    shown: str  # what the model is shown

    @property
    def passed(self) -> bool:
        """Exit 0, and at least one test passed (all skipped or none collected is not a pass)."""
        counted = any(self.counts.values())  # a runner that prints no counts is judged by its exit code
        ran = self.counts.get("passed", 0) > 0 or not counted
        return self.run.exit_code == 0 and not self.run.timed_out and ran

    def summary(self) -> str:
        if self.run.timed_out:
            return "timed out"
        words = ", ".join(f"{v} {k}" for k, v in self.counts.items() if v)
        return words or f"exit {self.run.exit_code}"


@dataclass
class Checks:
    """The acceptance tests of one bead in one worktree, and the tests it must not break."""

    sandbox: Sandbox
    acceptance: tuple[str, ...]
    secrets: Secrets = secretsmod.NONE
    kept: tuple[str, ...] = ()  # tests that passed before the bead started
    scoped: bool = field(init=False)
    before: dict[str, str] = field(default_factory=dict)  # each test's outcome as the bead started

    def __post_init__(self) -> None:
        self.scoped = bool(self.acceptance) and is_pytest(self.sandbox.test_command)

    def baseline(self) -> TestRun | None:
        """Run the whole suite once and remember what passes (pytest only)."""
        if not self.scoped:
            return None
        found = self._run(["--continue-on-collection-errors"], report="-rA")
        self.before = dict(found.outcomes)
        self._keep()
        return found

    def narrow(self, acceptance: tuple[str, ...]) -> None:
        """Judge by ``acceptance`` from now on; what else passed before is kept."""
        self.acceptance = acceptance
        self._keep()

    def failing(self, selector: str) -> list[str]:
        """The tests ``selector`` runs that failed (or errored) as the bead started."""
        return [t for t, o in self.before.items() if o in ("FAILED", "ERROR") and selects(selector, t)]

    def _keep(self) -> None:
        self.kept = tuple(
            test
            for test, outcome in self.before.items()
            if outcome in ("PASSED", "XFAIL") and not any(selects(a, test) for a in self.acceptance)
        )

    def run(self, until: float | None = None) -> TestRun:
        """The acceptance tests plus the kept ones (or the rig's whole command when unscoped),
        stopped at ``until`` (``time.monotonic()``) if they run that long."""
        if not self.scoped:
            return self._run([], until=until)
        return self._run([*self.acceptance, *self.kept], until=until)

    def _run(self, args: list[str], report: str = "-rfE", until: float | None = None) -> TestRun:
        # -rA lists every test's outcome (the baseline needs them); -rfE only the failures,
        # without the captured output of passing tests that -rA also prints
        # -l: each failing frame's local values (the test's inputs), which a model needs to
        # see what the code was given, not only what it returned
        extra = [report, "--tb=short", "-l", *args] if is_pytest(self.sandbox.test_command) else []
        return read_run(self.sandbox.run_tests(extra, until)[1], self.secrets)

    def regressions(self, found: TestRun) -> list[str]:
        """Kept tests that do not pass any more (a test file that no longer imports breaks them all)."""
        broken = []
        for test in self.kept:
            outcome = found.outcomes.get(test) or found.outcomes.get(test.split("::")[0], "PASSED")
            if outcome in ("FAILED", "ERROR"):
                broken.append(test)
        return broken


def selects(selector: str, test: str) -> bool:
    """Whether a pytest argument (a folder, a file, ``file::Class``, ``file::test`` or a full
    id) runs ``test``."""
    selector = selector.removeprefix("./")
    if test == selector:
        return True
    if "::" not in selector and not selector.endswith(".py"):  # a folder
        return test.startswith(selector.rstrip("/") + "/")
    return test.startswith(selector) and test[len(selector)] in ":["


def read_run(run: Run, secrets: Secrets = secretsmod.NONE) -> TestRun:
    """A test command's result read: its counts and (from pytest's ``-rA``) each test's outcome."""
    output = secrets.redact(run.output)
    outcomes = {test: outcome for outcome, test in _OUTCOME_RE.findall(output)}
    return TestRun(run, count_tests(output), outcomes, shown(output, run))


def _module_path(module: str, tracked: Collection[str]) -> str | None:
    """The rig's file of a module a test imports from (``a.b`` -> ``a/b.py`` or ``src/a/b.py``)."""
    base = module.replace(".", "/")
    return next((p for p in (f"{base}.py", f"src/{base}.py") if p in tracked), None)
