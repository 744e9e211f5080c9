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
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gastown import convoy as convoymod
from gastown import events
from gastown.bead import Bead
from gastown.errors import GastownError, GitFailed
from gastown.git import run_git
from gastown.queue import NewBead, Queue, parse_dependency
from gastown.rig import Rig
from gastown.store import GitStore, Snapshot, Update
from gastown.tools import clean_env, run_command, tail
from gastown.worktree import branch_for

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


def _git(rig: Rig, *args: str, check: bool = True, cwd: Path | None = None, timeout: float = 300) -> str:
    return run_git(args, cwd or rig.path, check=check, timeout=timeout).stdout.decode(errors="replace").strip()


def _rev(rig: Rig, ref: str) -> str | None:
    proc = run_git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], rig.path, check=False)
    out = proc.stdout.decode().strip()
    return out if proc.returncode == 0 and out else None


def remote_of(rig: Rig) -> str | None:
    """The rig's remote (``origin``) when it has one: merges are pushed there."""
    return "origin" if "origin" in _git(rig, "remote").split() else None


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
    if _rev(rig, f"refs/heads/{branch}") is None:
        base = _rev(rig, f"refs/heads/{rig.branch}") or _rev(rig, rig.branch)
        if base is None:
            raise GitFailed(f"rig {rig.name}: no branch {rig.branch}")
        run_git(["update-ref", f"refs/heads/{branch}", base, "0" * 40], rig.path, check=False)


def _checked_out(rig: Rig, branch: str) -> Path | None:
    out = _git(rig, "worktree", "list", "--porcelain")
    current = None
    for line in out.splitlines():
        if line.startswith("worktree "):
            current = Path(line[len("worktree ") :])
        elif line == f"branch refs/heads/{branch}":
            return current
    return None


def _advance(rig: Rig, target: str, new: str, old: str) -> str:
    """Move ``target`` from ``old`` to ``new``: CAS locally, push when there is a remote."""
    remote = remote_of(rig) if target == rig.branch else None
    if remote is not None:
        proc = run_git(
            ["push", "--porcelain", remote, f"{new}:refs/heads/{target}"], rig.path, check=False, timeout=300
        )
        if proc.returncode != 0:
            raise GitFailed(
                f"push of {target} to {remote} refused: {proc.stderr.decode(errors='replace').strip()[-400:]}"
            )
        remote_sha = _git(rig, "ls-remote", remote, f"refs/heads/{target}").split("\t")[0]
        if remote_sha != new:
            raise GitFailed(f"{remote} has {remote_sha[:10]} on {target}, not the merged {new[:10]}")
        run_git(["update-ref", f"refs/remotes/{remote}/{target}", new], rig.path, check=False)
        if _checked_out(rig, target) is None:
            run_git(["update-ref", f"refs/heads/{target}", new, old], rig.path, check=False)
        return f"pushed to {remote}/{target}"
    where = _checked_out(rig, target)
    if where is not None:
        raise GastownError(
            f"rig {rig.name}: {target} is checked out in {where}; gastown never moves a checked-out branch",
            f"the merged work is ready at {new[:10]}: merge it there (git merge --ff-only {new[:10]})",
        )
    proc = run_git(["update-ref", f"refs/heads/{target}", new, old], rig.path, check=False)
    if proc.returncode != 0:
        raise GitFailed(f"{target} moved while merging; try again")
    return f"fast-forwarded {target}"


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
    proc = run_git(
        ["push", "--quiet", "--force", remote, f"refs/heads/{branch}:refs/heads/{branch}"], rig.path, check=False
    )
    if proc.returncode != 0:
        log.warning("could not push %s to %s: %s", branch, remote, proc.stderr.decode(errors="replace").strip()[-300:])


