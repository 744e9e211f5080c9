"""The tasks branch's history as events: one reader and one record type for everyone —
``gt log``, cost, and the Mayor's ledger (which reads only what is new since last time)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from gastown.town import events
from gastown.town.git import Git

FIELD_SEP, RECORD_SEP = "\x1f", "\x1e"


@dataclass(frozen=True)
class Entry:
    """One commit of the tasks branch, with its trailers parsed."""

    commit: str
    time: int
    author: str
    subject: str
    trailers: tuple[tuple[str, str], ...]
    parent: str | None = None

    @property
    def event(self) -> str:
        return events.first(self.trailers, "Event") or events.MANUAL

    @property
    def beads(self) -> list[str]:
        return events.every(self.trailers, "Bead")

    def get(self, key: str) -> str | None:
        """The first value of trailer ``key``."""
        return events.first(self.trailers, key)

    def to_dict(self) -> dict[str, object]:
        grouped: dict[str, object] = {}
        for key, value in self.trailers:
            if key in grouped:
                current = grouped[key]
                grouped[key] = [*current, value] if isinstance(current, list) else [current, value]
            else:
                grouped[key] = value
        return {
            "commit": self.commit,
            "time": self.time,
            "author": self.author,
            "subject": self.subject,
            "event": self.event,
            "trailers": grouped,
        }


def read(
    git: Git,
    spec: str,
    *,
    bead: str | None = None,
    limit: int | None = None,
    oldest_first: bool = False,
    keep: Collection[str] | None = None,
    timeout: float = 600,
) -> list[Entry]:
    """The commits of ``spec`` (a ref, or ``since..tip``), newest first unless ``oldest_first``;
    only one bead's with ``bead``; only the trailers named in ``keep`` when it is given."""
    args = ["log", f"--format=%H{FIELD_SEP}%P{FIELD_SEP}%ct{FIELD_SEP}%an{FIELD_SEP}%B{RECORD_SEP}", spec]
    if bead is not None:
        args.append(f"--grep=^Bead: {bead}$")
    if limit is not None:
        args.append(f"--max-count={limit}")
    if oldest_first:
        args += ["--reverse", "--topo-order"]
    out = git.run(*args, timeout=timeout).stdout.decode(errors="replace")
    entries = []
    for raw in out.split(RECORD_SEP):
        raw = raw.strip("\n")
        if not raw:
            continue
        commit, parents, stamp, author, message = raw.split(FIELD_SEP, 4)
        trailers = events.parse_trailers(message)
        if keep is not None:
            trailers = [(k, v) for k, v in trailers if k in keep]
        entries.append(
            Entry(
                commit=commit,
                time=int(stamp),
                author=author,
                subject=message.split("\n", 1)[0],
                trailers=tuple(trailers),
                parent=parents.split()[0] if parents else None,
            )
        )
    return entries


def read_log(
    git: Git, ref: str, bead: str | None = None, limit: int | None = None, reverse: bool = False
) -> list[Entry]:
    """Commits of ``ref``, newest first (oldest first with ``reverse``), optionally one bead's."""
    return read(git, ref, bead=bead, limit=limit, oldest_first=reverse)
