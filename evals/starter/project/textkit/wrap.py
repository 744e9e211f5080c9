"""Wrapping text into lines of a given width."""

from __future__ import annotations

DEFAULT_WIDTH = 70


def wrap(text: str, width: int = DEFAULT_WIDTH) -> list[str]:
    """Break ``text`` into lines of at most ``width`` characters.

    Words are separated by any run of whitespace and joined by single spaces. A word
    longer than ``width`` is never split: it gets a line of its own. A blank text gives
    an empty list. ``width`` must be at least 1 (ValueError otherwise).
    """
    if width < 1:
        raise ValueError(f"width must be at least 1, got {width}")
    lines: list[str] = []
    current = ""
    for word in text.split():
        if not current:
            current = word
        elif len(current) + 1 + len(word) < width:
            current += " " + word
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines


def fill(text: str, width: int = DEFAULT_WIDTH) -> str:
    """``wrap(text, width)`` as one string, the lines joined by newlines."""
    return "\n".join(wrap(text, width))
