"""The tools an agent may call, each confined to the bead's worktree.

Every path a model writes is resolved inside the worktree (``paths``: ``..``, symlinks,
``.git`` and the Refinery's test files refused). Commands run only when the rig allows their
argv prefix, in their own process group, with a timeout and an environment stripped of
secrets; their output is cut, names the worktree's files as ``./path`` and has secrets
redacted. Listings and searches see only what git tracks or would track, never ignored
files; files are changed by exact edits (``edits``) or written whole — checked and cleaned
first (``writes``), a module sent as only some of its definitions merged into it
(``merge``), a function sent without its docstring keeping it (``docstrings``).
"""

from __future__ import annotations

import os
import re
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gastown.agents import docstrings, edits, excerpt, imports, merge, unseen, writes
from gastown.agents.commands import Run, count_tests, run_command, tail
from gastown.agents.jail import Jail
from gastown.agents.paths import SEARCH_SIZE_LIMIT, Paths, ToolError
from gastown.town import git
from gastown.town.secrets import Secrets

READ_LIMIT = 20000
LONG_FILE = 200  # lines: a whole read longer than this says how to read a range
LATE_RUN_SECONDS = 10.0  # a test run that starts at or past its deadline still gets this long


def _plain(text: str) -> str:
    """A new file's text with LF line ends and without line numbers copied from read_file."""
    text = text.replace("\r\n", "\n")
    plain = edits.unnumber(text)
    return text if plain is None else plain


def _lines_named(first: int, last: int) -> str:
    return f"line {first}" if last <= first else f"lines {first}-{last}"


def _line_number(value: Any, name: str) -> int | None:
    """A whole-number argument, also when a model sent it as text ("12")."""
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ToolError(f"{name} must be a whole number, not {value!r}") from None


