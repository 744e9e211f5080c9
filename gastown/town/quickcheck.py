"""The hook's quick path: a push that only changes existing beads, checked with plain git.

Most pushes to a busy town are claims, renewals, releases and results: each commit
rewrites a few bead files that already exist and leaves their dependencies alone. For
those the rules need only the old and the new file: the schema, the status transition,
the claim's generation and lease, the size, the path and its mode. ``clean`` reads
exactly that — the commits (``git rev-list``), what each changed (``git diff-tree
--stdin``) and the blobs (``git cat-file``, sized first), four processes in all, without
libgit2 and without the town's index — and says whether the push is clean.

Anything else — a new or removed file, a changed dependency, a merge, town.toml, a bead
that breaks a rule, a blob over ``MAX_BLOB`` — is not judged here: ``clean`` answers False
and the full check (``admission.check_commits`` on the index) runs, so a refusal always
carries the full check's words. Replacement objects (``refs/replace``) are ignored, as
libgit2 ignores them: what is judged is what was pushed.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from gastown.errors import GastownError
from gastown.town import config as configmod
from gastown.town.bead import Bead

ZERO = "0" * 40
MAX_COMMITS = 1000  # a bigger push is rare: the full check takes it
MAX_BLOB = 4 << 20  # a blob bigger than this is never read here (the full check judges it by size)


def _git(git_dir: Path, args: Sequence[str], stdin: bytes = b"") -> bytes | None:
    """Plain git in ``git_dir`` (the hook's own environment: its quarantine included)."""
    env = {**os.environ, "GIT_DIR": str(git_dir), "GIT_NO_REPLACE_OBJECTS": "1"}
    proc = subprocess.run(["git", *args], input=stdin, capture_output=True, env=env, check=False)
    return proc.stdout if proc.returncode == 0 else None


def _blobs(git_dir: Path, names: Sequence[str]) -> dict[str, bytes] | None:
    """The contents of ``names`` (blob ids, or ``commit:path``) by one ``cat-file --batch``;
    None when one is missing, not a blob, or too big to read here (sized first)."""
    request = "".join(f"{n}\n" for n in names).encode()
    sizes = _git(git_dir, ["cat-file", "--batch-check"], request)
    if sizes is None:
        return None
    for line in sizes.decode(errors="replace").splitlines():
        kind_size = line.split()
        if len(kind_size) != 3 or kind_size[1] != "blob" or int(kind_size[2]) > MAX_BLOB:
            return None
    out = _git(git_dir, ["cat-file", "--batch"], request)
    if out is None:
        return None
    found: dict[str, bytes] = {}
    at = 0
    for name in names:
        end = out.index(b"\n", at)
        header = out[at:end].split()
        if len(header) != 3 or header[1] != b"blob":
            return None  # missing, or not a blob
        size = int(header[2])
        found[name] = out[end + 1 : end + 1 + size]
        at = end + 1 + size + 1
    return found


def _changes(git_dir: Path, commits: Sequence[str]) -> dict[str, list[tuple[str, str, str, str]]] | None:
    """Per commit: (old mode, new mode, old blob, new blob) and the path, from one diff-tree."""
    out = _git(
        git_dir, ["diff-tree", "--stdin", "-r", "--no-renames", "-z"], "".join(f"{c}\n" for c in commits).encode()
    )
    if out is None:
        return None
    found: dict[str, list[tuple[str, str, str, str]]] = {c: [] for c in commits}
    current = None
    fields = out.split(b"\0")
    i = 0
    while i < len(fields):
        item = fields[i].decode(errors="replace").strip()
        i += 1
        if not item:
            continue
        if not item.startswith(":"):
            current = item.split()[0]  # the commit a diff-tree --stdin block is about
            if current not in found:
                return None
            continue
        parts = item[1:].split()
        if current is None or len(parts) != 5 or i >= len(fields):
            return None
        old_mode, new_mode, old_blob, new_blob, kind = parts
        path = fields[i].decode(errors="replace")
        i += 1
        if kind != "M":
            return None  # added, deleted or retyped: the full check's business
        found[current].append((old_mode, new_mode, old_blob, f"{new_blob}\t{path}"))
    return found


def clean(git_dir: Path, old: str, new: str, now: float) -> bool:
    """Whether every commit from ``old`` to ``new`` only rewrites existing bead files in ways
    the protocol allows. False means "not shown clean here": run the full check."""
    if old == ZERO or new == ZERO:
        return False
    listed = _git(git_dir, ["rev-list", "--reverse", "--parents", f"{old}..{new}"])
    if listed is None:
        return False
    chain = [line.split() for line in listed.decode().splitlines()]
    if not chain:
        return False
    parent = old
    for line in chain:  # linear, and grown from old: old is an ancestor of new
        if len(line) != 2 or line[1] != parent:
            return False
        parent = line[0]
    commits = [line[0] for line in chain]
    if len(commits) > MAX_COMMITS:
        return False
    try:
        return _clean(git_dir, old, commits, now)
    except (GastownError, ValueError, KeyError, UnicodeDecodeError):
        return False


def _clean(git_dir: Path, old: str, commits: Sequence[str], now: float) -> bool:
    from gastown.town import admission, ids, schema

    changes = _changes(git_dir, commits)
    if changes is None:
        return False
    wanted = [f"{old}:town.toml"]
    for entries in changes.values():
        for _old_mode, _new_mode, old_blob, new in entries:
            wanted += [old_blob, new.split("\t")[0]]
    blobs = _blobs(git_dir, wanted)
    if blobs is None:
        return False
    limits = configmod.parse(blobs[f"{old}:town.toml"].decode()).limits
    if len(commits) > limits.push_commits:
        return False
    current: dict[str, Bead] = {}  # beads as the commits so far left them
    for commit in commits:
        entries = changes[commit]
        if len(entries) > limits.commit_paths:
            return False
        for old_mode, new_mode, old_blob, new in entries:
            new_blob, path = new.split("\t", 1)
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
