"""The one door to git.

Objects and local refs go through libgit2 (``pygit2``) in-process: a claim writes a
blob, a few small trees and a commit in well under a millisecond and moves the branch
with a locked compare-and-swap. Everything that talks to another repository (push,
fetch, clone, worktrees, rebase) runs the real ``git`` program, so its transports,
hooks and messages are git's own. Nothing here ever touches a working tree, an index
or HEAD unless a function says so in its name.

``Git`` is the town's repository; ``gastown.town.riggit.RigGit`` is the door to a rig (a
project repository) and its worktrees, built on ``run_git`` here.
"""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gastown.errors import GastownError, GitFailed, NotFound, Unavailable, storage_error

if TYPE_CHECKING:  # pygit2 costs ~45 ms to import: only commands that touch objects pay
    import pygit2

log = logging.getLogger(__name__)

LOW_DISK_BYTES = 1 << 20  # a write failed with less than this free: the disk is full
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
        trouble = disk_trouble(proc, cwd)
        if trouble is not None:  # the disk's trouble, not the work's: said so, and waited out
            raise trouble
        message = proc.stderr.decode(errors="replace").strip() or proc.stdout.decode(errors="replace").strip()
        raise GitFailed(f"git {' '.join(args[:2])} failed: {message[-2000:]}")
    return proc


def disk_trouble(proc: subprocess.CompletedProcess[bytes], cwd: str | Path) -> GastownError | None:
    """The StorageError for a git command that failed because the disk under ``cwd`` (the
    folder it was writing) refused a write (full, over quota, read-only), or None when it
    failed for another reason."""
    said = proc.stderr.decode(errors="replace") + proc.stdout.decode(errors="replace")
    for marker, code in _STORAGE_MESSAGES:
        if marker in said:
            return storage_error(OSError(code, os.strerror(code)), cwd)
    if any(words in said for words in _WRITE_FAILED):  # git did not say why: ask the disk
        return disk_refusal(cwd)
    return None


def disk_refusal(path: str | Path) -> GastownError | None:
    """The StorageError of the disk holding ``path`` when it can take no write now
    (read-only, or less than LOW_DISK_BYTES free), else None."""
    try:
        disk = os.statvfs(path)
    except OSError:
        return None
    if disk.f_flag & os.ST_RDONLY:
        return storage_error(OSError(errno.EROFS, os.strerror(errno.EROFS)), path)
    if disk.f_bavail * disk.f_frsize < LOW_DISK_BYTES:
        return storage_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), path)
    return None


# git's words (the C library's strerror) for a disk that refused a write, as an English or C
# locale prints them (elsewhere the failure stays a plain GitFailed); "Permission denied" is left
# out: ssh says it of a key, not of a disk
_STORAGE_MESSAGES = (
    ("No space left on device", errno.ENOSPC),
    ("Disk quota exceeded", errno.EDQUOT),
    ("Read-only file system", errno.EROFS),
)
# git's words for a write that failed when it does not say why (a lock file on a full disk:
# "cannot update ref …: couldn't write '….lock'"); the disk is asked then
_WRITE_FAILED = ("couldn't write", "unable to write", "could not write", "failed to write", "short write")


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
        if is_git_dir(folder):
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


def is_git_dir(folder: Path) -> bool:
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
class Commit:
    """What a commit says, read once: its tree, its parents and their trees, its words."""

    id: str
    tree: str
    parents: tuple[str, ...]
    parent_trees: tuple[str, ...]
    message: str
    author: pygit2.Signature
    time: int  # committer time, seconds


@dataclass(frozen=True)
class PushResult:
    """What ``git push --porcelain`` said about one ref."""

    ok: bool
    status: str  # "ok", "up-to-date", "stale" (someone else moved it first), "refused",
    # or "collateral" (an atomic push failed for another of its refs)
    reason: str = ""
    remote_messages: tuple[str, ...] = field(default_factory=tuple)


def read_push(proc: subprocess.CompletedProcess[bytes]) -> PushResult | None:
    """What ``git push --porcelain`` said about its first ref, or None when it said nothing
    about any ref (the remote could not be reached)."""
    every = read_push_refs(proc)
    return next(iter(every.values()), None)


