"""The bead store: the tasks branch read through a derived index, written by CAS or push.

Every write is ``update(fn)``: read the tip, let ``fn`` decide the change from what it
sees, check it against the protocol and the schemas (``admission.write_problems``: a
refused change writes nothing), write one commit on top, then move the branch only if the tip is still the one
read (``cas_ref`` locally; ``git push`` with a remote, where a non-fast-forward
rejection means someone else won). On a lost race the store reads again and calls
``fn`` again: a change is never re-applied to a tip it was not decided on. Writers on
one machine take turns through a file lock first, so they rarely lose at all.
"""

from __future__ import annotations

import fcntl
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gastown.errors import ConfigError, Conflict, InvalidBead, NotFound, Refused, Unavailable, UsageError
from gastown.town import cache, events, ids, townfile
from gastown.town import config as configmod
from gastown.town.bead import Bead
from gastown.town.git import last_line, read_ref
from gastown.town.index import INVALID, Index
from gastown.town.refs import CLAIMS_FETCH, REMOTE_REF, TASKS_REF
from gastown.town.town import Town

if TYPE_CHECKING:
    from gastown.town.git import Git

log = logging.getLogger(__name__)

SAVE_EVERY = 256  # bead changes applied before the saved index is refreshed
DECODED_KEPT = 4096  # decoded beads kept in memory (by blob id) before the memo starts over
# Holding the write lock, a ref lock older than this was left by a writer that died.
OWN_LOCK_STALE = 2.0
FETCH_TRIES = 5  # a fetch that meets a ref being moved under it is run again
COMMITTER = "gastown"
Loaded = tuple[str, str | None, bytes | None]  # a bead file written: path, blob (None: removed), bytes
TOWN_SOURCE = "town.toml on the tasks branch"


@dataclass(frozen=True)
class Update:
    """One commit's worth of change, decided by a queue operation from a snapshot."""

    event: events.Event
    beads: Sequence[Bead] = ()
    files: Mapping[str, bytes | None] = field(default_factory=dict)
    body: str = ""
    author: str | None = None


class Snapshot:
    """The tasks branch at one commit: a value. A later write or refresh moves the store's
    shared index on; a snapshot that sees it has moved answers from a private copy brought
    back to its own commit, so what it says never changes."""

    def __init__(self, store: GitStore, commit: str | None, index: Index):
        self.store = store
        self.commit = commit
        self._index = index
        self._tree: str | None = None

    @property
    def index(self) -> Index:
        if self._index.commit != self.commit:
            self._index = self.store.index_at(self.commit, self._index)
        return self._index

    @property
    def tree(self) -> str | None:
        if self._tree is None and self.commit is not None:
            same = self.index.commit == self.commit and self.index.root is not None
            self._tree = self.index.root if same else self.store.git.tree_of(self.commit)
        return self._tree

    def has(self, bead_id: str) -> bool:
        return bead_id in self.index.entries

    def path_of(self, bead_id: str) -> str:
        entry = self.index.get(bead_id)
        return entry.path if entry is not None else ids.shard_path(bead_id)

    def bead(self, bead_id: str) -> Bead:
        """The bead as stored; NotFound, or InvalidBead when its file is malformed.

        The index checked each blob by the hook's definition when it summarized it; a file
        that failed is invalid here too, with the index's reason.
        """
        entry = self.index.get(bead_id)
        if entry is None:
            raise NotFound(f"no bead {bead_id} on the tasks branch", "`gt ready` or `gt status` lists beads")
        if entry.status == INVALID:
            raise InvalidBead([f"{entry.path}: {entry.problem}"], "fix the file with a new commit (gt validate)")
        return self.store.decoded(entry.blob, entry.path)

    def stored(self, bead_id: str) -> Bead | None:
        """The bead as stored, or None when it is absent or its file cannot be read as a bead."""
        try:
            return self.bead(bead_id)
        except (NotFound, InvalidBead):
            return None

    def read(self, path: str) -> bytes | None:
        tree = self.tree
        return None if tree is None else self.store.git.read_path(tree, path)

    def listdir(self, folder: str) -> list[str]:
        """File names directly inside ``folder``."""
        tree = self.tree
        if tree is None:
            return []
        return self.store.git.listdir(tree, folder)

    def config(self) -> configmod.TownConfig:
        return self.store.config_of(self)


def decode_stored(raw: bytes, path: str) -> Bead:
    """A bead from a file already on the branch. The index judged this blob by the hook's
    whole definition when it summarized it (``schema.bead_of``) and lists a file that fails
    as invalid, so reading only decodes: no schema compiled in every command's process."""
    try:
        return Bead.from_dict(json.loads(raw))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        raise InvalidBead(
            [f"{path}: cannot be read as a bead ({type(error).__name__}: {error})"],
            "run `gt validate` and fix the file with a new commit",
        ) from None


