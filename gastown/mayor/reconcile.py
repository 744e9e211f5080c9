"""Reading the tasks history incrementally, and folding it into each bead's timeline.

The Mayor needs nothing but the commits: their trailers say who claimed what under which
generation, what finished, what failed and what was decided. ``Ledger`` remembers the
last commit it read; the next read asks git only for what came after it. When that
commit is no longer an ancestor of the tip (the history was rewritten) the ledger is
thrown away and the whole history is read again. The fold itself is pure: events in,
timelines and counts out.
"""

from __future__ import annotations

import fcntl
import json
import logging
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gastown.town import events
from gastown.town.git import Git
from gastown.town.history import RECORD_SEP, Entry, read

log = logging.getLogger(__name__)

FORMAT = 5  # bump when history.Entry or the tables change: an older ledger is read again from the start
# The trailers the fold keeps, compactly, for metrics and cost.
KEPT = (
    "Bead",
    "Event",
    "Agent",
    "Role",
    "Generation",
    "Recovery",
    "Model",
    "Tokens-In",
    "Tokens-Out",
    "Model-Seconds",
    "Tool-Calls",
    "Tool-Call",
    "Tool-Calls-Failed",
    "Tool-Calls-Recovered",
    "Loops",
    "Stuck",
    "Decision",
    "Convoy",
    "Planned",
    "Status",
    "Lease-Expires",
    "Decode-TPS",
    "Prefill-TPS",
    "Model-Usage",
)


@dataclass
class Timeline:
    """One bead's life as the history tells it (counts; ``git log --grep`` has the rest)."""

    bead: str
    first: int = 0
    last: int = 0
    last_event: str = ""
    events: int = 0
    claims: int = 0
    recoveries: int = 0
    completes: int = 0
    fails: int = 0
    releases: int = 0
    decisions: int = 0
    last_claim: Sequence[Any] | None = None  # (agent, generation) of the live claim
    manual_changes: int = 0  # commits that changed it with no Event trailer
    problems: list[str] = field(default_factory=list)


