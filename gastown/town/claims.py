"""Claims that do not wait for each other: a proposal per bead, folded into ``tasks``.

With a remote, every write to the one ``tasks`` branch is a push that serialises with every
other; claims on different beads should not. So a claim starts as a **proposal**: the claim
commit, written on the tasks tip the claimer read, pushed to ``refs/claims/<bead id>`` only
if that ref does not exist. Proposals for different beads touch different refs and never
contend; two claimers after the same bead meet on its ref, one wins and the other is refused
in milliseconds and picks another bead.

A proposal counts once it is **folded**: a commit on tasks carrying the same change, message
and author, pushed atomically with the deletion of the proposal's ref (both land or neither
does). A fold carries every proposal its clone has fetched (up to ``MOST_FOLDED``), so under
load one push to tasks lands many claims; a claimer whose proposal is not the first pending
leaves the fold to the first's owner for a moment. The fold decides again on the tip it
builds on: a proposal whose bead changed since it was made (someone else's claim landed, the
owner renewed, a person edited it) is void, and its ref is deleted with the rest. Tasks stays
the one source of truth and exactly-once holds per generation; a claimer starts work only
once its claim is on tasks.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from gastown.errors import ConfigError, Conflict, GastownError, InvalidBead, NothingReady, Refused, UsageError
from gastown.town import events, ids
from gastown.town.bead import CLAIMED, Bead
from gastown.town.git import read_ref
from gastown.town.refs import PROPOSALS, REMOTE_REF, SEEN_PROPOSALS, TASKS_REF
from gastown.town.store import COMMITTER, OWN_LOCK_STALE, GitStore, Loaded, Snapshot, Update

if TYPE_CHECKING:
    from pathlib import Path

    import pygit2

    from gastown.town.git import Git

log = logging.getLogger(__name__)

REGULAR_FILE = 0o100644
# A claimer whose proposal is not the first pending leaves the fold to the first's owner,
# looking again after each of these pauses (0.3 s in all: a fold takes ~0.1 s); then, in
# case that owner died, it folds everything itself. A remote on this machine is read during
# a pause, every FOLD_POLL_S, and the pause ends as soon as the fold landed: a fetch costs
# a claim more than anything else it does.
FOLD_WAITS = (0.02, 0.04, 0.08, 0.16)
FOLD_POLL_S = 0.004
MOST_FOLDED = 100  # proposals one fold lands at most (and never more than [limits] push_commits)
# What a claim may change in its bead; every other field must be as it was.
CLAIM_FIELDS = frozenset({"status", "generation", "claim", "assignee", "updated_at"})
# A claim picks at random among the best ready beads of the best priority: at least SPREAD
# of them, and four for each agent holding a claim (about how many claimers there are), so
# that claimers on other clones seldom go for the same bead (docs/scale.md).
SPREAD = 8
SPREAD_PER_AGENT = 4
T = TypeVar("T")


def ref(bead_id: str) -> str:
    """The remote ref of a proposal to claim ``bead_id``."""
    return PROPOSALS + bead_id


def seen_ref(bead_id: str) -> str:
    """This clone's copy of the proposal to claim ``bead_id``."""
    return SEEN_PROPOSALS + bead_id


@dataclass(frozen=True)
class Proposal:
    """A claim pushed to ``refs/claims/<bead_id>``, not yet on tasks."""

    bead_id: str
    commit: str


@dataclass(frozen=True)
class Landing:
    """A proposal that still applies to the tip: its bead file, and its commit's words."""

    proposal: Proposal
    path: str
    blob: str
    message: str
    author: pygit2.Signature  # the claimer, at the time it decided


# ---- claiming --------------------------------------------------------------------


