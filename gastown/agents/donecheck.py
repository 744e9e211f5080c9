"""A bead's definition of done, checked: after every change, on ``finish`` and at the end.

For a role whose work is done when its tests pass (``done_when = "tests-pass"`` and a
rig with a test command) the check is the bead's acceptance tests plus the tests that
passed before the bead started (see ``checks``); a run that holds — its tests pass,
nothing that passed before fails — is ``passed``, and ends the loop. A Refinery bead is
done once the test files it was asked for are written (``wanted``). The check also says
what the tests import that the files still lack, scores every run for the tries (see
``tries``), and at the end leaves the best files any try wrote and gives the verdict.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path, PurePosixPath
from typing import Any

from gastown.agents import briefing, checks, opening, pairs, stubs, testoutput
from gastown.agents.commands import tail
from gastown.agents.rig import Rig, pytest_setup_changed
from gastown.agents.tally import Tally, Trace
from gastown.agents.tools import Sandbox
from gastown.agents.tries import Tries, as_found, code_as_found, score_of
from gastown.agents.worktree import Worktree
from gastown.town.riggit import RigGit

PAIRED = "the acceptance tests pass with files of two tries put together"  # how pair_up ends a bead

FAILURE_CHARS = 6000  # of a failing run's output, the first failure a fresh try is told
# A change's test run is stopped after RUNAWAY_FACTOR times as long as the bead's tests ran as
# it started, and never before RUNAWAY_FLOOR_S: an answer whose loop never ends (a `while`
# whose condition never changes) took the rig's whole test_timeout, 120 s of the bead's
# 255 s budget, in S8's second `slugify` bead. The last run, of the files kept, has the
# rig's own timeout.
RUNAWAY_FACTOR = 10.0
RUNAWAY_FLOOR_S = 30.0


def runaway_after(first_s: float) -> float:
    """How long a change's test run may take, when the bead's tests first ran in ``first_s``."""
    return max(RUNAWAY_FLOOR_S, RUNAWAY_FACTOR * first_s)


@dataclass
class DoneCheck:
    """One bead's done condition and what its test runs have found so far."""

    sandbox: Sandbox
    tests: checks.Checks
    tries: Tries
    tally: Tally
    trace: Trace
    tests_decide: bool  # done when the tests pass (else: when the wanted files exist, or at the end)
    acceptance: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # the rig's files as the bead started
    wanted: tuple[str, ...] = ()  # files the bead must leave written (the Refinery's test files)
    passed: checks.TestRun | None = None  # the run that held (the loop ends with it)
    failing: str = ""  # the first failure of the last test run: what a fresh try is told
    missing: str = ""  # what the last test run showed is still to write (``still_missing``)
    blank: bool = False  # what ``missing`` names is only functions the tests import left as placeholders
    until: float | None = None  # the loop's deadline (``time.monotonic()``): no run of the loop outlasts it
    test_s: float = 0.0  # how long the last test run took: the next change's will take as long
    found_functions: dict[str, set[str]] = field(default_factory=dict)  # by file, as the bead found it
    named: frozenset[str] = frozenset()  # the names the bead's text writes as code
    texts: tuple[str, ...] = ()  # the bead's title, description, criteria and design (briefing.texts_of)
    first_s: float | None = None  # how long the bead's tests ran as it started (None: not run)

    def started(self, now: checks.TestRun | None) -> None:
        """The run before the first turn: how the tests fail as the bead starts."""
        if now is not None and not now.passed:
            self.failing = testoutput.first_failure(now.shown, FAILURE_CHARS)
            self.tries.began(self.failing, testoutput.other_failures(now.shown))

    def files_written(self, written: set[str]) -> str | None:
        """The report that ends a bead whose done condition is its files (the Refinery's test
        files, ``wanted``), once ``written`` holds them all; None until then."""
        if self.wanted and all(w in written for w in self.wanted):
            return f"{', '.join(self.wanted)} written; the bead is done"
        return None

    def judge_finish(self) -> str | None:
        """None when the bead may finish; else the refusal the model reads."""
        unwritten = [w for w in self.wanted if not (self.sandbox.root / w).is_file()]
        if unwritten:
            return (
                f"finish refused: the bead asks for {', '.join(unwritten)}, which does not exist yet. "
                "Write it first: its path on one line, then the whole file in a fenced code block."
            )
        if not self.tests_decide:
            return None
        found, broken = self.check_now()
        if self.passed is found:
            return None
        why = (
            f"tests that passed before the bead started now fail: {', '.join(broken[:10])}"
            if broken
            else "the acceptance tests do not pass yet"
        )
        return (
            f"finish refused: {why}.\n{found.summary()}\n{found.shown}\n"
            "Fix the code: the tests run after every change, and the bead ends when they pass."
        )

    def check_change(self) -> tuple[bool, str, bool]:
        """Run the check after a change: whether it holds, what the model reads, and
        whether that says what is still missing (a file, a name, a test it broke). A run
        cut for looping is not itself guidance: unless something is still missing, the try
        ends (Tries.failed_change), and the next asks about a suspect line or starts
        afresh. C7 to C10's `lfu-touch` rewrote `LFUCache` with a loop that never ended,
        was told so in the same try, and spent the rest of the bead sending the class back
        (58 to 68 s a reply), where the first of its suspect lines held the fault
        (`bench/suspects.py`).

        Running it here saves the small model a turn (write, then run_tests, then read) and
        shows the failure while the change is in front of it."""
        found, broken = self.check_now()
        if self.passed is found:
            return True, f"the acceptance tests pass now ({found.summary()}); the bead is done", False
        note = _broke(broken) + self._runaway(found) + self.missing
        guided = bool(broken or self.missing)  # a run cut for looping says nothing is missing
        return False, f"The tests, run after this change: {found.summary()}\n{found.shown}{note}", guided

    def run_tests(self) -> str:
        """The ``run_tests`` tool: one run of the check, as the model reads it."""
        found, broken = self.timed_run()
        return f"{found.summary()}\n{found.shown}{_broke(broken)}{self._runaway(found)}"

    def check_now(self) -> tuple[checks.TestRun, list[str]]:
        """Run the check: the run and the tests it broke. A run that holds becomes ``passed``."""
        found, broken = self.timed_run()
        self.trace.write("tests", exit_code=found.run.exit_code, counts=found.counts, timed_out=found.run.timed_out)
        self.passed = found if found.passed and not broken else None
        runaway = self._runaway(found)  # the failure a fresh try is told, when this run is the try's best
        self.failing = "" if self.passed else testoutput.first_failure(found.shown, FAILURE_CHARS) + runaway
        failing = [test for test, outcome in found.outcomes.items() if outcome in ("FAILED", "ERROR")]
        self.missing = "" if self.passed else self.still_missing(failing)
        self.blank = bool(self.missing) and self.missing == self._blanks()
        others = () if self.passed else testoutput.other_failures(found.shown)
        score = score_of(found.counts, len(broken))
        self.tries.scored(score, self.failing, self.missing, others, found.counts, timed_out=found.run.timed_out)
        return found, broken

    def timed_run(self) -> tuple[checks.TestRun, list[str]]:
        """One timed run of the bead's tests: the run and the tests that passed before and fail now."""
        began = time.monotonic()
        until = self.until
        if self.first_s is not None:
            cut = began + runaway_after(self.first_s)
            until = cut if until is None else min(until, cut)
        found = self.tests.run(until)
        self.test_s = time.monotonic() - began
        self.tally.tests_s += self.test_s
        return found, self.tests.regressions(found)

    def _runaway(self, found: checks.TestRun) -> str:
        """What a run stopped for taking far longer than the bead's first one says ("" else)."""
        if not found.run.timed_out or self.first_s is None:
            return ""
        return (
            f"\nThe tests were stopped after {self.test_s:.0f}s (they took {self.first_s:.1f}s as the bead "
            "started): the code may loop forever (a `while` whose condition never changes). "
            "Change it so that every loop ends."
        )

    def still_missing(self, failing: Sequence[str] = ()) -> str:
        """What the acceptance tests import that the files as they are now lack, and what the
        ``failing`` tests (their ids) call that the bead's text asks to change and no change
        has touched: one line each, saying what to write ("" when nothing is missing)."""
        note = ""
        root = self.sandbox.root
        files = [*self.files, *sorted(p for p in self.tries.written if (root / p).is_file())]  # as they are now
        absent = briefing.absent_names(root, self.acceptance, files)
        for test, path, name in self.unchanged_calls(failing, files):
            if (path, name) not in absent:
                asked = opening.asked_of(self.texts, name, checks.CODE_NAME_RE)
                said = f", as the bead asks: {asked} The" if asked else ". The bead asks for a change to it, the"
                note += (
                    f"\nStill to change: `{name}` in {path}{said} failing test {test} calls it, and no change so "
                    f"far touched {path}. Reply with {path} on one line and a code block holding `{name}`, "
                    f"changed{' as the bead asks' if asked else ''}."
                )
        for path in briefing.missing_files(root, self.acceptance, files):
            note += (
                f"\nStill missing: {path}, which the tests import. Reply with {path} on one line and a code "
                "block holding the whole file, with the imports it needs."
            )
        for path, name in absent:
            # A small model shown a module often sends it back unchanged: say what it still lacks.
            note += (
                f"\nStill missing: {path} defines no `{name}`, which the tests import. Reply with {path} "
                f"on one line and a code block holding only `{name}`: it is added to the module."
            )
        return note + self._blanks(tested_only=False)

    def _blanks(self, tested_only: bool = True) -> str:
        """A line for each function new in this bead's writes that is only a placeholder
        (``new_placeholders``); with ``tested_only``, of those the acceptance tests import."""
        note = ""
        for path, name, tested in self.new_placeholders():
            # "def helper(n): pass  # implement the logic": the model left itself a hole to fill
            if tested or not tested_only:
                note += (
                    f"\nStill missing: `{name}` in {path} has no code yet (its body is only a placeholder), so "
                    f"what calls it gets nothing. Reply with {path} on one line and a code block holding "
                    f"`{name.split('.')[-1]}` with its code written."
                )
        return note

    def unchanged_calls(self, failing: Sequence[str], files: Sequence[str]) -> list[tuple[str, str, str]]:
        """``(test, file, name)`` for the ``failing`` tests (their ids): see checks.called_unchanged.
        A file counts as changed while its code differs from the bead's start: one sent back
        with only its docstrings or layout changed was not (the 1.5B sent cli.py back so,
        beside its `reading_time`, and `summary` in it was never named)."""
        if not self.named or not failing:
            return []
        root = self.sandbox.root
        changed = {p for p in self.tries.written if not code_as_found(root, p)}
        found: dict[tuple[str, str], str] = {}
        for test_file in dict.fromkeys(t.split("::")[0] for t in self.acceptance):
            source = _text(root / test_file) if test_file.endswith(".py") else None
            names = {t.split("::")[-1].split("[")[0] for t in failing if t.split("::")[0] == test_file}
            if source is None or not names:
                continue
            for test, path, name in checks.called_unchanged(source, names, self.named, files, changed):
                found.setdefault((path, name), test)
        return [(test, path, name) for (path, name), test in found.items()]

    def new_placeholders(self) -> list[tuple[str, str, bool]]:
        """``(file, name, tested)``: functions new in this bead's writes that the code calls or
        the acceptance tests import (``tested``) and that are only placeholders (``pass``,
        ``...``, ``raise NotImplementedError``, a docstring alone: the 1.5B answers a new
        ``truncate`` with its docstring and ``# Your code here``)."""
        root = self.sandbox.root
        found: list[tuple[str, str, bool]] = []
        written = sorted(p for p in self.tries.written if p.endswith(".py") and (root / p).is_file())
        imported = [
            pair
            for _, source in briefing.test_sources(root, self.acceptance)
            for pair in checks.imported_from(source, written)
        ]
        for path in written:
            if path not in self.found_functions:  # as the bead found it: HEAD does not move during a bead
                self.found_functions[path] = stubs.functions(RigGit(root).read_at("HEAD", path) or "")
            tested = {name for file, name in imported if file == path}
            now = stubs.placeholders((root / path).read_text(errors="replace"), tested)
            found += [(path, name, name in tested) for name in sorted(now - self.found_functions[path])]
        return found

    def pair_up(self) -> bool:
        """The best run's files, each time with one more file as an earlier run wrote it
        (pairs.py), tested while the bead's time allows: before a fresh try, and at the end.
        Whether a set made the check hold (its files stay; traced as the bead's ``PAIRED``
        finish); one that does better becomes the best (Tries.scored). Otherwise the files,
        and what the last run said, are as they were."""
        tries = self.tries
        if self.passed is not None or tries.best is None or not self.tests_decide or not self.acceptance:
            return False
        made = pairs.pairs(tries.runs, tries.best[1], cache(partial(as_found, self.sandbox.root)))
        if not made:
            return False
        standing = tries.standing()
        said = (tries.score, tries.best_this_try, self.failing, self.missing, self.blank)
        try:
            for files in made:
                if self.until is not None and time.monotonic() + 2 * max(self.test_s, 1.0) > self.until:
                    break
                tries.put_back(files)
                self.trace.write("paired", files=sorted(files))
                self.check_now()
                if self.passed is not None:
                    self.trace.write("finish", summary=PAIRED, accepted=True, by="tests")
                    return True
        finally:
            if self.passed is None:
                tries.put_back(standing)
                tries.score, tries.best_this_try, self.failing, self.missing, self.blank = said
        return False

    def keep_best(self) -> None:
        """A loop that ends without passing leaves the best files it wrote, not the last: a hot
        retry at the end can break what an earlier change had nearly right."""
        if self.passed is not None:
            return
        was = self.tries.score
        score = self.tries.keep_best()
        if score is not None:
            self.trace.write("restored", score=score, was=was)  # the final run judges them

    def final(self) -> tuple[checks.TestRun | None, list[str], dict[str, Any]]:
        """The run the bead is judged by (the one that held, else a last run of the files as
        they are left, when the rig has a test command), the tests it broke, and the result's
        ``tests`` record."""
        found = self.passed
        if found is None and self.sandbox.test_command:
            began = time.monotonic()
            found = self.tests.run()
            self.tally.tests_s += time.monotonic() - began
            self.trace.write("tests", exit_code=found.run.exit_code, counts=found.counts, timed_out=found.run.timed_out)
        if found is None:
            return None, [], {}
        broken = self.tests.regressions(found)
        tests: dict[str, Any] = {
            **found.counts,
            "exit_code": found.run.exit_code,
            "output_tail": tail(found.shown, 3000),
        }
        if self.tests.acceptance:
            tests["acceptance"] = list(self.tests.acceptance)
        return found, broken, tests


