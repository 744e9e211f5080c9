"""Claims that do not wait for each other: a proposal per bead, folded into ``tasks``.

With a remote, every write to the one ``tasks`` branch is a push that serialises with every
other; claims on different beads should not. So a claim starts as a **proposal**: the claim
commit, written on the tasks tip the claimer read, pushed to ``refs/claims/<bead id>`` only
if that ref does not exist. Proposals for different beads touch different refs and never
contend; two claimers after the same bead meet on its ref, one wins and the other is refused
in milliseconds and picks another bead.

A proposal counts once it is **folded**: a commit on tasks carrying the same change, message
and author, pushed atomically with the deletion of the proposal's ref (both land or neither
does). Whoever folds folds every proposal it has fetched, so under load one push to tasks
lands many claims. The fold decides again on the tip it builds on: a proposal whose bead
changed since it was made (someone else's claim landed, the owner renewed, a person edited
it) is void, and its ref is deleted with the rest. Tasks stays the one source of truth and
exactly-once holds per generation; a claimer starts work only once its claim is on tasks.

This module judges proposals; ``GitStore`` fetches, folds and pushes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gastown.town import ids

if TYPE_CHECKING:
    from gastown.town.git import Git

PROPOSALS = "refs/claims/"  # on the remote: one ref per bead being claimed
SEEN = "refs/gastown/claims/"  # in a clone: the remote's proposals as last fetched
FETCH_SPEC = f"+{PROPOSALS}*:{SEEN}*"
REGULAR_FILE = 0o100644
# A claimer whose proposal is not the first pending leaves the fold to the first's owner,
# looking again after each of these pauses (0.3 s in all: a fold takes ~0.1 s); then, in
# case that owner died, it folds everything itself.
FOLD_WAITS = (0.02, 0.04, 0.08, 0.16)
FOLD_GRACE = sum(FOLD_WAITS)


def ref(bead_id: str) -> str:
    """The remote ref of a proposal to claim ``bead_id``."""
    return PROPOSALS + bead_id


def seen_ref(bead_id: str) -> str:
    return SEEN + bead_id


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
    author: Any  # pygit2.Signature: the claimer, at the time it decided


def seen(git: Git) -> list[Proposal]:
    """The proposals this clone fetched last, oldest claim first."""
    found = []
    for name in git.repo.references:
        if name.startswith(SEEN):
            target = git.resolve(name)
            if target is not None:
                found.append(Proposal(name[len(SEEN) :], target))
    return sorted(found, key=lambda p: (_time(git, p.commit), p.bead_id))


def _time(git: Git, oid: str) -> int:
    obj = git.repo.get(oid)
    return int(getattr(obj, "commit_time", 0))


def judge(git: Git, tip_tree: str | None, path_of: Callable[[str], str], proposal: Proposal) -> Landing | str:
    """Whether ``proposal`` still applies on a tip whose tree is ``tip_tree``: a Landing, or
    why it is void. Only its shape and its base are judged here; the store's admission then
    checks the claim itself as it checks every write."""
    commit = git.repo.get(proposal.commit)
    if not isinstance(commit, git.lib.Commit) or len(commit.parents) != 1:
        return "not a claim commit with one parent"
    base_tree = str(commit.parents[0].tree_id)
    changes = git.diff_entries(base_tree, str(commit.tree_id))
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
    return Landing(proposal, path, blob, commit.message, commit.author)
