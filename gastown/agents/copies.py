"""A reply's lines that copy what the prompt listed of a module, left out of its code.

An excerpt's header lists what it left out of a module as prose above the code block
(excerpt.split_header): ``- word_count(text: str) -> int  (lines 10-12): The number of
words``. Asked to add `reading_time` to a module shown as its imports and that list, the
1.5B wrote the function and then the list as code (``word_count(text: str) -> int  #
(lines 10-12): The number of …``, ``def _SENTENCE_END = re.compile(…)  # (line 7)``): the
block did not compile and the try was lost (docs/eval.md, stop 47). Without those lines it
is the function alone, which is what the excerpt asks to be sent (merge.py keeps the rest).
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache

from gastown.agents.excerpt import ALSO_IN_IT


@lru_cache(maxsize=4)  # asked once a reply, of a first prompt that seldom changes
def listed(prompt: str) -> tuple[str, ...]:
    """The entries of every list of what an excerpt left out in ``prompt`` (the lines under
    ALSO_IN_IT that start with ``- ``), each as ``_plain`` gives it."""
    entries: list[str] = []
    listing = False
    for line in prompt.splitlines():
        if line.strip() == ALSO_IN_IT:
            listing = True
        elif listing and line.startswith("- "):
            entries.append(_plain(line[2:]))
        else:
            listing = False
    return tuple(dict.fromkeys(entry for entry in entries if entry))


def uncopied(code: str, entries: Collection[str]) -> str:
    """``code`` without its lines that copy one of the ``entries`` (``listed``): a line that,
    ``#`` and runs of spaces aside, is a whole entry, with ``def `` before it or not. A
    ``def`` line of a listed function sent back with the entry as its comment is code, not
    a copy (its ``:`` is not in the entry), and stays. Code made only of copies is returned
    as it is: there is nothing of the model's own to keep."""
    if not entries:
        return code
    lines = code.split("\n")
    kept = [line for line in lines if _plain(line).removeprefix("def ") not in entries]
    if len(kept) == len(lines) or not any(line.strip() and not line.lstrip().startswith("#") for line in kept):
        return code
    return "\n".join(kept)


def _plain(text: str) -> str:
    """``text`` without ``#`` and with its runs of spaces as one."""
    return " ".join(text.replace("#", " ").split())
