"""The tasks branch's history as events: what ``gt log`` shows and what the Mayor reads."""

from __future__ import annotations

from dataclasses import dataclass

from gastown import events
from gastown.git import Git


@dataclass(frozen=True)
class Entry:
    """One commit of the tasks branch, with its trailers parsed."""

    commit: str
    time: int
    author: str
    subject: str
    trailers: tuple[tuple[str, str], ...]

    @property
    def event(self) -> str:
        return events.first(self.trailers, "Event") or events.MANUAL

    @property
    def beads(self) -> list[str]:
        return events.every(self.trailers, "Bead")

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


def read_log(
    git: Git, ref: str, bead: str | None = None, limit: int | None = None, reverse: bool = False
) -> list[Entry]:
    """Commits of ``ref``, newest first (oldest first with ``reverse``), optionally one bead's."""
    args = ["log", "--format=%H%x1f%ct%x1f%an%x1f%B%x1e", ref]
    if bead is not None:
        args.append(f"--grep=^Bead: {bead}$")
    if limit is not None:
        args.append(f"--max-count={limit}")
    if reverse:
        args.append("--reverse")
    out = git.run(*args).stdout.decode(errors="replace")
    entries = []
    for record in out.split("\x1e"):
        record = record.strip("\n")
        if not record:
            continue
        commit, stamp, author, message = record.split("\x1f", 3)
        entries.append(
            Entry(
                commit=commit,
                time=int(stamp),
                author=author,
                subject=message.split("\n", 1)[0],
                trailers=tuple(events.parse_trailers(message)),
            )
        )
    return entries
