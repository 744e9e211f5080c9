"""Case conversion: split a phrase or an identifier into words, join them in a style."""

from __future__ import annotations

import re

# An acronym (HTTP in HTTPServer), a capitalised or lowercase word, or a run of digits.
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def words(text: str) -> list[str]:
    """The words of ``text``: ``"HTTPServer error_code"`` -> ``["HTTP", "Server", "error", "code"]``."""
    return _WORD.findall(text)


def snake_case(text: str) -> str:
    """``"HTTPServer error"`` -> ``"http_server_error"``."""
    return "_".join(word.lower() for word in words(text))


def kebab_case(text: str) -> str:
    """``"HTTPServer error"`` -> ``"http-server-error"``."""
    return "-".join(word.lower() for word in words(text))


def pascal_case(text: str) -> str:
    """``"http server error"`` -> ``"HttpServerError"``."""
    return "".join(word.capitalize() for word in words(text))


def camel_case(text: str) -> str:
    """``"http server error"`` -> ``"httpServerError"``: the first word all lowercase."""
    parts = words(text)
    if not parts:
        return ""
    first, rest = parts[0], parts[1:]
    return first + "".join(word.capitalize() for word in rest)
