"""The town's one cache: a SQLite file in the state folder for what is derived from the branch.

The bead index (``index``) and the Mayor's ledger (``gastown.mayor.reconcile``) keep their
tables in ``cache.sqlite``; each write is one transaction, so a reader sees the state
before it or after it, never half of it. Several processes share the file: in WAL mode
readers never wait, and writers wait for each other up to ``BUSY_S``.

It is a cache: deleting it costs a rebuild, nothing else. Damage of any kind reads as no
cache at all, never as an error: a file that is not a database (or a corrupt one) is
removed for the next writer to make anew; a database locked for longer than ``BUSY_S``
or a read-only town is passed by. Rows hold text and numbers only: the pickles this
replaced ran as code for whoever could write the state folder.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import sqlite3

log = logging.getLogger(__name__)

FILE = "cache.sqlite"
BUSY_S = 5.0  # how long a writer waits for another before it goes on without the cache
# What older gastowns cached in the state folder (a pickle, and the ledger's own file).
LEFT_BEHIND = ("index.pickle", "mayor/ledger.sqlite", "mayor/ledger.sqlite-wal", "mayor/ledger.sqlite-shm")
_CORRUPT, _NOTADB = 11, 26  # SQLite's primary result codes for a damaged file

T = TypeVar("T")


def path_in(state_dir: Path) -> Path:
    """Where the town whose state folder is ``state_dir`` keeps its cache."""
    return state_dir / FILE


def connect(path: Path, create: bool = True, busy_s: float | None = None) -> sqlite3.Connection | None:
    """The cache at ``path``, open (WAL, a busy timeout, transactions begun explicitly),
    or None when there is none to be had: missing (unless ``create``), damaged, locked or
    unwritable. A file that is not a database is removed and, with ``create``, made anew."""
    import sqlite3

    for attempt in (1, 2):
        if not create and not path.exists():
            return None
        fresh = not path.exists()
        try:
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, timeout=BUSY_S if busy_s is None else busy_s, isolation_level=None)
        except (sqlite3.Error, OSError) as error:
            log.debug("no cache at %s: %s", path, error)
            return None
        try:
            db.execute("PRAGMA journal_mode=WAL")  # reads the header: a file that is not a database fails here
            db.execute("PRAGMA synchronous=NORMAL")  # a power cut may lose the last writes, never consistency
        except sqlite3.Error as error:
            db.close()
            if attempt == 1 and _damaged(error):
                discard(path, error)
                continue
            log.debug("no cache at %s: %s", path, error)
            return None
        if fresh and create:
            _forget_left_behind(path.parent)
        return db
    return None


@contextmanager
def transaction(db: sqlite3.Connection, write: bool) -> Iterator[sqlite3.Connection]:
    """One transaction: all of it or none of it. A writer takes the write lock first, so it
    never finds, halfway, that another wrote since it read."""
    db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def run(path: Path, work: Callable[[sqlite3.Connection], T], write: bool, busy_s: float | None = None) -> T | None:
    """``work(db)`` in one transaction on the cache at ``path``; None when there is no cache
    or it failed (nothing of it written). A reader never creates the file."""
    import sqlite3

    db = connect(path, create=write, busy_s=busy_s)
    if db is None:
        return None
    try:
        with transaction(db, write):
            return work(db)
    except sqlite3.Error as error:
        trouble(path, error)
        return None
    except (ValueError, TypeError, KeyError) as error:  # a value no gastown wrote: the cache is damaged
        discard(path, error)
        return None
    finally:
        db.close()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a reader makes 100k objects from the cache
    at once: they hold no cycles, and its passes over them as they pile up cost more than
    making them."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def trouble(path: Path, error: Exception) -> None:
    """Note that the cache at ``path`` failed; remove it when the file itself is damaged."""
    if _damaged(error):
        discard(path, error)
    else:  # locked too long, read-only, a disk full: the next try may succeed
        log.debug("the cache at %s was passed by: %s", path, error)


def discard(path: Path, why: object) -> None:
    """Remove the cache at ``path`` and its WAL files: the next writer makes it anew."""
    log.warning("the cache at %s is damaged (%s): it will be rebuilt", path, why)
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        try:
            (path.parent / name).unlink(missing_ok=True)
        except OSError as error:
            log.debug("could not remove %s: %s", path.parent / name, error)


def _damaged(error: Exception) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in (_CORRUPT, _NOTADB)


def _forget_left_behind(state_dir: Path) -> None:
    """Remove what an older gastown cached: it is never read (a pickle is code)."""
    for name in LEFT_BEHIND:
        try:
            (state_dir / name).unlink(missing_ok=True)
        except OSError as error:
            log.debug("could not remove %s: %s", state_dir / name, error)
