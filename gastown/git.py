"""The one door to git.

Objects and local refs go through libgit2 (``pygit2``) in-process: a claim writes a
blob, a few small trees and a commit in well under a millisecond and moves the branch
with a locked compare-and-swap. Everything that talks to another repository (push,
fetch, clone, worktrees, rebase) runs the real ``git`` program, so its transports,
hooks and messages are git's own. Nothing here ever touches a working tree, an index
or HEAD unless a function says so in its name.

``Git`` is the town's repository; ``RigGit`` is a rig (a project repository) and its
worktrees, the only way the Refinery and the bead worktrees reach git.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gastown.errors import GitFailed, NotFound

if TYPE_CHECKING:  # pygit2 costs ~45 ms to import: only commands that touch objects pay
    import pygit2

log = logging.getLogger(__name__)

ZERO = "0" * 40
# Variables a hook (or a parent git) sets that would point our git at the wrong place.
_REPO_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_QUARANTINE_PATH",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
)
STALE_LOCK_SECONDS = 10.0


def clean_env(extra: Mapping[str, str] | None = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child: ``base`` (ours by default) minus repository-locating
    variables, so a child run inside a worktree finds that worktree's repository."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in _REPO_ENV}
    env.setdefault("GIT_TERMINAL_PROMPT", "0")
    if extra:
        env.update(extra)
    return env


def run_git(
    args: Sequence[str],
    cwd: str | Path,
    *,
    input: bytes | None = None,
    check: bool = True,
    timeout: float | None = 120,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git ARGS`` in ``cwd``; GitFailed with git's own message when it fails."""
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            input=input,
            capture_output=True,
            timeout=timeout,
            env=clean_env(env),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise GitFailed(f"git {' '.join(args[:2])} timed out after {timeout}s") from None
    except FileNotFoundError:
        raise GitFailed("the git program is not installed", "install git (2.30 or newer)") from None
    if check and proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip() or proc.stdout.decode(errors="replace").strip()
        raise GitFailed(f"git {' '.join(args[:2])} failed: {message[-2000:]}")
    return proc


def discover(start: str | Path) -> Path | None:
    """The git directory enclosing ``start`` (a work tree's ``.git`` or a bare repository)."""
    here = Path(start).resolve()
    for folder in (here, *here.parents):
        dotgit = folder / ".git"
        if dotgit.is_dir():
            return dotgit
        if dotgit.is_file():  # a linked worktree or a submodule: "gitdir: <path>"
            text = dotgit.read_text().strip()
            if text.startswith("gitdir:"):
                return (folder / text[len("gitdir:") :].strip()).resolve()
        if _is_git_dir(folder):
            return folder
    return None


