"""The Refinery's merge queue and review: the mechanics are Python, not prompts.

Merging a done bead, in an isolated worktree: rebase ``bead/<id>`` onto the target (the
convoy's integration branch ``convoy/<id>``, or the rig's branch), confirm the
Refinery's test files are unchanged (for every role but the Refinery), run the rig's
gates (its tests, and its lint command if it has one), then fast-forward the target —
with a compare-and-swap on the ref, and a push when the rig has a remote, confirmed by
reading the remote back. A conflict keeps the branch and files a "resolve conflict"
bead; a gate failure sends the bead back with the failure attached (the attempt
counts). The review ends a convoy: the rig's coverage figure against its threshold
(missing-test beads filed below it), then the integration branch onto the rig's branch.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gastown.agents.commands import run_command, tail
from gastown.agents.jail import Jail
from gastown.agents.rig import Rig
from gastown.agents.worktree import branch_for
from gastown.errors import GastownError, GitFailed
from gastown.town import convoy as convoymod
from gastown.town import events
from gastown.town.bead import Bead
from gastown.town.beadtext import parse_dependency
from gastown.town.git import clean_env
from gastown.town.queue import NewBead, Queue
from gastown.town.riggit import RigGit
from gastown.town.secrets import Secrets
from gastown.town.store import GitStore, Snapshot, Update

log = logging.getLogger(__name__)

CONVOY_PREFIX = "convoy/"


@dataclass
class Merge:
    """What the merge queue did with one bead."""

    status: str  # "merged", "conflict", "gates-failed", "refused", "nothing"
    detail: str = ""
    sha: str | None = None
    target: str = ""
    filed: list[str] = field(default_factory=list)


def remote_of(rig: Rig) -> str | None:
    """The rig's remote (``origin``) when it has one: merges are pushed there."""
    return "origin" if "origin" in RigGit(rig.path).remotes() else None


def target_for(snap: Snapshot, rig: Rig, bead: Bead) -> str:
    """Where a bead's work goes: its convoy's integration branch, or the rig's branch."""
    if bead.convoy:
        try:
            found = convoymod.load(snap, bead.convoy)
        except GastownError:
            return rig.branch
        if found.target_branch:
            ensure_branch(rig, found.target_branch)
            return found.target_branch
    return rig.branch


def ensure_branch(rig: Rig, branch: str) -> None:
    """Create ``branch`` from the rig's branch if it does not exist yet."""
    repo = RigGit(rig.path)
    if repo.resolve(f"refs/heads/{branch}") is None:
        base = repo.resolve(f"refs/heads/{rig.branch}") or repo.resolve(rig.branch)
        if base is None:
            raise GitFailed(f"rig {rig.name}: no branch {rig.branch}", f"create {rig.branch} in {rig.path}")
        repo.create_branch(branch, base)  # False: another process made it first, which will do


def _advance(rig: Rig, target: str, new: str, old: str) -> str:
    """Move ``target`` from ``old`` to ``new``: CAS locally, push when there is a remote."""
    repo = RigGit(rig.path)
    remote = remote_of(rig) if target == rig.branch else None
    if remote is not None:
        repo.push_commit(remote, new, target)  # raises unless the remote now holds ``new``
        return f"pushed to {remote}/{target}{_follow_remote(rig, repo, remote, target, new, old)}"
    where = repo.checked_out(target)
    if where is not None:
        raise GastownError(
            f"rig {rig.name}: {target} is checked out in {where}; gastown never moves a checked-out branch",
            f"the merged work is ready at {new[:10]}: merge it there (git merge --ff-only {new[:10]})",
        )
    repo.advance(target, new, old)
    return f"fast-forwarded {target}"


def _follow_remote(rig: Rig, repo: RigGit, remote: str, target: str, new: str, old: str) -> str:
    """After a confirmed push, move the rig's own copies of ``target`` along; "" when they
    followed, else a note for the merge's detail.

    The remote holds the merge by now, so a copy that cannot follow is logged and noted, not
    raised: raising would report a merge that landed as one that failed.
    """
    try:
        repo.set_ref(f"refs/remotes/{remote}/{target}", new)
        if repo.checked_out(target) is None:  # a checked-out branch is its owner's to move
            repo.advance(target, new, old)
    except GitFailed as error:
        note = f"the local {target} did not follow: {error.message}; run git fetch {remote} {target}:{target}"
        log.warning("rig %s: pushed %s to %s/%s, but %s", rig.name, new[:10], remote, target, note)
        return f" ({note})"
    return ""


