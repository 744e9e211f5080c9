"""The derived index of a ``beads/`` tree: one small summary per bead, kept in order.

The branch is the only source of truth; this index is a cache of it, keyed by the id of
the ``beads/`` tree it reflects. Moving it to a newer tree costs one tree diff and one
JSON parse per changed bead, so a claim stays fast at 100k beads. It is saved in the
town's cache (``cache``: a row per bead file, and what the rows reflect) for the next
process, which loses only a rebuild when the cache is gone or from another format.

Summaries are parsed leniently: a bead that bypassed validation is listed with status
``invalid`` and the reason, never dropped and never fatal.
"""

from __future__ import annotations

import bisect
import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from gastown.errors import InvalidBead
from gastown.town import cache, dag, ids, schema, times
from gastown.town.bead import BLOCKS, CLAIMED, OPEN, PARENT_CHILD

if TYPE_CHECKING:
    import sqlite3

log = logging.getLogger(__name__)

INVALID = "invalid"
# How long a save waits for another writer of the cache (the Mayor folding its ledger):
# the save is made under the store's lock, and a skipped one only costs the next process
# a longer catch-up from the tree the cache still holds.
SAVE_WAIT_S = 0.25
FORMAT = 6  # bump when Entry or the tables change shape: a cache of another format is rebuilt


class Entry(NamedTuple):
    """What the queue needs to know of one bead without reading its file."""

    id: str
    path: str
    blob: str
    status: str
    role: str
    priority: int
    created: float
    title: str
    blocks: tuple[str, ...]
    parent: str | None
    expires: float | None
    generation: int
    agent: str | None
    convoy: str | None
    rig: str | None
    issue_type: str
    attempts: int
    estimated_tokens: int | None
    problem: str | None


def _text(value: Any, default: str) -> str:
    return value if isinstance(value, str) else default


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _stamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return times.epoch(value)
    except ValueError:
        return None


def summarize(path: str, blob: str, raw: bytes) -> Entry:
    """An Entry for the bead file at ``path``, however malformed it is. A file that is not
    a bead by ``schema.bead_of`` (the hook's definition) is listed ``invalid`` with the
    first reason: it reached the branch past the hooks, and no claimer may pick it up."""
    file_id = ids.id_from_path(path) or path
    try:
        data = schema.parse_json(raw, path)
    except InvalidBead as error:
        return _invalid(file_id, path, blob, _first(error))
    if not isinstance(data, dict):
        return _invalid(file_id, path, blob, "not a JSON object")
    blocks: list[str] = []
    parent = None
    for dep in data.get("dependencies") or ():
        if isinstance(dep, str):
            blocks.append(dep)
        elif isinstance(dep, dict) and isinstance(dep.get("id"), str):
            kind = dep.get("type", BLOCKS)
            if kind == BLOCKS:
                blocks.append(dep["id"])
            elif kind == PARENT_CHILD and parent is None:
                parent = dep["id"]
    claim = data.get("claim") if isinstance(data.get("claim"), dict) else None
    status = _text(data.get("status"), OPEN)
    problem = None
    if data.get("id") != file_id:
        problem = f"id {data.get('id')!r} does not match file name {file_id}.json"
    elif status not in ("open", "claimed", "done", "failed"):
        problem = f"unknown status {status!r}"
    elif status == CLAIMED and claim is None:
        problem = "claimed without a claim"
    else:
        try:
            schema.bead_of(data, path, file_id)
        except InvalidBead as error:
            problem = _first(error)
    if problem:
        status = INVALID
    return Entry(
        id=file_id,
        path=path,
        blob=blob,
        status=status,
        role=_text(data.get("role"), "polecat") or "polecat",
        priority=_int(data.get("priority"), 2),
        created=_stamp(data.get("created_at")) or 0.0,
        title=_text(data.get("title"), ""),
        blocks=tuple(blocks),
        parent=parent,
        expires=_stamp(claim.get("expires_at")) if claim else None,
        generation=_int(data.get("generation"), 0),
        agent=_text(claim.get("agent"), "") or None if claim else None,
        convoy=data.get("convoy") if isinstance(data.get("convoy"), str) else None,
        rig=data.get("rig") if isinstance(data.get("rig"), str) else None,
        issue_type=_text(data.get("issue_type"), "task"),
        attempts=_int(data.get("attempts"), 0),
        estimated_tokens=(data["estimated_tokens"] if isinstance(data.get("estimated_tokens"), int) else None),
        problem=problem,
    )