def claim(
    store: GitStore,
    pick: Callable[[Snapshot, float, frozenset[str], int], Bead],
    change: Callable[[Snapshot, Bead, float], tuple[Update, T]],
    bead_id: str | None,
) -> T:
    """Claim through a proposal: ``pick`` a bead (passing over ``skip``, among the best
    ``spread``), write its claim with ``change``, propose it and fold; pick again when
    another claimer's proposal or claim wins. What ``change`` said of the claim that landed."""
    taken: set[str] = set()  # beads this claim saw proposed by others, or lost to them
    again: set[str] = set()  # beads whose proposal an edit made void: decided again once
    folded = False  # proposals seen waiting have been folded once (their claimers may be dead)
    snap = store.snapshot()
    tries = snap.config().queue.claim_retries
    for _ in range(tries):
        now = time.time()
        waiting = {p.bead_id for p in seen(store.git)}
        try:
            bead = pick(snap, now, frozenset(taken | waiting), spread(snap))
        except NothingReady:
            if folded or not waiting - taken:
                raise
            snap, folded = fold(store), True
            continue
        update, claimed = change(snap, bead, now)
        try:
            commit, blob = stage(store, snap, update)
        except InvalidBead as error:
            if bead_id is not None:
                raise
            pass_over(bead.id, error, taken)
            continue
        if propose(store, bead.id, commit):
            snap = _settle(store, Proposal(bead.id, commit), blob)
            entry = snap.index.get(bead.id)
            if entry is not None and entry.blob == blob:
                return claimed
            if entry is not None and bead.id not in again and snap.index.is_ready(entry, time.time()):
                again.add(bead.id)
                continue  # void because the bead itself changed (an edit): decide again on it
        elif bead_id is not None:
            snap = fold(store)  # someone else's proposal: settle it, then say who won
            entry = snap.index.get(bead_id)
            if entry is not None and bead_id not in again and snap.index.is_ready(entry, time.time()):
                again.add(bead_id)
                continue  # theirs was void: the bead is still to be had
        taken.add(bead.id)  # another claimer's: pick again
        if bead_id is not None:
            state = snap.stored(bead_id)
            if state is None or state.claim is None or state.status != CLAIMED:
                raise NothingReady(f"bead {bead_id} changed while it was being claimed; try again")
            raise NothingReady(f"bead {bead_id} was claimed by {state.claim.agent} first")
        snap = store.snapshot()
    raise Conflict(f"no claim landed in {tries} tries: other claimers took every bead tried")


def _settle(store: GitStore, mine: Proposal, blob: str) -> Snapshot:
    """Fold ``mine`` into tasks. If that fails, take the proposal back, so that no claim
    lands later under this agent's name without it knowing; when it cannot be taken back
    because it landed meanwhile, the claim stands and the failure is not raised. An
    interrupt is always raised, and a remote that cannot be reached either way leaves the
    proposal there: if a fold lands it later, its lease frees the bead."""
    try:
        return fold(store, mine)
    except BaseException as error:
        if withdraw(store, mine) or not isinstance(error, Exception):
            raise
        try:
            store.sync()
        except GastownError:
            raise error from None
        snap = store.snapshot()
        entry = snap.index.get(mine.bead_id)
        if entry is None or entry.blob != blob:
            raise
        return snap


def pass_over(bead_id: str, error: InvalidBead, unclaimable: set[str]) -> None:
    """A bead the rules refuse to claim as it is stored (a file someone wrote by hand that
    only a rewrite shows to be wrong): skipped with the reason, never the claimer's end."""
    log.warning("bead %s cannot be claimed and is passed over: %s", bead_id, "; ".join(error.problems))
    unclaimable.add(bead_id)


def spread(snap: Snapshot) -> int:
    """How many of the best ready beads a remote claim picks among."""
    agents = {entry.agent for entry in snap.index.live_claims()}
    return max(SPREAD, SPREAD_PER_AGENT * len(agents))


# ---- proposing -------------------------------------------------------------------