class GitStore:
    """Beads on a town's tasks branch, local (CAS) or shared through a remote (push)."""

    def __init__(self, town: Town) -> None:
        self.town = town
        self.remote = town.remote
        self._git: Git | None = None
        self._index: Index | None = None
        self._unsaved = 0
        self._saved_commit: str | None = None
        self._configs: dict[str | None, configmod.TownConfig] = {}
        # The shared index moves in place (a watcher's lease renewer writes while its worker
        # reads): moving it and copying it take turns.
        self._moving = threading.RLock()
        self._beads: dict[tuple[str, str], Bead] = {}  # decoded beads by (blob, path): neither changes

    def decoded(self, blob: str, path: str) -> Bead:
        """The bead stored in ``blob`` at ``path``, decoded once per blob."""
        bead = self._beads.get((blob, path))
        if bead is None:
            bead = decode_stored(self.git.blob(blob), path)  # checks the id against the path, too
            if len(self._beads) >= DECODED_KEPT:
                self._beads.clear()
            self._beads[(blob, path)] = bead
        return bead

    @property
    def git(self) -> Git:
        if self._git is None:
            from gastown.town.git import Git

            self._git = Git(self.town.git_dir)
        return self._git

    @property
    def index_path(self) -> Path:
        """Where the index is saved: the town's one cache."""
        return cache.path_in(self.town.state_dir)

    # ---- reading ---------------------------------------------------------------

    def _ref(self, ref: str) -> str | None:
        try:
            return read_ref(self.town.git_dir, ref)
        except LookupError:
            return self.git.resolve(ref)

    def tip(self) -> str | None:
        local = self._ref(TASKS_REF)
        if local is None and self.remote is not None:
            local = self._ref(REMOTE_REF)
        return local

    def snapshot(self, commit: str | None = None) -> Snapshot:
        """The tasks branch now (or at ``commit``), with its index brought up to date."""
        commit = commit or self.tip()
        if commit is None:
            return Snapshot(self, None, Index())
        with self._moving:
            return Snapshot(self, commit, self._index_for(commit))

    def _index_for(self, commit: str) -> Index:
        index = self._index
        if index is None:
            index = self._index = Index.load(self.index_path) or Index()
            self._saved_commit = index.commit
        if index.commit == commit:
            return index  # warm: no git object is read at all
        root = self.git.tree_of(commit)
        beads_tree = self._subtree(root, ids.BEADS_DIR)
        if index.tree is not None and not self.git.exists(index.tree):
            index = self._index = Index()  # saved for a tree this repository no longer has
        rebuilt = index.tree is None
        loaded = []
        for rel, oid in self.git.diff_trees(index.tree, beads_tree):
            if rel.endswith(".json"):
                raw = self.git.blob(oid) if oid is not None else None
                loaded.append((f"{ids.BEADS_DIR}/{rel}", oid, raw))
        self._unsaved += index.apply(beads_tree, loaded)
        self._move(index, commit, root)
        if rebuilt or self._unsaved >= SAVE_EVERY:
            self.save_index()
        return index

    def index_at(self, commit: str | None, base: Index) -> Index:
        """A private index of ``commit``, made from ``base`` (usually one write away)."""
        if commit is None:
            return Index()
        with self._moving:  # the shared index must not move while it is copied
            index = base.copy()
        root = self.git.tree_of(commit)
        beads_tree = self._subtree(root, ids.BEADS_DIR)
        loaded = []
        for rel, oid in self.git.diff_trees(index.tree, beads_tree):
            if rel.endswith(".json"):
                loaded.append((f"{ids.BEADS_DIR}/{rel}", oid, self.git.blob(oid) if oid is not None else None))
        index.apply(beads_tree, loaded)
        self._move(index, commit, root)
        return index

    def _move(self, index: Index, commit: str, root: str) -> None:
        """Record that ``index`` now reflects ``commit``, re-reading town.toml if it changed."""
        index.commit, index.root = commit, root
        found = self.git.entry(root, townfile.TOWN_FILE)
        blob = None if found is None else found[0]
        if blob != index.config_blob or not index.config_known:
            index.config_blob = blob
            index.config_raw = None
            if blob is not None:
                text = self.git.blob(blob).decode(errors="replace")
                index.config_raw = townfile.parse_toml(text, TOWN_SOURCE)
            index.config_known = True

    def save_index(self) -> None:
        with self._moving:  # the shared index must not move while it is written
            if self._index is not None:
                self._index.save(self.index_path)
                self._unsaved = 0
                self._saved_commit = self._index.commit

    def close(self) -> None:
        """Save the index if it moved since it was loaded or saved (short-lived processes)."""
        if self._index is not None and self._index.commit != self._saved_commit:
            self.save_index()

    def _subtree(self, tree: str | None, name: str) -> str | None:
        found = None if tree is None else self.git.entry(tree, name)
        return None if found is None else found[0]

    def config_of(self, snap: Snapshot) -> configmod.TownConfig:
        """The town.toml in force at ``snap`` (defaults when there is none)."""
        index = snap.index
        if snap.commit is not None and index.commit == snap.commit and index.config_known:
            key, raw = index.config_blob, index.config_raw
        else:
            found = None if snap.tree is None else self.git.entry(snap.tree, townfile.TOWN_FILE)
            key = None if found is None else found[0]
            raw = None
            if key is not None and key not in self._configs:
                raw = townfile.parse_toml(self.git.blob(key).decode(errors="replace"), TOWN_SOURCE)
        cached = self._configs.get(key)
        if cached is None:
            cached = configmod.from_dict(raw or {}, TOWN_SOURCE)
            self._configs[key] = cached
        return cached

    # ---- writing ---------------------------------------------------------------

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Writers on this machine take turns; the CAS or push still decides who wins."""
        self.town.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.town.state_dir / "write.lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def update(self, decide: Callable[[Snapshot], Update], retries: int = 500) -> str:
        """Commit what ``decide`` returns for the current tip, re-deciding after a lost race;
        the new commit's id."""
        with self.turn():
            for _ in range(retries):
                snap = self.snapshot()
                change = decide(snap)
                self.admit(snap, change)
                commit, root, loaded = self.write(snap, change)
                if self._publish(snap.commit, commit, change.event):
                    self.moved(snap, commit, root, loaded)
                    return commit
                if self.remote is not None:
                    self.sync_in_turn()
            raise Conflict(f"the tasks branch moved under us {retries} times in a row")

    def moved(self, snap: Snapshot, commit: str, root: str, loaded: list[Loaded]) -> None:
        """Bring the shared index from ``snap`` to ``commit``, which this process just published."""
        self._maybe_maintain(commit)
        with self._moving:
            index = self._index
            if index is not None and index.commit == snap.commit and snap.commit:
                self._unsaved += index.apply(self._subtree(root, ids.BEADS_DIR), loaded)
                self._move(index, commit, root)

    def admit(self, snap: Snapshot, change: Update) -> None:
        """Refuse a change that breaks the schema or the protocol before anything is written:
        a published commit the town cannot read (a broken town.toml) would stop every command."""
        from gastown.town import admission  # costs ~30 ms to import: reading commands never pay it

        limits = snap.config().limits if snap.commit is not None else townfile.Limits()
        found = admission.write_problems(snap.index, snap.stored, change.beads, change.files, limits, time.time())
        config = [p for p in found.shape if p.startswith(townfile.TOWN_FILE)]
        if config:  # the town's settings, not a bead: say so, with what to do about settings
            raise ConfigError("; ".join(config), "fix the key named above and write town.toml again")
        if found.shape:
            raise InvalidBead(found.shape)
        if found.moves:
            raise Refused("; ".join(found.moves))

    def write(self, snap: Snapshot, change: Update) -> tuple[str, str, list[Loaded]]:
        """Write ``change``'s blobs, tree and commit on ``snap`` without moving any ref:
        (commit, tree, the bead files written)."""
        files: dict[str, str | None] = {}
        loaded: list[Loaded] = []
        for bead in change.beads:
            raw = bead.to_json()
            path = snap.path_of(bead.id)
            oid = self.git.write_blob(raw)
            files[path] = oid
            loaded.append((path, oid, raw))
        for path, data in change.files.items():
            files[path] = None if data is None else self.git.write_blob(data)
            if ids.id_from_path(path) is not None:
                loaded.append((path, files[path], data))
        tree = self.git.write_tree(snap.tree, files)
        now = time.time()
        commit = self.git.write_commit(
            tree,
            [snap.commit] if snap.commit else [],
            change.event.message(change.body),
            self.git.signature(change.author or change.event.agent or COMMITTER, now),
            self.git.signature(COMMITTER, now),
        )
        return commit, tree, loaded

    def _publish(self, old: str | None, new: str, event: events.Event) -> bool:
        """Make ``new`` the tip if the tip is still ``old``; False when someone else won."""
        self.refuse_if_checked_out()
        if self.remote is None:
            return self.git.cas_ref(TASKS_REF, new, old, f"gastown: {event.subject()}", OWN_LOCK_STALE)
        result = self.git.push(self.remote, [f"{new}:refs/heads/tasks"])
        if result.ok:
            local = self.git.resolve(TASKS_REF)
            self.git.cas_ref(TASKS_REF, new, local, f"gastown: {event.subject()}", OWN_LOCK_STALE)
            self.git.set_ref(REMOTE_REF, new)
            return True
        if result.status == "stale":
            return False
        detail = "\n".join(result.remote_messages) or result.reason
        raise Refused(f"the remote refused the change: {detail}", "fix what it names, then try again")

    def refuse_if_checked_out(self) -> None:
        """Never move a branch someone has checked out: their working tree would lie."""
        heads = [self.git.git_dir / "HEAD"]
        worktrees = self.git.git_dir / "worktrees"
        if worktrees.is_dir():
            heads += [p / "HEAD" for p in worktrees.iterdir()]
        for head in heads:
            try:
                text = head.read_text().strip()
            except OSError:
                continue
            if text == f"ref: {TASKS_REF}":
                where = head.parent if head.parent != self.git.git_dir else self.git.workdir
                raise UsageError(
                    f"the tasks branch is checked out in {where}; gastown never moves a checked-out branch",
                    "check out another branch there (`git switch --detach` keeps the files), "
                    "or edit beads in a clone and push",
                )

    def sync(self) -> None:
        """Fetch the remote's tasks branch (and its claim proposals) and fast-forward ours to it."""
        if self.remote is None:
            return
        with self.turn():  # one fetch at a time per clone: they move the same refs
            self.sync_in_turn()

    def _maybe_maintain(self, commit: str) -> None:
        """Start ``git gc --auto`` about once in 16 new tips (those whose id starts ``0``),
        landed here or fetched: every claim leaves loose objects, a fetch of many leaves a
        pack, and gastown's fetches skip git's own upkeep. Starting it costs ~2 ms; git
        decides whether there is anything to do."""
        if commit.startswith("0"):
            self.git.maintain()

    def sync_in_turn(self) -> None:
        """``sync`` for a caller that already holds this clone's turn."""
        assert self.remote is not None
        for attempt in range(FETCH_TRIES):
            proc = self.git.run(
                # git's upkeep after every fetch is a third of a fetch's cost; gastown starts
                # it itself (``_maybe_maintain``), in the background
                "-c",
                "maintenance.auto=false",
                "fetch",
                "--quiet",
                "--no-tags",
                "--prune",  # a proposal folded or dropped elsewhere goes from here too
                self.remote,
                f"+refs/heads/tasks:{REMOTE_REF}",
                CLAIMS_FETCH,
                check=False,
                timeout=120,
            )
            # A git process of a gastown process killed while it held the turn can outlive it
            # and move these refs under this fetch ("cannot lock ref"); and a proposal ref the
            # remote listed can be folded away before this fetch asks for it ("not our ref"):
            # both pass at once; again.
            if proc.returncode == 0 or not any(m in proc.stderr for m in (b"cannot lock ref", b"not our ref")):
                break
            time.sleep(0.05 * (attempt + 1))
        if proc.returncode != 0:
            message = proc.stderr.decode(errors="replace").strip()
            if "couldn't find remote ref" in message:
                return
            raise Unavailable(
                f"cannot fetch the tasks branch from {self.remote}: {last_line(proc)[:500]}",
                f"check the remote (git ls-remote {self.remote})",
            )
        remote_tip = self.git.resolve(REMOTE_REF)
        local = self.git.resolve(TASKS_REF)
        if remote_tip is None or local == remote_tip:
            return
        self._maybe_maintain(remote_tip)
        if local is not None and not self.git.is_ancestor(local, remote_tip):
            raise Refused(
                f"the local tasks branch has commits that are not on {self.remote}",
                f"push them (git push {self.remote} tasks) or reset tasks to {self.remote}/tasks",
            )
        self.refuse_if_checked_out()
        self.git.cas_ref(TASKS_REF, remote_tip, local, f"gastown: sync from {self.remote}", OWN_LOCK_STALE)

    def create(self, files: Mapping[str, bytes], name: str) -> str:
        """The first commit of a new tasks branch."""
        event = events.Event(events.INIT, summary=f"town {name}")

        def decide(snap: Snapshot) -> Update:
            if snap.commit is not None:
                raise Refused("this repository already has a tasks branch")
            return Update(event, files=dict(files))

        return self.update(decide, retries=1)

    def publish(self) -> None:
        """Push the local tasks branch to the remote (adopting a town that had none)."""
        assert self.remote is not None
        tip = self.git.resolve(TASKS_REF)
        if tip is None:
            return
        result = self.git.push(self.remote, [f"{tip}:refs/heads/tasks"], verify=True)  # not all written by gastown
        if not result.ok:
            raise Refused(f"could not publish tasks to {self.remote}: {result.reason}")
        self.git.set_ref(REMOTE_REF, tip)
