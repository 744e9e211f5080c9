"""A suspect line's ask and how its reply is read: the line corrected, a check put first.

suspects.py finds the lines a bug fix's failing tests point at (read its docstring first);
this module words the question put to the model about one of them (``ask``: the line shown
alone at the end of the first prompt, no file named) and turns the reply into the edit it
means (``as_edit``): a code block in place of the line, indented as it is; a header sent
back as it was over its body corrected, in place of them both; a missing ``raise`` check
before its line; or, when the model sends the line's whole function or method instead of
the line (as the 1.5B did in run C15, the fix inside it), that definition in its own place.
``as_edit`` gives None when the reply is something else, and it is read the usual way.
``answered`` says where a reply has said what ``as_edit`` reads, so that the model client
stops its decode there.
"""

from __future__ import annotations

import ast
import difflib
import re
import textwrap

from gastown.agents import docstrings, edits, merge, prompts, suspects
from gastown.agents.suspects import MAX_REPLY_LINES, Suspect
from gastown.agents.textcalls import ToolCall

# a line's reply is cut here: its corrections took 10 to 90 tokens, and a class sent back
# instead took 554 (35 s) in run C5, while the time estimate of the next call grew with it
LINE_REPLY_TOKENS = 160
# a line a reply sends under a header stands for the module's line in its place when it is at
# least this like it (difflib's ratio): `k += self.len` for `k += self.len - 1` is 0.87,
# `raise IndexError(k)` for it 0.17
LIKE = 0.6


def ask(suspect: Suspect, text: str) -> str:
    """The note that asks for one suspect line, corrected: the last thing in the prompt. It
    names no file: told a path, the 1.5B answered 4 of run T16's 12 line asks of
    `thread_last` with the whole module under it; asked without one (docs/eval.md, stop 44),
    20 of 24 replies were the line alone. A missing check is asked for as that check alone."""
    if suspect.raises:
        return (
            f"\n## A check is missing\n`{suspect.owner}` never raises {suspect.raises} where the test above "
            f"expects it to. Reply with only a code block holding the check to put first in `{suspect.owner}`'s "
            f"body: an `if` line and its `raise {suspect.raises}(...)`.\n"
        )
    shown = textwrap.dedent("\n".join(suspect.lines(text)))
    only = " (that line alone: its body stays as it is)" if suspect.header else ""
    return (
        f"\n## The line at fault\nThis line of `{suspect.owner}` is the one at fault; it gives the failure above:\n"
        f"{prompts.fence(suspect.path)}\n{shown}\n```\n"
        f"Reply with only a code block holding that line corrected{only}: what should stand in its place "
        "(more than one line if something is missing there).\n"
    )


BLOCK_RE = re.compile(r"```[\w+-]*[ \t]*\n(.*?)```", re.DOTALL)  # a reply's code block: its code


def as_edit(suspect: Suspect, reply: str | None, text: str) -> ToolCall | None:
    """A reply to ``ask`` as the edit it means: a code block of it in place of the suspect's
    lines, indented as they are (a header keeps its body, an `elif` stays one); a header
    sent back as it was over its body corrected, in place of them both (``_going_on``); or
    the definition the line is in sent back whole (``_as_definition``). None when the reply
    is something else (no block, another definition, more than a few lines) and is read the
    usual way. Of several short blocks (the line as it was, then as it should be), the
    first that changes the code (``answered`` ends the reply there). A missing check's block
    (the first that holds an `if` line and its ``raise``: ``_check_of``) goes before its
    line, which stays; asked for a check and sent the function whole, the function is taken
    as it is."""
    old_lines = suspect.lines(text)
    if not old_lines:
        return None
    codes = BLOCK_RE.findall(reply or "")
    if suspect.raises:  # a check put before the line, which stays: an `if` header to its first raise
        blocks = [b for b in (_short(code, suspect) for code in codes) if b]
        if not blocks:
            return _as_definition(suspect, reply, text)
        block = next((check for check in map(_check_of, blocks) if check), [])
        if not block:
            return None
        return _replacing(suspect.path, text, suspect.first, suspect.last, _indented(old_lines[0], block) + old_lines)
    lines = edits.split_lines(text)
    answers: list[tuple[int, list[str]]] = []  # the last line each replaces (from the suspect's first), its lines
    for code in codes:
        going = _going_on(suspect, code, lines)
        if going is not None:
            answers.append(going)
        elif short := _short(code, suspect):
            answers.append((suspect.last, _indented(old_lines[0], short)))
    if not answers:
        return _as_definition(suspect, reply, text)
    changes = (answer for answer in answers if _stripped(answer[1]) != _stripped(lines[suspect.first - 1 : answer[0]]))
    last, new_lines = next(changes, answers[0])
    return _replacing(suspect.path, text, suspect.first, last, new_lines)