def _merge(store: GitStore, rig: Rig, bead: Bead, agent: str, worktrees: Path) -> Merge:
    snap = store.snapshot()
    branch = branch_for(bead.id)
    remote = remote_of(rig)
    if remote is not None and _rev(rig, f"refs/heads/{branch}") is None:  # worked on another machine
        run_git(["fetch", "--quiet", remote, f"refs/heads/{branch}:refs/heads/{branch}"], rig.path, check=False)
    if _rev(rig, f"refs/heads/{branch}") is None:
        return Merge("nothing", f"no branch {branch} in rig {rig.name}")
    target = target_for(snap, rig, bead)
    old = _rev(rig, f"refs/heads/{target}") or ""
    where = worktrees / f"merge-{bead.id}"
    shutil.rmtree(where, ignore_errors=True)
    run_git(["worktree", "prune"], rig.path, check=False)
    run_git(["worktree", "add", "--quiet", "--detach", str(where), branch], rig.path)
    try:
        rebase = run_git(["rebase", "--quiet", old], where, check=False, env=_identity())
        if rebase.returncode != 0:
            conflicted = _git(rig, "diff", "--name-only", "--diff-filter=U", cwd=where, check=False)
            run_git(["rebase", "--abort"], where, check=False)
            filed = _file_conflict(store, rig, bead, target, conflicted.split(), agent)
            return Merge(
                "conflict", f"{branch} does not rebase onto {target}: {conflicted or 'conflict'}", None, target, filed
            )
        head = _git(rig, "rev-parse", "HEAD", cwd=where)
        if head == old:
            return Merge("nothing", f"{branch} adds nothing to {target}", head, target)
        if bead.role != "refinery":
            changed = _git(rig, "diff", "--name-only", old, head, cwd=where).split()
            touched = [p for p in changed if rig.is_test_path(p)]
            if touched:
                return Merge(
                    "refused", f"{branch} changes the Refinery's test files: {', '.join(touched)}", None, target
                )
        for gate in [rig.test_command, rig.lint_command]:
            if not gate:
                continue
            run = run_command(gate, where, rig.test_timeout, clean_env(__import__("os").environ))
            if run.exit_code != 0 and not (bead.role == "refinery" and gate is rig.test_command):
                # A Refinery test bead is expected to fail its tests until the code lands.
                return Merge(
                    "gates-failed",
                    f"{' '.join(gate)} failed (exit {run.exit_code}):\n{tail(run.output, 3000)}",
                    None,
                    target,
                )
        how = _advance(rig, target, head, old)
        _record(store, bead, agent, head, target, how)
        return Merge("merged", how, head, target)
    finally:
        run_git(["worktree", "remove", "--force", str(where)], rig.path, check=False)
        shutil.rmtree(where, ignore_errors=True)


def _identity() -> dict[str, str]:
    return {
        "GIT_AUTHOR_NAME": "gastown refinery",
        "GIT_AUTHOR_EMAIL": "gastown@localhost",
        "GIT_COMMITTER_NAME": "gastown refinery",
        "GIT_COMMITTER_EMAIL": "gastown@localhost",
    }


def _record(store: GitStore, bead: Bead, agent: str, sha: str, target: str, how: str) -> None:
    def decide(snap: Snapshot) -> Update:
        current = snap.bead(bead.id)
        meta = {**current.metadata, "merged": {"sha": sha, "into": target, "at": time.time()}}
        from dataclasses import replace

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
    head = _rev(rig, f"refs/heads/{source}")
    filed: list[str] = []
    coverage = None
    output = ""
    if rig.coverage_command and head:
        where = worktrees / f"review-{bead.id}"
        shutil.rmtree(where, ignore_errors=True)
        run_git(["worktree", "add", "--quiet", "--detach", str(where), head], rig.path)
        try:
            run = run_command(rig.coverage_command, where, rig.test_timeout, clean_env(__import__("os").environ))
            output = run.output
            coverage = coverage_figure(run.output)
        finally:
            run_git(["worktree", "remove", "--force", str(where)], rig.path, check=False)
            shutil.rmtree(where, ignore_errors=True)
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
        base = _rev(rig, f"refs/heads/{rig.branch}") or ""
        if base != head:
            if not _is_ancestor(rig, base, head):
                merged = Merge(
                    "conflict", f"{rig.branch} has moved on; {source} no longer fast-forwards it", None, rig.branch
                )
            else:
                how = _advance(rig, rig.branch, head, base)
                _record(store, bead, agent, head, rig.branch, how)
                merged = Merge("merged", how, head, rig.branch)
    return Review(coverage, rig.coverage_threshold, merged, filed, output)


def _is_ancestor(rig: Rig, ancestor: str, descendant: str) -> bool:
    return run_git(["merge-base", "--is-ancestor", ancestor, descendant], rig.path, check=False).returncode == 0


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