def _first(error: InvalidBead) -> str:
    """The first problem, without the path every entry already shows."""
    first = error.problems[0] if error.problems else str(error)
    return first.split(": ", 1)[1] if ": " in first else first


def _invalid(bead_id: str, path: str, blob: str, problem: str) -> Entry:
    return Entry(
        bead_id,
        path,
        blob,
        INVALID,
        "polecat",
        4,
        0.0,
        "",
        (),
        None,
        None,
        0,
        None,
        None,
        None,
        "task",
        0,
        None,
        problem,
    )


def _rank(entry: Entry) -> tuple[int, float, str]:
    return (entry.priority, entry.created, entry.id)


class Index:
    """Every bead of one ``beads/`` tree, with open beads kept in claim order per role."""

    def __init__(self) -> None:
        self.commit: str | None = None  # the tasks commit it reflects
        self.root: str | None = None  # that commit's tree
        self.config_blob: str | None = None  # town.toml at that commit, parsed
        self.config_raw: dict[str, Any] | None = None
        self.config_known = False
        self.tree: str | None = None  # the beads/ tree it reflects
        self.entries: dict[str, Entry] = {}
        self.by_path: dict[str, Entry] = {}
        self.duplicates: dict[str, set[str]] = {}
        self._open: dict[str, list[tuple[int, float, str]]] = {}
        self._claimed: list[tuple[float, str]] = []
        self._saved_tree: str | None = None  # the tree the cache held when this index last read or wrote it
        self._dirty: dict[str, None] = {}  # paths changed since then, last changed last: what the next save writes

    def copy(self) -> Index:
        """An index that moves on its own: the entries are values, the tables are copied."""
        other = Index.__new__(Index)
        other.__dict__.update(self.__dict__)
        other.entries = dict(self.entries)
        other.by_path = dict(self.by_path)
        other.duplicates = {k: set(v) for k, v in self.duplicates.items()}
        other._open = {k: list(v) for k, v in self._open.items()}
        other._claimed = list(self._claimed)
        other._dirty = dict(self._dirty)
        return other

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, bead_id: str) -> Entry | None:
        return self.entries.get(bead_id)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries.values())

    # ---- maintenance -----------------------------------------------------------

    def apply(self, tree: str | None, changes: Iterable[tuple[str, str | None, bytes | None]]) -> int:
        """Move to ``tree`` given the ``(path, blob or None, bytes)`` of changed files."""
        count = 0
        for path, blob, raw in changes:
            old = self.by_path.pop(path, None)
            if old is not None:
                self._drop(old.id, path)
            if blob is not None and raw is not None:
                self._put(summarize(path, blob, raw))
            self._dirty.pop(path, None)
            self._dirty[path] = None
            count += 1
        self.tree = tree
        return count

    def _put(self, entry: Entry) -> None:
        self.by_path[entry.path] = entry
        current = self.entries.get(entry.id)
        if current is not None and current.path != entry.path:
            self.duplicates.setdefault(entry.id, {current.path}).add(entry.path)
            if current.path < entry.path:
                return  # the first path (in sort order) speaks for the id
        if current is not None:
            self._unindex(current)
        self.entries[entry.id] = entry
        self._index(entry)

    def _drop(self, bead_id: str, path: str) -> None:
        others = self.duplicates.get(bead_id)
        if others is not None:
            others.discard(path)
            if len(others) <= 1:
                del self.duplicates[bead_id]
        current = self.entries.get(bead_id)
        if current is None or current.path != path:
            return
        self._unindex(current)
        del self.entries[bead_id]
        if others:  # another file still holds this id: it speaks for it now
            survivor = self.by_path[sorted(others)[0]]
            self.entries[bead_id] = survivor
            self._index(survivor)

    def _index(self, entry: Entry) -> None:
        if entry.status == OPEN:
            bisect.insort(self._open.setdefault(entry.role, []), _rank(entry))
        elif entry.status == CLAIMED and entry.expires is not None:
            bisect.insort(self._claimed, (entry.expires, entry.id))

    def _unindex(self, entry: Entry) -> None:
        if entry.status == OPEN:
            keys = self._open.get(entry.role, [])
            key = _rank(entry)
            at = bisect.bisect_left(keys, key)
            if at < len(keys) and keys[at] == key:
                del keys[at]
        elif entry.status == CLAIMED and entry.expires is not None:
            key2 = (entry.expires, entry.id)
            at = bisect.bisect_left(self._claimed, key2)
            if at < len(self._claimed) and self._claimed[at] == key2:
                del self._claimed[at]

    # ---- queries ---------------------------------------------------------------

    def is_ready(self, entry: Entry, now: float) -> bool:
        """Open (or claimed with an expired lease) and unblocked."""
        if entry.status == OPEN:
            pass
        elif entry.status == CLAIMED and entry.expires is not None and entry.expires <= now:
            pass
        else:
            return False
        return dag.is_unblocked(entry, self.entries.get)

    def ready(self, role: str | None, now: float, limit: int | None = None) -> list[Entry]:
        """Ready beads best first: priority, then age; expired claims take their place."""
        roles = [role] if role is not None else list(self._open)
        found: list[Entry] = []
        for name in roles:
            taken = 0
            for key in self._open.get(name, ()):
                entry = self.entries[key[2]]
                if dag.is_unblocked(entry, self.entries.get):
                    found.append(entry)
                    taken += 1
                    if limit is not None and taken >= limit:
                        break  # each role's list is in order: its best `limit` suffice
        found += self.expired(role, now)
        found.sort(key=_rank)
        return found if limit is None else found[:limit]

    def expired(self, role: str | None, now: float) -> list[Entry]:
        """Claimed beads whose lease has run out (reclaimable), unblocked ones only."""
        found = []
        end = bisect.bisect_right(self._claimed, (now, "\uffff"))
        for _, bead_id in self._claimed[:end]:
            entry = self.entries[bead_id]
            if (role is None or entry.role == role) and dag.is_unblocked(entry, self.entries.get):
                found.append(entry)
        return found

    def best_ready(self, role: str, now: float, skip: frozenset[str] = frozenset()) -> Entry | None:
        """The bead ``gt claim --role`` takes next, or None."""
        best = None
        for key in self._open.get(role, ()):
            if key[2] in skip:
                continue
            entry = self.entries[key[2]]
            if dag.is_unblocked(entry, self.entries.get):
                best = entry
                break
        for entry in self.expired(role, now):
            if entry.id not in skip and (best is None or _rank(entry) < _rank(best)):
                best = entry
        return best

    def live_claims(self) -> list[Entry]:
        """Claimed beads, soonest expiry first."""
        return [self.entries[bead_id] for _, bead_id in self._claimed]

    # ---- persistence -----------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the index into the cache at ``path`` in one transaction: only the files
        changed since this index last read or wrote it when the cache still holds that
        tree, everything otherwise. Losing the cache only costs a rebuild, so a cache that
        cannot be written (a read-only town) is passed by."""
        if cache.run(path, self._write, write=True, busy_s=SAVE_WAIT_S):
            self._saved_tree = self.tree
            self._dirty.clear()

    def _write(self, db: sqlite3.Connection) -> bool:
        db.execute("CREATE TABLE IF NOT EXISTS index_meta (key TEXT PRIMARY KEY, value TEXT)")
        saved = _meta(db)
        if saved.get("format") != FORMAT:
            db.execute("DROP TABLE IF EXISTS index_beads")
            saved = {}
        # One row per bead file: its Entry as a JSON list. Rows are read back in the order
        # they were written, a changed file's row moving last, as the index's tables do.
        db.execute(
            "CREATE TABLE IF NOT EXISTS index_beads (seq INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, entry TEXT)"
        )
        if "tree" in saved and saved["tree"] == self.tree:
            pass  # another process saved this very tree: the rows are already these
        elif self._saved_tree is not None and saved.get("tree") == self._saved_tree:
            db.executemany("DELETE FROM index_beads WHERE path = ?", [(_key(p),) for p in self._dirty])
            _insert(db, [self.by_path[p] for p in self._dirty if p in self.by_path])
        else:
            db.execute("DELETE FROM index_beads")
            _insert(db, list(self.by_path.values()))
        known = self.config_known and _plain(self.config_raw)  # else the next process reads town.toml again
        meta = {
            "format": FORMAT,
            "tree": self.tree,
            "commit": self.commit,
            "root": self.root,
            "config_blob": self.config_blob,
            "config_raw": self.config_raw if known else None,
            "config_known": known,
        }
        db.executemany("INSERT OR REPLACE INTO index_meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
        return True

    @classmethod
    def load(cls, path: Path) -> Index | None:
        """The index saved in the cache at ``path``, or None when there is none, it is from
        another format, or it cannot be read."""
        return cache.run(path, cls._read, write=False)

    @classmethod
    def _read(cls, db: sqlite3.Connection) -> Index | None:
        saved = _meta(db)
        if saved.get("format") != FORMAT or "tree" not in saved:
            return None
        index = cls()
        try:
            index.tree, index.commit, index.root = saved["tree"], saved["commit"], saved["root"]
            index.config_blob = saved["config_blob"]
            index.config_known = saved["config_known"] is True
            index.config_raw = saved["config_raw"] if index.config_known else None
            with cache.collector_paused():
                index._fill(_rows(db))
        except (KeyError, ValueError, TypeError) as error:  # rows written by hand, or by no gastown
            log.info("the cached index cannot be read (%s): it will be rebuilt", error)
            return None
        index._saved_tree = index.tree
        return index

    def _fill(self, rows: list[list[Any]]) -> None:
        """Make each saved row an Entry and fill the tables at once: one sort per list, not
        one insertion per entry."""
        width, at, new = len(Entry._fields), _BLOCKS, tuple.__new__
        made: list[Entry] = []
        for fields in rows:
            if len(fields) != width:
                raise ValueError(f"a row of {len(fields)} fields, not {width}")
            fields[at] = tuple(fields[at])
            made.append(new(Entry, fields))
        self.by_path = {entry.path: entry for entry in made}
        self.entries = {entry.id: entry for entry in made}
        if len(self.entries) < len(made):  # files sharing an id: the first path speaks for it
            self.entries = {}
            for entry in made:
                current = self.entries.setdefault(entry.id, entry)
                if current is not entry:
                    self.duplicates.setdefault(entry.id, {current.path}).add(entry.path)
                    if entry.path < current.path:
                        self.entries[entry.id] = entry
        opened, claimed = self._open, self._claimed
        for entry in self.entries.values():
            if entry.status == OPEN:
                opened.setdefault(entry.role, []).append((entry.priority, entry.created, entry.id))
            elif entry.status == CLAIMED and entry.expires is not None:
                claimed.append((entry.expires, entry.id))
        for keys in opened.values():
            keys.sort()
        claimed.sort()


def _meta(db: sqlite3.Connection) -> dict[str, Any]:
    return {key: json.loads(value) for key, value in db.execute("SELECT key, value FROM index_meta")}


def _insert(db: sqlite3.Connection, entries: list[Entry]) -> None:
    dumps = json.JSONEncoder(separators=(",", ":")).encode  # ASCII: any text SQLite can hold
    db.executemany("INSERT INTO index_beads (path, entry) VALUES (?, ?)", [(_key(e.path), dumps(e)) for e in entries])


def _rows(db: sqlite3.Connection) -> list[list[Any]]:
    """Every saved row, in the order saved: one JSON text for all of them, parsed at once
    (a row at a time costs twice as much at 100k beads)."""
    (rows,) = db.execute("SELECT group_concat(entry, ',') FROM (SELECT entry FROM index_beads ORDER BY seq)").fetchone()
    found: list[list[Any]] = json.loads(f"[{rows or ''}]")
    return found  # a row that is not a list of Entry's fields fails in _fill (TypeError, KeyError, ValueError)


_BLOCKS = Entry._fields.index("blocks")


def _key(path: str) -> str:
    """The cache's key for ``path``: the path, or its JSON when SQLite cannot hold it as text
    (a file name that is not UTF-8)."""
    try:
        path.encode()
    except UnicodeEncodeError:
        return json.dumps(path)
    return path


def _plain(value: Any) -> bool:
    """Whether ``value`` survives a JSON round trip (TOML's dates do not)."""
    try:
        return bool(json.loads(json.dumps(value)) == value)
    except (TypeError, ValueError):
        return False
