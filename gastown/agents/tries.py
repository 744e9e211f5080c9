"""A bead's tries: when a try whose tests fail starts over, and which files stay at the end.

A small model shown its own wrong code keeps it: asked to fix it from the test output, it
sends it back unchanged. So a change whose tests fail ends the try, unless the check names
what is still missing (a file or a name the tests import, a test it broke; not the function
the tests import left a placeholder: told so, the 1.5B sends the placeholder back); then the
try goes on while its changes get more tests passing (at most ``CHANGES_PER_TRY``). A try that
ends, or a reply that changes nothing while the tests fail (but once a try, when the check
names what is still missing or still to change: ``echoed``), starts the bead over: the
files the bead wrote put back as it found them, the first prompt asked again with the
gist of the best run's failure and a line for each other test it failed (the bead's own
until an answer does better: the last answer's may be a case the bead's files got right),
sampled hotter. The note goes above
the start of the reply when the prompt ends with one (opening.py), unless it asks for a
sentence before the code: then the reply is not begun. That costs a reply and
no prompt: the server still holds the first prompt. Whatever the tries do, the best
files any of them wrote (by their test run's score) are what the bead ends with.

A fresh try is never a repair of an earlier answer in a conversation. Shown its best answer
as its own reply and told what that answer still fails, the 1.5B changed nothing that
mattered in 52 such repairs over ten eval runs (docs/eval.md, stop 34): it sent the code
back, or the same code with another failure, even a near miss of 26 tests in 27 with one
raise missing. A new answer to the first prompt costs less (the server holds that prompt)
and is often different. But a new answer loses what a near miss got right: when the best
answer so far failed one test only, the fresh try's note shows its code, in the first prompt
and not as the model's own reply, with the test it failed (``near_miss``). What the check
named as still missing or still to change in the best answer (a file or a name the tests
import, a placeholder left to fill, a function the bead asks to change that no change
touched: see DoneCheck.still_missing) is told to the fresh try beside its failure. An answer
that sent the code back as it was (a bug fix that fixed nothing: the same code, its
docstring dropped) is told so, and asked to name the line at fault before the code: the same
prompt again would get the same reply, even sampled hot.

A bug fix's tries ask about one suspect line each before any answer of its own (``sweep``,
suspects.py): the first prompt with that line at its end, its reply the line corrected.
Shown the function, the 1.5B sends it back; told which line is at fault, it corrects it.
What an answer sent back is told to the try after the last of them. A near miss a fresh try
was shown and did not make pass has its lines swept the same way, any bead's
(``sweep_near``): each try starts from its files, its ask after its code and the test it
failed.

A bug fix's tries from the third on (``BLIND_FROM``, the suspect lines' not counted) start
from its first prompt with the body of the function the bead names left out
(briefing.Blind, excerpt.without_body): the
1.5B kept the faulty line in 41 of 52 answers to six toolz bugs, each answer a copy of the
body it was shown with a change beside the fault, or none. Shown the function's docstring
and the bug report, and not its code (a traceback in the test output may still quote a line
of it), it has to write the body anew. The switch holds while the blind answers do no
worse than the code the bead found: rewritten from its docstring, a function that does more
than its bug loses some of it (the starter suite's `wrap`: all 13 blind answers of run W1
passed 14 or 15 of its 22 tests, where the bead's own code passed 21). A blind try whose best
run scores below the bead's own code sends the tries back to the first prompt, for good: the
server holds one prompt, and going back and forth would read both again each time.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gastown.agents import changes, lineask, prompts, suspects, trynotes
from gastown.town.riggit import RigGit

BLIND_FROM = 3  # a bug fix's tries from this one on start with its function's body left out
CHANGES_PER_TRY = 3  # tested changes after which a try whose tests still fail starts over
FRESH_TEMPERATURE = 0.7  # a try that starts over is sampled at least this hot (Qwen's suggestion for its coders)
NEAR_MISS_CHARS = 4000  # at most this much of a near miss's code is shown to a try that starts over

Score = tuple[bool, int, bool, int]  # (anything passed, -tests broken, any test ran, passing - failing)


def score_of(counts: Mapping[str, int], broken: int) -> Score:
    """A test run's score: more is better. A run where nothing passed (cut short by a
    collection error: nothing ran, so nothing is "broken") is the worst; then fewer broken
    tests; then a run whose tests ran over one that could not collect them (code that
    imports and fails six tests is nearer done than code that does not import); then more
    passing than failing."""
    passed, failed = counts.get("passed", 0), counts.get("failed", 0)
    return (passed > 0, -broken, passed + failed > 0, passed - failed - counts.get("errors", 0))


@dataclass
class Tries:
    """One bead's tries over its worktree at ``root``, which start from ``head`` (the first
    prompt; a bug fix's from its ``blind`` one from BLIND_FROM on, until a blind try does
    worse than the bead's code)."""

    root: Path
    head: list[dict[str, Any]]
    written: set[str] = field(default_factory=set)  # files a write of this bead changed
    number: int = 1  # the try under way (0 before a bug fix's first line is asked about: lines_first)
    changes: int = 0  # tested changes in this try
    best_of_try: Score | None = None
    best: tuple[Score, dict[str, bytes | None]] | None = None  # the best run so far and its files
    score: Score | None = None  # the last run's; None once the files were put back
    start_over: str = ""  # why the next turn starts a fresh try ("" to go on with this one)
    told: str = ""  # what that try's first prompt ends with besides the failure (a repeated reply)
    start: Score | None = None  # the score of the files as the bead found them (None: not run)
    best_failing: str = ""  # the best run's first failure
    best_others: tuple[str, ...] = ()  # the best run's other failing tests, a line each
    best_missing: str = ""  # what the check said the best run's files still lack (DoneCheck.still_missing)
    sent_back: tuple[str, ...] = ()  # files the last try's answer sent back with their code as it was
    found_failing: str = ""  # the first failure of the files as the bead found them
    found_others: tuple[str, ...] = ()  # their other failing tests, a line each
    echoes: int = 0  # writes in this try that left the code as it was while something is missing
    # a bug fix's first prompt with its function's body left out, and that function's name:
    # the head of its tries from BLIND_FROM on (until one does worse: then ``sighted`` again)
    blind: tuple[list[dict[str, Any]], str] | None = None
    body_left_out: str = ""  # that function's name, while the tries start from the blind head
    sighted: list[dict[str, Any]] = field(default_factory=list)  # the first prompt, while they do
    best_this_try: Score | None = None  # the best run of this try (best_of_try counts guided changes only)
    best_counts: dict[str, int] = field(default_factory=dict)  # the best run's tests passed, failed, errors
    best_try: int = 0  # the try that wrote the best files
    spent_near: str = ""  # a near miss a try sent back as it was, or whose lines were swept: not shown again
    # suspect lines still to ask about, one a try: a bug fix's before its first answer of its
    # own, or a near miss's (sweep.py)
    sweep: list[suspects.Suspect] = field(default_factory=list)
    line: suspects.Suspect | None = None  # the line this try asks about
    line_tries: int = 0  # tries that asked about one line (not counted towards BLIND_FROM)
    answers: set[tuple[str, str, str]] = field(default_factory=set)  # this sweep's answers tried: (path, old, new)
    reasks: int = 0  # times the line this try asks about was asked again for another answer
    reask_next: bool = False  # the next try asks about this try's line again
    sweep_files: dict[str, bytes | None] = field(default_factory=dict)  # what a line's try starts from ({}: as found)
    sweep_note: str = ""  # what a line's ask follows: a near miss's code and its failure ("" for the bead's code)
    near_shown: str = ""  # the near miss the last try that was shown one saw
    near_swept: str = ""  # the near miss whose lines were swept: not again
    # each test run's files, but a timed-out run's (pairs.py)
    runs: list[dict[str, bytes | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.start is not None and self.best is None:
            self.best = (self.start, {})  # no try may end the bead worse off than it began

    def scored(
        self,
        score: Score,
        failing: str = "",
        missing: str = "",
        others: Sequence[str] = (),
        counts: Mapping[str, int] | None = None,
        timed_out: bool = False,
    ) -> None:
        """A test run of the files as they stand; the best so far keeps its files, its first
        failure (``failing``), its other failing tests (``others``, a line each), what it
        still lacks (``missing``) and its ``counts`` (tests passed, failed, errors). A run
        cut for taking too long (``timed_out``: a loop, or the bead's time) is not kept as a
        pairing candidate (pairs.py): a set with its files would loop again. It can still be
        the best so far, when nothing better ran."""
        files = self.standing()
        if not timed_out:
            self.runs.append(files)
        if self.best is None or score > self.best[0]:
            self.best = (score, files)
            self.best_failing, self.best_missing, self.best_others = failing, missing, tuple(others)
            self.best_counts, self.best_try = dict(counts or {}), self.number
        self.score = score
        self.best_this_try = score if self.best_this_try is None else max(score, self.best_this_try)

    def began(self, failing: str, others: Sequence[str] = ()) -> None:
        """The run of the files as the bead found them: until an answer does better, its
        failures are the ones a fresh try is told of."""
        self.found_failing, self.found_others = failing, tuple(others)
        if self.best is not None and self.best[0] == self.start and not self.best_failing:
            self.best_failing, self.best_others = failing, tuple(others)

    def echoed(self) -> bool:
        """A write left its file's code as it was, and the check names what is still missing
        or still to change: whether the try goes on with that note (sampled hotter: see
        repeats) rather than ending — once a try. The note may be news (nothing tested yet);
        or the try's first change made progress and the model sent the other file back: a
        fresh try would start without that change (the 1.5B wrote `reading_time`, was told
        "still to change: `summary` in textkit/cli.py", sent cli.py back as it was, and in
        three repeats of three the fresh tries lost the `reading_time` and never both
        again)."""
        self.echoes += 1
        return self.echoes == 1

    def unchanged(self, paths: Sequence[str]) -> None:
        """A reply's writes left ``paths`` as they were, while the tests fail: the try is
        over, and the next is told which of them still hold the code the bead found."""
        found = [p for p in paths if code_as_found(self.root, p)]
        self.sent_back = tuple(found)
        self.end("a write that changed nothing while the tests fail")

    def failed_change(self, guided: bool) -> None:
        """A change's tests failed: note why the try ends, if it does. Without ``guided``
        (a note of what is still missing: a file, a name, a test it broke) the try ends at
        once: asked to repair from the test output alone, a small model sends its code back
        unchanged, where a new answer is as cheap and often different. A try that asked
        about one line ends at its first change: the next asks about the next line."""
        self.changes += 1
        if self.line is not None:
            self.end("the corrected line did not make the tests pass")
            return
        if not guided:
            self.end("the tests fail and nothing names what is missing: a new answer, not a repair")
            return
        assert self.score is not None  # the change's run scored it
        improved = self.best_of_try is None or self.score > self.best_of_try
        if improved:
            self.best_of_try = self.score
        if self.changes >= CHANGES_PER_TRY:
            self.end(f"{self.changes} changes in this try and the tests still fail")
        elif not improved:
            self.end("the last change got no more tests passing than the one before it")

    def lines_first(self) -> None:
        """A bug fix's suspect lines are asked about before any answer of its own: the
        first turn starts the try that asks about the first of them (try 1)."""
        self.number = 0
        self.end("a bug fix: its suspect lines are asked about before an answer of its own")

    def end(self, why: str, told: str = "") -> None:
        """This try is over: the next turn starts a fresh one (the first reason stays), its
        first prompt ending with ``told`` when there is something the model must hear."""
        self.start_over = self.start_over or why
        self.told = self.told or told

    def begin_again(self, failing: str) -> tuple[list[dict[str, Any]], str, str]:
        """Start the next try: put the files back as the bead found them; the new head (the
        first prompt, or a bug fix's blind one, with a note of the failure to fix at its end),
        why, and that note."""
        why, self.start_over = self.start_over, ""
        told, self.told = self.told, ""
        self.number += 1
        # a blind answer that ran and did worse than the bead's code (one that passed nothing,
        # a typo or an import, says nothing of what rewriting the function costs)
        ran = self.best_this_try
        worse = self.start is not None and ran is not None and ran[0] and ran < self.start
        self.changes, self.best_of_try, self.best_this_try, self.score, self.echoes = 0, None, None, None, 0
        self.line = None
        if self.body_left_out and self.sighted and worse:  # rewritten blind, it lost what the body did
            self.head, self.body_left_out, self.sighted = self.sighted, "", []
        if self.sweep:  # one suspect line, asked about on the first prompt the server holds; what an
            return self._ask_line(why)  # answer sent back is told to the try after the last of them
        sent_back, self.sent_back = self.sent_back, ()
        near = self.near_miss()
        if near and self.best_try < self.number - 1 and self._holds_best():  # a later try sent it back: it would again
            self.spent_near = near
        near = "" if near == self.spent_near else near
        self.put_back({})
        # the best run's failure, not the last's: the last answer's may be a case the bead's own
        # files got right (a bug fix answered with new bugs); but an answer that sent the bead's
        # code back is told that code's failure, its own (not the last test run's: a code sent
        # back is not tested again, and the last run was another answer's) — unless the check
        # named what the best answer left undone: its failure goes with that (the 1.5B, told
        # the bead's ImportError beside "still to change: summary", wrote summary into stats.py)
        own = bool(sent_back) and not self.best_missing
        shown = (self.found_failing or failing) if own else (self.best_failing or failing)
        others = self.found_others if own else self.best_others if self.best_failing else ()
        if self.blind is not None and self.number - self.line_tries >= BLIND_FROM and not near:  # a near miss's first
            # for good, or until a blind try does worse than the bead's code: the server holds one
            # prompt, and going back and forth would read each again
            self.sighted = self.head
            self.head, self.body_left_out = self.blind
            self.blind = None
        if near:
            self.near_shown = near
            hint, asks_first = trynotes.near_miss(near, self.best_counts, self.best_failing, self.best_missing), False
        else:
            hint, asks_first = trynotes.fresh(shown, sent_back, self.best_missing, others, self.body_left_out)
        hint += told
        # the note goes before the reply's opening, which stays last (see opening.py) — unless it
        # asks for a sentence before the code: a reply begun with the code cannot hold one (begun
        # at toolz's imports, the 1.5B sent `unique` back as it was in three tries running, where
        # unbegun it named the line and fixed it)
        content = self.head[-1].get("content") or ""
        before, heading, opening = content.rpartition(f"\n{prompts.OPENING}\n")
        last = heading and "\n## " not in opening  # the prompt's last section, not a line of the bead's text
        if last and asks_first:
            content = f"{before}{hint}"
        elif last:
            content = f"{before}{hint}{heading}{opening}"
        else:
            content += hint
        return [*self.head[:-1], {**self.head[-1], "content": content}], why, hint

    def _ask_line(self, why: str) -> tuple[list[dict[str, Any]], str, str]:
        """A try that asks about the next suspect line alone (suspects.py): the first prompt,
        its reply not begun, the line's note at its end (after a near miss's code and the test
        it failed, when the lines are the near miss's); the files the lines were found in (as
        the bead found them, or as the near miss wrote them)."""
        assert self.sweep
        self.line = self.sweep.pop(0)
        self.reasks, self.reask_next = self.reasks + 1 if self.reask_next else 0, False
        self.line_tries += 1
        self.put_back(self.sweep_files)
        note = self.sweep_note + lineask.ask(self.line, text_of(self.root / self.line.path))
        content = self.head[-1].get("content") or ""
        before, heading, opening = content.rpartition(f"\n{prompts.OPENING}\n")
        content = before if heading and "\n## " not in opening else content
        return [*self.head[:-1], {**self.head[-1], "content": content + note}], why, note

    def line_answer(self, path: str, old: str, new: str) -> str:
        """Why the answer to this try's line, ``new`` in place of ``old`` in ``path``, is not
        tried, ending the try; "" when it is. The line sent back as it was: on to the next
        line. An answer this sweep tried before for that line (its code as the sweep found
        it): the same ask is sent again for another, at most ``suspects.REASKS`` times an ask,
        then on to the next line. In run C13, 8 of the 20 later asks of a line that got a
        correction got one tested before: `TTLCache.expire`'s `while` line got `time <=
        curr.expires` twice, where 2 of the 3 samples in 8 that were not that answer were
        the fix (docs/eval.md, stop 49)."""
        assert self.line is not None
        if old == new:
            self.end("the line came back as it was")
            return "the line as it was"
        if (path, old, new) not in self.answers:
            self.answers.add((path, old, new))
            return ""
        if self.reasks < suspects.REASKS:
            self.sweep.insert(0, self.line)
            self.reask_next = True
            self.end("an answer this line was given before: asked again")
        else:
            self.end(f"an answer this line was given before, asked again {self.reasks} times: on to the next line")
        return "an answer this line was given before, tried then"

    def near_miss(self) -> str:
        """The best answer so far as the fresh try is to see it, when it is a near miss: one
        test failed and none errored, none broke, and it did better than the files as the
        bead found them (the best always does: see ``scored``). Each Python file it changed,
        its path on a line and its code in a block (of a module the bead found, only what it
        added or changed: changes.changed), and the files it deleted; "" for any other best,
        or when that does not fit in ``NEAR_MISS_CHARS``. Other files are left out: the
        code is what the next answer is to keep."""
        counts = self.best_counts
        if self.best is None or counts.get("failed") != 1 or counts.get("errors") or not self.best_failing:
            return ""
        score, files = self.best
        if not score[0] or score[1] < 0:
            return ""
        repo = RigGit(self.root)
        shown = ""
        for path, data in sorted(files.items()):
            old = repo.read_at("HEAD", path)
            if not path.endswith(".py") or same_code(path, _encoded(old), data):
                continue
            if data is None:
                shown += f"It deleted {path}.\n"
                continue
            try:
                code = changes.changed(old, data.decode())
            except UnicodeDecodeError:
                continue
            if code:
                shown += f"{path}\n{prompts.fence(path)}\n{code.strip()}\n```\n"
        return shown if len(shown) <= NEAR_MISS_CHARS else ""

    def near_to_sweep(self) -> tuple[str, str] | None:
        """The near miss whose lines the next tries are to ask about, and the one Python file it
        wrote: the best answer, when it is a near miss (``near_miss``) that a fresh try was
        shown and did not make pass, its lines not swept yet; None otherwise."""
        near = self.near_miss()
        if not near or near != self.near_shown or near == self.near_swept or self.best is None:
            return None

        def changed(path: str, data: bytes | None) -> bool:
            return data is not None and not same_code(path, as_found(self.root, path), data)

        written = [path for path, data in self.best[1].items() if path.endswith(".py") and changed(path, data)]
        return (near, written[0]) if len(written) == 1 else None

    def sweep_near(self, near: str, asks: Sequence[suspects.Suspect]) -> None:
        """Ask about the near miss ``near``'s suspect lines, ``asks`` in order: each try from
        its files, its ask after its code and the test it failed; the near miss is not shown
        again after them."""
        assert self.best is not None
        self.near_swept = near  # traced once
        self.sweep = list(asks)
        self.answers = set()  # on the near miss's code, an answer that failed on the bead's may pass
        if self.sweep:  # else it goes on as before: shown again, unless a try sent it back
            self.spent_near = near
        self.sweep_files = dict(self.best[1])
        self.sweep_note = trynotes.near_miss_shown(near, self.best_counts, self.best_failing, self.best_missing)

    def _holds_best(self) -> bool:
        """Whether the files as they stand hold the best answer's code (a try that sent it back)."""
        if self.best is None or not self.best[1]:
            return False
        return all(same_code(path, data, _read_bytes(self.root / path)) for path, data in self.best[1].items())

    def keep_best(self) -> Score | None:
        """At the end, without a passing run: the best files back when the last run was worse
        (or nothing ran since they were put back); the best run's score, or None when the
        files stay as they are."""
        if self.best is None or (self.score is not None and self.score >= self.best[0]):
            return None
        score, files = self.best
        self.put_back(files)
        return score

    def standing(self) -> dict[str, bytes | None]:
        """Every file the bead wrote as it stands now (None: absent), to ``put_back`` later."""
        return {path: _read_bytes(self.root / path) for path in self.written}

    def put_back(self, files: Mapping[str, bytes | None]) -> None:
        """Every file the bead wrote as ``files`` holds it (None: absent), or as the bead found it."""
        repo = RigGit(self.root)
        for path in sorted(self.written):
            target = self.root / path
            if path not in files:
                if repo.files_at("HEAD", [path]):
                    repo.restore_files("HEAD", [path])
                else:
                    target.unlink(missing_ok=True)
            elif files[path] is None:
                target.unlink(missing_ok=True)
            else:
                target.write_bytes(files[path] or b"")


def code_as_found(root: Path, path: str) -> bool:
    """Whether ``path`` in the worktree at ``root`` holds the code the bead found there (its
    HEAD's), docstrings, comments and layout aside (``same_code``)."""
    return same_code(path, as_found(root, path), _read_bytes(root / path))


def same_code(path: str, old: bytes | None, new: bytes | None) -> bool:
    """Whether a Python file's code is the same in ``old`` and ``new``: the same syntax
    tree, docstrings, comments and layout aside. Other files, and code that does not
    parse, are the same only byte for byte."""
    if old is None or new is None or old == new or not path.endswith(".py"):
        return old == new
    first, second = _tree_of(old), _tree_of(new)
    return first is not None and first == second


def _tree_of(data: bytes) -> str | None:
    try:
        return changes.code_of(ast.parse(data))
    except (SyntaxError, ValueError):
        return None


def as_found(root: Path, path: str) -> bytes | None:
    """A file of the worktree at ``root`` as the bead found it (its HEAD's; None: absent)."""
    return RigGit(root).bytes_at("HEAD", path)


def _encoded(text: str | None) -> bytes | None:
    return None if text is None else text.encode()


def text_of(path: Path) -> str:
    """A worktree file's text ("" when it cannot be read as text)."""
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return ""


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError:
        return None
