"""Counting words and sentences."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"[.!?]+")


def word_count(text: str) -> int:
    """The number of whitespace-separated words in ``text``."""
    return len(text.split())


def sentence_count(text: str) -> int:
    """The number of sentences: runs of text ended by ``.``, ``!`` or ``?`` (a last
    sentence without an ending counts too)."""
    pieces = _SENTENCE_END.split(text)
    return sum(1 for piece in pieces if piece.strip())


def average_word_length(text: str) -> float:
    """The mean number of letters and digits per word, 0.0 for a text without words."""
    found = text.split()
    if not found:
        return 0.0
    return sum(sum(ch.isalnum() for ch in word) for word in found) / len(found)