def stage(store: GitStore, snap: Snapshot, change: Update) -> tuple[str, str]:
    """Admit the claim ``change`` on ``snap`` and write its commit without publishing it:
    (commit, the blob of its one bead)."""
    if len(change.beads) != 1 or change.files:
        raise UsageError("a claim proposal changes exactly one bead")
    store.admit(snap, change)
    commit, _root, loaded = store.write(snap, change)
    blob = loaded[0][1]
    assert blob is not None
    return commit, blob


def propose(store: GitStore, bead_id: str, commit: str) -> bool:
    """Push ``commit`` as the proposal to claim ``bead_id``; False when there already is one."""
    assert store.remote is not None
    name = ref(bead_id)
    result = store.git.push_refs(store.remote, [f"{commit}:{name}"], leases={name: None}).get(name)
    if result is not None and result.ok:
        store.git.set_ref(seen_ref(bead_id), commit)
        return True
    if result is not None and result.status == "stale":
        return False
    detail = ("\n".join(result.remote_messages) or result.reason) if result else "no answer for the ref"
    raise Refused(
        f"the remote refused the claim proposal {name}: {detail}",
        "the host must take pushes to refs/claims/*; or set [queue] claim_refs = false in town.toml",
    )


def withdraw(store: GitStore, proposal: Proposal) -> bool:
    """Delete ``proposal`` from the remote if it is still there, as it was; False when it
    is gone (folded or dropped by someone) or the remote cannot be reached."""
    assert store.remote is not None
    name = ref(proposal.bead_id)
    try:
        result = store.git.push_refs(store.remote, [f":{name}"], leases={name: proposal.commit}).get(name)
    except GastownError:
        return False
    if result is not None and result.ok:
        store.git.delete_ref(seen_ref(proposal.bead_id))
        return True
    return False


def seen(git: Git) -> list[Proposal]:
    """The proposals this clone fetched last, oldest claim first."""
    found = [Proposal(name[len(SEEN_PROPOSALS) :], oid) for name, oid in git.refs_under(SEEN_PROPOSALS).items()]
    return sorted(found, key=lambda p: (_time(git, p.commit), p.bead_id))


def _time(git: Git, oid: str) -> int:
    commit = git.commit(oid)
    return 0 if commit is None else commit.time


# ---- folding ---------------------------------------------------------------------


def fold(store: GitStore, mine: Proposal | None = None, retries: int = 500) -> Snapshot:
    """Fetch, then land the claim proposals the remote holds on tasks — or drop them, void,
    when they no longer apply on the tip — in one atomic push with the deletion of their
    refs; after a lost race, do it again. With ``mine``, stop as soon as that proposal is
    settled, by this fold or by anyone's, and leave the folding to the owner of the first
    proposal pending (it is folding now, and its fold carries ours too) for a moment: one
    fold lands many claims, and no two run a hook that only one can win. When the remote
    refuses a fold of several, the oldest other than ``mine`` is folded alone: refused alone
    it can never land and is taken back, so no proposal stops the others. The tasks branch
    afterwards; ``retries`` counts lost races only."""
    assert store.remote is not None
    here = store.town.remote_folder(store.git) if mine is not None else None
    waits = iter(FOLD_WAITS)
    suspect = False  # the remote refused a fold of several: try the oldest alone next
    lost = 0
    while lost < retries:
        wait = None
        pending: tuple[Proposal, ...] = ()
        with store.turn():
            store.sync_in_turn()
            found = seen(store.git)
            snap = store.snapshot()
            if not found or (mine is not None and mine not in found):
                return snap  # nothing to fold, or someone else's fold settled ours
            if mine is not None and found[0] != mine and not suspect:
                wait = next(waits, None)
                pending = (found[0], mine)  # a fold that lands either ends the pause
            if wait is None:
                limits = snap.config().limits
                if suspect:  # one at a time, others' first: ours lands in the next fold
                    taken = [next((p for p in found if p != mine), found[0])]
                else:
                    taken = batch(found, mine, min(MOST_FOLDED, limits.push_commits))
                landings, loaded = _judged(store, snap, taken, limits.bead_bytes)
                commit, root = _chain(store, snap, landings)
                try:
                    landed = _publish(store, snap.commit, commit, taken)
                except Refused:
                    if len(taken) > 1:
                        suspect = True
                        continue
                    if not withdraw(store, taken[0]) or taken[0] == mine:
                        raise  # it cannot land, and could not be taken back (or it is ours)
                    continue  # the next fold may carry the rest
                suspect = False
                if not landed:
                    lost += 1
                    continue
                if commit is not None and root is not None and commit != snap.commit:
                    store.moved(snap, commit, root, loaded)
                if mine is None or mine in taken:
                    return store.snapshot()
        if wait is not None:  # outside the lock: the first proposal's owner may be on this clone
            _await_fold(here, pending, wait)
    raise Conflict(f"folding claim proposals lost the race {retries} times in a row")


