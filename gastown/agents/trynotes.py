"""What a fresh try is told of the tries before it: the notes at the end of its first prompt.

tries.py decides when a try starts over and from which files; these are the words it adds:
the failure to fix and the other tests that failed, what the check named as left undone, a
near miss's code, or the ask for a sentence naming the line at fault. Why each is worded as
it is, is in tries.py's docstring and docs/eval.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from gastown.agents import testoutput

HINT_CHARS = 800  # of the best run's failure, shown to a try that starts over


def fresh(
    failing: str, sent_back: Sequence[str], missing: str = "", others: Sequence[str] = (), left_out: str = ""
) -> tuple[str, bool]:
    """The note for a try that starts from the bead's files: the failure to fix and the
    other tests that failed beside it, what the check named as still missing in the best
    answer so far (the first sentence of each of its lines: what they go on to ask for,
    "reply with only `summary`", was for a change on top of that answer), and, when it
    named nothing, what the last answer did wrong when it changed no code, or that the
    function ``left_out`` is shown without its body; and whether it asks for a sentence
    before the code."""
    hint = "\n## An earlier try\nAn earlier answer to this bead did not make its tests pass"
    gist = testoutput.gist(failing, HINT_CHARS) if failing else ""
    hint += f". The failure to fix:\n```text\n{gist.strip()}\n```\n" if gist else ".\n"
    if others:
        hint += "It failed these tests too:\n" + "".join(f"- {line}\n" for line in others)
    named = _first_sentences(missing)
    if named:
        hint += "What the best answer so far left undone:\n" + "".join(f"- {line}\n" for line in named)
    if left_out:
        return (
            hint + f"Answers built on the body of `{left_out}` did not fix it, so that body is left out above. "
            f"Write `{left_out}` whole again, from its def line: a new body that does what its docstring and "
            "the bead's description say, and handles that case.\n",
            False,
        )
    # a missing name, or what the check named as left undone, is no line at fault (asked for one,
    # the 1.5B sent reading_time back again where summary() in another file was never changed)
    if sent_back and not named and not _IMPORT_FAILURE_RE.search(gist):
        hint += (
            f"That answer sent {', '.join(sent_back)} back with its code as it was, so the fault is still in it. "
            "This time, first write one sentence naming the line that gives this result and why; then the "
            "file's path and a code block with that line corrected.\n"
        )
        return hint, True
    return (
        hint + "The files above are as the bead found them. Write the code again, so that it handles that case.\n",
        False,
    )


def near_miss(code: str, counts: Mapping[str, int], failing: str, missing: str) -> str:
    """The note for a try that starts over after a near miss (tries.Tries.near_miss): the
    answer's ``code``, the one test it failed (of the tests run: the bead's, and the rig's
    that passed before it) and what the check named as still undone.
    Asked the first prompt again with only the failure, the 1.5B wrote new code that lost
    what the near miss got right (S1's `slugify`: 0 of 12 answers passed, most 1 or 2 of 6
    tests); shown the near miss's code, 6 of 12 passed and 5 more kept 5 of 6."""
    shown = near_miss_shown(code, counts, failing, missing)
    return shown + "Write the code again: keep what that answer got right, and handle that case too.\n"


def near_miss_shown(code: str, counts: Mapping[str, int], failing: str, missing: str) -> str:
    """A near miss's code, the test it failed and what it left undone: what a fresh try
    after it is shown, and what a line of it asked about follows."""
    passed = counts.get("passed", 0)
    hint = f"\n## An earlier try\nAn earlier answer to this bead passed {passed} of the {passed + 1} tests run. "
    hint += f"It was:\n{code}"
    gist = testoutput.gist(failing, HINT_CHARS).strip()
    hint += f"The test it failed:\n```text\n{gist}\n```\n"
    named = _first_sentences(missing)
    if named:
        hint += "What it left undone:\n" + "".join(f"- {line}\n" for line in named)
    return hint


def _first_sentences(missing: str) -> list[str]:
    """The first sentence of each of the check's lines of what is still missing (what they
    go on to ask for, "reply with only `summary`", was for a change on top of that answer)."""
    return [line.split(". ", 1)[0].rstrip(".") + "." for line in missing.strip().splitlines() if line.strip()]


_IMPORT_FAILURE_RE = re.compile(r"\b(?:ImportError|ModuleNotFoundError)\b|ERROR collecting")
