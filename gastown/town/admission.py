"""What may land on the tasks branch: the protocol's rules, shared by every door.

The server's ``pre-receive`` hook, the client ``pre-commit``/``pre-push`` hooks,
``gt validate`` and the store's check of every write gastown itself makes
(``write_problems``, run by ``GitStore.update`` before it publishes) all ask the same
rules here, so a change refused at one door is refused at all of them. Each problem is one line that
names the bead (or path), the field and what to do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gastown.errors import UsageError
from gastown.town import dag, ids, schema, times, townfile
from gastown.town.bead import CLAIMED, CLOSED, DONE, OPEN, Bead, semantic_problems
from gastown.town.schema import load_bead
from gastown.town.townfile import MAX_LEASE_SECONDS, Limits

if TYPE_CHECKING:
    import pygit2

    from gastown.town.git import Git
    from gastown.town.index import Index

# Compiled on first use by re's own cache: a hook checking a bead path compiles four of them.
_KNOWN_PATHS = (
    r"^town\.toml$",
    r"^README\.md$",
    r"^(beads|convoys|plans|rigs)(/[^/]+)*/\.keep$",
    r"^beads/([0-9a-z]/){0,2}[a-z][a-z0-9-]{0,30}-[0-9a-z]{3,16}(\.[0-9]{1,4}){0,3}\.json$",
    r"^convoys/[a-z][a-z0-9-]{0,30}-[0-9a-z]{3,16}\.json$",
    r"^plans/[A-Za-z0-9._-]+\.md$",
    r"^rigs/[a-z0-9][a-z0-9_-]{0,63}\.toml$",
    r"^rigs/[a-z0-9][a-z0-9_-]{0,63}/roles/[a-z][a-z0-9_-]{0,31}\.md$",
    r"^\.github/workflows/gastown-tasks\.yml$",  # the host's check (gt hooks ci), and only it
)

KNOWN_PATHS_HELP = (
    "town.toml, README.md, beads/<id>.json (or beads/<a>/<b>/<id>.json), "
    "convoys/<id>.json, plans/<name>.md, rigs/<name>.toml, rigs/<name>/roles/<role>.md, "
    ".github/workflows/gastown-tasks.yml (as gt hooks ci writes it)"
)


LEASE_SLACK = 300  # seconds of clock difference between machines a claim's expiry may carry
FILE_MODES = (0o100644, 0o100755)  # regular files: no symlinks, submodules or folders where files belong


def path_problem(path: str) -> str | None:
    """Why ``path`` may not live on the tasks branch, or None (the whole path must match:
    ``town.toml`` followed by a newline is not ``town.toml``)."""
    if any(re.fullmatch(pattern, path) for pattern in _KNOWN_PATHS):
        return None
    shown = path if path.isprintable() else repr(path)  # a newline or a control character made visible
    return f"{shown}: not a known tasks-branch path (allowed: {KNOWN_PATHS_HELP})"


def mode_problem(path: str, mode: int) -> str | None:
    """Why an entry of this git file mode may not be at ``path`` (only regular files may)."""
    if mode in FILE_MODES:
        return None
    kind = {0o120000: "a symlink", 0o160000: "a submodule (gitlink)", 0o040000: "a folder"}.get(mode, f"mode {mode:o}")
    return f"{path}: {kind}; only regular files may be on the tasks branch"


def transition_problems(old: Bead | None, new: Bead | None, now: float) -> list[str]:
    """Why going from ``old`` to ``new`` breaks the bead protocol (empty when legal)."""
    if new is None:
        if old is None:
            return []
        return [f"bead {old.id}: deleting a bead loses work; close it instead (gt fail/complete)"]
    name = f"bead {new.id}"
    if old is None:
        if new.status == CLAIMED:
            return [f"{name}: a new bead must not arrive claimed; push it open, then gt claim"]
        return []
    problems = []
    if new.claim is not None and (old.claim is None or new.claim != old.claim):
        ahead = new.claim.expires() - now
        if ahead > MAX_LEASE_SECONDS + LEASE_SLACK:
            problems.append(
                f"{name}: $.claim.expires_at is {times.duration(ahead)} away; a lease is at most "
                f"{times.duration(MAX_LEASE_SECONDS)} (renew it instead)"
            )
    if new.created_at != old.created_at and old.created_at:
        problems.append(f"{name}: $.created_at cannot change ({old.created_at})")
    if new.attempts < old.attempts:
        problems.append(f"{name}: $.attempts cannot go down ({old.attempts} -> {new.attempts})")
    if new.generation < old.generation:
        owner = f", claimed by {old.claim.agent}" if old.claim else ""
        problems.append(
            f"{name}: stale generation: the bead is at generation {old.generation}{owner}; "
            f"this change carries {new.generation} (its claim was taken over)"
        )
        return problems
    if new.generation > old.generation:
        problems += _new_claim_problems(old, new, now)
        return problems
    # Same generation: renew, release, complete, fail, reopen or an edit.
    if new.status == CLAIMED:
        if old.status != CLAIMED:
            problems.append(f"{name}: a claim must raise $.generation to {old.generation + 1}")
        elif (
            new.claim
            and old.claim
            and (new.claim.agent != old.claim.agent or new.claim.claimed_at != old.claim.claimed_at)
        ):
            problems.append(
                f"{name}: claim held by {old.claim.agent} (generation {old.generation}); "
                "a different claim needs a new generation"
            )
    elif new.status == OPEN and old.status == OPEN:
        pass
    elif new.status in CLOSED and old.status == OPEN and not new.close_reason:
        problems.append(f"{name}: closing an unclaimed bead needs $.close_reason")
    elif new.status == "failed" and old.status != "failed" and not new.close_reason:
        problems.append(f"{name}: a failed bead needs $.close_reason saying why")
    return problems


def _new_claim_problems(old: Bead, new: Bead, now: float) -> list[str]:
    name = f"bead {new.id}"
    if new.status != CLAIMED:
        return [f"{name}: $.generation only rises with a new claim"]
    if new.generation != old.generation + 1:
        return [f"{name}: a claim raises $.generation by one ({old.generation} -> {old.generation + 1})"]
    if old.status in CLOSED:
        done = " --done" if old.status == DONE else ""
        return [f"{name}: is {old.status}; reopen it (gt retry {new.id}{done}) before claiming"]
    if old.status == CLAIMED and old.claim is not None:
        left = old.claim.expires() - now
        if left > 0:
            return [
                f"{name}: already claimed by {old.claim.agent} (generation {old.generation}) "
                f"for {times.duration(left)} more; a second live claim is refused"
            ]
    return []


def bead_problems(bead: Bead) -> list[str]:
    """Why ``bead`` may not be stored as it is: the protocol's field rules, then its schema.

    The semantic rules come first and say what to write instead; the schema's finding on
    the same field (a regex, for a bad test path) would only repeat it less clearly."""
    found = semantic_problems(bead)
    named = {p.split(":", 1)[0] for p in found}
    found += [p for p in schema.problems("bead", bead.to_dict()) if p.split(":", 1)[0] not in named]
    return [f"bead {bead.id}: {p}" for p in found]


@dataclass
class Verdict:
    """What is wrong with one write: its shape (schema, paths, files) and its moves (the protocol)."""

    shape: list[str] = field(default_factory=list)
    moves: list[str] = field(default_factory=list)


def write_problems(
    index: Index,
    stored: Callable[[str], Bead | None],
    beads: Sequence[Bead],
    files: Mapping[str, bytes | None],
    limits: Limits,
    now: float,
) -> Verdict:
    """Everything wrong with writing ``beads`` and ``files`` over the state ``index`` reflects.

    ``stored`` gives a bead as it is stored now (None when absent or unreadable). This is
    the store's door: every write of every process — the queue, the Mayor, the Refinery,
    the founding of a town — is judged here before anything is published."""
    verdict = Verdict()
    if len(beads) + len(files) > limits.commit_paths:
        verdict.shape.append(f"{len(beads) + len(files)} files in one write, over the limit of {limits.commit_paths}")
    written: dict[str, Bead] = {}
    for bead in beads:
        verdict.shape += bead_problems(bead)
        problem = size_problem(f"{ids.BEADS_DIR}/{bead.id}.json", len(bead.to_json()), limits)
        if problem:
            verdict.shape.append(problem)
        written[bead.id] = bead
    for path, data in files.items():
        problem = path_problem(path)
        if problem:
            verdict.shape.append(problem)
            continue
        bead_id = ids.id_from_path(path)
        if data is None:
            if bead_id is not None and bead_id not in written:
                verdict.moves += transition_problems(stored(bead_id), None, now)
            elif path == "town.toml":
                verdict.shape.append("town.toml: the town's configuration cannot be deleted")
            continue
        problem = size_problem(path, len(data), limits)
        if problem:
            verdict.shape.append(problem)
        elif bead_id is not None:
            try:
                written[bead_id] = load_bead(data, path, expected_id=bead_id)
            except UsageError as error:
                verdict.shape += getattr(error, "problems", [error.message])
        else:
            verdict.shape += _file_problems(path, data)
    for bead_id, bead in written.items():
        verdict.moves += transition_problems(stored(bead_id), bead, now)
    verdict.shape += _written_references(index, written)
    return verdict


def _written_references(index: Index, written: Mapping[str, Bead]) -> list[str]:
    """Unknown dependencies and cycles once ``written`` is laid over ``index``."""
    found = []

    def edges(node: str) -> tuple[str, ...]:
        bead = written.get(node)
        if bead is not None:
            parent = bead.parent()
            return bead.blockers() + ((parent,) if parent else ())
        entry = index.entries.get(node)
        return () if entry is None else entry.blocks + ((entry.parent,) if entry.parent else ())

    for bead_id in written:
        for dep in edges(bead_id):
            if dep not in written and dep not in index.entries:
                found.append(f"bead {bead_id}: depends on {dep}, which does not exist; add {dep} first")
    cycle = dag.find_cycle(list(written), edges)
    if cycle:
        found.append(f"dependency cycle: {' -> '.join(cycle)}; remove one of these edges")
    return found


def reference_problems(index: Index, bead_ids: Iterable[str]) -> list[str]:
    """Unknown dependencies and dependency cycles around ``bead_ids`` in ``index``."""
    problems = []
    changed = [i for i in bead_ids if i in index.entries]
    for bead_id in changed:
        entry = index.entries[bead_id]
        for dep in (*entry.blocks, *((entry.parent,) if entry.parent else ())):
            if dep not in index.entries:
                problems.append(
                    f"bead {bead_id}: depends on {dep}, which does not exist; push {dep} first (or in the same push)"
                )

    def edges(node: str) -> tuple[str, ...]:
        entry = index.entries.get(node)
        if entry is None:
            return ()
        return entry.blocks + ((entry.parent,) if entry.parent else ())

    cycle = dag.find_cycle(changed, edges)
    if cycle:
        problems.append(f"dependency cycle: {' -> '.join(cycle)}; remove one of these edges")
    for bead_id in changed:
        paths = index.duplicates.get(bead_id)
        if paths:
            problems.append(f"bead {bead_id}: the id is used by {len(paths)} files: {', '.join(sorted(paths))}")
    return problems


@dataclass
class Report:
    """Problems found, in order, each prefixed with where it was found."""

    problems: list[str] = field(default_factory=list)

    def add(self, where: str, found: Iterable[str]) -> None:
        self.problems += [f"{where}: {p}" if where else p for p in found]

    def __bool__(self) -> bool:
        return bool(self.problems)


def size_problem(path: str, size: int, limits: Limits) -> str | None:
    limit = limits.bead_bytes if path.startswith("beads/") else limits.file_bytes
    if size > limit:
        return f"{path}: {size} bytes is over the limit of {limit} (limits in town.toml)"
    return None


def _stored_bead(git: Git, entry_blob: str, path: str) -> Bead | None:
    """The bead as it was stored, or None if it never was valid (pushed past the hooks)."""
    try:
        return load_bead(git.blob(entry_blob), path)
    except UsageError:
        return None


def check_commits(git: Git, index: Index, commits: Sequence[pygit2.Commit], limits: Limits, now: float) -> Report:
    """Check each commit against its parent; ``index`` must reflect the first one's parent
    and is moved along, so each commit is judged on the state it was made from."""
    report = Report()
    if len(commits) > limits.push_commits:
        report.add("", [f"{len(commits)} commits in one push is over the limit of {limits.push_commits}"])
        return report
    for commit in commits:
        where = str(commit.id)[:10]
        if len(commit.parents) > 1:
            report.add(where, ["a merge commit: the tasks history must be linear (git pull --rebase)"])
        parent_tree = str(commit.parents[0].tree_id) if commit.parents else None
        report.add(where, check_trees(git, index, parent_tree, str(commit.tree_id), limits, now))
    return report


def check_trees(git: Git, index: Index, old: str | None, new: str, limits: Limits, now: float) -> list[str]:
    """Problems of going from tasks tree ``old`` to ``new``; ``index`` (of ``old``) moves on."""
    changes = git.diff_entries(old, new)
    if len(changes) > limits.commit_paths:
        return [f"{len(changes)} files changed, over the limit of {limits.commit_paths}"]
    return _check_changes(git, index, changes, limits, now)


def _check_changes(
    git: Git, index: Index, changes: Sequence[tuple[str, str | None, int]], limits: Limits, now: float
) -> list[str]:
    problems: list[str] = []
    loaded: list[tuple[str, str | None, bytes | None]] = []
    touched: list[str] = []
    arriving = {ids.id_from_path(p) for p, o, _ in changes if o is not None} - {None}
    for path, oid, mode in changes:
        problem = path_problem(path) or (mode_problem(path, mode) if oid is not None else None)
        if problem:
            problems.append(problem)
            continue
        if oid is None:
            moved = ids.id_from_path(path) in arriving  # a bead moved to another path is kept
            if not moved:
                problems += _removal_problems(git, index, path, now)
            loaded.append((path, None, None))
            continue
        problem = size_problem(path, git.blob_size(oid), limits)  # before the blob is read
        if problem:
            problems.append(problem)
            continue
        data = git.blob(oid)
        bead_id = ids.id_from_path(path)
        if bead_id is not None:
            try:
                new = load_bead(data, path, expected_id=bead_id)
            except UsageError as error:
                problems += getattr(error, "problems", [error.message])
                continue
            entry = index.by_path.get(path) or index.get(bead_id)
            old = _stored_bead(git, entry.blob, entry.path) if entry is not None else None
            problems += transition_problems(old, new, now)
            loaded.append((path, oid, data))
            touched.append(bead_id)
        else:
            problems += _file_problems(path, data)
    index.apply(index.tree, loaded)
    return problems + reference_problems(index, touched)


def _removal_problems(git: Git, index: Index, path: str, now: float) -> list[str]:
    bead_id = ids.id_from_path(path)
    if bead_id is not None:
        entry = index.by_path.get(path)
        old = _stored_bead(git, entry.blob, path) if entry is not None else None
        return transition_problems(old, None, now) if old is not None else []
    if path == "town.toml":
        return ["town.toml: the town's configuration cannot be deleted"]
    return []


def _file_problems(path: str, data: bytes) -> list[str]:
    from gastown.errors import ConfigError
    from gastown.town import config as configmod
    from gastown.town.schema import parse_json, problems

    try:
        if path == townfile.TOWN_FILE:
            parsed = townfile.parse_toml(data.decode(), path)
            # The config says what is wrong by key, as every gt command does (the value as TOML
            # writes it, the known keys): it speaks first; the schema for what it does not check.
            _ = configmod.from_dict(parsed, path).roster  # every section, model key and reference
            found = [p for p in problems("town", parsed) if not p.startswith(("$.models", "$.roles"))]
            return [f"{path}: {p}" for p in found]
        if path.endswith("/.keep"):
            return []
        if path.startswith(".github/"):
            return workflow_problems(path, data)
        if path.startswith("convoys/"):
            return [f"{path}: {p}" for p in problems("convoy", parse_json(data, path))]
        if path.startswith("rigs/") and path.endswith(".toml"):
            return [f"{path}: {p}" for p in problems("rig", townfile.parse_toml(data.decode(), path))]
    except UnicodeDecodeError:
        return [f"{path}: not UTF-8 text"]
    except (ConfigError, UsageError) as error:
        found = getattr(error, "problems", None) or [error.message]
        if error.hint and error.hint != type(error).default_hint and len(found) == 1:
            found = [f"{found[0]} ({error.hint})"]  # what would fix it: the known keys, the choices
        return [p if p.startswith(path) else f"{path}: {p}" for p in found]
    return []


# What ``gt hooks ci --install SPEC`` may write into the workflow: a pip requirement, no
# quote, space or shell character.
INSTALL_SPEC = r"[A-Za-z0-9][A-Za-z0-9._+:/@=<>!~,#%-]{0,299}"  # a pip requirement the workflow can carry


def workflow_template() -> str:
    """The workflow ``gt hooks ci`` writes, with ``{install}`` where the requirement goes."""
    from gastown.town.resources import data_dir

    return (data_dir("hooks") / "github-tasks.yml").read_text()


def workflow_problems(path: str, data: bytes) -> list[str]:
    """A workflow on tasks must be the one ``gt hooks ci`` writes: the tasks branch is no
    place for other code a host would run."""
    head, _, tail = workflow_template().partition("{install}")
    text = data.decode()
    middle = text[len(head) : len(text) - len(tail)] if text.startswith(head) and text.endswith(tail) else ""
    if len(text) >= len(head) + len(tail) and re.fullmatch(INSTALL_SPEC, middle):
        return []
    return [f"{path}: not the workflow `gt hooks ci` writes; write it with gt hooks ci --install SPEC"]


def check_tree(git: Git, tree: str, index: Index, limits: Limits) -> Report:
    """Everything wrong with the whole tasks tree ``tree`` (``index`` must reflect it)."""
    report = Report()
    for path, oid, mode in git.walk(tree):
        problem = path_problem(path) or mode_problem(path, mode)
        if problem:
            report.add("", [problem])
            continue
        problem = size_problem(path, git.blob_size(oid), limits)
        if problem:
            report.add("", [problem])
            continue
        data = git.blob(oid)
        bead_id = ids.id_from_path(path)
        if bead_id is not None:
            try:
                load_bead(data, path, expected_id=bead_id)
            except UsageError as error:
                report.add("", getattr(error, "problems", [error.message]))
        else:
            report.add("", _file_problems(path, data))
    report.add("", reference_problems(index, list(index.entries)))
    return report
