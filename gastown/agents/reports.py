"""What a bug report and a test's failure say about where a fault is: the names the
report writes as code, and the exception a test expected and never got.

suspects.py ranks lines by the tests they ran in; among lines equally suspect, one that
holds the names of the report comes first (toolz's `update_in`: its report says "should
store `func(default)`", and `inner[k] = default` came 2nd of 15 tied lines where the
file's order put it 14th). A failure that says "DID NOT RAISE" is a check that is not
there, on no line the test runs: sweep.py asks for it first.
"""

from __future__ import annotations

import builtins
import io
import keyword
import re
import textwrap
import tokenize
from collections.abc import Iterable


def names_reported(texts: Iterable[str]) -> frozenset[str]:
    """The identifiers of the code a bead's text writes inline, in backticks ("should store
    `func(default)`": ``func``, ``default``), Python's keywords and builtins aside, fenced
    blocks left out (a pasted traceback names every line it passes). Not the definitions a
    bead names (checks.CODE_NAME_RE), which bound the suspect lines rather than order them."""
    spans = (span for text in texts for span in _SPAN_RE.findall(_FENCE_RE.sub(" ", text)))
    return frozenset(name for span in spans for name in names_in(span)) - _BUILTINS


def names_in(code: str) -> set[str]:
    """The identifiers of a piece of code (its NAME tokens: strings and comments aside),
    Python's keywords aside; as far as it reads as Python tokens."""
    found: set[str] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(textwrap.dedent(code)).readline):
            if token.type == tokenize.NAME and not keyword.iskeyword(token.string):
                found.add(token.string)
    except (tokenize.TokenError, SyntaxError):  # an unclosed string or bracket, a stray indent
        pass
    return found


def not_raised(failure: str) -> str:
    """The exception a test expected and the code never raised (pytest's "DID NOT RAISE"; the
    first of several), by its own name as the module that raises it writes it; or ""."""
    found = _NOT_RAISED_RE.search(failure)
    return found.group(1).split(".")[-1] if found else ""


_FENCE_RE = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
# a span may run over a line's end, as a report wrapped at a width writes it (Markdown's own
# rule), not over a blank line: boltons' `chunk_ranges(input_offset=10, ..., chunk_size=5,` ends
# one line and its `overlap_size=1)` begins the next; read a line at a time, the report's spans
# paired the wrong backticks ("gives" counted as a name, and of the call's names only
# `overlap_size`). By the same rule a stray backtick pairs with the next one in its paragraph.
_SPAN_RE = re.compile(r"`((?:[^`\n]|\n(?![ \t\r]*\n))+)`")
_BUILTINS = frozenset(dir(builtins))
_NOT_RAISED_RE = re.compile(r"DID NOT RAISE\s+\(?(?:<class\s+')?([A-Za-z_][\w.]*)")
