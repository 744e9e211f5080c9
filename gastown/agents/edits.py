"""Exact search/replace edits of a text, forgiving only what is unambiguous.

``apply`` replaces the one place where ``old`` occurs. When ``old`` is not found as
given, it is tried again without what small models commonly add or lose — line-number
prefixes copied from ``read_file`` (``  12| ``), trailing whitespace, a uniform shift of
indentation, blank lines at its edges, a function's docstring that the model was shown
without (``hidden``: the bead's prompt lifts long docstrings out of the code) — and the
edit is made only if exactly one place then matches. Otherwise the error says why and
shows where to look: the closest lines of the text, or every line where ``old`` occurs.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

# What read_file puts before each line: the number right-aligned, a bar, a space.
_PREFIX = re.compile(r"^ *(\d+)\|(?: |$)")


class EditError(Exception):
    """The edit cannot be made; the message says what to change in the next try."""


@dataclass(frozen=True)
class Edit:
    """A made edit: the whole new text and where the replacement sits in it (1-based lines)."""

    text: str
    first: int
    last: int  # last line of the replacement; first - 1 when it removed whole lines
    old_first: int
    old_last: int
    forgiven: tuple[str, ...] = ()


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` without their ends: what editors and tracebacks number."""
    if not text:
        return []
    return (text[:-1] if text.endswith("\n") else text).split("\n")


def number(lines: Sequence[str], first: int = 1, width: int = 4) -> str:
    """``lines`` as ``read_file`` shows them: ``  12| text`` from line ``first`` on."""
    return "\n".join(f"{n:>{width}}|" + (f" {line}" if line else "") for n, line in enumerate(lines, first))


def unnumber(text: str) -> str | None:
    """``text`` without read_file's line numbers when every line carries one, counting up by one."""
    lines = split_lines(text)
    found = [_PREFIX.match(line) for line in lines]
    if not lines or not all(found):
        return None
    numbers = [int(m.group(1)) for m in found if m]
    if numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        return None
    stripped = [line[m.end() :] for line, m in zip(lines, found, strict=True) if m]
    return "\n".join(stripped) + ("\n" if text.endswith("\n") else "")


def _strip_prefixes(text: str) -> str:
    """``new`` without the line numbers on the lines that carry one (``old`` had them)."""
    lines = split_lines(text)
    stripped = [line[m.end() :] if (m := _PREFIX.match(line)) else line for line in lines]
    return "\n".join(stripped) + ("\n" if text.endswith("\n") else "")


def _places(text: str, old: str) -> list[int]:
    found, start = [], text.find(old)
    while start >= 0:
        found.append(start)
        start = text.find(old, start + 1)
    return found


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _span(start: int, snippet: str) -> int:
    """The last line a snippet starting on line ``start`` covers (``start - 1`` when empty)."""
    if not snippet:
        return start - 1
    return start + snippet.count("\n") - (1 if snippet.endswith("\n") else 0)


def apply(text: str, old: str, new: str, name: str = "the file", hidden: Sequence[tuple[int, int]] = ()) -> Edit:
    """``text`` with its one occurrence of ``old`` replaced by ``new``; EditError otherwise.
    ``hidden``: 1-based first and last lines of the docstrings ``old`` may leave out."""
    old, new = old.replace("\r\n", "\n"), new.replace("\r\n", "\n")
    if not old.strip():
        raise EditError(f"old is empty, but {name} has content: put the exact lines to replace in old")
    forgiven: list[str] = []
    places = _places(text, old)
    if not places:  # copied from read_file, every line with its number or (typed around) some
        partly = _strip_prefixes(old)
        plain = unnumber(old) or (partly if partly != old and _places(text, partly) else None)
        if plain is not None:
            old, new = plain, _strip_prefixes(new)
            forgiven.append("the line numbers copied from read_file were dropped")
            places = _places(text, old)
    if old == new:
        raise EditError("old and new are the same: nothing would change")
    if len(places) > 1:
        raise _ambiguous(name, [_line_of(text, p) for p in places])
    if places:
        at = places[0]
        first = _line_of(text, at)
        result = text[:at] + new + text[at + len(old) :]
        return Edit(result, first, _span(first, new), first, _span(first, old), tuple(forgiven))
    return _by_lines(text, old, new, name, forgiven, hidden)