@dataclass
class Sandbox(Paths):
    """A worktree and the rules for touching it."""

    allowed_commands: Sequence[Sequence[str]] = ()
    shell_timeout: float = 60.0
    test_command: Sequence[str] = ()
    test_timeout: float = 600.0
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    secrets: Secrets | None = None  # default: the secrets of ``env`` found by their names
    python: Sequence[str] = ()  # the rig's interpreter, when its tests run on another than gastown's
    jail: Jail = field(default_factory=Jail)  # how commands run (see jail)
    # by path, the definitions the model was shown only as an outline's stubs and has not read
    # since: a write that changes one keeps it as it is (unseen.py, ``outlined``)
    unseen: dict[str, frozenset[str]] = field(default_factory=dict)
    # by path, the lines read_file showed of the file as it was then (its text's hash)
    lines_read: dict[str, tuple[int, set[int]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._secrets = self.secrets if self.secrets is not None else Secrets.of(self.env)
        self._child_env = self._secrets.strip(git.clean_env(base=self.env))

    def outlined(self, stubs: Mapping[str, frozenset[str]]) -> None:
        """A try starts from the first prompt: the definitions its outlines showed as stubs
        are unread again (a read in an earlier try is not in this try's conversation)."""
        self.unseen = dict(stubs)
        self.lines_read = {}

    # ---- the tools -------------------------------------------------------------

    def read_file(self, path: str, start_line: int | None = None, end_line: int | None = None) -> str:
        # Every read is numbered, a whole file too: tracebacks and test failures name lines, so
        # the model can go from a failure to a range and back without counting, and a range it
        # asks for looks like the whole file it saw. Copied numbers never reach a file:
        # edit_file and write_file drop them.
        target = self.resolve(path)
        if not target.is_file():
            raise ToolError(f"{path}: no such file")
        rel = self.relative(target)
        lines = edits.split_lines(target.read_text(errors="replace").replace("\r\n", "\n"))
        total = len(lines)
        if not total:
            return f"{rel}: the file is empty"
        first = max(_line_number(start_line, "start_line") or 1, 1)
        last = _line_number(end_line, "end_line") or total
        last = total if last < 1 else min(last, total)
        if first > total:
            raise ToolError(f"{rel} has only {total} lines; ask for start_line between 1 and {total}")
        if last < first:
            raise ToolError(f"end_line ({end_line}) is before start_line ({start_line})")
        width = max(4, len(str(total)))
        shown: list[str] = []
        size = 0
        for n in range(first, last + 1):
            row = edits.number([lines[n - 1]], n, width)
            if len(row) > READ_LIMIT:
                row = row[:READ_LIMIT] + " [... the rest of this line is cut ...]"
            size += len(row) + 1
            if shown and size > READ_LIMIT:
                break
            shown.append(row)
        end = first + len(shown) - 1
        if rel in self.unseen:  # a definition whose lines it has now shown is the model's to change
            text = "\n".join(lines)
            was, seen = self.lines_read.get(rel, (hash(text), set()))
            seen = (seen if was == hash(text) else set()) | set(range(first, end + 1))
            self.lines_read[rel] = (hash(text), seen)
            self.unseen[rel] = unseen.unread(text, self.unseen[rel], seen)
        header = f"{rel} lines {first}-{end} of {total}"
        if start_line is None and end_line is None and total > LONG_FILE:
            header += " (a long file: give start_line and end_line to read only the part you need)"
        body = "\n".join([header, *shown])
        if end < last:
            body += f"\n[... cut at {READ_LIMIT} characters: read on with start_line={end + 1} ...]"
        return self._secrets.redact(body)

    def write_file(self, path: str, content: str) -> str:
        home = self.made_up_home(path, content)
        target = self.writable(home or path)
        note = f"; {path} names no folder here, and {home} defines what it holds" if home else ""
        rel = self.relative(target)
        if target.is_file() and excerpt.is_cut(
            content, target.read_text(errors="replace") if rel.endswith(".py") else ""
        ):
            raise ToolError(
                f"not written: that is {rel} as the prompt showed it, its other statements left out; "
                "sent back whole it would drop them. To change its imports, edit_file the lines to change."
            )
        content, cleaned = writes.cleaned(content, rel)
        note += cleaned
        if target.is_file() and target.read_bytes() == content.encode():
            return f"no change: {rel} already holds exactly this content; change the code to change the result"
        self._check_compiles(target, content, rel)
        old = target.read_text(errors="replace") if target.suffix == ".py" and target.is_file() else ""
        if old and merge.is_fragment(old, content):
            try:
                merged = merge.merge(old, content)
            except merge.Ambiguous as error:
                raise ToolError(f"{rel}: {error}") from None
            text, kept_back = self._kept_unread(target, rel, old, merged.text)
            unread = self._unread(rel, kept_back)
            if text == old and kept_back:
                return f"no change: {rel} is as it was{unread}"
            if text == old:
                return f"no change: {rel} already has these definitions exactly; change the code to change the result"
            copied = writes.tests_copied(rel, merged.added, merged.replaced)
            if copied:
                raise ToolError(copied)
            self._check_compiles(target, text, rel)
            text, added = writes.with_imports(rel, text, self.root)
            target.write_text(text)
            kept_names = {where[0] for where in kept_back}
            replaced = [name for name in merged.replaced if name not in kept_names]
            done = [f"replaced {', '.join(replaced)}"] if replaced else []
            done += [f"added {', '.join(merged.added)}"] if merged.added else []
            return (
                f"merged into {rel}: {'; '.join(done) or 'nothing new'}; kept as they were: "
                f"{', '.join(merged.kept) or 'nothing else'} ({len(edits.split_lines(text))} lines now{note}; "
                f"to delete a definition, use edit_file){added}{unread}"
            )
        if old:  # a whole module: the docstrings it was shown without (see prompts) stay
            kept = docstrings.with_docstrings(old, content)
            if kept != content:
                content, note = kept, note + "; the docstrings it left out kept"
        content, kept_back = self._kept_unread(target, rel, old, content) if old else (content, ())
        unread = self._unread(rel, kept_back)
        if kept_back and content == old:
            return f"no change: {rel} is as it was{unread}"
        gutted = writes.gutting(target, content, rel)
        if gutted:
            raise ToolError(gutted)
        self.make_parent(target, path)
        text, added = writes.with_imports(rel, content, self.root)
        target.write_text(text)
        return f"wrote {rel} ({len(text)} characters{note}){added}{unread}"

    def _kept_unread(
        self, target: Path, relative: str, old: str, text: str
    ) -> tuple[str, tuple[tuple[str, int, int], ...]]:
        """``text``, a write's new content, with the definitions the model has not read put
        back as ``old`` has them (unseen.py), and where they are; as sent when that would
        not compile."""
        kept, where = unseen.restored(old, text, self.unseen.get(relative, ()))
        if where and writes.compile_problem(target, kept, relative, self.python):
            return text, ()
        return kept, where

    @staticmethod
    def _unread(relative: str, kept: Sequence[tuple[str, int, int]]) -> str:
        """What a write says of the definitions it kept from a change (unseen.py)."""
        said = "".join(
            f". {name} NOT changed: you saw only its outline; read_file {relative} "
            f"start_line={first} end_line={last}, then send it again"
            for name, first, last in kept
        )
        return f"{said}." if said else ""

    def _check_compiles(self, target: Path, content: str, relative: str) -> None:
        problem = writes.compile_problem(target, content, relative, self.python)
        if problem:
            raise ToolError(problem)

    def edit_file(self, path: str, old: str, new: str) -> str:
        """Replace the one place where ``old`` occurs in ``path`` with ``new``."""
        if not isinstance(old, str) or not isinstance(new, str):
            raise ToolError("edit_file: old and new must be strings (new may be empty)")
        target = self.writable(path)
        rel = self.relative(target)
        if not target.exists():
            if old.strip():
                raise ToolError(f"{rel}: no such file; to create it, call edit_file with an empty old (or write_file)")
            new = _plain(new)
            self._check_compiles(target, new, rel)
            self.make_parent(target, path)
            new, added = writes.with_imports(rel, new, self.root)
            target.write_text(new)
            lines = edits.split_lines(new)
            return self._edited(f"created {rel} ({len(lines)} lines){added}", lines, 1, len(lines))
        try:
            text = target.read_bytes().decode()
        except UnicodeDecodeError:
            raise ToolError(f"{rel}: not a UTF-8 text file; edit_file cannot change it") from None
        crlf = "\r\n" in text and text.count("\r\n") == text.count("\n")
        if crlf:  # edit in "\n" and write the file's own line ends back
            text = text.replace("\r\n", "\n")
        if not old.strip() and not text.strip():
            new = _plain(new)
            made = edits.Edit(new, 1, len(edits.split_lines(new)), 1, len(edits.split_lines(text)))
        else:
            try:
                hidden = excerpt.lifted_lines(text) if rel.endswith(".py") else []
                made = edits.apply(text, old, new, rel, hidden)
            except edits.EditError as error:
                raise ToolError(self._secrets.redact(str(error))) from None
        self._check_compiles(target, made.text, rel)
        text, added = writes.with_imports(rel, made.text, self.root)
        if added:  # the edit's lines move down when the imports went in above them
            grew = len(edits.split_lines(text)) - len(edits.split_lines(made.text))
            below = made.first > imports.insertion_line(made.text)
            made = replace(made, text=text, first=made.first + grew * below, last=made.last + grew * below)
        target.write_bytes((made.text.replace("\n", "\r\n") if crlf else made.text).encode())
        lines = edits.split_lines(made.text)
        was = _lines_named(made.old_first, made.old_last)
        if made.last < made.first:
            summary = f"edited {rel}: deleted {was}; the file now has {len(lines)} lines"
        else:
            now = _lines_named(made.first, made.last)
            summary = f"edited {rel}: replaced {was}; the new text is {now} of {len(lines)}"
        if made.forgiven:
            summary += " (" + "; ".join(made.forgiven) + ")"
        summary += added
        return self._edited(summary, lines, made.first, made.last)

    def _edited(self, summary: str, lines: Sequence[str], first: int, last: int) -> str:
        """``summary`` and the changed lines with two neighbours each side, numbered."""
        start, end = max(1, first - 2), min(len(lines), max(last, first - 1) + 2)
        if end < start:
            return summary
        width = max(4, len(str(len(lines))))
        if end - start < 14:
            shown = edits.number(lines[start - 1 : end], start, width)
        else:  # a long new text: its two ends are enough to go on from
            bottom = end - 5
            top = edits.number(lines[start - 1 : start + 5], start, width)
            low = edits.number(lines[bottom - 1 : end], bottom, width)
            shown = f"{top}\n[... lines {start + 6}-{bottom - 1} ...]\n{low}"
        return self._secrets.redact(f"{summary}\n{shown}")

    def list_dir(self, path: str = ".") -> str:
        target = self.resolve(path or ".")
        if not target.is_dir():
            raise ToolError(f"{path}: not a folder")
        skip = 0 if target == self.root else len(self.relative(target)) + 1
        names: set[str] = set()
        for file in self.files(target):
            head, below, _ = file[skip:].partition("/")
            names.add(head + "/" if below or (target / head).is_dir() else head)
        return "\n".join(sorted(names)) or "(empty: no files here that git tracks or would track)"

    def directory_tree(self, path: str = ".", depth: int = 3) -> str:
        target = self.resolve(path or ".")
        if not target.is_dir():
            raise ToolError(f"{path}: not a folder")
        levels = max(_line_number(depth, "depth") or 3, 1)
        skip = 0 if target == self.root else len(self.relative(target)) + 1
        tree: dict[str, Any] = {}
        for file in self.files(target):
            node = tree
            for part in file[skip:].split("/"):
                node = node.setdefault(part, {})
        lines: list[str] = []

        def count(node: dict[str, Any]) -> int:
            return sum(count(child) if child else 1 for child in node.values())

        def walk(node: dict[str, Any], level: int) -> None:
            for name in sorted(node):
                if len(lines) >= 400:
                    return
                child = node[name]
                if not child:
                    lines.append("  " * level + name)
                elif level + 1 < levels:
                    lines.append("  " * level + name + "/")
                    walk(child, level + 1)
                else:
                    lines.append("  " * level + f"{name}/ ({count(child)} files)")

        walk(tree, 0)
        if len(lines) >= 400:
            lines.append("[... more cut: show a sub-folder, or a smaller depth ...]")
        return "\n".join(lines) or "(empty: no files here that git tracks or would track)"

    def search(self, query: str, path: str = ".", regex: bool = False) -> str:
        target = self.resolve(path or ".")
        try:
            pattern = re.compile(query if regex else re.escape(query))
        except re.error as error:
            raise ToolError(f"search: bad regular expression: {error}") from None
        hits: list[str] = []
        files = [target] if target.is_file() else [self.root / p for p in self.files(target)]
        for file in files:
            if file.is_symlink() or not file.is_file() or file.stat().st_size > SEARCH_SIZE_LIMIT:
                continue
            try:
                text = file.read_text()
            except (UnicodeDecodeError, OSError):
                continue
            for number, line in enumerate(text.splitlines(), 1):
                if pattern.search(line):
                    hits.append(f"{self.relative(file)}:{number}: {line.strip()[:200]}")
                    if len(hits) >= 50:
                        return self._secrets.redact("\n".join(hits) + "\n[... more matches cut ...]")
        return self._secrets.redact("\n".join(hits)) or "no matches"

    def run_tests(self, args: Sequence[str] = (), until: float | None = None) -> tuple[str, Run, dict[str, int]]:
        """The rig's test command (with ``args`` appended: test ids, runner options), stopped
        at the rig's ``test_timeout`` or at ``until`` (``time.monotonic()``), whichever is first."""
        if not self.test_command:
            raise ToolError("this rig has no test command")
        timeout = self.test_timeout
        if until is not None:
            # a change whose tests hang (a model's `while` that never ends) must not take the
            # time the bead needs to keep its best files and commit them
            timeout = min(timeout, max(LATE_RUN_SECONDS, until - time.monotonic()))
        run = self._run([*self.test_command, *args], timeout)
        counts = count_tests(run.output)
        status = "timed out" if run.timed_out else f"exit {run.exit_code}"
        summary = ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "no test counts found"
        text = f"{' '.join(run.argv)}: {status}; {summary}\n{tail(self._secrets.redact(run.output), 6000)}"
        return text, run, counts

    def run_for_tests(self, argv: Sequence[str], until: float | None = None) -> Run:
        """A program of gastown's own that runs the rig's tests (not the model's: no allow-list),
        as ``run_tests`` runs them: the same environment, jail and timeout."""
        timeout = self.test_timeout if until is None else min(self.test_timeout, max(1.0, until - time.monotonic()))
        return self._run(argv, timeout)

    def _run(self, argv: Sequence[str], timeout: float) -> Run:
        """``argv`` run in the worktree, its output naming the worktree's files as ``./path``:
        relative, as a tool takes them (a traceback's absolute path, copied into a call, was
        refused), and still unlike a bare ``path`` in an assertion's values."""
        run = run_command(argv, self.root, timeout, self._child_env, self.jail)
        return replace(run, output=run.output.replace(f"{self.root}/", "./"))

    def shell_exec(self, command: Any) -> str:
        try:
            argv = shlex.split(command) if isinstance(command, str) else list(command or [])
        except ValueError as error:  # "No closing quotation": the model's line, not gastown's fault
            raise ToolError(f"shell_exec: the command line does not parse ({error}): balance its quotes") from None
        if not argv or not all(isinstance(a, str) for a in argv):
            raise ToolError("shell_exec: give a command line as a string")
        allowed = any(tuple(argv[: len(prefix)]) == tuple(prefix) for prefix in self.allowed_commands)
        if not allowed:
            choices = "; ".join(" ".join(p) for p in self.allowed_commands) or "none"
            raise ToolError(f"shell_exec: {argv[0]!r} is not allowed in this rig (allowed: {choices})")
        run = self._run(argv, self.shell_timeout)
        if run.timed_out:
            return f"timed out after {self.shell_timeout:.0f}s\n{tail(self._secrets.redact(run.output))}"
        return f"exit {run.exit_code}\n{tail(self._secrets.redact(run.output))}"
