"""The hook's quick path: a push that only changes existing beads, checked with plain git.

Most pushes to a busy town are claims, renewals, releases and results: each commit
rewrites a few bead files that already exist and leaves their dependencies alone. For
those the rules need only the old and the new file: the schema, the status transition,
the claim's generation and lease, the size, the path and its mode. ``clean`` reads
exactly that — the commits and what each changed (one ``git log --raw``) and the blobs
(one ``git cat-file --batch``, each header read before its bytes), two processes in all,
without libgit2 and without the town's index — and says whether the push is clean.

Anything else — a new or removed file, a changed dependency, a merge, town.toml, a bead
that breaks a rule, a blob over ``MAX_BLOB`` — is not judged here: ``clean`` answers False
and the full check (``admission.check_commits`` on the index) runs, so a refusal always
carries the full check's words. Replacement objects (``refs/replace``) are ignored, as
libgit2 ignores them: what is judged is what was pushed.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from gastown.errors import GastownError
from gastown.town import townfile
from gastown.town.bead import Bead
from gastown.town.refs import ZERO

MAX_COMMITS = 1000  # a bigger push is rare: the full check takes it
MAX_BLOB = 4 << 20  # a blob bigger than this is never read here (the full check judges it by size)
PIPE_PAGE = 4096  # what any pipe takes at once, however small the kernel made it
# What a commit changed in one file: (old mode, new mode, old blob, new blob, path); and a
# push's commits, oldest first, each with its changes.
Change = tuple[str, str, str, str, str]
History = list[tuple[str, list[Change]]]


def _env(git_dir: Path) -> dict[str, str]:
    """Plain git in ``git_dir`` (the hook's own environment: its quarantine included)."""
    return {**os.environ, "GIT_DIR": str(git_dir), "GIT_NO_REPLACE_OBJECTS": "1"}


def _history(git_dir: Path, old: str, new: str) -> History | None:
    """The commits from ``old`` to ``new``, oldest first, each with what it changed as
    (old mode, new mode, old blob, new blob, path), from one ``git log``; None unless the
    commits form one line grown from ``old`` and each only modifies files."""
    # git log reads diff.* and log.* settings, plumbing does not: each one that could hide a
    # change or reshape the output is overruled (diff.ignoreSubmodules would hide a gitlink).
    proc = subprocess.run(
        ["git", "log", "--reverse", "--format=%H %P", "--raw", "-r", "-z", "--no-renames", "--no-abbrev"]
        + ["--no-show-signature", "--no-color", "--ignore-submodules=none", "--no-relative"]
        + [f"--max-count={MAX_COMMITS + 1}", f"{old}..{new}", "--"],
        capture_output=True,
        env=_env(git_dir),
        check=False,
    )
    if proc.returncode != 0:
        return None
    commits: History = []
    fields = proc.stdout.split(b"\0")
    parent = old
    i = 0
    while i < len(fields):
        item = fields[i].decode(errors="replace").strip("\n")
        i += 1
        if not item:
            continue
        if not item.startswith(":"):  # a commit: its id and its parents
            line = item.split()
            if len(line) != 2 or line[1] != parent:
                return None  # a merge, a root, or not grown from old
            parent = line[0]
            commits.append((line[0], []))
            continue
        parts = item[1:].split()
        if not commits or len(parts) != 5 or i >= len(fields):
            return None
        old_mode, new_mode, old_blob, new_blob, kind = parts
        if kind != "M":
            return None  # added, deleted or retyped: the full check's business
        commits[-1][1].append((old_mode, new_mode, old_blob, new_blob, fields[i].decode(errors="replace")))
        i += 1
    if not commits or parent != new:
        return None
    return commits


def _blobs(git_dir: Path, names: Sequence[str]) -> dict[str, bytes] | None:
    """The contents of ``names`` (blob ids, or ``commit:path``) from one ``cat-file
    --batch``; None when one is missing, not a blob, or too big to read here (its header is
    read before its bytes, and the reading stops there)."""
    request = "".join(f"{n}\n" for n in names).encode()
    proc = subprocess.Popen(
        ["git", "cat-file", "--batch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_env(git_dir),
    )
    assert proc.stdin is not None and proc.stdout is not None
    writer = threading.Thread(target=_send, args=(proc.stdin, request), daemon=True)
    if len(request) <= PIPE_PAGE:
        writer.run()  # an empty pipe takes a page without blocking: no thread to start
    else:
        writer.start()  # a pipe may hold a page or two: git answers while the names still go in
    found: dict[str, bytes] = {}
    complete = False
    try:
        for name in names:
            header = proc.stdout.readline().split()
            if len(header) != 3 or header[1] != b"blob" or int(header[2]) > MAX_BLOB:
                break  # missing, not a blob, or too big to read
            size = int(header[2])
            data = proc.stdout.read(size + 1)
            if len(data) != size + 1:
                break
            found[name] = data[:size]
        else:
            complete = True
    except (OSError, ValueError):
        pass
    finally:
        if not complete:
            proc.kill()
        proc.stdout.close()
        proc.wait()
        if writer.ident is not None:
            writer.join()
    return found if complete else None


def _send(pipe: IO[bytes], data: bytes) -> None:
    try:
        pipe.write(data)
        pipe.close()
    except OSError:
        pass  # git ended first (a name it could not read): the reader says why


def clean(git_dir: Path, old: str, new: str, now: float) -> bool:
    """Whether every commit from ``old`` to ``new`` only rewrites existing bead files in ways
    the protocol allows. False means "not shown clean here": run the full check."""
    if old == ZERO or new == ZERO:
        return False
    try:
        history = _history(git_dir, old, new)
        if history is None or len(history) > MAX_COMMITS:
            return False
        return _clean(git_dir, old, history, now)
    except (GastownError, ValueError, KeyError, UnicodeDecodeError):
        return False


def _clean(git_dir: Path, old: str, history: History, now: float) -> bool:
    from gastown.town import admission, ids, schema

    wanted = [f"{old}:town.toml"]
    for _commit, entries in history:
        for _old_mode, _new_mode, old_blob, new_blob, _path in entries:
            wanted += [old_blob, new_blob]
    blobs = _blobs(git_dir, wanted)
    if blobs is None:
        return False
    limits = townfile.parse(blobs[f"{old}:town.toml"].decode())  # [limits] alone: the rest landed checked
    if len(history) > limits.push_commits:
        return False
    current: dict[str, Bead] = {}  # beads as the commits so far left them
    for _commit, entries in history:
        if len(entries) > limits.commit_paths:
            return False
        for old_mode, new_mode, old_blob, new_blob, path in entries:
            bead_id = ids.id_from_path(path)
            if bead_id is None or admission.path_problem(path) or admission.mode_problem(path, int(new_mode, 8)):
                return False
            if admission.mode_problem(path, int(old_mode, 8)):
                return False
            data = blobs[new_blob]
            if len(data) > limits.bead_bytes:
                return False
            before = current.get(path) or schema.load_bead(blobs[old_blob], path, expected_id=bead_id)
            after = schema.load_bead(data, path, expected_id=bead_id)
            if _edges(before) != _edges(after):
                return False  # a dependency changed: existence and cycles need the index
            if admission.transition_problems(before, after, now):
                return False
            current[path] = after
    return True


def _edges(bead: Bead) -> list[tuple[str, str]]:
    """Every dependency edge, repeats kept: the same id twice with two types is two edges."""
    return sorted((d.id, d.type) for d in bead.dependencies)