class Ledger:
    """The timelines folded so far and where the reading stopped, in a small SQLite file.

    Only the beads a new commit touches are read and written back, so an incremental
    reconcile costs a few rows however long the history is. It is a cache of the history:
    deleting it only costs a full read. Without a folder it lives in memory.
    """

    def __init__(self, path: Path | None = None) -> None:
        import sqlite3

        self.path = path
        self.db = sqlite3.connect(str(path) if path is not None else ":memory:", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS timeline "
            "(bead TEXT PRIMARY KEY, data TEXT, problems INTEGER, recoveries INTEGER)"
        )
        # The records of each read, one frame per fold, written in the fold's transaction:
        # what metrics and cost read can never fall behind (or run ahead of) the timelines.
        self.db.execute("CREATE TABLE IF NOT EXISTS frames (seq INTEGER PRIMARY KEY, records BLOB)")
        if self._meta("format") != str(FORMAT):
            self.reset(0)

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set(self, key: str, value: object) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))

    @property
    def last(self) -> str | None:
        return self._meta("last") or None

    @property
    def rewritten(self) -> int:
        return int(self._meta("rewritten") or 0)

    def reset(self, rewritten: int) -> None:
        self.db.execute("DELETE FROM timeline")
        self.db.execute("DELETE FROM frames")
        self.db.execute("DELETE FROM meta")
        self._set("format", FORMAT)
        self._set("rewritten", rewritten)

    def timeline(self, bead: str) -> Timeline | None:
        row = self.db.execute("SELECT data FROM timeline WHERE bead = ?", (bead,)).fetchone()
        return None if row is None else Timeline(**json.loads(row[0]))

    def timelines(self, only_with_problems: bool = False) -> list[Timeline]:
        query = "SELECT data FROM timeline" + (" WHERE problems > 0" if only_with_problems else "") + " ORDER BY bead"
        return [Timeline(**json.loads(row[0])) for row in self.db.execute(query)]

    def recoveries(self) -> int:
        row = self.db.execute("SELECT COALESCE(SUM(recoveries), 0) FROM timeline").fetchone()
        return int(row[0])

    def beads(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM timeline").fetchone()[0])

    def fold(self, records: Sequence[Entry], manual: dict[str, list[str]] | None = None) -> None:
        """Add ``records`` (oldest first): read the touched timelines, apply, write them back."""
        touched: dict[str, list[Entry]] = {}
        for record in records:
            beads = list(record.beads)
            if record.event == events.MANUAL and manual:
                beads = manual.get(record.commit, [])
            for bead in beads:
                touched.setdefault(bead, []).append(record)
        self.db.execute("BEGIN")
        try:
            for bead, mine in touched.items():
                line = self.timeline(bead) or Timeline(bead)
                for record in mine:
                    _apply(line, record)
                self.db.execute(
                    "INSERT OR REPLACE INTO timeline VALUES (?, ?, ?, ?)",
                    (bead, json.dumps(line.__dict__), len(line.problems), line.recoveries),
                )
            if records:
                self._set("last", records[-1].commit)
                frame = pickle.dumps(list(records), protocol=pickle.HIGHEST_PROTOCOL)
                self.db.execute("INSERT INTO frames (records) VALUES (?)", (frame,))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def frames(self) -> list[list[Entry]]:
        """The records of each read, oldest first."""
        found: list[list[Entry]] = []
        for (blob,) in self.db.execute("SELECT records FROM frames ORDER BY seq"):
            try:
                found.append(pickle.loads(blob))
            except ImportError:  # saved by a gastown whose modules lived elsewhere
                log.info("the ledger was saved by an older gastown: the history will be read again")
                self.reset(self.rewritten)
                return []
            except (pickle.UnpicklingError, ValueError, TypeError, AttributeError, EOFError):
                log.warning("the ledger's records are damaged: the history will be read again")
                self.reset(self.rewritten)  # the next read starts from the first commit
                return []
        return found

    def records(self) -> list[Entry]:
        """Every record read so far, oldest first."""
        return [record for frame in self.frames() for record in frame]

    def close(self) -> None:
        self.db.close()


def read_records(git: Git, tip: str, since: str | None) -> list[Entry]:
    """Commits after ``since`` up to ``tip``, oldest first, with the trailers the fold keeps."""
    return read(git, tip if since is None else f"{since}..{tip}", oldest_first=True, keep=KEPT)


def manual_paths(git: Git, commits: Sequence[str]) -> dict[str, list[str]]:
    """Bead ids each commit without trailers changed (so manual edits can be reported)."""
    if not commits:
        return {}
    out = git.run(
        "show", "--no-renames", f"--format={RECORD_SEP}%H", "--name-only", *commits, timeout=600
    ).stdout.decode(errors="replace")
    found: dict[str, list[str]] = {}
    for block in out.split(RECORD_SEP):
        lines = [line for line in block.splitlines() if line]
        if lines:
            from gastown.town.ids import id_from_path

            found[lines[0]] = [b for b in (id_from_path(p) for p in lines[1:]) if b]
    return found


def _apply(line: Timeline, record: Entry) -> None:
    agent = record.get("Agent")
    generation = _int(record.get("Generation"))
    line.first = line.first or record.time
    line.last = record.time
    line.last_event = record.event
    line.events += 1
    kind = record.event
    if kind == events.CLAIM:
        line.claims += 1
        if record.get("Recovery") == "yes":
            line.recoveries += 1
        if not record.get("Lease-Expires"):
            line.problems.append(f"{record.commit[:10]}: a claim without a lease")
        line.last_claim = (agent, generation)
    elif kind in (events.COMPLETE, events.FAIL):
        if line.last_claim is None or line.last_claim[1] != generation:
            line.problems.append(f"{record.commit[:10]}: a result (generation {generation}) without a matching claim")
        if kind == events.COMPLETE:
            line.completes += 1
        else:
            line.fails += 1
        line.last_claim = None
    elif kind == events.RELEASE:
        line.releases += 1
        line.last_claim = None
    elif kind == "decide":
        line.decisions += 1
    elif kind == events.MANUAL and line.events > 1:
        line.manual_changes += 1
        line.problems.append(f"{record.commit[:10]}: changed outside the protocol (a commit with no Event trailer)")


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def bring_up_to_date(git: Git, tip: str | None, folder: Path | None) -> Ledger:
    """The ledger for ``tip``: saved state plus only the new commits (all of them after a rewrite).

    With a ``folder`` the state is kept there (``ledger.sqlite``: timelines and records).
    """
    if folder is None:
        return _update(git, tip, None)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "ledger.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two readers must not append the same records twice
        try:
            return _update(git, tip, folder)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _update(git: Git, tip: str | None, folder: Path | None) -> Ledger:
    ledger = Ledger(folder / "ledger.sqlite" if folder is not None else None)
    if tip is None or ledger.last == tip:
        return ledger
    if ledger.last is not None and not git.is_ancestor(ledger.last, tip):
        log.info("the tasks history was rewritten: reading it all again")
        ledger.reset(ledger.rewritten + 1)
    records = read_records(git, tip, ledger.last)
    manual = manual_paths(git, [r.commit for r in records if r.event == events.MANUAL])
    ledger.fold(records, manual)
    return ledger


def all_records(git: Git, tip: str | None, folder: Path) -> list[Entry]:
    """Every record up to ``tip`` (bringing the saved state up to date first)."""
    ledger = bring_up_to_date(git, tip, folder)
    try:
        return ledger.records() if tip else []
    finally:
        ledger.close()
