"""Sweeps over suspect lines, asked about one a try: a bug fix's before its first answer,
and a near miss's once a fresh try was shown it and did not make it pass.

The lines come from one run of the bead's test files under a line tracer (suspects.py), on
the files the lines are asked about in (as the bead found them; a near miss's as it wrote
them), no longer than a change's test run may take. There is none in ``schema`` mode (a
reply held to a call's grammar holds no line). An ask is no turn of the bead's
``max_turns`` (a few seconds each, bounded by the sweep's lines and the bead's time): in
run C14 the 24-turn limit ended `ttl-expire` at 208 s of its 300, mid-sweep. A failure
that says "DID NOT RAISE" has the missing check asked for before the lines (``check``).
"""

from __future__ import annotations

import math
import re
import time

from gastown.agents import briefing, checks, reports, suspects
from gastown.agents.calls import State
from gastown.agents.donecheck import runaway_after
from gastown.agents.tries import text_of


def begin(state: State, tool_mode: str) -> None:
    """Set the bead's sweep before its first answer: a bug fix's suspect lines in ``order``,
    the first asked about at the first turn; none when it has no place (the bead's first
    answer is its own). Of the 30 held-out bug fixes passed in runs B3 to B5, C16, C17 and
    T21 to T23, 26 were a suspect line's answer and 2 a first answer (toolz's `tail`, a
    line's answer in T22); a first answer, passing or not, took 10 to 120 s of a 300 s bead
    (boltons' `omd-poplast`: 1,085 tokens of its module, 83 s) and its test run."""
    tries = state.tries
    if state.fix_file is None or tool_mode == "schema":
        return
    lines = found(state, state.fix_file)
    tries.sweep = [*check(state, state.fix_file, lines, tries.found_failing), *order(lines)]
    _trace_check(state)
    if tries.sweep:
        tries.lines_first()


def order(lines: list[suspects.Suspect]) -> list[suspects.Suspect]:
    """The asks of a sweep: each line ``suspects.PASSES`` times, the most suspect half's
    before the rest's first. Asked about its faulty line, the 1.5B corrected it in 2 of 3
    samples for four bugs (stop 44) and in 6 of 8 for `wrap`'s, so a fault ranked 5th is
    asked about twice before one ranked 7th once: S9 and S10's first repeat asked about
    `wrap`'s (ranked 5th) once, got it wrong, and reached their cap before its second ask."""
    half = (len(lines) + 1) // 2
    return [*lines[:half] * suspects.PASSES, *lines[half:] * suspects.PASSES]


def near(state: State, tool_mode: str) -> None:
    """After a try that was shown a near miss and did not make it pass: that near miss's
    suspect lines, asked about on its files like a bug fix's (Tries.sweep_near). Shown its
    near miss, the 1.5B sent it back as it was (S9's `slugify`, 5 of its 6 tests, its
    `normalize` line short of dropping what is not ASCII)."""
    tries = state.tries
    if tool_mode == "schema" or tries.sweep:
        return
    wanted = tries.near_to_sweep()
    if wanted is None:
        return
    code, path = wanted
    assert tries.best is not None
    standing = tries.standing()  # what the last try left: whether it sent the near miss back
    tries.put_back(tries.best[1])  # traced as the near miss wrote it
    lines = found(state, path, near_miss=True)
    checks_first = check(state, path, lines, tries.best_failing)  # read in the near miss's file
    tries.put_back(standing)
    tries.sweep_near(code, [*checks_first, *order(lines)])
    _trace_check(state)


def check(state: State, path: str, lines: list[suspects.Suspect], failure: str) -> list[suspects.Suspect]:
    """A missing check's asks, ``suspects.PASSES`` of them, when ``failure`` says a test's
    exception was never raised: its place first in the definition, of those the suspect
    lines are in, that the failure calls (the most suspect line's when it calls none), as
    ``path`` stands (suspects.missing_check); none else, or when no line was traced."""
    raises = reports.not_raised(failure)
    if not raises or not lines:
        return []
    called = (s.owner for s in lines if re.search(rf"\b{re.escape(s.owner.split('.')[-1])}\s*\(", failure))
    owner = next(called, lines[0].owner)
    place = suspects.missing_check(text_of(state.sandbox.root / path), path, owner, raises)
    return [] if place is None else [place] * suspects.PASSES


def _trace_check(state: State) -> None:
    """Trace where the sweep's missing check goes, when it is asked for."""
    asked = state.tries.sweep[0] if state.tries.sweep else None
    if asked is not None and asked.raises:
        state.trace.write("check", path=asked.path, owner=asked.owner, line=asked.first, raises=asked.raises)


def found(state: State, path: str, near_miss: bool = False) -> list[suspects.Suspect]:
    """The lines of ``path`` the bead's failing tests run, most suspect first (suspects.py),
    from one run of its test files under a line tracer on the files as they stand (a near
    miss's, with ``near_miss``); traced with how long it took."""
    began = time.monotonic()
    sandbox, done = state.sandbox, state.done

    def run(argv: list[str], until: float | None) -> tuple[int, str]:
        ran = sandbox.run_for_tests(argv, until)
        return ran.exit_code, ran.output

    until = done.until  # a bug that loops forever gets no longer than a change's run
    if done.first_s is not None:
        until = min(until or math.inf, time.monotonic() + runaway_after(done.first_s))
    spectra = suspects.spectra(run, sandbox.test_command, path, done.acceptance, until)
    texts = briefing.texts_of(state.bead)
    names = {next(g for g in match if g) for text in texts for match in checks.CODE_NAME_RE.findall(text)}
    acceptance = done.acceptance

    def failing(test: str) -> bool:
        return any(checks.selects(selector, test) for selector in acceptance)

    text = text_of(sandbox.root / path)
    reported = reports.names_reported(texts)
    lines = [] if spectra is None else suspects.ranked(text, path, spectra, failing, names, reported=reported)
    state.tally.tests_s += time.monotonic() - began
    state.trace.write(
        "suspects",
        path=path,
        **({"near_miss": True} if near_miss else {}),
        tests=None if spectra is None else len(spectra),
        lines=suspects.describe(lines),
        seconds=round(time.monotonic() - began, 2),
    )
    return lines