def worktree_files(top: str | Path) -> list[str] | None:
    """Files git tracks or would track in the work tree ``top`` (relative, sorted), or None when
    ``top`` is not the top of a work tree: ignored files and build output never appear."""
    top = Path(top).resolve()
    # The ceiling keeps git from answering for an unrelated repository that encloses ``top``.
    proc = run_git(
        ["ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        top,
        check=False,
        timeout=60,
        env={"GIT_CEILING_DIRECTORIES": str(top.parent)},
    )
    if proc.returncode != 0:
        return None
    return sorted({os.fsdecode(name) for name in proc.stdout.split(b"\0") if name})


def _is_git_dir(folder: Path) -> bool:
    return (
        (folder / "HEAD").is_file()
        and (folder / "objects").is_dir()
        and ((folder / "refs").is_dir() or (folder / "reftable").is_dir())
    )


def read_ref(git_dir: Path, ref: str) -> str | None:
    """What ``ref`` points at, read from the ref files without loading libgit2.

    Returns None when the ref does not exist; raises LookupError when the repository
    stores refs in a way this reader does not know (reftable), so callers fall back to
    ``Git.resolve``.
    """
    common = git_dir
    pointer = git_dir / "commondir"
    if pointer.is_file():  # a linked worktree keeps branches in the main repository
        common = (git_dir / pointer.read_text().strip()).resolve()
    if (common / "reftable").is_dir():
        raise LookupError("reftable")
    try:
        text = (common / ref).read_text().strip()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        text = ""
    if len(text) == 40:
        return text
    if text:
        raise LookupError(f"{ref} is not a plain ref")
    try:
        packed = (common / "packed-refs").read_text()
    except FileNotFoundError:
        return None
    suffix = f" {ref}"
    for line in packed.splitlines():
        if line.endswith(suffix) and len(line) == 40 + len(suffix):
            return line[:40]
    return None


@dataclass(frozen=True)
class PushResult:
    """What ``git push --porcelain`` said about one ref."""

    ok: bool
    status: str  # "ok", "up-to-date", "stale" (someone else moved it first) or "refused"
    reason: str = ""
    remote_messages: tuple[str, ...] = field(default_factory=tuple)


def read_push(proc: subprocess.CompletedProcess[bytes]) -> PushResult | None:
    """What ``git push --porcelain`` said about its first ref, or None when it said nothing
    about any ref (the remote could not be reached)."""
    err = proc.stderr.decode(errors="replace")
    messages = tuple(
        line[len("remote: ") :].rstrip()
        for line in err.splitlines()
        if line.startswith("remote: ") and line[len("remote: ") :].strip()
    )
    for line in proc.stdout.decode(errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or len(parts[0]) != 1:
            continue
        flag, summary = parts[0], parts[2]
        if flag in " +*-":
            return PushResult(True, "ok", summary, messages)
        if flag == "=":
            return PushResult(True, "up-to-date", summary, messages)
        if "fetch first" in summary or "non-fast-forward" in summary or "stale" in summary:
            return PushResult(False, "stale", summary, messages)
        if "failed to update ref" in summary or "cannot lock ref" in summary:
            return PushResult(False, "stale", summary, messages)
        return PushResult(False, "refused", summary, messages)
    return None


def _last_line(proc: subprocess.CompletedProcess[bytes]) -> str:
    """The last thing a failed git command said (its error), for a message."""
    detail = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()
    return detail[-1] if detail else f"exit {proc.returncode}, no output"


class Git:
    """A repository: libgit2 for objects and local refs, the git program for the rest."""

    def __init__(self, path: str | Path) -> None:
        import pygit2

        self.lib = pygit2
        try:
            self.repo = pygit2.Repository(str(path))
        except pygit2.GitError as error:
            raise NotFound(f"no git repository at {path}: {error}") from None
        self.git_dir = Path(self.repo.path).resolve()
        workdir = self.repo.workdir
        self.workdir = None if workdir is None else Path(workdir).resolve()
        quarantine = os.environ.get("GIT_QUARANTINE_PATH")
        if quarantine and Path(quarantine).resolve().is_relative_to(self.git_dir):
            # Inside pre-receive the pushed objects wait in a quarantine directory.
            self.repo.odb.add_disk_alternate(quarantine)

    @property
    def bare(self) -> bool:
        return bool(self.repo.is_bare)

    def run(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        """``git ARGS`` in this repository."""
        cwd = self.workdir or self.git_dir
        return run_git(args, cwd, **kwargs)  # type: ignore[arg-type]

    def config(self, key: str) -> str | None:
        try:
            value = self.repo.config[key]
        except KeyError:
            return None
        return str(value)

    # ---- refs ------------------------------------------------------------------

    def resolve(self, ref: str) -> str | None:
        """The commit id ``ref`` points at, or None when it does not exist."""
        try:
            reference = self.repo.references.get(ref)
        except self.lib.GitError as error:
            raise GitFailed(f"cannot read {ref}: {error}") from None
        if reference is None:
            return None
        return str(reference.resolve().target)

    def cas_ref(self, ref: str, new: str, old: str | None, message: str, stale_after: float | None = None) -> bool:
        """Move ``ref`` from ``old`` (None: must not exist) to ``new``; False if it moved.

        A ref lock older than ``stale_after`` seconds (default ``STALE_LOCK_SECONDS``) was
        left by a writer that died and is removed. A caller that holds gastown's own write
        lock passes a short time: no other gastown writer can hold the ref lock then, and
        git holds it only for the milliseconds of an update.
        """
        deadline = time.monotonic() + 5.0
        stale = STALE_LOCK_SECONDS if stale_after is None else stale_after
        while True:
            try:
                with self.repo.transaction() as txn:
                    txn.lock_ref(ref)
                    if self.resolve(ref) != old:
                        return False
                    txn.set_target(ref, new, message=message)  # pygit2 cannot pass a signature here
                return True
            except self.lib.GitError as error:
                if not self._clear_stale_lock(ref, error, stale) and time.monotonic() > deadline:
                    raise GitFailed(f"cannot update {ref}: {error}") from None
                time.sleep(0.002)

    def _clear_stale_lock(self, ref: str, error: Exception, stale: float) -> bool:
        """Remove ``ref``'s lock file if a dead writer left it behind; True if removed."""
        lock = self.git_dir / (ref + ".lock")
        try:
            age = time.time() - lock.stat().st_mtime
        except FileNotFoundError:
            return False
        if age < stale:
            return False
        log.warning("removing %s, left %.0fs ago by a writer that died (%s)", lock, age, error)
        lock.unlink(missing_ok=True)
        return True

    def set_ref(self, ref: str, new: str) -> None:
        """Point ``ref`` at ``new`` whatever it held (for remote-tracking mirrors)."""
        self.repo.references.create(ref, new, force=True)

    # ---- objects ---------------------------------------------------------------

    def exists(self, oid: str) -> bool:
        return oid in self.repo.odb if len(oid) == 40 else False

    def blob(self, oid: str) -> bytes:
        return bytes(self.repo[oid].read_raw())

    def tree_of(self, commit: str) -> str:
        return str(self.repo[commit].peel(self.lib.Tree).id)

    def entry(self, tree: str, path: str) -> tuple[str, int] | None:
        """``(oid, filemode)`` of ``path`` inside ``tree``, or None."""
        try:
            found = self.repo[tree] / path  # type: ignore[operator]
        except KeyError:
            return None
        return str(found.id), int(found.filemode)

    def read_path(self, tree: str, path: str) -> bytes | None:
        """The bytes of file ``path`` in ``tree``, or None when absent or not a file."""
        found = self.entry(tree, path)
        modes = (self.lib.enums.FileMode.BLOB, self.lib.enums.FileMode.BLOB_EXECUTABLE)
        if found is None or found[1] not in modes:
            return None
        return self.blob(found[0])

    def listdir(self, tree: str, folder: str) -> list[str]:
        """Names directly inside ``folder`` of ``tree`` (empty when there is no such folder)."""
        found = self.entry(tree, folder)
        if found is None or found[1] != self.lib.enums.FileMode.TREE:
            return []
        return [item.name for item in self.repo[found[0]]]  # type: ignore[attr-defined]

    def walk(self, tree: str, prefix: str = "") -> Iterator[tuple[str, str, int]]:
        """Every file below ``tree`` as ``(path, oid, filemode)``."""
        for item in self.repo[tree]:  # type: ignore[attr-defined]
            path = f"{prefix}{item.name}"
            if item.type == self.lib.enums.ObjectType.TREE:
                yield from self.walk(str(item.id), path + "/")
            else:
                yield path, str(item.id), int(item.filemode)

    def diff_trees(self, old: str | None, new: str | None) -> list[tuple[str, str | None]]:
        """Files that differ from ``old`` to ``new`` as ``(path, new oid or None if gone)``."""
        if old == new:
            return []
        if old is None or new is None:
            present = new if new is not None else old
            assert present is not None
            return [(p, o if new else None) for p, o, _ in self.walk(present)]
        old_tree, new_tree = self.repo[old], self.repo[new]
        assert isinstance(old_tree, self.lib.Tree) and isinstance(new_tree, self.lib.Tree)
        diff = old_tree.diff_to_tree(new_tree)
        changes: list[tuple[str, str | None]] = []
        for delta in diff.deltas:
            if delta.status_char() == "D":
                changes.append((delta.old_file.path, None))
            else:
                if delta.status_char() == "R":
                    changes.append((delta.old_file.path, None))
                changes.append((delta.new_file.path, str(delta.new_file.id)))
        return changes

    def write_blob(self, data: bytes) -> str:
        return str(self.repo.create_blob(data))

    def write_tree(self, base: str | None, changes: Mapping[str, str | None]) -> str:
        """A new tree: ``base`` with files at ``changes``' paths set (oid) or removed (None)."""
        tree = self.repo[base] if base else None
        assert tree is None or isinstance(tree, self.lib.Tree)
        oid = self._write_tree(tree, changes)
        if oid is None:
            return str(self.repo.TreeBuilder().write())
        return oid

    def _write_tree(self, base: pygit2.Tree | None, changes: Mapping[str, str | None]) -> str | None:
        builder = self.repo.TreeBuilder(base) if base is not None else self.repo.TreeBuilder()
        nested: dict[str, dict[str, str | None]] = {}
        for path, oid in changes.items():
            head, _, rest = path.partition("/")
            if rest:
                nested.setdefault(head, {})[rest] = oid
            elif oid is None:
                if builder.get(head) is not None:
                    builder.remove(head)
            else:
                builder.insert(head, oid, self.lib.enums.FileMode.BLOB)
        for head, inner in nested.items():
            current = builder.get(head)
            subtree: pygit2.Tree | None = None
            if current is not None and current.type == self.lib.enums.ObjectType.TREE:
                found = self.repo[current.id]
                assert isinstance(found, self.lib.Tree)
                subtree = found
            written = self._write_tree(subtree, inner)
            if written is None:
                if current is not None:
                    builder.remove(head)
            else:
                builder.insert(head, written, self.lib.enums.FileMode.TREE)
        if len(builder) == 0:
            return None
        return str(builder.write())

    def write_commit(
        self,
        tree: str,
        parents: Sequence[str],
        message: str,
        author: pygit2.Signature,
        committer: pygit2.Signature,
    ) -> str:
        return str(self.repo.create_commit(None, author, committer, message, tree, list(parents)))

    def signature(self, name: str, when: float) -> pygit2.Signature:
        """An author/committer for gastown's own commits (no git config needed)."""
        return self.lib.Signature(name, "gastown@localhost", int(when), 0)

    def maintain(self) -> None:
        """Start ``git gc --auto`` in the background: plumbing writes never trigger it, and
        every claim adds loose objects. git decides whether there is anything to do and
        keeps two runs from overlapping; nothing waits for it."""
        try:  # the shell exits at once; gc goes on detached, reaped by init
            subprocess.run(
                ["sh", "-c", "git gc --auto --quiet </dev/null >/dev/null 2>&1 &"],
                cwd=self.workdir or self.git_dir,
                env=clean_env(),
                check=False,
                timeout=10,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            log.debug("could not start git gc --auto: %s", error)

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        if ancestor == descendant:
            return True
        return bool(self.repo.descendant_of(descendant, ancestor))

    def commits_between(self, old: str | None, new: str) -> list[pygit2.Commit]:
        """Commits reachable from ``new`` but not ``old``, oldest first."""
        order = self.lib.enums.SortMode
        walker = self.repo.walk(new, order.TOPOLOGICAL | order.REVERSE)
        if old:
            walker.hide(old)
        return list(walker)

    # ---- other repositories ------------------------------------------------------

    def push(self, remote: str, refspecs: Sequence[str], timeout: float = 120) -> PushResult:
        """``git push --porcelain``, read back into a PushResult for the first refspec."""
        proc = self.run("push", "--porcelain", remote, *refspecs, check=False, timeout=timeout)
        result = read_push(proc)
        if result is not None:
            return result
        raise GitFailed(
            f"git push to {remote} failed: {_last_line(proc)}",
            "check that the remote is reachable (git ls-remote " + remote + ")",
        )

    def fetch(self, remote: str, refspecs: Sequence[str], timeout: float = 120) -> None:
        self.run("fetch", "--quiet", "--no-tags", remote, *refspecs, timeout=timeout)


def identity(author: str, committer: str | None = None) -> dict[str, str]:
    """The environment that makes git write commits as gastown's ``author`` (and ``committer``)."""
    return {
        "GIT_AUTHOR_NAME": author,
        "GIT_AUTHOR_EMAIL": "gastown@localhost",
        "GIT_COMMITTER_NAME": committer or author,
        "GIT_COMMITTER_EMAIL": "gastown@localhost",
    }


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
        return run_git(args, self.path, check=check, input=input, env=env, timeout=self.timeout)

    def _lines(self, *args: str) -> list[str]:
        """The NUL-separated names ``git ARGS -z`` printed (no quoting of odd file names)."""
        out = self._run(*args, "-z").stdout
        return [os.fsdecode(name) for name in out.split(b"\0") if name]

    def _best_effort(self, *args: str) -> None:
        """``git ARGS`` for cleanup: a failure is logged at debug and otherwise ignored."""
        try:
            proc = self._run(*args, check=False)
        except GitFailed as error:  # timed out, or the rig's folder is gone
            log.debug("cleanup git %s in %s failed: %s", " ".join(args[:2]), self.path, error)
            return
        if proc.returncode != 0:
            log.debug("cleanup git %s in %s failed: %s", " ".join(args[:2]), self.path, _last_line(proc))

    def output(self, *args: str, check: bool = True, timeout: float | None = None) -> str:
        """What ``git ARGS`` printed, for a caller's own read-only query; prefer a named method."""
        proc = run_git(args, self.path, check=check, timeout=timeout or self.timeout)
        return proc.stdout.decode(errors="replace")

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
            f"cannot read {rev} in {self.path}: {_last_line(proc)}", "check that the folder is a git repository"
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
        raise GitFailed(f"cannot find where {one} and {other} meet in {self.path}: {_last_line(proc)}")

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Whether ``descendant`` contains ``ancestor`` (so moving a ref between them is a fast-forward)."""
        proc = self._run("merge-base", "--is-ancestor", ancestor, descendant, check=False)
        if proc.returncode in (0, 1) and not proc.stderr.strip():
            return proc.returncode == 0
        raise GitFailed(f"cannot compare {ancestor} with {descendant} in {self.path}: {_last_line(proc)}")

    def create_branch(self, branch: str, start: str) -> bool:
        """Make ``branch`` at ``start`` unless it exists; True when this call made it."""
        ref = f"refs/heads/{branch}"
        proc = self._run("update-ref", ref, start, ZERO, check=False)  # ZERO: only if absent
        if proc.returncode == 0:
            return True
        if self.resolve(ref) is not None:  # it was there, or another process made it first: either will do
            return False
        raise GitFailed(
            f"cannot create branch {branch} at {start[:10]} in {self.path}: {_last_line(proc)}",
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
                log.debug("%s was already at %s: %s", branch, new[:10], _last_line(proc))
            return
        said = f": {_last_line(proc)}" if proc.returncode != 0 else ""
        raise GitFailed(
            f"{branch} moved: it is at {(now or 'nothing')[:10]}, not {new[:10]} (it was {old[:10]}){said}",
            f"nothing was lost: {new[:10]} is kept; run the merge again and it starts from {branch}'s new tip",
        )

    def set_ref(self, ref: str, new: str) -> None:
        """Point ``ref`` at ``new`` whatever it held (a mirror such as a remote-tracking ref)."""
        proc = self._run("update-ref", ref, new, check=False)
        if proc.returncode != 0:
            raise GitFailed(f"cannot point {ref} at {new[:10]} in {self.path}: {_last_line(proc)}")

    def diff_names(self, old: str, new: str) -> list[str]:
        """The files that differ between two commits."""
        return self._lines("diff", "--name-only", old, new)

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
            raise GitFailed(
                f"cannot make a worktree at {where} from {self.path}: {_last_line(proc)}",
                f"delete {where} if it was left behind, then run git worktree prune in {self.path}",
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
            raise GitFailed(f"git rebase onto {upstream[:10]} failed in {self.path}: {_last_line(proc)}")
        return conflicted

    def rebase_in_progress(self) -> bool:
        """Whether a rebase stopped here and waits to be continued or aborted."""
        found = self._run("rev-parse", "--git-path", "rebase-merge", "--git-path", "rebase-apply").stdout
        return any((self.path / os.fsdecode(name)).exists() for name in found.splitlines() if name)

    def stage_all(self) -> None:
        """Stage every change in the work tree (new, changed and deleted files)."""
        self._run("add", "--all")

    def staged_names(self, base: str) -> list[str]:
        """The files whose staged content differs from ``base``."""
        return self._lines("diff", "--cached", "--name-only", "--no-renames", base)

    def has_staged_changes(self) -> bool:
        """Whether the index differs from HEAD (so a commit would record something)."""
        proc = self._run("diff", "--cached", "--quiet", "HEAD", check=False)
        if proc.returncode in (0, 1) and not proc.stderr.strip():
            return proc.returncode == 1
        raise GitFailed(f"cannot compare the index with HEAD in {self.path}: {_last_line(proc)}")

    def commit_staged(self, message: str, author: str, committer: str = "gastown") -> str | None:
        """Commit what is staged (no hooks); the new commit, or None when nothing is staged."""
        if not self.has_staged_changes():
            return None
        self._run(
            "commit", "--quiet", "--no-verify", "-F", "-", input=message.encode(), env=identity(author, committer)
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
                f"cannot read {branch} from {remote}: {_last_line(proc)}",
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
                f"push of {sha[:10]} to {remote}/{branch} failed: {_last_line(proc)}",
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
                f"cannot push {branch} to {remote}: {_last_line(proc)}",
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
                f"cannot fetch {branch} from {remote}: {_last_line(proc)}",
                f"check that the remote is reachable (git ls-remote {remote})",
            )
        return True