def _await_fold(remote: Path | None, pending: Sequence[Proposal], most: float) -> None:
    """Sleep ``most`` seconds, or less: until one of ``pending`` is gone from the remote
    when it is on this machine (read from its ref files; what is read is only a hint, the
    fetch after the pause says what landed)."""
    until = time.monotonic() + most
    while remote is not None and time.monotonic() < until:
        try:
            if any(read_ref(remote, ref(p.bead_id)) != p.commit for p in pending):
                return
        except (LookupError, OSError, UnicodeDecodeError):
            break  # refs this reader does not know (reftable): just wait
        time.sleep(FOLD_POLL_S)
    time.sleep(max(0.0, until - time.monotonic()))


def batch(found: Sequence[Proposal], mine: Proposal | None, most: int) -> list[Proposal]:
    """The proposals one fold takes: the oldest ``most``, ``mine`` always among them."""
    taken = list(found[:most])
    if mine is not None and mine in found and mine not in taken:
        taken = [*taken[: most - 1], mine]
    return taken


def _judged(
    store: GitStore, snap: Snapshot, found: Sequence[Proposal], most_bytes: int
) -> tuple[list[Landing], list[Loaded]]:
    """The proposals that still apply on ``snap``, each admitted as a write is; the rest
    are void (logged: their claimers see it when they read tasks)."""
    landings: list[Landing] = []
    loaded: list[Loaded] = []
    for proposal in found:
        landing = judge(store.git, snap.tree, snap.path_of, proposal, most_bytes)
        if isinstance(landing, str):
            log.info("claim proposal for %s is void: %s", proposal.bead_id, landing)
            continue
        entry = snap.index.get(proposal.bead_id)
        if entry is None or not snap.index.is_ready(entry, time.time()):
            log.info("claim proposal for %s is void: the bead is no longer ready", proposal.bead_id)
            continue  # a blocker reopened, a parent blocked since the claim was decided
        raw = store.git.blob(landing.blob)
        try:
            store.admit(snap, Update(events.Event(events.CLAIM, (proposal.bead_id,)), files={landing.path: raw}))
        except (InvalidBead, Refused, ConfigError) as error:
            log.info("claim proposal for %s is void: %s", proposal.bead_id, error.message)
            continue
        landings.append(landing)
        loaded.append((landing.path, landing.blob, raw))
    return landings, loaded


