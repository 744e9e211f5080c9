"""A reply that repeats itself, or the prompt, cut: a small model that starts writing the
same function again writes it until the token limit — minutes of decode on a CPU. The
provider stops the stream there (see ``providers``) and keeps what came before the first
repeated copy. So too a reply that starts copying the prompt back: the caller names lines
only such a reply writes (the heading of a test the model may not change, the bead's own
title line), and the reply ends before the first of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

LOOP_WINDOW = 320  # characters a reply's end must repeat verbatim from earlier in it to be a loop
LOOP_COPIES = 3  # a loop has the same stretch this many times in a row (an edit's old and new text share one)
MIN_PERIOD = 64  # a repeated stretch shorter than this is a table or a rule of dashes, not a loop
FENCE = "```"


def looping_from(text: str, window: int = LOOP_WINDOW) -> int | None:
    """Where ``text`` began repeating itself: the start of the first repeated copy (what comes
    before it holds one whole copy), when the same stretch of at least MIN_PERIOD characters
    comes LOOP_COPIES times in a row and its last ``window`` characters match; None when it
    does not. A small model that starts writing the same function again writes it until the
    token limit: minutes of decode. A numbered list that repeats its items is a loop too:
    the stretches are compared without each line's indent and list number (the 1.5B wrote
    "6. **Change the code:** …", then "9.", "12.", "15." the same, for 1,300 tokens)."""
    if len(text) < 2 * window:
        return None
    plain, where = _unnumbered(text)
    size = len(plain)
    if size < 2 * window:
        return None
    earlier = plain.rfind(plain[-window:], 0, size - 1)
    if earlier < 0:
        return None
    period = size - window - earlier
    if period < MIN_PERIOD:
        return None
    start = size - 1
    while start - period >= 0 and plain[start] == plain[start - period]:
        start -= 1
    start += 1
    if size - start < (LOOP_COPIES - 1) * period:
        return None
    # a copy that begins a line begins at its indent and number, not after them
    return where[start - 1] + 1 if start and where[start] > where[start - 1] + 1 else where[start]


_LINE_START_RE = re.compile(r"(?m)^[ \t]*(?:\d{1,3}[.)][ \t]+)?")


def _unnumbered(text: str) -> tuple[str, list[int]]:
    """``text`` without each line's indent and list number, and where each character kept
    stands in ``text``."""
    kept: list[str] = []
    where: list[int] = []
    at = 0
    for match in _LINE_START_RE.finditer(text):
        kept.append(text[at : match.start()])
        where.extend(range(at, match.start()))
        at = match.end()
    kept.append(text[at:])
    where.extend(range(at, len(text)))
    return "".join(kept), where


def cut_loop(text: str) -> str | None:
    """``text`` without the part that repeats (a code block it cut open is closed), or None
    when it does not repeat."""
    start = looping_from(text)
    if start is None:
        return None
    kept = text[:start].rstrip()
    if kept.count(FENCE) % 2:
        kept += "\n" + FENCE
    return kept + "\n"


def cut_echo(text: str, marks: Sequence[str]) -> str | None:
    """``text`` up to its first line that copies one of ``marks``, or None when none does. A
    line copies a mark of one line when it ends with it (a heading copied as a comment, or
    under another path, still ends so); a mark of several lines is copied by as many lines in
    a row, the first ending with its first line, each next starting with its next past any
    ``#`` and spaces. A code block it cut open is closed; one it cut before any code is
    dropped."""
    lines = text.split("\n")
    split = [mark.split("\n") for mark in marks if mark]
    found = next((n for n in range(len(lines)) if any(_copies(lines, n, mark) for mark in split)), None)
    if found is None:
        return None
    kept = "\n".join(lines[:found]).rstrip()
    if kept.count(FENCE) % 2:
        opening = kept.rfind(FENCE)
        if "\n" in kept[opening:]:
            kept += "\n" + FENCE
        else:
            kept = kept[:opening].rstrip()
    return kept + "\n" if kept else ""


def _copies(lines: Sequence[str], at: int, mark: Sequence[str]) -> bool:
    if at + len(mark) > len(lines) or not lines[at].rstrip().endswith(mark[0]):
        return False
    return all(lines[at + n].lstrip("# ").startswith(part) for n, part in enumerate(mark[1:], 1))
