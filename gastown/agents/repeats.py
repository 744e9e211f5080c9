"""Noticing a model that does the same thing and gets the same answer.

A small model at a low temperature repeats a reply exactly. The second time the same call
gets the same answer (or the same change is made again), the model is told plainly what
repeats and what to try instead, and the next request is sampled hotter; past the limit
the loop ends as stuck. A change to the files resets what counts as "the same answer".
The same unusable reply (no call, or none that can be used) counts over the whole bead:
the second time, the try starts over, hotter; the third ends the bead as stuck. "Hotter"
widens the model's nucleus too (``sampling``): the temperature alone reshapes only the
tokens the nucleus kept. A change that an earlier try sent too (the files put back since)
makes every later try start at the hottest temperature: the usual fresh try's had already
drawn it twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

TEMPERATURES = (0.2, 0.7, 1.0)  # by how often the model has repeated itself since the files changed
# the nucleus of a request that must differ from what came before: llama.cpp cuts top_k and
# top_p before it applies the temperature, so inside Qwen's top_p 0.8 a hotter request often
# has one token to choose from (three fresh tries of humanize's apnumber, at 0.7, wrote the
# same reply word for word, and the bead ended stuck at 104 s of 300)
WIDE_SAMPLING = {"top_p": 0.95, "top_k": 40}
_DURATION_RE = re.compile(r"\b\d+(?:\.\d+)?s\b")  # test run times differ between identical runs
HINTS = {
    "finish": "Change the code so the failing tests above pass; the bead ends by itself when they do.",
    "read_file": "The file's content is above. If the path is wrong, use list_dir or directory_tree to find it.",
    "run_tests": "Change the code first (edit_file or write_file), then run the tests again.",
    "edit_file": "Read the file's current lines with read_file and copy the snippet exactly.",
    "write_file": "The file already has this content; change the code in another way.",
    "search": "Search for something else, or read the file.",
    "list_dir": "The listing is above; read a file or change the code.",
    "directory_tree": "The tree is above; read a file or change the code.",
}


class Stuck(Exception):
    """The model repeated itself past the limit."""


class Repeats:
    """What the model has done since the files last changed, and how often."""

    def __init__(self, limit: int) -> None:
        self.limit = limit  # the same call with the same answer: pointed out at 2, stuck at this
        self._seen: dict[str, int] = {}
        self._writes: dict[str, int] = {}  # the same change made again: a loop even though the file changes
        self.heat = 0  # repeats since the files last changed: each asks for a less likely reply
        self.floor = TEMPERATURES[0]  # the coolest a request is sampled (raised for a fresh try)
        self._earlier: set[str] = set()  # changes made in tries before this one
        self._drawn_again = False  # a change of an earlier try was sent again: later tries start hottest
        self._replies: dict[str, int] = {}  # unusable replies, counted over the whole bead

    def see(self, key: str) -> int:
        """How many times ``key`` has now been seen since the last change to the files."""
        self._seen[key] = self._seen.get(key, 0) + 1
        if self._seen[key] >= 2:
            self.warm()
        return self._seen[key]

    def repeated(self, key: str, answer: str, what: str, tool: str = "") -> str:
        """The note for a call that got this answer before ("" the first time); Stuck past the limit."""
        seen = self.see(f"{key}\0{_DURATION_RE.sub('', answer)}")
        if seen >= self.limit:
            raise Stuck(f"{what} repeated {seen} times with the same result")
        if seen < 2:
            return ""
        return (
            "\n\nNote: you did exactly this before and got exactly this answer. Repeating it will not help; "
            f"one more time ends the bead as stuck. {HINTS.get(tool, 'Do something different.')}"
        )

    def replied(self, reply: str, what: str) -> str:
        """The note for the same unusable reply again ("" the first time); Stuck past the limit.
        Counted over the bead's tries, not only this one: a try that starts over (see tries) is
        how a model that repeats a reply gets out of it, and one that sends it yet again there
        cannot."""
        self._replies[reply] = seen = self._replies.get(reply, 0) + 1
        if seen >= self.limit:
            raise Stuck(f"{what} repeated {seen} times")
        if seen < 2:
            return ""
        self.warm()
        return (
            "\n\nNote: you sent exactly this reply before, and it did nothing. Repeating it will not help; "
            "one more time ends the bead as stuck."
        )

    def rewritten(self, key: str, what: str) -> str:
        """The note for the same change made again (an edit inserting the same lines twice)."""
        self._writes[key] = self._writes.get(key, 0) + 1
        made = self._writes[key]
        if made >= self.limit:
            raise Stuck(f"{what} made the same change {made} times")
        if made < 2:
            return ""
        if key in self._earlier:  # sent in a try that started over: the files were put back since
            # (one wrong 181-token truncate came in three of eleven tries, once at 0.2 and
            # twice at 0.7, and the bead ended stuck at 171 s of 300)
            self._drawn_again = True
            return (
                "\n\nNote: an earlier try sent exactly this, and it failed the same way; one more identical "
                "answer ends the bead as stuck. Write the code differently."
            )
        return (
            "\n\nNote: you made exactly this change before; the file may now hold it twice. "
            "read_file the file and fix what is there; one more identical change ends the bead as stuck."
        )

    def changed(self) -> None:
        """The files changed: the same call may now rightly get a new answer."""
        self._seen.clear()
        self.heat = 0

    def start_over(self, temperature: float) -> None:
        """The conversation starts again from the first prompt with the files put back: what
        was seen is forgotten, except the changes sent (the same one sent in every try is
        still a loop), and every request is sampled at least this hot (the hottest once a
        change of an earlier try came again)."""
        self.changed()
        self.floor = TEMPERATURES[-1] if self._drawn_again else temperature
        self._earlier.update(self._writes)

    def warm(self) -> None:
        """The model repeated itself (or wrote what was already there)."""
        self.heat += 1

    def sampling(self, model: Mapping[str, float]) -> dict[str, float]:
        """What the next request changes of the model's own ``sampling``: nothing while it may
        repeat itself, and a nucleus at least WIDE_SAMPLING's once it must not (a fresh try,
        or a repeat) — raising only the limits the model sets (top_k 0 sets none)."""
        if self.temperature <= TEMPERATURES[0]:
            return {}
        return {
            key: WIDE_SAMPLING[key]
            for key, value in model.items()
            if key in WIDE_SAMPLING and value and value < WIDE_SAMPLING[key]
        }

    @property
    def temperature(self) -> float:
        """The sampling temperature of the next request: a small model that repeats itself at
        a low temperature repeats itself exactly; a hotter retry is its one way out."""
        ladder = (self.floor, *(t for t in TEMPERATURES if t > self.floor))
        return ladder[min(self.heat, len(ladder) - 1)]
