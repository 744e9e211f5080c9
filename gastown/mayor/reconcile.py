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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gastown.errors import GitFailed
from gastown.town import cache, events
from gastown.town.git import Git
from gastown.town.history import RECORD_SEP, Entry, read

log = logging.getLogger(__name__)

FORMAT = 6  # bump when history.Entry or the tables change: an older ledger is read again from the start
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
    """The timelines folded so far, the records read, and where the reading stopped: tables
    in the town's cache (``gastown.town.cache``), or in memory without one.

    Only the beads a new commit touches are read and written back, so an incremental
    reconcile costs a few rows however long the history is. It is a cache of the history:
    deleting it only costs a full read.
    """

    def __init__(self, path: Path | None = None) -> None:
        import sqlite3

        db = cache.connect(path) if path is not None else None
        self.path = path if db is not None else None
        self.db = db if db is not None else sqlite3.connect(":memory:", isolation_level=None)
        try:
            self._open()
        except sqlite3.Error as error:  # the cache locked for too long, or damaged
            if self.path is None:
                raise
            self.db.close()
            cache.trouble(self.path, error)
            self.path, self.db = None, sqlite3.connect(":memory:", isolation_level=None)
            self._open()  # no cache: a ledger in memory, read from the first commit

    def _open(self) -> None:
        with cache.transaction(self.db, write=True):
            if self._format() != str(FORMAT):
                self._reset(0)

    def _format(self) -> str | None:
        found = self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'ledger_meta'").fetchone()
        return None if found is None else self._meta("format")

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM ledger_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set(self, key: str, value: object) -> None:
        self.db.execute("INSERT OR REPLACE INTO ledger_meta VALUES (?, ?)", (key, str(value)))

    @property
    def last(self) -> str | None:
        return self._meta("last") or None

    @property
    def rewritten(self) -> int:
        return _int(self._meta("rewritten")) or 0

    def reset(self, rewritten: int) -> None:
        """Forget everything read: the next read starts from the first commit."""
        with cache.transaction(self.db, write=True):
            self._reset(rewritten)

    def _reset(self, rewritten: int) -> None:
        for table in ("ledger_meta", "ledger_timeline", "ledger_records"):
            self.db.execute(f"DROP TABLE IF EXISTS {table}")
        self.db.execute("CREATE TABLE ledger_meta (key TEXT PRIMARY KEY, value TEXT)")
        self.db.execute(
            "CREATE TABLE ledger_timeline (bead TEXT PRIMARY KEY, data TEXT, problems INTEGER, recoveries INTEGER)"
        )
        # The records of each read (a frame), written in the fold's transaction: what metrics
        # and cost read can never fall behind (or run ahead of) the timelines.
        self.db.execute("CREATE TABLE ledger_records (seq INTEGER PRIMARY KEY, frame INTEGER, data TEXT)")
        self._set("format", FORMAT)
        self._set("rewritten", rewritten)

    def timeline(self, bead: str) -> Timeline | None:
        row = self.db.execute("SELECT data FROM ledger_timeline WHERE bead = ?", (bead,)).fetchone()
        return None if row is None else _timeline(row[0])

    def timelines(self, only_with_problems: bool = False) -> list[Timeline]:
        where = " WHERE problems > 0" if only_with_problems else ""
        query = f"SELECT data FROM ledger_timeline{where} ORDER BY bead"
        found = (_timeline(data) for (data,) in self.db.execute(query))
        return [line for line in found if line is not None]

    def recoveries(self) -> int:
        row = self.db.execute("SELECT COALESCE(SUM(recoveries), 0) FROM ledger_timeline").fetchone()
        return int(row[0])

    def beads(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM ledger_timeline").fetchone()[0])

    def fold(
        self, records: Sequence[Entry], manual: dict[str, list[str]] | None = None, restart: int | None = None
    ) -> None:
        """Add ``records`` (oldest first): read the touched timelines, apply, write them back
        with the records themselves, in one transaction; after forgetting everything read
        before when ``restart`` gives the new count of rewritten histories."""
        touched: dict[str, list[Entry]] = {}
        for record in records:
            beads = list(record.beads)
            if record.event == events.MANUAL and manual:
                beads = manual.get(record.commit, [])
            for bead in beads:
                touched.setdefault(bead, []).append(record)
        with cache.transaction(self.db, write=True):
            if restart is not None:
                self._reset(restart)
            for bead, mine in touched.items():
                line = self.timeline(bead) or Timeline(bead)
                for record in mine:
                    _apply(line, record)
                self.db.execute(
                    "INSERT OR REPLACE INTO ledger_timeline VALUES (?, ?, ?, ?)",
                    (bead, json.dumps(line.__dict__), len(line.problems), line.recoveries),
                )
            if records:
                frame = (_int(self._meta("frames")) or 0) + 1
                self._set("last", records[-1].commit)
                self._set("frames", frame)
                self.db.executemany(
                    "INSERT INTO ledger_records (frame, data) VALUES (?, ?)", [(frame, _row(r)) for r in records]
                )

    def records(self) -> list[Entry]:
        """Every record read so far, oldest first (none when they are damaged: the ledger
        is then reset, and the next read starts from the first commit)."""
        query = "SELECT group_concat(data, ',') FROM (SELECT data FROM ledger_records ORDER BY seq)"
        (rows,) = self.db.execute(query).fetchone()
        try:
            with cache.collector_paused():  # one JSON text parsed at once: 100k rows cost ~0.1 s
                return [
                    Entry(commit, time, author, subject, tuple(map(tuple, trailers)), parent)
                    for commit, time, author, subject, trailers, parent in json.loads(f"[{rows or ''}]")
                ]
        except (ValueError, TypeError) as error:  # rows written by hand, or by no gastown
            log.warning("the ledger's records are damaged (%s): the history will be read again", error)
            self.reset(self.rewritten)
            return []

    def frames(self) -> list[list[Entry]]:
        """The records of each read, oldest first."""
        records, found, at = self.records(), [], 0
        for (size,) in self.db.execute("SELECT COUNT(*) FROM ledger_records GROUP BY frame ORDER BY frame"):
            found.append(records[at : at + size])
            at += size
        return found

    def close(self) -> None:
        self.db.close()


def _timeline(data: str) -> Timeline | None:
    """A timeline as the ledger keeps it; None (and a warning) for a row no gastown wrote."""
    try:
        return Timeline(**json.loads(data))
    except (ValueError, TypeError) as error:
        log.warning("a timeline in the ledger is damaged (%s): its bead is read as new", error)
        return None


def _row(record: Entry) -> str:
    """A record as the ledger keeps it: a JSON list of history.Entry's fields, in order."""
    return json.dumps([record.commit, record.time, record.author, record.subject, record.trailers, record.parent])


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


def bring_up_to_date(git: Git, tip: str | None, state_dir: Path | None) -> Ledger:
    """The ledger for ``tip``: saved state plus only the new commits (all of them after a rewrite).

    With the town's ``state_dir`` the state is kept in its cache (``cache.sqlite``:
    timelines and records), and readers take turns through ``mayor/ledger.lock``.
    """
    if state_dir is None:
        return _update(git, tip, Ledger())
    folder = state_dir / "mayor"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "ledger.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two readers must not append the same records twice
        try:
            return _saved(git, tip, cache.path_in(state_dir))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _saved(git: Git, tip: str | None, path: Path) -> Ledger:
    """The ledger kept in the cache at ``path``; one in memory when the cache fails midway."""
    import sqlite3

    ledger = Ledger(path)
    try:
        return _update(git, tip, ledger)
    except sqlite3.Error as error:
        ledger.close()
        if ledger.path is None:
            raise  # the ledger in memory failed: not the cache's doing
        cache.trouble(path, error)
        return _update(git, tip, Ledger())


def _update(git: Git, tip: str | None, ledger: Ledger) -> Ledger:
    if tip is None or ledger.last == tip:
        return ledger
    since, restart = ledger.last, None
    if since is not None and not _grows_from(git, since, tip):
        log.info("the tasks history was rewritten: reading it all again")
        since, restart = None, ledger.rewritten + 1
    records = read_records(git, tip, since)
    manual = manual_paths(git, [r.commit for r in records if r.event == events.MANUAL])
    ledger.fold(records, manual, restart)
    return ledger


def _grows_from(git: Git, since: str, tip: str) -> bool:
    """Whether ``tip`` grows from the ledger's last commit (False for one that is not a commit)."""
    try:
        return git.is_ancestor(since, tip)
    except GitFailed:
        return False


def all_records(git: Git, tip: str | None, state_dir: Path) -> list[Entry]:
    """Every record up to ``tip``, from the saved state brought up to date; read without
    the cache when it fails or its records are damaged."""
    import sqlite3

    if tip is None:
        return []
    ledger = bring_up_to_date(git, tip, state_dir)
    try:
        found = ledger.records()
    except sqlite3.Error as error:
        if ledger.path is None:
            raise
        cache.trouble(ledger.path, error)
        found = []
    finally:
        ledger.close()
    if found:  # a tip has at least one commit: none found means the cache let us down
        return found
    ledger = _update(git, tip, Ledger())
    try:
        return ledger.records()
    finally:
        ledger.close()
