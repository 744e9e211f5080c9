"""textkit: small, dependable text utilities (standard library only)."""

from textkit.case import camel_case, kebab_case, pascal_case, snake_case
from textkit.stats import average_word_length, sentence_count, word_count
from textkit.wrap import fill, wrap

__version__ = "0.3.0"

__all__ = [
    "average_word_length",
    "camel_case",
    "fill",
    "kebab_case",
    "pascal_case",
    "sentence_count",
    "snake_case",
    "word_count",
    "wrap",
]
