"""A bead's tries: when a try whose tests fail starts over, and which files stay at the end.

A small model shown its own wrong code keeps it: asked to fix it from the test output, it
sends it back unchanged. So a change whose tests fail ends the try, unless the check names
what is still missing (a file or a name the tests import, a test it broke); then the try
goes on while its changes get more tests passing (at most ``CHANGES_PER_TRY``). A try that
ends, or a reply that changes nothing while the tests fail, starts the bead over: the
files the bead wrote put back as it found them, the first prompt asked again with the
gist of the best run's failure (the bead's own until an answer does better: the last
answer's may be a case the bead's files got right), sampled hotter. The note goes above
the start of the reply when the prompt ends with one (opening.py). That costs a reply and
no prompt: the server still holds the first prompt. Whatever the tries do, the best
files any of them wrote (by their test run's score) are what the bead ends with.

One fresh try a bead may be a repair. When the best answer so far did better than the files
as the bead found them (some of the failing tests pass now), the next try starts from it: its
files are put back, and the first prompt is followed by that answer's code, as the model's
own reply, and the failure it still has, as the answer to it — a near miss (five tests of
six) is closer to done than a new answer. (Shown both inside the first prompt, a small
model echoed them back word for word.) When the check named what that answer still lacks
(a file or a name the tests import, a placeholder left to fill, a function the bead asks to
change that no change touched: see DoneCheck.still_missing), the repair is told that, not
asked for the line at fault. Only once a bead (``REPAIRS``): asked to repair its own code,
a small model mostly sends it back unchanged, and a new answer costs no more. Otherwise
the try starts from the bead's files. An answer that sent the code back as it was
(a bug fix that fixed nothing: the same code, its docstring dropped) is told so, and asked
to name the line at fault before the code: the same prompt again would get the same reply,
even sampled hot.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gastown.agents import prompts, testoutput
from gastown.agents.merge import span
from gastown.town.riggit import RigGit

CHANGES_PER_TRY = 3  # tested changes after which a try whose tests still fail starts over
FRESH_TEMPERATURE = 0.7  # a try that starts over is sampled at least this hot (Qwen's suggestion for its coders)
REPAIRS = 1  # tries per bead that start from the best answer (a 1.5B's repairs helped once in 22)
HINT_CHARS = 800  # of the last failure, shown to a try that starts over
CODE_CHARS = 3000  # of the best answer's code, shown to a try that repairs it

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
    told: str = ""  # what that try's first prompt ends with besides the failure (a repeated reply)
    start: Score | None = None  # the score of the files as the bead found them (None: not run)
    best_run: tuple[Mapping[str, int], str] = ({}, "")  # the best run's counts and first failure
    best_missing: str = ""  # what the check said the best run's files still lack (DoneCheck.still_missing)
    repairs: int = 0  # tries that started from the best answer so far
    sent_back: tuple[str, ...] = ()  # files the last try's answer sent back with their code as it was
    found_failing: str = ""  # the first failure of the files as the bead found them
    echoes: int = 0  # writes in this try that left the code as it was while something is missing

    def __post_init__(self) -> None:
        if self.start is not None and self.best is None:
            self.best = (self.start, {})  # no try may end the bead worse off than it began

    def scored(
        self, score: Score, counts: Mapping[str, int] | None = None, failing: str = "", missing: str = ""
    ) -> None:
        """A test run of the files as they stand; the best so far keeps its files, its
        counts, its first failure (``failing``) and what it still lacks (``missing``)."""
        if self.best is None or score > self.best[0]:
            self.best = (score, {path: _read_bytes(self.root / path) for path in self.written})
            self.best_run = (dict(counts or {}), failing)
            self.best_missing = missing
        self.score = score

    def began(self, counts: Mapping[str, int], failing: str) -> None:
        """The run of the files as the bead found them: until an answer does better, its first
        failure is the one a fresh try is told of."""
        self.found_failing = failing
        if self.best is not None and self.best[0] == self.start and not self.best_run[1]:
            self.best_run = (dict(counts), failing)

    def echoed(self) -> bool:
        """A write left its file's code as it was, and the check names what the tests still
        import: whether the try goes on with that note rather than ending — only when
        nothing in this try was tested yet (the note is news), and only once."""
        self.echoes += 1
        return self.echoes == 1 and self.changes == 0

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

    def end(self, why: str, told: str = "") -> None:
        """This try is over: the next turn starts a fresh one (the first reason stays), its
        first prompt ending with ``told`` when there is something the model must hear."""
        self.start_over = self.start_over or why
        self.told = self.told or told

    def begin_again(self, failing: str) -> tuple[list[dict[str, Any]], str, str]:
        """Start the next try: the new head, why, and what the head gained. A repair puts the
        best answer's files back and its head is the first prompt, that answer as the model's
        reply and what it still fails; any other try puts the files back as the bead found
        them, its head the first prompt with a note of ``failing`` at its end."""
        why, self.start_over = self.start_over, ""
        told, self.told = self.told, ""
        self.number += 1
        self.changes, self.best_of_try, self.score, self.echoes = 0, None, None, 0
        sent_back, self.sent_back = self.sent_back, ()
        repair = self._repair()
        if repair is not None:
            assert self.best is not None
            self.repairs += 1
            self.put_back(self.best[1])
            # the repaired answer is the try's mark: a change that does worse ends it (a repair
            # that rewrote wrap() instead of adding truncate went from 22 passing to 15 and on)
            self.score = self.best_of_try = self.best[0]
            code, hint = repair
            hint += told
            # the best answer as the model's own reply, the failure as what it is told next: shown
            # both inside one prompt, a small model echoes them back
            return [*self.head, {"role": "assistant", "content": code}, {"role": "user", "content": hint}], why, hint
        self.put_back({})
        # the best run's failure, not the last's: the last answer's may be a case the bead's own
        # files got right (a bug fix answered with new bugs); but an answer that sent the bead's
        # code back is told that code's failure, its own (not the last test run's: a code sent
        # back is not tested again, and the last run was another answer's)
        shown = (self.found_failing or failing) if sent_back else (self.best_run[1] or failing)
        hint = _fresh_hint(shown, sent_back) + told
        # the note goes before the reply's opening, which stays last (see opening.py)
        content = self.head[-1].get("content") or ""
        before, heading, opening = content.rpartition(f"\n{prompts.OPENING}\n")
        last = heading and "\n## " not in opening  # the prompt's last section, not a line of the bead's text
        content = f"{before}{hint}{heading}{opening}" if last else content + hint
        return [*self.head[:-1], {**self.head[-1], "content": content}], why, hint

    def _repair(self) -> tuple[str, str] | None:
        """For a try that starts from the best answer so far: that answer's code, as a reply
        (each file's path and block), and what the model is told of it; None when the next
        try should start from the bead's files: no answer did better than those, the best
        had its repair already (REPAIRS), or its code cannot be shown."""
        if self.best is None or self.start is None or self.best[0] <= self.start or self.repairs >= REPAIRS:
            return None
        score, files = self.best
        counts, failing = self.best_run
        code = "\n".join(_shown_code(self.root, path, data) for path, data in sorted(files.items()))
        gist = testoutput.gist(failing, HINT_CHARS).strip() if failing else ""
        if not code or not gist or len(code) > CODE_CHARS:
            return None
        passed = counts.get("passed", 0)
        ran = passed + counts.get("failed", 0) + counts.get("errors", 0)
        # what is still to write, where the check named it: the fault is no line of this code (asked
        # for one, the 1.5B sent reading_time back again where the bead's summary() was never changed)
        ask = self.best_missing.strip() or (
            "Sent back as it is, it fails the same way. First write one sentence saying which line of your "
            "code gives this result; then the file's path on one line and a code block holding the functions "
            "you change, corrected, keeping what already works."
        )
        return code.rstrip(), (
            f"The tests ran after that change: {passed} of {ran} pass. It still fails this test:\n"
            f"```text\n{gist}\n```\n{ask}"
        )

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


def _fresh_hint(failing: str, sent_back: Sequence[str]) -> str:
    """The note for a try that starts from the bead's files: the failure to fix, and what
    the last answer did wrong when it changed no code."""
    hint = "\n## An earlier try\nAn earlier answer to this bead did not make its tests pass"
    gist = testoutput.gist(failing, HINT_CHARS) if failing else ""
    hint += f". The failure to fix:\n```text\n{gist.strip()}\n```\n" if gist else ".\n"
    if sent_back and not _IMPORT_FAILURE_RE.search(gist):  # a missing name is no line at fault
        hint += (
            f"That answer sent {', '.join(sent_back)} back with its code as it was, so the fault is still in it. "
            "This time, first write one sentence naming the line that gives this result and why; then "
            "the file's path and a code block with that line corrected.\n"
        )
        return hint
    return hint + "The files above are as the bead found them. Write the code again, so that it handles that case.\n"


_IMPORT_FAILURE_RE = re.compile(r"\b(?:ImportError|ModuleNotFoundError)\b|ERROR collecting")


def code_as_found(root: Path, path: str) -> bool:
    """Whether ``path`` in the worktree at ``root`` holds the code the bead found there (its
    HEAD's), docstrings, comments and layout aside (``same_code``)."""
    return same_code(path, _encoded(RigGit(root).read_at("HEAD", path)), _read_bytes(root / path))


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
        tree = ast.parse(data)
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def _shown_code(root: Path, path: str, data: bytes | None) -> str:
    """What an answer wrote to ``path``, as a path line and a block: a new file whole; in a
    Python module the bead found, the top-level definitions it added or changed."""
    if data is None:
        return ""
    text = data.decode(errors="replace")
    found = RigGit(root).read_at("HEAD", path)
    if found is not None and path.endswith(".py"):
        text = _changed_definitions(found, text)
    return f"{path}\n{prompts.fence(path)}\n{text.rstrip()}\n```\n" if text.strip() else ""


def _changed_definitions(old: str, new: str) -> str:
    """The top-level functions and classes of ``new`` that ``old`` lacks or has otherwise,
    each with its decorators (the whole of ``new`` when either does not parse; "" when only
    module-level lines changed — then no repair try is offered)."""
    try:
        before, after = ast.parse(old), ast.parse(new)
    except (SyntaxError, ValueError):
        return new
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    was = {node.name: ast.dump(node) for node in before.body if isinstance(node, kinds)}
    lines = new.splitlines()
    parts = [
        "\n".join(lines[first:last])  # decorators included: a definition sent back without them loses them
        for node in after.body
        if isinstance(node, kinds) and was.get(node.name) != ast.dump(node)
        for first, last in [span(node)]
    ]
    return "\n\n\n".join(part for part in parts if part)


def _encoded(text: str | None) -> bytes | None:
    return None if text is None else text.encode()


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError:
        return None
