"""Where a fault may lie: the lines the failing tests run, ranked, each asked about alone.

The code is a bug fix's as the bead found it, or a near miss's as it was written (sweep.py).

Shown a function with a bug, the 1.5B sends it back as it was (7 of cachetools' 18 writes
in run C4, 41 of toolz's 52 in T9), and asked which line is at fault it names the class
line, or a line of the test. Told which line it is, it corrects it: over kept first
prompts, with the faulty line named and "reply with that line corrected", it wrote the fix
in 2 of 3 samples for `thread_last` (`args = args + (val,)`, a bug no eval run had fixed),
`LRUCache.__getitem__`, `TTLCache.expire` and `tail`, in a reply of a line or two. So
gastown finds the lines and the model writes the fix, one line at a time.

Finding the lines is spectrum-based fault localisation: the bead's test files run once
under a line tracer limited to the module to fix; a line that the failing acceptance tests
run and few passing tests run is the likelier fault (the Ochiai measure). The lines are
statements of the definition the bead names most closely (`Cache.pop`'s when it names
`Cache.pop`, every method's when it names only the class), headers of `if`, `while`,
`for`, `with` and `except` on their own (their bodies are statements of their own); never
a `def` line, a docstring or the module's top level; lines equally suspect go in order of
the names of the bug report they hold (reports.py). Each line is asked about twice
(``PASSES``), the more suspect half's both times before the rest's (sweep.order). An ask
(lineask.py) is a short request on the first prompt the server holds (its note at the end)
and a reply of a line or two; the answer replaces the line, and the tests run as after any
change. A test that says "DID NOT RAISE" fails on a line that is not there: its check is
asked for first, and goes before the first line of its function's body (``missing_check``).

Only a rig whose test command is ``PYTHON -m pytest ...`` is traced (the tracer is a
pytest plugin given to ``pytest.main`` in that interpreter); any other gives no lines.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from gastown.agents import docstrings, edits, reports

MAX_SUSPECTS = 12  # lines asked about, most suspect first, before the tries go on as before
# each is asked about twice (sweep.order): told the faulty line, the 1.5B corrected it in 2
# of 3 samples (run C6's `TTLCache.expire` answer was `<=` where two of three samples before
# had written `>=`)
PASSES = 2
# an ask whose answer was tried before is asked again at most this many times (Tries.line_answer):
# of 8 samples of one ask, 5 were one wrong answer and 2 of the other 3 the fix (docs/eval.md, stop 49)
REASKS = 2
MARK = "@@gastown-spectra@@"  # the tracer's output line
MAX_REPLY_LINES = 8  # a longer answer is code sent the usual way, not a line's correction

# Run in the rig's interpreter: ``-c TRACER TARGET MARK FILES-JSON PYTEST-OPTIONS...``. Each
# test's lines of TARGET (resolved from the worktree) and its outcome, as one JSON line after MARK.
TRACER = r"""
import json, os, sys, threading
import pytest
target = os.path.realpath(sys.argv[1])
mark, selected, options = sys.argv[2], json.loads(sys.argv[3]), sys.argv[4:]
lines, ours = set(), {}
def local(frame, event, arg):
    if event == "line":
        lines.add(frame.f_lineno)
    return local
def tracer(frame, event, arg):
    name = frame.f_code.co_filename
    if name not in ours:
        ours[name] = os.path.realpath(name) == target
    if ours[name]:
        lines.add(frame.f_lineno)
        return local
    return None
spectra = {}
class Spectra:
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        lines.clear()
        before = sys.gettrace()
        sys.settrace(tracer)
        threading.settrace(tracer)
        try:
            yield
        finally:
            sys.settrace(before)
            threading.settrace(before)
            spectra[item.nodeid] = [sorted(lines), "failed"]
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if report.when == "call" and item.nodeid in spectra:
            spectra[item.nodeid][1] = report.outcome
