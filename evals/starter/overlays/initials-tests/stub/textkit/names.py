"""People's names."""

from __future__ import annotations


def initials(name: str) -> str:
    """A first try that splits on whitespace only (hyphenated parts are lost)."""
    return "".join(part[0].upper() + "." for part in name.split())