def read_push_refs(proc: subprocess.CompletedProcess[bytes]) -> dict[str, PushResult]:
    """What ``git push --porcelain`` said about each remote ref, in its order."""
    err = proc.stderr.decode(errors="replace")
    messages = tuple(
        line[len("remote: ") :].rstrip()
        for line in err.splitlines()
        if line.startswith("remote: ") and line[len("remote: ") :].strip()
    )
    results: dict[str, PushResult] = {}
    for line in proc.stdout.decode(errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or len(parts[0]) != 1:
            continue
        flag, ref, summary = parts[0], parts[1].rpartition(":")[2], parts[2]
        results[ref] = _push_result(flag, summary, messages)
    return results


def _push_result(flag: str, summary: str, messages: tuple[str, ...]) -> PushResult:
    if flag in " +*-":
        return PushResult(True, "ok", summary, messages)
    if flag == "=":
        return PushResult(True, "up-to-date", summary, messages)
    if "fetch first" in summary or "non-fast-forward" in summary or "stale" in summary:
        return PushResult(False, "stale", summary, messages)
    if "failed to update ref" in summary or "cannot lock ref" in summary:
        return PushResult(False, "stale", summary, messages)
    if "atomic" in summary:  # this ref was fine; another of the same atomic push failed
        return PushResult(False, "collateral", summary, messages)
    return PushResult(False, "refused", summary, messages)


def last_line(proc: subprocess.CompletedProcess[bytes]) -> str:
    """What a failed git command said of its failure, for a message: its first ``fatal:``
    line when it has one (the lines after it are advice), else its last line."""
    detail = [line for line in (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines() if line]
    fatal = [line for line in detail if line.startswith("fatal:")]
    if fatal:
        return fatal[0]
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
                    raise self.write_failed(ref, error, "update") from None
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
        self._mirror(ref, lambda: self.repo.references.create(ref, new, force=True))

    def delete_ref(self, ref: str) -> None:
        """Remove ``ref`` if it exists (a remote-tracking mirror of a ref deleted there)."""

        def delete() -> None:
            try:
                self.repo.references.delete(ref)
            except KeyError:
                pass

        self._mirror(ref, delete)

    def _mirror(self, ref: str, change: Callable[[], object]) -> None:
        """Make a change to a mirror ref, again while another process holds its lock for a
        moment (a git process that outlived a killed gastown process, say); a lock older
        than ``STALE_LOCK_SECONDS`` was left by a writer that died and is removed (libgit2
        says so as an OSError naming the lock file, "failed to create locked file …")."""
        deadline = time.monotonic() + STALE_LOCK_SECONDS + 5.0
        while True:
            try:
                change()
                return
            except (self.lib.GitError, OSError) as error:
                if isinstance(error, OSError) and ".lock" not in str(error):
                    raise  # not a lock another writer holds
                if not self._clear_stale_lock(ref, error, STALE_LOCK_SECONDS) and time.monotonic() > deadline:
                    raise self.write_failed(ref, error, "update") from None
                time.sleep(0.01)

    # ---- objects ---------------------------------------------------------------

    def exists(self, oid: str) -> bool:
        return oid in self.repo.odb if len(oid) == 40 else False

    def blob(self, oid: str) -> bytes:
        return bytes(self.repo[oid].read_raw())

    def author_of(self, oid: str) -> str | None:
        """The author's name of commit ``oid``, or None when it is not a commit here."""
        found = self.commit(oid)
        return None if found is None else str(found.author.name)

    def commit(self, oid: str) -> Commit | None:
        """Commit ``oid`` as a value, or None when ``oid`` is not a commit here."""
        found = self.repo.get(oid)
        if not isinstance(found, self.lib.Commit):
            return None
        parents = tuple(str(p.id) for p in found.parents)
        trees = tuple(str(p.tree_id) for p in found.parents)
        return Commit(oid, str(found.tree_id), parents, trees, found.message, found.author, int(found.commit_time))

    def refs_under(self, prefix: str) -> dict[str, str]:
        """Every ref whose name starts with ``prefix``, by name, with the commit it points at."""
        found = {}
        for name in self.repo.references:
            if name.startswith(prefix):
                target = self.resolve(name)
                if target is not None:
                    found[name] = target
        return found

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
        return [(path, oid) for path, oid, _mode in self.diff_entries(old, new)]

    def diff_entries(self, old: str | None, new: str | None) -> list[tuple[str, str | None, int]]:
        """Entries that differ from ``old`` to ``new`` as ``(path, new oid or None if gone,
        new file mode)``: a symlink or a submodule shows as what it is, not as a file."""
        if old == new:
            return []
        if old is None or new is None:
            present = new if new is not None else old
            assert present is not None
            return [(p, o if new else None, m) for p, o, m in self.walk(present)]
        old_tree, new_tree = self.repo[old], self.repo[new]
        assert isinstance(old_tree, self.lib.Tree) and isinstance(new_tree, self.lib.Tree)
        diff = old_tree.diff_to_tree(new_tree)
        changes: list[tuple[str, str | None, int]] = []
        for delta in diff.deltas:
            if delta.status_char() == "D":
                changes.append((delta.old_file.path, None, 0))
            else:
                if delta.status_char() == "R":
                    changes.append((delta.old_file.path, None, 0))
                changes.append((delta.new_file.path, str(delta.new_file.id), int(delta.new_file.mode)))
        return changes

    def blob_size(self, oid: str) -> int:
        """A blob's size in bytes, read from its header: a huge blob is judged before it is read."""
        return int(self.repo.odb.read_header(oid)[1])

    def write_blob(self, data: bytes) -> str:
        try:
            return str(self.repo.create_blob(data))
        except (self.lib.GitError, OSError) as error:
            raise self.write_failed("a blob", error) from None

    def write_failed(self, what: str, error: Exception, verb: str = "write") -> GastownError:
        """Why writing ``what`` failed, in words a person can act on: libgit2 says "no
        error" for a full disk (or an OSError with no errno), so the disk holding the
        repository is asked."""
        if isinstance(error, OSError) and error.errno is not None:
            return storage_error(error, self.git_dir)
        objects = self.git_dir / "objects"
        try:
            os.statvfs(objects)
        except OSError as cause:
            return storage_error(cause)
        refusal = disk_refusal(self.git_dir)
        if refusal is not None:
            return refusal
        if not os.access(objects, os.W_OK):
            return storage_error(OSError(errno.EACCES, os.strerror(errno.EACCES)), objects)
        return GitFailed(f"cannot {verb} {what} in {self.git_dir}: {error}")

    def write_tree(self, base: str | None, changes: Mapping[str, str | None]) -> str:
        """A new tree: ``base`` with files at ``changes``' paths set (oid) or removed (None)."""
        tree = self.repo[base] if base else None
        assert tree is None or isinstance(tree, self.lib.Tree)
        try:
            oid = self._write_tree(tree, changes)
            return oid if oid is not None else str(self.repo.TreeBuilder().write())
        except (self.lib.GitError, OSError) as error:
            raise self.write_failed("a tree", error) from None

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
        try:
            return str(self.repo.create_commit(None, author, committer, message, tree, list(parents)))
        except (self.lib.GitError, OSError) as error:
            raise self.write_failed("a commit", error) from None

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
        try:
            return bool(self.repo.descendant_of(descendant, ancestor))
        except (self.lib.GitError, ValueError) as error:
            raise GitFailed(
                f"cannot compare {ancestor[:10]} and {descendant[:10]} in {self.git_dir}: {error}"
            ) from None

    def commits_between(self, old: str | None, new: str) -> list[pygit2.Commit]:
        """Commits reachable from ``new`` but not ``old``, oldest first."""
        order = self.lib.enums.SortMode
        walker = self.repo.walk(new, order.TOPOLOGICAL | order.REVERSE)
        if old:
            walker.hide(old)
        return list(walker)

    # ---- other repositories ------------------------------------------------------

    def push(self, remote: str, refspecs: Sequence[str], timeout: float = 120, verify: bool = False) -> PushResult:
        """``git push --porcelain``, read back into a PushResult for the first refspec."""
        return next(iter(self.push_refs(remote, refspecs, timeout=timeout, verify=verify).values()))

    def push_refs(
        self,
        remote: str,
        refspecs: Sequence[str],
        leases: Mapping[str, str | None] | None = None,
        atomic: bool = False,
        timeout: float = 120,
        verify: bool = False,
    ) -> dict[str, PushResult]:
        """``git push --porcelain`` of ``refspecs``: a PushResult per remote ref. ``leases``
        maps a remote ref to the value it must still hold (None: must not exist), checked by
        the remote as it updates; ``atomic``: every ref moves or none does. The client-side
        ``pre-push`` hook runs only with ``verify``: gastown admits what it writes itself."""
        options = ["--porcelain"] + ([] if verify else ["--no-verify"]) + (["--atomic"] if atomic else [])
        options += [f"--force-with-lease={ref}:{old or ''}" for ref, old in (leases or {}).items()]
        proc = self.run("push", *options, remote, *refspecs, check=False, timeout=timeout)
        results = read_push_refs(proc)
        if results:
            return results
        if atomic and b"support --atomic" in proc.stderr:
            raise GitFailed(
                f"{remote} does not take atomic pushes, which claims through refs/claims need",
                "set [queue] claim_refs = false in town.toml: claims are then pushed to tasks",
            )
        raise Unavailable(  # it said nothing of any ref: the push never reached the remote
            f"git push to {remote} failed: {last_line(proc)}",
            "check that the remote is reachable (git ls-remote " + remote + ")",
        )

    def fetch(self, remote: str, refspecs: Sequence[str], timeout: float = 120) -> None:
        self.run("fetch", "--quiet", "--no-tags", remote, *refspecs, timeout=timeout)