pytest.main([*options, *selected], plugins=[Spectra()])
sys.__stdout__.write("\n" + mark + " " + json.dumps(spectra) + "\n")
sys.__stdout__.flush()
os._exit(0)  # a thread a test left running must not hold the answer back
"""

Spectra = dict[str, tuple[frozenset[int], str]]  # test id: (the target's lines it ran, "passed"/"failed"/...)


@dataclass(frozen=True)
class Suspect:
    """A statement (or a compound statement's header) that may hold the fault."""

    path: str
    first: int  # its lines in the file, 1-based, inclusive
    last: int
    owner: str  # the definition it is in: "thread_last.evalform_back", "LRUCache.__getitem__"
    header: bool  # the header of an if/while/for/with/except: its body is not part of it
    score: float  # the Ochiai measure: 1 for a line only the failing tests run
    # a check missing before this line, the first of its definition's body, that is to raise
    # this exception ("" for a line at fault): see ``missing_check``
    raises: str = ""

    def lines(self, text: str) -> list[str]:
        return edits.split_lines(text)[self.first - 1 : self.last]


def traced_command(test_command: Sequence[str]) -> tuple[list[str], list[str]] | None:
    """The interpreter and pytest's options of a ``PYTHON -m pytest OPTIONS`` test command."""
    parts = list(test_command)
    for n in range(1, len(parts) - 1):
        if parts[n] == "-m" and parts[n + 1] == "pytest":
            return parts[:n], parts[n + 2 :]
    return None


def spectra(
    run: Callable[[list[str], float | None], tuple[int, str]],
    test_command: Sequence[str],
    target: str,
    selectors: Sequence[str],
    until: float | None = None,
) -> Spectra | None:
    """Each test's lines of ``target`` and its outcome, over the test files ``selectors``
    name, ``run`` running an argv (in the worktree, as the rig's tests run) and giving its
    exit code and output; None when the command is not ``-m pytest`` or the run said nothing."""
    traced = traced_command(test_command)
    if traced is None:
        return None
    python, options = traced
    files = sorted({selector.split("::")[0] for selector in selectors})
    _code, output = run([*python, "-c", TRACER, target, MARK, json.dumps(files), *options], until)
    for line in reversed(output.splitlines()):
        if line.startswith(MARK):
            try:  # the tracer's line, as it wrote it
                found = json.loads(line[len(MARK) :])
                return {str(test): (frozenset(lines), str(outcome)) for test, (lines, outcome) in found.items()}
            except (ValueError, TypeError, AttributeError):
                return None
    return None


def ranked(
    source: str,
    path: str,
    found: Spectra,
    failing: Callable[[str], bool],
    names: Collection[str] = (),
    limit: int = MAX_SUSPECTS,
    reported: Collection[str] = (),
) -> list[Suspect]:
    """The statements of ``source`` that the tests ``failing`` selects ran and failed, most
    suspect first: by the Ochiai measure over ``found``; among lines equally suspect, those
    holding more of the identifiers ``reported`` (the report's code: reports.names_reported);
    then in the file's order. When the bead ``names`` definitions they are in, only those
    of the most closely named (the method of ``Cache.pop``, not the rest of ``Cache``).
    Tests that failed but are not the bead's (a sibling bug's) count for nothing either way."""
    try:
        units = _units(ast.parse(source))
    except (SyntaxError, ValueError):
        return []
    failed = [lines for test, (lines, outcome) in found.items() if outcome == "failed" and failing(test)]
    passed = [lines for _test, (lines, outcome) in found.items() if outcome == "passed"]
    if not failed:
        return []
    hit: dict[tuple[int, int], list[int]] = {}  # a unit: [failing tests, passing tests] that ran it
    for group, index in ((failed, 0), (passed, 1)):
        for lines in group:
            for unit in {units[line][:2] for line in lines if line in units}:
                hit.setdefault(unit, [0, 0])[index] += 1
    owners = {first_last: units[first_last[0]][2] for first_last in hit}
    depth = {unit: _named_depth(owner, names) for unit, owner in owners.items()}
    deepest = max(depth.values(), default=0)
    named = {unit for unit, d in depth.items() if d and d == deepest}  # `Cache.pop` over all of `Cache`
    wanted = frozenset(reported)
    scored = []
    for unit, (ran_failing, ran_passing) in hit.items():
        if not ran_failing or (named and unit not in named):
            continue
        score = ran_failing / math.sqrt(len(failed) * (ran_failing + ran_passing))
        first, last = unit
        suspect = Suspect(path, first, last, owners[unit], units[first][3], round(score, 3))
        shared = len(reports.names_in("\n".join(suspect.lines(source))) & wanted - set(suspect.owner.split(".")))
        scored.append((-score, -shared, first, suspect))
    return [suspect for *_order, suspect in sorted(scored)[:limit]]


def _named_depth(owner: str, names: Collection[str]) -> int:
    """How much of the definition ``owner`` the names a bead writes as code name: how many of
    its parts some name covers, each name by its longest tail that ``owner`` holds
    (``cachetools.Cache.pop``, or ``Cache`` and ``pop``, cover both parts of ``Cache.pop``
    and one of ``Cache.__delitem__``); 0 for none."""
    parts = owner.split(".")
    covered: set[int] = set()
    for name in names:
        wanted = name.split(".")
        for start in range(len(wanted)):
            tail = wanted[start:]
            at = [n for n in range(len(parts) - len(tail) + 1) if parts[n : n + len(tail)] == tail]
            if at:
                covered.update(range(at[0], at[0] + len(tail)))
                break
    return len(covered)


def _units(tree: ast.Module) -> dict[int, tuple[int, int, str, bool]]:
    """Each line of a statement inside a definition: (its first line, its last line, the
    definition's dotted name, whether it is a compound statement's header). A statement of
    more than MAX_REPLY_LINES is none: no reply to a line's ask could stand in its place."""
    found: dict[int, tuple[int, int, str, bool]] = {}

    def add(first: int, last: int, owner: str, header: bool) -> None:
        if last - first < MAX_REPLY_LINES:
            for line in range(first, last + 1):
                found.setdefault(line, (first, last, owner, header))

    def header(node: ast.stmt | ast.excepthandler, body: Sequence[ast.stmt], owner: str) -> None:
        """A compound statement's header, up to its body; one written on one line with its
        body is a statement like any other."""
        if body and body[0].lineno > node.lineno:
            add(node.lineno, body[0].lineno - 1, owner, True)
        else:
            add(node.lineno, node.end_lineno or node.lineno, owner, False)

    def walk(body: Sequence[ast.stmt], owner: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                inner = node.body[1:] if docstrings.docstring(node) is not None else node.body
                walk(inner, f"{owner}.{node.name}" if owner else node.name)
            elif not owner or isinstance(node, ast.Pass):  # the module's top level runs on import, for every test
                continue
            elif isinstance(node, (ast.If, ast.While, ast.For, ast.AsyncFor, ast.With, ast.AsyncWith)):
                header(node, node.body, owner)
                walk(node.body, owner)
                walk(node.orelse if not isinstance(node, (ast.With, ast.AsyncWith)) else [], owner)
            elif isinstance(node, ast.Try):
                walk(node.body, owner)
                for handler in node.handlers:
                    header(handler, handler.body, owner)
                    walk(handler.body, owner)
                walk(node.orelse, owner)
                walk(node.finalbody, owner)
            elif not hasattr(node, "body"):  # a match, an except*: not asked about
                add(node.lineno, node.end_lineno or node.lineno, owner, False)

    walk(tree.body, "")
    return found


def missing_check(text: str, path: str, owner: str, raises: str) -> Suspect | None:
    """The place of a check that ``owner`` (a definition of ``text``, dotted for a method)
    lacks, which is to raise ``raises``: before the first statement of its body (its
    docstring aside); None when it has none there. A test that says "DID NOT RAISE" fails
    on a line that is not there, and every line the test runs is equally suspect: S12's
    `slugify` near miss, every test passed but the empty separator's, had each of its
    lines asked about twice and none corrected; asked for the check to put first, the 1.5B
    wrote `if not separator: raise ValueError("separator")` in 3 of 6 samples."""
    try:
        body = _body_of(ast.parse(text), owner.split("."))
    except (SyntaxError, ValueError):
        return None
    if not body:
        return None
    first = body[0].lineno
    line = edits.split_lines(text)[first - 1]
    if line[: body[0].col_offset].strip():  # `def f(x): return x`: no line of its own to go before
        return None
    return Suspect(path, first, first, owner, False, 1.0, raises)


def definition(tree: ast.Module, parts: Sequence[str]) -> ast.stmt | None:
    """The definition named by ``parts`` (a class, then its method), the first of its name
    at each level; None when there is none."""
    body: list[ast.stmt] = tree.body
    node: ast.stmt | None = None
    for name in parts:
        node = next(
            (
                n
                for n in body
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == name
            ),
            None,
        )
        if node is None:
            return None
        body = node.body
    return node


def _body_of(tree: ast.Module, parts: list[str]) -> list[ast.stmt]:
    """The statements of the definition named by ``parts`` (a class's, then its method's), its
    docstring aside; empty when there is none."""
    node = definition(tree, parts)
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return []
    return node.body[1:] if docstrings.docstring(node) is not None else node.body


def describe(found: Sequence[Suspect]) -> list[dict[str, object]]:
    """The suspects as the trace records them."""
    return [{"line": s.first, "owner": s.owner, "score": s.score} for s in found]