def judge(
    git: Git, tip_tree: str | None, path_of: Callable[[str], str], proposal: Proposal, most_bytes: int
) -> Landing | str:
    """Whether ``proposal`` still applies on a tip whose tree is ``tip_tree``: a Landing, or
    why it is void. A proposal is a claim: one commit on a tasks commit, changing its bead's
    file and in it only what a claim changes (so claims folded together cannot interact: no
    dependency moves), on a base the tip still has. The store's admission then checks the
    claim itself as it checks every write."""
    commit = git.commit(proposal.commit)
    if commit is None or len(commit.parents) != 1:
        return "not a claim commit with one parent"
    base_tree = commit.parent_trees[0]
    changes = git.diff_entries(base_tree, commit.tree)
    if len(changes) != 1:
        return f"changes {len(changes)} files; a claim changes its bead's file only"
    path, blob, mode = changes[0]
    if blob is None or mode != REGULAR_FILE or ids.id_from_path(path) != proposal.bead_id:
        return f"changes {path}, not the file of bead {proposal.bead_id}"
    if tip_tree is None or path != path_of(proposal.bead_id):
        return f"bead {proposal.bead_id} is not at {path} on tasks"
    on_tip = git.entry(tip_tree, path)
    if on_tip is None or git.entry(base_tree, path) != on_tip:
        return f"bead {proposal.bead_id} changed on tasks since the claim was made"
    if git.blob_size(blob) > most_bytes or git.blob_size(on_tip[0]) > most_bytes:
        return f"bead {proposal.bead_id}: a file over the limit of {most_bytes} bytes"
    wrong = _not_a_claim(git.blob(on_tip[0]), git.blob(blob))
    return wrong or Landing(proposal, path, blob, commit.message, commit.author)


def _not_a_claim(before: bytes, after: bytes) -> str | None:
    """Why the change from ``before`` to ``after`` is not a claim of that bead, or None. Both
    are read as beads, so a file a person wrote with fields left to their defaults compares
    equal to gastown's rewrite of it."""
    try:
        old, new = Bead.from_dict(json.loads(before)).to_dict(), Bead.from_dict(json.loads(after)).to_dict()
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        return f"not a bead ({type(error).__name__}: {error})"
    changed = sorted(k for k in set(old) | set(new) if k not in CLAIM_FIELDS and old.get(k) != new.get(k))
    if changed:
        return f"changes {', '.join(changed)}, which a claim leaves alone"
    if new.get("status") != CLAIMED or not isinstance(new.get("claim"), dict):
        return "does not claim the bead"
    return None


def _chain(store: GitStore, snap: Snapshot, landings: Sequence[Landing]) -> tuple[str | None, str | None]:
    """One commit per landing on top of ``snap``, each the proposal's own change, message
    and author: ``git log tasks`` reads as if every claim had been pushed there."""
    commit, tree = snap.commit, snap.tree
    committer = store.git.signature(COMMITTER, time.time())
    for landing in landings:
        tree = store.git.write_tree(tree, {landing.path: landing.blob})
        commit = store.git.write_commit(tree, [commit] if commit else [], landing.message, landing.author, committer)
    return commit, tree


def _publish(store: GitStore, old: str | None, new: str | None, taken: Sequence[Proposal]) -> bool:
    """Move tasks to ``new`` and delete the proposals' refs, all or nothing; False when
    someone else moved any of them first, Refused when the remote refuses the push."""
    assert store.remote is not None
    store.refuse_if_checked_out()
    specs = [f"{new}:{TASKS_REF}"] if new is not None and new != old else []
    specs += [f":{ref(p.bead_id)}" for p in taken]
    leases = {ref(p.bead_id): p.commit for p in taken}
    results = store.git.push_refs(store.remote, specs, leases, atomic=True)
    if all(r.ok for r in results.values()):
        if new is not None and new != old:
            local = store.git.resolve(TASKS_REF)
            store.git.cas_ref(TASKS_REF, new, local, f"gastown: fold {len(taken)} claim proposal(s)", OWN_LOCK_STALE)
            store.git.set_ref(REMOTE_REF, new)
        for proposal in taken:
            store.git.delete_ref(seen_ref(proposal.bead_id))
        return True
    refused = [r for r in results.values() if r.status == "refused"]
    if not refused:
        return False  # a ref moved under us ("stale"), or the remote's transaction lost a race
    detail = "\n".join(refused[0].remote_messages) or refused[0].reason
    raise Refused(f"the remote refused the fold of claim proposals: {detail}", "fix what it names, then try again")
