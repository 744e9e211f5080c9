"""A bead's tries: when a try whose tests fail starts over, and which files stay at the end.

A small model shown its own wrong code keeps it: asked to fix it from the test output, it
sends it back unchanged. So a change whose tests fail ends the try, unless the check names
what is still missing (a file or a name the tests import, a test it broke); then the try
goes on while its changes get more tests passing (at most ``CHANGES_PER_TRY``). A try that
ends, or a reply that changes nothing while the tests fail, starts the bead over: the
files the bead wrote put back as it found them, the first prompt asked again with the
gist of the last failure, sampled hotter. That costs a reply and no prompt: the server
still holds the first prompt. Whatever the tries do, the best files any of them wrote (by
their test run's score) are what the bead ends with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gastown import testoutput
from gastown.riggit import RigGit

CHANGES_PER_TRY = 3  # tested changes after which a try whose tests still fail starts over
FRESH_TEMPERATURE = 0.7  # a try that starts over is sampled at least this hot (Qwen's suggestion for its coders)
HINT_CHARS = 800  # of the last failure, shown to a try that starts over

Score = tuple[bool, int, int]  # (anything passed, -tests broken, passing - failing): more is better


def score_of(counts: Mapping[str, int], broken: int) -> Score:
    """A test run's score. A run where nothing passed (cut short by a collection error:
    nothing ran, so nothing is "broken") is the worst; then fewer broken tests, then more
    passing than failing."""
    passed = counts.get("passed", 0)
    return (passed > 0, -broken, passed - counts.get("failed", 0) - counts.get("errors", 0))


@dataclass
class Tries:
    """One bead's tries over its worktree at ``root``, which starts from ``head`` (the first prompt)."""

    root: Path
    head: list[dict[str, Any]]
    written: set[str] = field(default_factory=set)  # files a write of this bead changed
    number: int = 1
    changes: int = 0  # tested changes in this try
    best_of_try: Score | None = None
    best: tuple[Score, dict[str, bytes | None]] | None = None  # the best run so far and its files
    score: Score | None = None  # the last run's; None once the files were put back
    start_over: str = ""  # why the next turn starts a fresh try ("" to go on with this one)

    def scored(self, score: Score) -> None:
        """A test run of the files as they stand; the best so far keeps its files."""
        if self.best is None or score > self.best[0]:
            self.best = (score, {path: _read_bytes(self.root / path) for path in self.written})
        self.score = score

    def failed_change(self, guided: bool) -> None:
        """A change's tests failed: note why the try ends, if it does. Without ``guided``
        (a note of what is still missing: a file, a name, a test it broke) the try ends at
        once: asked to repair from the test output alone, a small model sends its code back
        unchanged, where a new answer is as cheap and often different."""
        self.changes += 1
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

    def end(self, why: str) -> None:
        """This try is over: the next turn starts a fresh one (the first reason stays)."""
        self.start_over = self.start_over or why

    def begin_again(self, failing: str) -> tuple[list[dict[str, Any]], str, str]:
        """Start the next try: the files put back as the bead found them; the new head (the
        first prompt plus a note of ``failing``), why, and the note."""
        why, self.start_over = self.start_over, ""
        self.number += 1
        self.put_back({})
        self.changes, self.best_of_try, self.score = 0, None, None
        hint = "\n## An earlier try\nAn earlier answer to this bead did not make its tests pass"
        gist = testoutput.gist(failing, HINT_CHARS) if failing else ""
        hint += f". Its first failure:\n```\n{gist.strip()}\n```\n" if gist else ".\n"
        hint += "The files above are as the bead found them. Write the code again, so that it handles that case.\n"
        last = self.head[-1]
        return [*self.head[:-1], {**last, "content": f"{last.get('content') or ''}{hint}"}], why, hint

    def keep_best(self) -> Score | None:
        """At the end, without a passing run: the best files back when the last run was worse
        (or nothing ran since they were put back); the best run's score, or None when the
        files stay as they are."""
        if self.best is None or (self.score is not None and self.score >= self.best[0]):
            return None
        score, files = self.best
        self.put_back(files)
        return score

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


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError:
        return None
