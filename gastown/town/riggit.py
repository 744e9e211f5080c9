"""The door to a rig: a project repository and its bead worktrees, through the git program.

The Refinery and the bead worktrees reach a rig through ``RigGit`` alone. Every method is
one named operation whose failure is spelled out (GitFailed saying what failed and what
to do), except cleanup, which is best effort and logs what it could not do.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from gastown.errors import GastownError, GitFailed
from gastown.town.git import disk_trouble, last_line, read_push, run_git
from gastown.town.refs import ZERO

log = logging.getLogger(__name__)


def _existing(path: Path) -> Path:
    """``path``, or the nearest folder above it that exists (the disk a new folder goes on)."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def identity(author: str, committer: str | None = None) -> dict[str, str]:
    """The environment that makes git write commits as gastown's ``author`` (and ``committer``)."""
    return {
        "GIT_AUTHOR_NAME": author,
        "GIT_AUTHOR_EMAIL": "gastown@localhost",
        "GIT_COMMITTER_NAME": committer or author,
        "GIT_COMMITTER_EMAIL": "gastown@localhost",
    }


# A model may have written hooks, or a config naming a command to run (core.fsmonitor): none run.
NO_HOOKS = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false")


class RigGit:
    """A rig (a project repository) or one of its worktrees, through the git program.

    The Refinery and the bead worktrees touch a rig through nothing else. Every method is
    one operation whose failure is spelled out: GitFailed saying what failed and what to
    do, or, for cleanup alone, a best-effort attempt whose failure is logged at debug.
    """

    def __init__(self, path: str | Path, timeout: float = 300) -> None:
        self.path = Path(path)
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"RigGit({str(self.path)!r})"

    def _run(
        self, *args: str, check: bool = True, input: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        return run_git((*NO_HOOKS, *args), self.path, check=check, input=input, env=env, timeout=self.timeout)

    def _refused(
        self, proc: subprocess.CompletedProcess[bytes], message: str, hint: str = "", where: Path | None = None
    ) -> GastownError:
        """What to raise for a git command here that failed: the disk's trouble when the disk
        it wrote to (``where``, else here) refused a write (waited out, the bead handed back),
        else GitFailed(message, hint)."""
        return disk_trouble(proc, where or self.path) or GitFailed(message, hint)

    def _lines(self, *args: str) -> list[str]:
        """The NUL-separated names ``git ARGS -z`` printed (no quoting of odd file names)."""
        out = self._run(args[0], "-z", *args[1:]).stdout  # before any "--" that ends the options
        return [os.fsdecode(name) for name in out.split(b"\0") if name]

    def _best_effort(self, *args: str) -> None:
        """``git ARGS`` for cleanup: a failure is logged at debug and otherwise ignored."""
        try:
            proc = self._run(*args, check=False)
        except GitFailed as error:  # timed out, or the rig's folder is gone
            log.debug("cleanup git %s in %s failed: %s", " ".join(args[:2]), self.path, error)
            return
        if proc.returncode != 0:
            log.debug("cleanup git %s in %s failed: %s", " ".join(args[:2]), self.path, last_line(proc))

    def output(self, *args: str, check: bool = True, timeout: float | None = None) -> str:
        """What ``git ARGS`` printed, for a caller's own read-only query; prefer a named method."""
        proc = run_git((*NO_HOOKS, *args), self.path, check=check, timeout=timeout or self.timeout)
        return proc.stdout.decode(errors="replace")

    @classmethod
    def create(cls, path: Path, branch: str = "main") -> RigGit:
        """A new repository at ``path`` (the folder may hold files already) on ``branch``."""
        path.mkdir(parents=True, exist_ok=True)
        proc = run_git(["init", "--quiet", "-b", branch, str(path)], path, check=False)
        if proc.returncode != 0:
            raise GitFailed(f"cannot make a git repository in {path}: {last_line(proc)}")
        return cls(path)

    @classmethod
    def clone(cls, url: str, path: Path, timeout: float = 600) -> RigGit:
        """A clone of ``url`` at ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        proc = run_git(["clone", "--quiet", url, str(path)], path.parent, check=False, timeout=timeout)
        if proc.returncode != 0:
            raise GitFailed(
                f"cannot clone {url} into {path}: {last_line(proc)}", "check the url and that this machine can reach it"
            )
        return cls(path, timeout)

    def files(self) -> list[str]:
        """The work tree's files as git sees them: tracked, and untracked but not ignored."""
        return self._lines("ls-files", "--cached", "--others", "--exclude-standard")

    # ---- refs and history --------------------------------------------------------

    def resolve(self, rev: str) -> str | None:
        """The commit ``rev`` (a full ref, a branch or a sha) names, or None when there is none."""
        proc = self._run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
        found = proc.stdout.decode(errors="replace").strip()
        if proc.returncode == 0 and found:
            return found
        if proc.returncode == 1:  # --verify --quiet: the name resolves to no commit
            return None
        raise GitFailed(
            f"cannot read {rev} in {self.path}: {last_line(proc)}", "check that the folder is a git repository"
        )

    def head(self) -> str:
        """The commit checked out here (a worktree's HEAD)."""
        found = self.resolve("HEAD")
        if found is None:
            raise GitFailed(f"{self.path} has no commit checked out", "make a first commit in it")
        return found

    def merge_base(self, one: str, other: str) -> str | None:
        """The best common ancestor of two commits, or None when their histories never meet."""
        proc = self._run("merge-base", one, other, check=False)
        if proc.returncode == 0:
            return proc.stdout.decode().strip()
        if proc.returncode == 1 and not proc.stderr.strip():
            return None
        raise GitFailed(f"cannot find where {one} and {other} meet in {self.path}: {last_line(proc)}")

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Whether ``descendant`` contains ``ancestor`` (so moving a ref between them is a fast-forward)."""
        proc = self._run("merge-base", "--is-ancestor", ancestor, descendant, check=False)
        if proc.returncode in (0, 1) and not proc.stderr.strip():
            return proc.returncode == 0
        raise GitFailed(f"cannot compare {ancestor} with {descendant} in {self.path}: {last_line(proc)}")

    def create_branch(self, branch: str, start: str) -> bool:
        """Make ``branch`` at ``start`` unless it exists; True when this call made it."""
        ref = f"refs/heads/{branch}"
        proc = self._run("update-ref", ref, start, ZERO, check=False)  # ZERO: only if absent
        if proc.returncode == 0:
            return True
        if self.resolve(ref) is not None:  # it was there, or another process made it first: either will do
            return False
        raise self._refused(
            proc,
            f"cannot create branch {branch} at {start[:10]} in {self.path}: {last_line(proc)}",
            "check that the name is a valid branch name and the repository is writable",
        )

    def advance(self, branch: str, new: str, old: str) -> None:
        """Move ``branch`` from ``old`` to ``new`` (compare-and-swap), then read it back:
        GitFailed, the branch left where it is, unless it now holds ``new``."""
        ref = f"refs/heads/{branch}"
        proc = self._run("update-ref", ref, new, old, check=False)
        now = self.resolve(ref)
        if now == new:
            if proc.returncode != 0:  # another process moved it to the very same commit
                log.debug("%s was already at %s: %s", branch, new[:10], last_line(proc))
            return
        said = f": {last_line(proc)}" if proc.returncode != 0 else ""
        raise self._refused(
            proc,
            f"{branch} moved: it is at {(now or 'nothing')[:10]}, not {new[:10]} (it was {old[:10]}){said}",
            f"nothing was lost: {new[:10]} is kept; run the merge again and it starts from {branch}'s new tip",
        )

    def set_ref(self, ref: str, new: str) -> None:
        """Point ``ref`` at ``new`` whatever it held (a mirror such as a remote-tracking ref)."""
        proc = self._run("update-ref", ref, new, check=False)
        if proc.returncode != 0:
            raise self._refused(proc, f"cannot point {ref} at {new[:10]} in {self.path}: {last_line(proc)}")

    def diff_names(self, old: str, new: str) -> list[str]:
        """The files that differ between two commits (a rename as both of its names)."""
        return self._lines("diff", "--name-only", "--no-renames", old, new)

    def read_at(self, rev: str, path: str) -> str | None:
        """The text of ``path`` in commit ``rev`` (None when it has no such file)."""
        data = self.bytes_at(rev, path)
        return None if data is None else data.decode(errors="replace")

    def bytes_at(self, rev: str, path: str) -> bytes | None:
        """The bytes of ``path`` in commit ``rev`` (None when it has no such file)."""
        proc = self._run("cat-file", "blob", f"{rev}:{path}", check=False)
        return bytes(proc.stdout) if proc.returncode == 0 else None

    def unhide_changes(self) -> None:
        """Clear every skip-worktree and assume-unchanged mark, so ``git add`` sees what
        changed in those files (a mark hides an edit from the commit and its checks)."""
        listed = self._lines("ls-files", "-v")
        for flag, marked in (
            ("--no-skip-worktree", [line[2:] for line in listed if line[:1] in ("S", "s")]),  # "s": both marks
            ("--no-assume-unchanged", [line[2:] for line in listed if line[:1].islower()]),
        ):  # one flag a command: given both, git applies only the last
            for start in range(0, len(marked), 500):
                self._run("update-index", flag, "--", *marked[start : start + 500])

    def files_at(self, rev: str, paths: Sequence[str]) -> list[str]:
        """Those of ``paths`` that are files in commit ``rev``."""
        return self._lines("ls-tree", "-r", "--name-only", rev, "--", *paths) if paths else []

    # ---- worktrees -----------------------------------------------------------------

    def worktree_add_detached(self, where: Path, commit: str) -> None:
        """A new worktree at ``where`` with ``commit`` checked out on no branch."""
        self._worktree_add(where, "--detach", str(where), commit)

    def worktree_add_new_branch(self, where: Path, branch: str, start: str) -> None:
        """A new worktree at ``where`` on a new ``branch`` that starts at ``start``."""
        self._worktree_add(where, "-b", branch, str(where), start)

    def worktree_add_branch(self, where: Path, branch: str) -> None:
        """A new worktree at ``where`` on the existing ``branch``, even if another worktree has it."""
        self._worktree_add(where, "--force", str(where), branch)

    def _worktree_add(self, where: Path, *args: str) -> None:
        proc = self._run("worktree", "add", "--quiet", *args, check=False)
        if proc.returncode != 0:
            raise self._refused(
                proc,
                f"cannot make a worktree at {where} from {self.path}: {last_line(proc)}",
                f"delete {where} if it was left behind, then run git worktree prune in {self.path}",
                where=_existing(where),
            )

    def worktree_remove(self, where: Path) -> None:
        """Remove the worktree at ``where`` and forget it; best effort (failures are logged
        at debug), since what is left over is removed again before the folder is reused."""
        if where.exists():
            self._best_effort("worktree", "remove", "--force", str(where))
            shutil.rmtree(where, ignore_errors=True)
            if where.exists():
                log.debug("could not delete the worktree folder %s", where)
        self._best_effort("worktree", "prune")

    def worktree_branches(self) -> dict[str, Path]:
        """Each checked-out branch and the worktree (the main one included) that has it."""
        found: dict[str, Path] = {}
        current: Path | None = None
        for line in self._run("worktree", "list", "--porcelain").stdout.decode(errors="replace").splitlines():
            if line.startswith("worktree "):
                current = Path(line[len("worktree ") :])
            elif line.startswith("branch refs/heads/") and current is not None:
                found[line[len("branch refs/heads/") :]] = current
        return found

    def checked_out(self, branch: str) -> Path | None:
        """The worktree that has ``branch`` checked out, or None."""
        return self.worktree_branches().get(branch)

    # ---- work in a worktree ---------------------------------------------------------

    def rebase_onto(self, upstream: str, committer: str) -> list[str]:
        """Rebase the commits checked out here onto ``upstream``: [] when they apply, else the
        conflicted paths, with the rebase aborted so the worktree is as it was."""
        proc = self._run("rebase", "--quiet", upstream, check=False, env=identity(committer))
        if proc.returncode == 0:
            return []
        conflicted = self._lines("diff", "--name-only", "--diff-filter=U") if self.rebase_in_progress() else []
        self._best_effort("rebase", "--abort")
        if self.rebase_in_progress():
            raise GitFailed(
                f"cannot abort the rebase in {self.path}", f"run git rebase --abort in {self.path}, or delete it"
            )
        if not conflicted:  # it failed before replaying anything: not a conflict
            raise self._refused(proc, f"git rebase onto {upstream[:10]} failed in {self.path}: {last_line(proc)}")
        return conflicted

    def rebase_in_progress(self) -> bool:
        """Whether a rebase stopped here and waits to be continued or aborted."""
        found = self._run("rev-parse", "--git-path", "rebase-merge", "--git-path", "rebase-apply").stdout
        return any((self.path / os.fsdecode(name)).exists() for name in found.splitlines() if name)

    def restore_files(self, rev: str, paths: Sequence[str]) -> None:
        """Put ``paths`` in the work tree (and the index) back as they are in ``rev``."""
        if paths:
            self._run("checkout", rev, "--", *paths)

    def discard_changes(self) -> None:
        """The work tree and index back to HEAD: every change undone, every untracked file removed."""
        self._run("reset", "--hard", "--quiet")
        self._run("clean", "-fdq")

    def switch(self, branch: str) -> None:
        """Check out the existing ``branch`` here."""
        self._run("switch", "--quiet", branch)

    def stage_all(self) -> None:
        """Stage every change in the work tree (new, changed and deleted files)."""
        self._run("add", "--all")

    def staged_names(self, base: str) -> list[str]:
        """The files whose staged content differs from ``base``."""
        return self._lines("diff", "--cached", "--name-only", "--no-renames", base)

    def has_staged_changes(self) -> bool:
        """Whether the index differs from HEAD (so a commit would record something)."""
        if self.resolve("HEAD") is None:  # before the first commit: anything staged is a change
            return bool(self._lines("ls-files", "--cached"))
        proc = self._run("diff", "--cached", "--quiet", "HEAD", check=False)
        if proc.returncode in (0, 1) and not proc.stderr.strip():
            return proc.returncode == 1
        raise self._refused(proc, f"cannot compare the index with HEAD in {self.path}: {last_line(proc)}")

    def commit_staged(self, message: str, author: str, committer: str = "gastown") -> str | None:
        """Commit what is staged (no hooks); the new commit, or None when nothing is staged."""
        if not self.has_staged_changes():
            return None
        self._run(  # unattended: a signing setup that asks for a passphrase must not stop it
            "-c",
            "commit.gpgsign=false",
            "commit",
            "--quiet",
            "--no-verify",
            "-F",
            "-",
            input=message.encode(),
            env=identity(author, committer),
        )
        return self.head()

    # ---- remotes ---------------------------------------------------------------------

    def remotes(self) -> list[str]:
        """The names of the repository's remotes."""
        return self._run("remote").stdout.decode(errors="replace").split()

    def remote_sha(self, remote: str, branch: str) -> str | None:
        """The commit ``branch`` holds on ``remote`` now, asked of the remote itself."""
        ref = f"refs/heads/{branch}"
        proc = self._run("ls-remote", remote, ref, check=False)
        if proc.returncode != 0:
            raise GitFailed(
                f"cannot read {branch} from {remote}: {last_line(proc)}",
                f"check that the remote is reachable (git ls-remote {remote})",
            )
        for line in proc.stdout.decode(errors="replace").splitlines():
            sha, _, name = line.partition("\t")
            if name == ref:
                return sha
        return None

    def push_commit(self, remote: str, sha: str, branch: str) -> None:
        """Fast-forward ``branch`` on ``remote`` to ``sha`` and read it back: GitFailed with the
        remote's own words when it refuses, or when it does not then hold ``sha``."""
        proc = self._run("push", "--porcelain", remote, f"{sha}:refs/heads/{branch}", check=False)
        result = read_push(proc)
        if result is None:
            raise GitFailed(
                f"push of {sha[:10]} to {remote}/{branch} failed: {last_line(proc)}",
                f"check that the remote is reachable (git ls-remote {remote})",
            )
        if not result.ok:
            words = "; ".join((*result.remote_messages, result.reason)) or result.status
            hint = (
                f"someone else moved {remote}/{branch} first: run the merge again to rebase onto it"
                if result.status == "stale"
                else f"{remote}'s hooks or settings refused it: its words above say why"
            )
            raise GitFailed(f"{remote} refused {sha[:10]} on {branch} ({result.status}): {words}", hint)
        found = self.remote_sha(remote, branch)
        if found != sha:
            raise GitFailed(
                f"{remote} has {(found or 'nothing')[:10]} on {branch}, not the pushed {sha[:10]}",
                f"look at {remote}'s hooks and at who else pushes {branch}",
            )

    def publish_branch(self, remote: str, branch: str) -> None:
        """Force the local ``branch`` onto ``remote`` (a bead's branch: only its worker writes it)."""
        proc = self._run("push", "--quiet", "--force", remote, f"refs/heads/{branch}:refs/heads/{branch}", check=False)
        if proc.returncode != 0:
            raise GitFailed(
                f"cannot push {branch} to {remote}: {last_line(proc)}",
                f"check that the remote is reachable and accepts {branch} (git push {remote} {branch})",
            )

    def fetch_branch(self, remote: str, branch: str) -> bool:
        """Copy ``branch`` from ``remote`` to the local branch of that name; False when the
        remote has no such branch."""
        if self.remote_sha(remote, branch) is None:
            return False
        proc = self._run("fetch", "--quiet", remote, f"refs/heads/{branch}:refs/heads/{branch}", check=False)
        if proc.returncode != 0:
            raise GitFailed(
                f"cannot fetch {branch} from {remote}: {last_line(proc)}",
                f"check that the remote is reachable (git ls-remote {remote})",
            )
        return True