def answered(suspect: Suspect, text: str, reply: str) -> str | None:
    """``reply`` (so far) up to the end of its first code block that is not the suspect's
    lines as they were, or None while it holds no such block: what ``as_edit`` reads of it,
    so the rest need not be decoded (the model client's ``enough``). Over the 616 replies
    to line asks kept from runs B1–B3, C13–C16, S19 and T21–T22, 40 % of the tokens came
    after the first block closed — "This change fixes the `KeyError` by returning the next
    …" — about 25 s of decode a bead; a block that sends the line back as it was may be
    followed by the line as it should be ("… should be …"), so it does not end the reply."""
    as_it_was = _stripped(suspect.lines(text))
    for found in BLOCK_RE.finditer(reply):
        if _stripped(textwrap.dedent(found.group(1)).strip("\n").split("\n")) != as_it_was:
            return reply[: found.end()] + "\n"
    return None


def _going_on(suspect: Suspect, code: str, lines: list[str]) -> tuple[int, list[str]] | None:
    """A header's block that holds the header as it is and goes on with the lines after it
    in the module (its body, and on), one or more of them corrected: the last line it stands
    in place of, and the lines to put there. Asked about a header, the 1.5B wrote its body
    under it, the fix in the body: `if k < 0:` got `if k < 0:` over `k += self.len` where
    the module has `k += self.len - 1`, in runs B1 and B2 alike, and it was read as the
    header as it was. Each line sent must stand for the module's line in its place: the
    same shape (deeper, as deep or shallower than the line before it, as the module's is),
    no line left out or put in between (a line matching a later one of the module's is a
    line left out), and like it (``LIKE``); each goes at the indent of the line it stands
    for, and the module must compile with them in. Otherwise the header is read alone, as
    before. Only a header: another line's further lines may be ones the ask invites ("more
    than one line if something is missing there"), and a short one is like the module's
    next line as often as not."""
    old = lines[suspect.first - 1 : suspect.last]
    block = textwrap.dedent(code).strip("\n").split("\n")
    sent, last = block[len(old) :], suspect.last + len(block) - len(old)
    if not suspect.header or not sent or len(block) > MAX_REPLY_LINES:
        return None
    if _stripped(block[: len(old)]) != _stripped(old) or last > len(lines):
        return None
    after = lines[suspect.last : last]
    if _shape(block[len(old) - 1 :]) != _shape(lines[suspect.last - 1 : last]):
        return None
    ahead = lines[suspect.last : last + 2]  # a line sent that matches a later one: one left out
    matched = difflib.SequenceMatcher(None, _stripped(sent), _stripped(ahead), autojunk=False).get_matching_blocks()
    if any(mine != theirs for mine, theirs, size in matched if size):
        return None
    new_lines = list(old)
    for mine, was in zip(sent, after, strict=True):
        if mine.strip() != was.strip() and difflib.SequenceMatcher(None, mine.strip(), was.strip()).ratio() < LIKE:
            return None
        new_lines.append(was[: _indent(was)] + mine.strip() if mine.strip() else "")
    try:
        ast.parse("\n".join([*lines[: suspect.first - 1], *new_lines, *lines[last:]]))
    except SyntaxError:
        return None
    return last, new_lines


def _shape(lines: list[str]) -> list[int | None]:
    """For each line after the first, whether it is deeper (1), as deep (0) or shallower
    (-1) than the last line before it with code; None for a blank line."""
    shape: list[int | None] = []
    depth = _indent(lines[0])
    for line in lines[1:]:
        if not line.strip():
            shape.append(None)
            continue
        shape.append((_indent(line) > depth) - (_indent(line) < depth))
        depth = _indent(line)
    return shape


def _indented(first_old: str, block: list[str]) -> list[str]:
    """A reply's block indented as the first line it replaces (``first_old``) is; an `if`
    in place of an `elif` stays an `elif`."""
    if first_old.lstrip().startswith("elif ") and block[0].startswith("if "):
        block = ["el" + block[0], *block[1:]]
    indent = first_old[: _indent(first_old)]
    return [indent + line if line.strip() else "" for line in block]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _stripped(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines]


def _replacing(path: str, text: str, first: int, last: int, new_lines: list[str]) -> ToolCall | None:
    """The edit of ``path`` (``text``) that puts ``new_lines`` in place of its lines ``first``
    to ``last`` (1-based, inclusive): a window of whole lines around them that occurs once,
    where it stands; None when even the whole text is no such window."""
    lines = edits.split_lines(text)
    ends = text.endswith("\n")
    start, stop = first - 1, last
    at = len("\n".join(lines[:start])) + (1 if start else 0)
    while not _only_at("\n".join(lines[start:stop]) + ("\n" if stop < len(lines) or ends else ""), text, at):
        if start == 0 and stop == len(lines):
            return None
        start, stop = max(0, start - 1), min(len(lines), stop + 1)
        at = len("\n".join(lines[:start])) + (1 if start else 0)
    tail = "\n" if stop < len(lines) or ends else ""
    old = "\n".join(lines[start:stop]) + tail
    kept = [*lines[start : first - 1], *new_lines, *lines[last:stop]]
    new = "\n".join(kept) + tail if kept else ""  # lines only taken out leave no blank line
    return ToolCall("edit_file", {"path": path, "old": old, "new": new}, "", "line")