def _ambiguous(name: str, lines: list[int]) -> EditError:
    shown = ", ".join(map(str, lines[:10])) + (", ..." if len(lines) > 10 else "")
    return EditError(
        f"old occurs {len(lines)} times in {name} (at lines {shown}); "
        "include more of the surrounding lines in old so that it matches exactly once"
    )


def _shift(window: Sequence[str], wanted: Sequence[str]) -> tuple[str, str] | None:
    """How ``wanted`` lines must be re-indented to equal ``window``: ``("+", D)`` adds D,
    ``("-", D)`` removes it, the same for every line; trailing whitespace never counts."""
    shift: tuple[str, str] | None = None
    for have, want in zip(window, wanted, strict=True):
        have, want = have.rstrip(), want.rstrip()
        if not have or not want:
            if have or want:
                return None
            continue
        body_have, body_want = have.lstrip(), want.lstrip()
        if body_have != body_want:
            return None
        indent_have, indent_want = have[: len(have) - len(body_have)], want[: len(want) - len(body_want)]
        if indent_have.endswith(indent_want):
            this = ("+", indent_have[: len(indent_have) - len(indent_want)])
        elif indent_want.endswith(indent_have):
            this = ("-", indent_want[: len(indent_want) - len(indent_have)])
        else:
            return None
        if not this[1]:
            this = ("+", "")
        if shift is None:
            shift = this
        elif shift != this:
            return None
    return shift or ("+", "")


def _reindent(lines: Sequence[str], shift: tuple[str, str]) -> list[str]:
    sign, indent = shift
    if not indent:
        return list(lines)
    if sign == "+":
        return [indent + line if line.strip() else line for line in lines]
    out = []
    for line in lines:
        ws = len(line) - len(line.lstrip())
        out.append(line[min(ws, len(indent)) :])
    return out


def _trim_blank_edges(lines: list[str]) -> tuple[list[str], int, int]:
    lead = 0
    while lead < len(lines) and not lines[lead].strip():
        lead += 1
    trail = 0
    while trail < len(lines) - lead and not lines[-1 - trail].strip():
        trail += 1
    return lines[lead : len(lines) - trail], lead, trail


def _by_lines(
    text: str, old: str, new: str, name: str, forgiven: list[str], hidden: Sequence[tuple[int, int]] = ()
) -> Edit:
    """Match ``old`` as whole lines, forgiving whitespace; the edit only if one place matches."""
    lines = split_lines(text)
    wanted, replacement = split_lines(old), split_lines(new)
    core, lead, trail = _trim_blank_edges(wanted)
    attempts = [(wanted, replacement, "")]
    if (lead or trail) and core:
        _, new_lead, new_trail = _trim_blank_edges(replacement)
        if new_lead >= lead and new_trail >= trail:  # new keeps the same blank edges: drop them alike
            trimmed = replacement[lead : len(replacement) - trail]
        else:
            trimmed = replacement
        attempts.append((core, trimmed, "the blank lines at the edges of old were ignored"))
    for pattern, put, note in attempts:
        k = len(pattern)
        matches = [(i, s) for i in range(len(lines) - k + 1) if (s := _shift(lines[i : i + k], pattern)) is not None]
        if len(matches) > 1:
            raise _ambiguous(name, [i + 1 for i, _ in matches])
        if not matches:
            continue
        at, shift = matches[0]
        notes = [*forgiven, note] if note else list(forgiven)
        if shift[1]:
            size = f"{len(shift[1])} {'spaces' if not shift[1].strip(' ') else 'characters'}"
            if shift[0] == "+":
                notes.append(f"the file indents these lines {size} deeper than old; new was indented to match")
            else:
                notes.append(f"old was indented {size} deeper than the file; new was dedented to match")
        window = lines[at : at + k]
        if any(len(h) - len(h.rstrip()) != len(w) - len(w.rstrip()) for h, w in zip(window, pattern, strict=True)):
            notes.append("trailing whitespace was ignored")
        placed = _reindent(put, shift)
        result = [*lines[:at], *placed, *lines[at + k :]]
        ending = "\n" if text.endswith("\n") and result else ""
        return Edit("\n".join(result) + ending, at + 1, at + len(placed), at + 1, at + k, tuple(notes))
    pattern, put, _ = attempts[-1]  # without blank edges, when old had them
    made = _without_docstring(text, lines, pattern, put, hidden)
    if made is not None:
        return replace(made, forgiven=(*forgiven, *made.forgiven))
    raise EditError(_not_found(lines, core or wanted, name))


