"""N-grams of tokens."""

from __future__ import annotations

from collections.abc import Sequence


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """Every run of ``n`` consecutive tokens, in order."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def bigrams(text: str) -> list[tuple[str, ...]]:
    """Pairs of consecutive lowercase words of ``text``."""
    return ngrams(text.lower().split(), 2)