def _as_definition(suspect: Suspect, reply: str | None, text: str) -> ToolCall | None:
    """A reply that sends back the definition the line is in (``suspect.owner``), whole, as
    the edit of that definition: laid over the module as a fragment of it (merge.py), inside
    its class when it is a method, its docstring kept if the reply left it out. The usual
    reading cannot place a method sent alone whose name more than one class has, and sent
    under the file's path an indented method is a file that does not compile: in run C15
    the 1.5B answered `LRUCache.__getitem__`'s faulty line with the method whole, the fix in
    it, once bare and once indented under the path, and neither was tried (at that ask, 1
    reply in 10 was the method). Its decorators stay when the reply sends none (the ask
    showed the line, not them: a `@staticmethod` dropped would break it). Of several blocks,
    the first that changes the definition; one that sends it back as it was is the line as
    it was; None when no block is that definition alone, or when laid over the module it
    would change anything else or not compile."""
    parts = suspect.owner.split(".")
    try:
        module = ast.parse(text)
    except SyntaxError:
        return None
    found = _definition_at(module, parts, suspect.first)
    if found is None:
        return None
    lines = edits.split_lines(text)
    decorators = textwrap.dedent("\n".join(lines[docstrings.span(found)[0] : found.lineno - 1]))
    in_class = len(parts) == 2 and isinstance(suspects.definition(module, parts[:1]), ast.ClassDef)
    indent = lines[found.lineno - 1][: found.col_offset]  # the class's own, spaces or a tab
    expected = (parts[0],) if in_class else (suspect.owner,)
    as_it_was = False
    for code in BLOCK_RE.findall(reply or ""):
        block = textwrap.dedent(code).strip("\n")
        try:
            sent = ast.parse(block).body
        except SyntaxError:
            continue
        if len(sent) != 1 or not isinstance(sent[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if sent[0].name != parts[-1]:
            continue
        if decorators and not sent[0].decorator_list:
            block = f"{decorators}\n{block}"
        fragment = f"class {parts[0]}:\n{textwrap.indent(block, indent)}" if in_class else block
        try:
            merged = merge.merge(text, fragment)
            ast.parse(merged.text)
        except (merge.Ambiguous, SyntaxError):
            continue
        new = edits.split_lines(merged.text)
        if new == lines:
            as_it_was = True
            continue
        if merged.replaced != expected or merged.added:
            continue  # laid over another definition of that name (a top-level one for a nested one)
        return _replacing(suspect.path, text, *_changed(lines, new))
    if as_it_was:
        return _replacing(suspect.path, text, suspect.first, suspect.last, suspect.lines(text))
    return None


def _definition_at(module: ast.Module, parts: list[str], line: int) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The function or method named by ``parts`` that holds ``line`` (a property's setter,
    not its getter of the same name); None for a method of a nested class or a function
    nested in a method, which no fragment of the module places."""
    if len(parts) > 2:
        return None
    scope = suspects.definition(module, parts[:-1]) if len(parts) == 2 else module
    body = getattr(scope, "body", [])
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == parts[-1]:
            first, end = docstrings.span(node)
            if first < line <= end:
                return node
    return None


def _changed(lines: list[str], new: list[str]) -> tuple[int, int, list[str]]:
    """Where ``new`` differs from ``lines``: the first and last line changed (1-based,
    inclusive) and what stands there now; lines only added take the line before them along
    (or the one after, at the top), so that there is a line to replace."""
    same = 0
    while same < min(len(lines), len(new)) and lines[same] == new[same]:
        same += 1
    after = 0
    while after < min(len(lines), len(new)) - same and lines[-1 - after] == new[-1 - after]:
        after += 1
    if same + after == len(lines):
        same, after = (same - 1, after) if same else (same, after - 1)
    return same + 1, len(lines) - after, new[same : len(new) - after]


def _check_of(block: list[str]) -> list[str]:
    """A block's check: from its `if` line to its first ``raise`` (what follows it, the
    function's first line sent back, is not part of it); none when it is no such thing."""
    if not block[0].startswith("if "):
        return []
    ends = [n for n, line in enumerate(block) if re.match(r"\s*raise\b", line)]
    return block[: ends[0] + 1] if ends else []


def _short(code: str, suspect: Suspect) -> list[str]:
    """A block's lines when it can stand in for the suspect (a header's alone); none else."""
    block = textwrap.dedent(code).strip("\n").split("\n")
    if not block or len(block) > MAX_REPLY_LINES or re.match(r"\s*(async\s+def|def|class|@)\b", block[0]):
        return []
    if suspect.header:  # the header alone: a body the reply wrote under it is not asked for
        ends = [n for n, line in enumerate(block) if line.rstrip().endswith(":")]
        return block[: ends[0] + 1] if ends else []
    return block


def _only_at(window: str, text: str, at: int) -> bool:
    """Whether ``window`` occurs in ``text`` once, at ``at``."""
    return text.find(window) == at and text.find(window, at + 1) == -1