def _without_docstring(
    text: str, lines: Sequence[str], wanted: Sequence[str], put: Sequence[str], hidden: Sequence[tuple[int, int]]
) -> Edit | None:
    """The edit when ``wanted`` matches one place of the text seen without its ``hidden``
    lines, and the only ones it skips are a docstring right below its first line (a
    function copied as the prompt showed it). The docstring stays, below new's first line,
    unless new brings one of its own."""
    skipped = {n - 1 for first, last in hidden for n in range(first, last + 1)}
    view = [i for i in range(len(lines)) if i not in skipped]
    k = len(wanted)
    if not skipped or k < 2:
        return None
    matches = []
    for at in range(len(view) - k + 1):
        window = view[at : at + k]
        shift = _shift([lines[i] for i in window], wanted)
        if shift is not None:
            matches.append((window, shift))
    if len(matches) != 1:
        return None
    window, shift = matches[0]
    first, last = window[0], window[-1]
    inside = [i for i in range(first, last + 1) if i in skipped]
    if not inside or inside != list(range(first + 1, first + 1 + len(inside))):
        return None  # a docstring other than the one below old's first line
    placed = _reindent(put, shift)
    body = _below_signature(placed)
    if body is None:
        return None  # new is no function: where the docstring would go is not known
    own = body < len(placed) and placed[body].lstrip().startswith(('"""', "'''", 'r"""', "r'''"))
    if not own:
        placed = [*placed[:body], *(lines[i] for i in inside), *placed[body:]]
    result = [*lines[:first], *placed, *lines[last + 1 :]]
    ending = "\n" if text.endswith("\n") and result else ""
    notes = ["old left out the function's docstring, as the bead's prompt showed it; the docstring was kept"]
    if shift[1]:
        notes.append("new was re-indented to the file's indentation")
    return Edit("\n".join(result) + ending, first + 1, first + len(placed), first + 1, last + 1, tuple(notes))


def _below_signature(lines: Sequence[str]) -> int | None:
    """The index of the line after the ``def`` line that opens ``lines`` (its decorators
    and comments above it; a signature over several lines ends at the first line ending
    in ``:``), or None when no ``def`` comes first."""
    at = 0
    while at < len(lines) and (not lines[at].strip() or lines[at].lstrip().startswith(("@", "#"))):
        at += 1
    if at == len(lines) or not lines[at].lstrip().startswith(("def ", "async def ")):
        return None
    while at < len(lines) and not lines[at].split("#", 1)[0].rstrip().endswith(":"):
        at += 1
    return at + 1 if at < len(lines) else None


def _not_found(lines: Sequence[str], wanted: Sequence[str], name: str) -> str:
    """Why nothing matched, with the lines of the text most like ``wanted``."""
    if not lines:
        return f"old was not found: {name} is empty (to fill an empty file, give an empty old)"
    k = min(len(wanted), len(lines))
    goal = "\n".join(line.strip() for line in wanted)
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(goal)
    rough = []
    for i in range(len(lines) - k + 1):
        matcher.set_seq1("\n".join(line.strip() for line in lines[i : i + k]))
        rough.append((matcher.quick_ratio(), i))
    best_ratio, best = 0.0, 0
    for _, i in sorted(rough, reverse=True)[:20]:  # the exact ratio is slow: only for the likeliest
        matcher.set_seq1("\n".join(line.strip() for line in lines[i : i + k]))
        if (ratio := matcher.ratio()) > best_ratio:
            best_ratio, best = ratio, i
    start, end = max(0, best - 2), min(len(lines), best + k + 2)
    width = max(4, len(str(len(lines))))
    shown = number(lines[start:end], start + 1, width)
    hint = (
        "Copy the lines exactly as the file has them into old and try again."
        if best_ratio >= 0.5
        else f"Nothing in {name} is close: it may have changed since you read it; read_file it again."
    )
    return (
        f"old was not found in {name}. The most similar lines are {best + 1}-{best + k} "
        f"({best_ratio:.0%} alike), shown with their neighbours:\n{shown}\n{hint}"
    )
