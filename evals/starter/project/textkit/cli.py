"""The command line: ``textkit FILE`` prints a summary of a text."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from textkit.stats import average_word_length, sentence_count, word_count


def summary(text: str) -> str:
    """A few lines describing ``text``: its words, sentences and average word length."""
    lines = [
        f"words: {word_count(text)}",
        f"sentences: {sentence_count(text)}",
        f"average word length: {average_word_length(text):.1f}",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the summary of the file named in ``argv`` (``-``: standard input)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: textkit FILE", file=sys.stderr)
        return 2
    if args[0] == "-":
        text = sys.stdin.read()
    else:
        try:
            with open(args[0], encoding="utf-8") as handle:
                text = handle.read()
        except OSError as error:
            print(f"textkit: {args[0]}: {error.strerror}", file=sys.stderr)
            return 1
    print(summary(text))
    return 0
