"""One rough count of tokens, for text no server has counted: fitting a prompt to a context
window, and usage when a server reports none. Cautious (3 characters a token, where English
prose is nearer 4), so a prompt fitted by it does not overflow; the conversation calibrates
it from the server's own counts once it has them."""

from __future__ import annotations

CHARS_PER_TOKEN = 3.0


def estimate(text: str) -> int:
    """Tokens in ``text``, rounded up."""
    return chars_to_tokens(len(text)) + 1


def chars_to_tokens(chars: int) -> int:
    return int(chars / CHARS_PER_TOKEN)


def tokens_to_chars(tokens: int) -> int:
    return int(tokens * CHARS_PER_TOKEN)
