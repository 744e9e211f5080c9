"""People's names."""

from __future__ import annotations

import re


def initials(name: str) -> str:
    """The initials of ``name``: the first letter of each part, uppercased, each followed by a dot.

    Parts are separated by whitespace or hyphens, so ``"ada lovelace"`` gives ``"A.L."`` and
    ``"Jean-Paul Sartre"`` gives ``"J.P.S."``. Extra whitespace is ignored; an empty or
    blank name gives ``""``.
    """
    return "".join(part[0].upper() + "." for part in re.split(r"[\s-]+", name) if part)