def verdict(found: checks.TestRun | None, broken: list[str], tests: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether a tests-pass bead is done by its final run, and why not."""
    if found is None:
        return False, "the tests did not run"
    if found.run.timed_out:
        return False, "the tests timed out"
    if broken:
        return False, f"tests that passed before now fail: {', '.join(broken[:5])}"
    if not found.passed:
        failing = [t for t, outcome in found.outcomes.items() if outcome in ("FAILED", "ERROR")]
        names = f": {', '.join(failing[:5])}" if failing else ""
        return False, (
            f"tests failed (exit {found.run.exit_code}: {tests.get('failed', 0)} failed, "
            f"{tests.get('errors', 0)} errors){names}"
        )
    return True, ""


def touched_tests(rig: Rig, worktree: Worktree, changed: Sequence[str]) -> list[str]:
    """The Refinery's files among ``changed``: tests, files that decide how tests are
    collected, and a ``pyproject.toml`` whose pytest tables changed."""
    touched = [p for p in changed if rig.is_protected(p)]
    for path in changed:
        if PurePosixPath(path).name == "pyproject.toml":
            old = worktree.repo.read_at(worktree.base, path)
            new = _read_bytes(worktree.path / path)
            if pytest_setup_changed(old, None if new is None else new.decode(errors="replace")):
                touched.append(f"{path} (its pytest settings)")
    return touched


def _broke(broken: Sequence[str]) -> str:
    return f"\nThese passed before the bead started and fail now: {', '.join(broken[:10])}" if broken else ""


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError:
        return None


def _text(path: Path) -> str | None:
    return path.read_text(errors="replace") if path.is_file() else None