@contextmanager
def _queue_turn(store: GitStore, rig: Rig) -> Iterator[None]:
    """One merge at a time per rig on this machine: a merge queue, not a scramble."""
    store.town.state_dir.mkdir(parents=True, exist_ok=True)
    with open(store.town.state_dir / f"merge-{rig.name}.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def merge(store: GitStore, rig: Rig, bead: Bead, agent: str, worktrees: Path) -> Merge:
    """Rebase, check, gate and fast-forward one done bead's branch (queued per rig)."""
    with _queue_turn(store, rig):
        return _merge(store, rig, bead, agent, worktrees)


def publish_branch(rig: Rig, branch: str) -> None:
    """Push a bead's branch to the rig's remote, when it has one (best effort)."""
    remote = remote_of(rig)
    if remote is None:
        return
    try:
        RigGit(rig.path).publish_branch(remote, branch)
    except GitFailed as error:  # the branch stays here; only other machines' merge queues miss it
        log.warning("could not push %s to %s: %s", branch, remote, error.message[-300:])


def _merge(store: GitStore, rig: Rig, bead: Bead, agent: str, worktrees: Path) -> Merge:
    snap = store.snapshot()
    branch = branch_for(bead.id)
    repo = RigGit(rig.path)
    remote = remote_of(rig)
    if remote is not None and repo.resolve(f"refs/heads/{branch}") is None:  # worked on another machine
        repo.fetch_branch(remote, branch)
    if repo.resolve(f"refs/heads/{branch}") is None:
        return Merge("nothing", f"no branch {branch} in rig {rig.name}")
    target = target_for(snap, rig, bead)
    old = repo.resolve(f"refs/heads/{target}")
    if old is None:
        raise GitFailed(f"rig {rig.name}: no branch {target} to merge {branch} into", f"create {target} in {rig.path}")
    where = worktrees / f"merge-{bead.id}"
    repo.worktree_remove(where)  # left by a merge that was killed
    repo.worktree_add_detached(where, branch)
    try:
        work = RigGit(where)
        conflicted = work.rebase_onto(old, committer="gastown refinery")
        if conflicted:
            filed = _file_conflict(store, rig, bead, target, conflicted, agent)
            return Merge(
                "conflict", f"{branch} does not rebase onto {target}: {', '.join(conflicted)}", None, target, filed
            )
        head = work.head()
        if head == old:
            return Merge("nothing", f"{branch} adds nothing to {target}", head, target)
        if bead.role != "refinery":
            changed = repo.diff_names(old, head)
            touched = [p for p in changed if rig.is_test_path(p)]
            if touched:
                return Merge(
                    "refused", f"{branch} changes the Refinery's test files: {', '.join(touched)}", None, target
                )
        for gate in [rig.test_command, rig.lint_command]:
            if not gate:
                continue
            secrets = town_secrets(store)
            run = run_command(gate, where, rig.test_timeout, secrets.strip(clean_env()), town_jail(store, rig))
            if run.exit_code != 0 and not (bead.role == "refinery" and gate is rig.test_command):
                # A Refinery test bead is expected to fail its tests until the code lands.
                return Merge(
                    "gates-failed",
                    f"{' '.join(gate)} failed (exit {run.exit_code}):\n{tail(secrets.redact(run.output), 3000)}",
                    None,
                    target,
                )
        how = _advance(rig, target, head, old)
        _record(store, bead, agent, head, target, how)
        return Merge("merged", how, head, target)
    finally:
        repo.worktree_remove(where)


def _record(store: GitStore, bead: Bead, agent: str, sha: str, target: str, how: str) -> None:
    def decide(snap: Snapshot) -> Update:
        current = snap.bead(bead.id)
        meta = {**current.metadata, "merged": {"sha": sha, "into": target, "at": time.time()}}
        changed = replace(current, metadata=meta)
        trailers = events.trailer_pairs([("Commit", sha), ("Target", target), ("Convoy", current.convoy)])
        return Update(
            events.Event("merge", (bead.id,), agent, f"{current.title} -> {target} ({how})", trailers), [changed]
        )

    store.update(decide)


def _file_conflict(store: GitStore, rig: Rig, bead: Bead, target: str, files: list[str], agent: str) -> list[str]:
    spec = NewBead(
        title=f"Resolve conflict: {bead.title}"[:200],
        role="polecat",
        rig=rig.name,
        description=(
            f"{branch_for(bead.id)} no longer rebases onto {target}. Conflicting files: "
            f"{', '.join(files) or 'see git'}. Redo the change of {bead.id} on top of {target}; "
            f"the original branch is kept."
        ),
        priority=max(0, bead.priority - 1),
        convoy=bead.convoy,
        labels=("conflict",),
        dependencies=(parse_dependency(f"{bead.id}:discovered-from"),),
        estimated_tokens=bead.estimated_tokens,
    )
    made = Queue(store).add(spec, agent)
    return [made.id]


def send_back(store: GitStore, bead: Bead, agent: str, outcome: Merge) -> None:
    """A done bead whose merge failed goes back as failed, the failure attached."""
    Queue(store).reject(
        bead.id,
        agent,
        f"merge {outcome.status}: {outcome.detail.splitlines()[0][:300]}",
        {
            "summary": f"merge queue: {outcome.status}",
            "outcome": outcome.status,
            "reason": tail(outcome.detail, 4000),
        },
    )


def coverage_figure(output: str) -> float | None:
    """The total coverage percentage from coverage.py's (or pytest-cov's) report."""
    found = re.findall(r"^TOTAL\s.*?(\d+(?:\.\d+)?)%\s*$", output, re.MULTILINE)
    if found:
        return float(found[-1])
    found = re.findall(r"(\d+(?:\.\d+)?)%\s+(?:coverage|covered)", output, re.IGNORECASE)
    return float(found[-1]) if found else None


@dataclass
class Review:
    coverage: float | None
    threshold: float | None
    merged: Merge | None
    filed: list[str]
    output: str = ""

    @property
    def ok(self) -> bool:
        covered = self.threshold is None or (self.coverage is not None and self.coverage >= self.threshold)
        return covered and (self.merged is None or self.merged.status in ("merged", "nothing"))


def review(store: GitStore, rig: Rig, bead: Bead, agent: str, worktrees: Path) -> Review:
    """The convoy's last bead: coverage against the threshold, then the convoy onto the rig."""
    with _queue_turn(store, rig):
        return _review(store, rig, bead, agent, worktrees)


def _review(store: GitStore, rig: Rig, bead: Bead, agent: str, worktrees: Path) -> Review:
    snap = store.snapshot()
    source = target_for(snap, rig, bead)
    repo = RigGit(rig.path)
    head = repo.resolve(f"refs/heads/{source}")
    filed: list[str] = []
    coverage = None
    output = ""
    if rig.coverage_command and head:
        where = worktrees / f"review-{bead.id}"
        repo.worktree_remove(where)  # left by a review that was killed
        repo.worktree_add_detached(where, head)
        try:
            secrets = town_secrets(store)
            run = run_command(
                rig.coverage_command, where, rig.test_timeout, secrets.strip(clean_env()), town_jail(store, rig)
            )
            output = secrets.redact(run.output)
            coverage = coverage_figure(run.output)
        finally:
            repo.worktree_remove(where)
        if rig.coverage_threshold is not None and (coverage is None or coverage < rig.coverage_threshold):
            spec = NewBead(
                title=f"Add the missing tests: coverage {'?' if coverage is None else coverage}% "
                f"< {rig.coverage_threshold}%",
                role="refinery",
                rig=rig.name,
                description=f"Coverage report:\n{tail(output, 3000)}",
                convoy=bead.convoy,
                labels=("tests", "coverage"),
                dependencies=(parse_dependency(f"{bead.id}:discovered-from"),),
            )
            filed.append(Queue(store).add(spec, agent).id)
    merged = None
    if source != rig.branch and head and not filed:
        base = repo.resolve(f"refs/heads/{rig.branch}")
        if base is None:
            raise GitFailed(f"rig {rig.name}: no branch {rig.branch}", f"create {rig.branch} in {rig.path}")
        if base != head:
            if not repo.is_ancestor(base, head):
                merged = Merge(
                    "conflict", f"{rig.branch} has moved on; {source} no longer fast-forwards it", None, rig.branch
                )
            else:
                how = _advance(rig, rig.branch, head, base)
                _record(store, bead, agent, head, rig.branch, how)
                merged = Merge("merged", how, head, rig.branch)
    return Review(coverage, rig.coverage_threshold, merged, filed, output)


def summary(result: Review) -> dict[str, Any]:
    data: dict[str, Any] = {"summary": "convoy reviewed"}
    if result.coverage is not None:
        data["coverage"] = result.coverage
    if result.merged is not None:
        data["merge"] = {"status": result.merged.status, "detail": result.merged.detail, "sha": result.merged.sha}
        data["summary"] = f"convoy {result.merged.status} into {result.merged.target}"
    if result.filed:
        data["filed"] = result.filed
        data["summary"] = f"coverage below the threshold: filed {', '.join(result.filed)}"
    return data


def town_jail(store: GitStore, rig: Rig) -> Jail:
    """How the rig's gates run the model's code: the town's sandbox mode, the rig's limits."""
    return Jail(store.snapshot().config().sandbox_mode, rig.sandbox, (store.town.git_dir,))


def town_secrets(store: GitStore) -> Secrets:
    """The secrets of this process as the town knows them: every key variable its roster names,
    and variables named like keys. Model-written code runs in the gates: none of them reach it."""
    config = store.snapshot().config()
    return Secrets.of(os.environ, config.roster.key_variables())
