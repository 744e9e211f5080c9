"""A bead's private checkout of its rig: a git worktree on branch ``bead/<id>``.

Worktrees live under the town's state folder, never inside the rig's own working tree,
so the person using the rig sees new branches and nothing else. A worktree left by a
killed watcher is pruned and made again; a branch that already has commits from an
earlier attempt is kept and worked on.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from gastown.git import run_git

BRANCH_PREFIX = "bead/"


@dataclass(frozen=True)
class Worktree:
    """Where a bead is worked: the folder, its branch, and the commit it started from."""

    path: Path
    branch: str
    base: str  # the target-branch commit the bead branch grew from
    rig_path: Path

    def git(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        return run_git(args, self.path, check=check, timeout=timeout).stdout.decode(errors="replace")

    def changed_files(self) -> list[str]:
        """Stage everything; the files that differ from the base commit."""
        self.git("add", "--all")
        out = self.git("diff", "--cached", "--name-only", "--no-renames", self.base)
        return [line for line in out.splitlines() if line]

    def commit(self, message: str, author: str) -> str | None:
        """Commit what ``changed_files`` staged; the new sha, or None when nothing changed."""
        if run_git(["diff", "--cached", "--quiet", "HEAD"], self.path, check=False).returncode == 0:
            return None
        env = {
            "GIT_AUTHOR_NAME": author,
            "GIT_AUTHOR_EMAIL": "gastown@localhost",
            "GIT_COMMITTER_NAME": "gastown",
            "GIT_COMMITTER_EMAIL": "gastown@localhost",
        }
        run_git(
            ["commit", "--quiet", "--no-verify", "-F", "-"],
            self.path,
            input=message.encode(),
            env=env,
        )
        return self.git("rev-parse", "HEAD").strip()


def branch_for(bead_id: str) -> str:
    return f"{BRANCH_PREFIX}{bead_id}"


def prepare(rig_path: Path, bead_id: str, target: str, root: Path) -> Worktree:
    """A clean worktree for ``bead_id`` on ``bead/<id>``, branched from ``target`` if new."""
    path = root / bead_id
    branch = branch_for(bead_id)
    if path.exists():  # left by a watcher that was killed
        run_git(["worktree", "remove", "--force", str(path)], rig_path, check=False)
        shutil.rmtree(path, ignore_errors=True)
        run_git(["worktree", "prune"], rig_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = run_git(["rev-parse", "--verify", f"{target}^{{commit}}"], rig_path).stdout.decode().strip()
    exists = run_git(["rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"], rig_path, check=False)
    if exists.returncode == 0:
        run_git(["worktree", "add", "--quiet", "--force", str(path), branch], rig_path)
        base = run_git(["merge-base", base, branch], rig_path).stdout.decode().strip() or base
    else:
        run_git(["worktree", "add", "--quiet", "-b", branch, str(path), base], rig_path)
    return Worktree(path, branch, base, rig_path)


def remove(worktree: Worktree) -> None:
    """Remove the folder; the branch and its commits stay in the rig."""
    run_git(["worktree", "remove", "--force", str(worktree.path)], worktree.rig_path, check=False)
    if worktree.path.exists():
        shutil.rmtree(worktree.path, ignore_errors=True)
        run_git(["worktree", "prune"], worktree.rig_path, check=False)
