"""A bead's private checkout of its rig: a git worktree on branch ``bead/<id>``.

Worktrees live under the town's state folder, never inside the rig's own working tree,
so the person using the rig sees new branches and nothing else. A worktree left by a
killed watcher is pruned and made again; a branch that already has commits from an
earlier attempt is kept and worked on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gastown.errors import GitFailed
from gastown.town.riggit import RigGit

BRANCH_PREFIX = "bead/"


@dataclass(frozen=True)
class Worktree:
    """Where a bead is worked: the folder, its branch, and the commit it started from."""

    path: Path
    branch: str
    base: str  # the target-branch commit the bead branch grew from
    rig_path: Path

    @property
    def repo(self) -> RigGit:
        """This worktree's door to git."""
        return RigGit(self.path, timeout=120)

    def git(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        """What ``git ARGS`` printed here, for a caller's own read-only query."""
        return self.repo.output(*args, check=check, timeout=timeout)

    def changed_files(self) -> list[str]:
        """Stage everything (hidden edits too); the files that differ from the base commit."""
        self.repo.unhide_changes()
        self.repo.stage_all()
        return self.repo.staged_names(self.base)

    def commit(self, message: str, author: str) -> str | None:
        """Commit what ``changed_files`` staged; the new sha, or None when nothing changed."""
        return self.repo.commit_staged(message, author, committer="gastown")


def branch_for(bead_id: str) -> str:
    return f"{BRANCH_PREFIX}{bead_id}"


def prepare(rig_path: Path, bead_id: str, target: str, root: Path) -> Worktree:
    """A clean worktree for ``bead_id`` on ``bead/<id>``, branched from ``target`` if new."""
    path = root / bead_id
    branch = branch_for(bead_id)
    rig = RigGit(rig_path, timeout=120)
    rig.worktree_remove(path)  # left by a watcher that was killed
    path.parent.mkdir(parents=True, exist_ok=True)
    base = rig.resolve(target)
    if base is None:
        raise GitFailed(f"no commit {target} in {rig_path} to start bead {bead_id} from", f"create {target} there")
    if rig.resolve(f"refs/heads/{branch}") is not None:  # an earlier attempt's commits are kept
        rig.worktree_add_branch(path, branch)
        base = rig.merge_base(base, branch) or base
    else:
        rig.worktree_add_new_branch(path, branch, base)
    return Worktree(path, branch, base, rig_path)


def remove(worktree: Worktree) -> None:
    """Remove the folder; the branch and its commits stay in the rig."""
    RigGit(worktree.rig_path, timeout=120).worktree_remove(worktree.path)
