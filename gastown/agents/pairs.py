"""Files that two tries got right, put together before a fresh try.

A bead that changes two files may get each right in a different try, and a fresh try starts
from the files as the bead found them. S16's `reading-time` wrote `summary`'s new line
right beside a wrong `reading_time` in its first try; its second try wrote `reading_time`
right (26 of 27 tests) and, in five answers after it, never that line again. So before a
fresh try the best run's files are tested with one more file as an earlier run wrote it: a
test run each, no model call (DoneCheck.pair_up). A bead that writes one file never gets a
pair: every such set is a run it already had.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

MOST = 2  # sets of files tested before one fresh try

Files = Mapping[str, bytes | None]  # a path and its bytes (None: deleted); a path left out: as the bead found it


def pairs(runs: Sequence[Files], best: Files, found: Callable[[str], bytes | None]) -> list[dict[str, bytes | None]]:
    """The ``best`` run's files, each time with one file as an earlier run had it: first a
    file the best left as the bead ``found`` it, then one in place of the best's own (the
    newest runs' first, each way); never a set of files a run had (a set tested is a run
    too), never a file as the bead found it; at most ``MOST``."""
    each = [changed(run, found) for run in runs]
    had = {key(files) for files in each}
    base = changed(best, found)
    made: list[dict[str, bytes | None]] = []
    for adding in (True, False):
        for files in reversed(each):
            for path, data in sorted(files.items()):
                pair = {**base, path: data}
                if (path in base) == adding or key(pair) in had:
                    continue
                had.add(key(pair))
                made.append(pair)
                if len(made) == MOST:
                    return made
    return made


def changed(files: Files, found: Callable[[str], bytes | None]) -> dict[str, bytes | None]:
    """The files that differ from the bead's own."""
    return {path: data for path, data in files.items() if data != found(path)}


def key(files: Files) -> frozenset[tuple[str, bytes | None]]:
    """A set of files as one value, to tell whether it was tested."""
    return frozenset(files.items())
