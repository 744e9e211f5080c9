"""URL slugs."""

from __future__ import annotations

import re
import unicodedata


def slugify(text: str, separator: str = "-") -> str:
    """``text`` as a lowercase ASCII slug, runs of other characters replaced by ``separator``."""
    if not separator:
        raise ValueError("separator must not be empty")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", separator, ascii_text.lower()).strip(separator)
