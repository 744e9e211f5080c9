"""The hook's quick path: pushes that only rewrite existing beads legally are shown clean
with plain git; everything else is left to the full check, whose words a refusal keeps."""

from __future__ import annotations

import json
import subprocess
import time

from conftest import git

from gastown.town import hooks, quickcheck
from gastown.town.hooks import RefUpdate, pre_receive, since
from gastown.town.queue import NewBead


def landed(town, clone_dir, message: str, edit) -> str:
    """A commit made with plain git in ``clone_dir`` (no hooks), fetched into the town's
    repository without moving tasks (fetch runs no hook): its id."""
    edit(clone_dir)
    git(clone_dir, "add", "-A")
    git(clone_dir, "commit", "--quiet", "--no-verify", "-m", message)
    git(town.path, "fetch", "--quiet", str(clone_dir), "+tasks:refs/pushed/tasks")
    return git(town.path, "rev-parse", "refs/pushed/tasks").strip()


def bead_path(clone_dir, bead_id: str):
    found = list((clone_dir / "beads").rglob(f"{bead_id}.json"))
    return found[0] if found else clone_dir / "beads" / f"{bead_id}.json"


def bead_file(clone_dir, bead_id: str) -> dict:
    return json.loads(bead_path(clone_dir, bead_id).read_text())


def write_bead(clone_dir, data: dict) -> None:
    bead_path(clone_dir, data["id"]).write_text(json.dumps(data, indent=2) + "\n")


def test_claims_renewals_and_results_are_clean_without_the_index(town):
    queue = town.queue()
    made = [b.id for b in queue.add_many([NewBead(title=f"bead {i}") for i in range(3)])]
    before = town.tip()
    first = queue.claim("polecat", "p1", lease=600)
    queue.renew(first.bead.id, "p1", first.bead.generation)
    queue.complete(first.bead.id, "p1", first.bead.generation, {"summary": "done"})
    second = queue.claim("polecat", "p2", lease=600)
    queue.release(second.bead.id, "p2", second.bead.generation, "no model")
    assert first.bead.id in made
    assert quickcheck.clean(town.git_dir, before, town.tip(), time.time())
    assert pre_receive(town.git_dir, [RefUpdate(before, town.tip(), "refs/heads/tasks")]) == []


def test_what_the_quick_path_cannot_judge_goes_to_the_full_check(town, clone):
    queue = town.queue()
    (held,) = [b.id for b in queue.add_many([NewBead(title="held")])]
    (other,) = [b.id for b in queue.add_many([NewBead(title="other")])]
    queue.claim("polecat", "p1", lease=600, bead_id=held)
    before = town.tip()
    person = clone(town.path, "person")
    now = time.time()

    added = landed(town, person, "a new bead", lambda c: write_bead(c, {**bead_file(c, other), "id": "gt-n3wb3"}))
    assert not quickcheck.clean(town.git_dir, before, added, now)  # a new file: duplicates need the index
    git(person, "reset", "--quiet", "--hard", before)

    def depend(c):
        data = bead_file(c, other)
        write_bead(c, {**data, "dependencies": [{"id": held, "type": "blocks"}]})

    deps = landed(town, person, "a dependency", depend)
    assert not quickcheck.clean(town.git_dir, before, deps, now)  # existence and cycles need the index
    assert pre_receive(town.git_dir, [RefUpdate(before, deps, "refs/heads/tasks")]) == []  # legal all the same
    git(person, "reset", "--quiet", "--hard", before)

    def steal(c):
        data = bead_file(c, held)
        write_bead(c, {**data, "claim": {**data["claim"], "agent": "thief"}})

    stolen = landed(town, person, "a claim taken without a new generation", steal)
    assert not quickcheck.clean(town.git_dir, before, stolen, now)
    refused = pre_receive(town.git_dir, [RefUpdate(before, stolen, "refs/heads/tasks")])
    assert any("a different claim needs a new generation" in p for p in refused), refused
    git(person, "reset", "--quiet", "--hard", before)

    broken = landed(town, person, "a broken bead", lambda c: write_bead(c, {**bead_file(c, other), "priority": 9}))
    assert not quickcheck.clean(town.git_dir, before, broken, now)
    refused = pre_receive(town.git_dir, [RefUpdate(before, broken, "refs/heads/tasks")])
    assert any("$.priority" in p for p in refused), refused


def test_a_blob_too_big_to_read_here_is_left_to_the_full_check(town, clone):
    """A bead file over ``MAX_BLOB`` is judged by its size in the full check; the quick path
    stops at its header and never reads it whole."""
    (bead_id,) = [b.id for b in town.queue().add_many([NewBead(title="big")])]
    before = town.tip()
    person = clone(town.path, "person")
    padding = " " * (quickcheck.MAX_BLOB + 1)
    huge = landed(town, person, "a huge bead", lambda c: bead_path(c, bead_id).write_text("{" + padding + "}\n"))
    assert not quickcheck.clean(town.git_dir, before, huge, time.time())
    assert quickcheck._blobs(town.git_dir, [f"{huge}:{bead_path(person, bead_id).relative_to(person)}"]) is None
    refused = pre_receive(town.git_dir, [RefUpdate(before, huge, "refs/heads/tasks")])
    assert any("bytes" in p for p in refused), refused


def test_a_push_that_is_not_a_fast_forward_is_never_clean(town):
    queue = town.queue()
    queue.add_many([NewBead(title="a"), NewBead(title="b")])
    base = town.tip()
    queue.claim("polecat", "p1", lease=600)
    ahead = town.tip()
    assert quickcheck.clean(town.git_dir, base, ahead, time.time())
    assert not quickcheck.clean(town.git_dir, ahead, base, time.time())  # backwards: nothing to show clean
    assert not quickcheck.clean(town.git_dir, quickcheck.ZERO, ahead, time.time())  # a new branch


def test_a_quick_yes_is_never_a_full_no(town, clone):
    """Random edits of existing beads, one commit each: whenever the quick path says clean,
    the full check finds nothing either (the other way round is allowed: unsure)."""
    import random

    queue = town.queue()
    made = [b.id for b in queue.add_many([NewBead(title=f"bead {i}") for i in range(4)])]
    queue.claim("polecat", "p1", lease=600, bead_id=made[0])
    queue.edit(made[2], [f"dependencies={made[3]}:related"], "person")
    queue.edit(made[3], [f"dependencies={made[2]}"], "person")  # made[2] blocks made[3]
    person = clone(town.path, "person")
    rng = random.Random(7)

    def mutations(data: dict) -> list[dict]:
        claim = data.get("claim") or {"agent": "p9", "claimed_at": data["created_at"], "expires_at": data["created_at"]}
        return [
            {**data, "priority": rng.choice([0, 2, 4, 5, 9, -1])},
            {**data, "title": rng.choice(["renamed", "", "x" * 600])},
            {**data, "dependencies": [{"id": made[1], "type": "blocks"}]},
            {**data, "dependencies": [{"id": "gt-gh0st1", "type": "related"}, {"id": "gt-gh0st1", "type": "blocks"}]},
            {**data, "status": rng.choice(["open", "claimed", "done", "failed"])},
            {**data, "generation": data.get("generation", 0) + rng.choice([-1, 1])},
            {**data, "claim": {**claim, "agent": "thief"}},
            {**data, "attempts": rng.choice([0, 5])},
            {**data, "id": made[(made.index(data["id"]) + 1) % len(made)]},
            {**data, "created_at": "2020-01-01T00:00:00Z"},
            # The same id twice, the new edge first: a cycle (made[3] already waits on made[2]).
            {**data, "dependencies": [{"id": made[3], "type": "blocks"}, *data.get("dependencies", [])]},
        ]

    clean_seen = refused_seen = 0
    for step in range(44):
        git(person, "reset", "--quiet", "--hard", "origin/tasks")
        target = made[2] if step < 4 else rng.choice(made)  # the hidden cycle, then anything
        before = git(person, "rev-parse", "HEAD").strip()
        tried = mutations(bead_file(person, target))
        changed = tried[-1] if step < 4 else rng.choice(tried)
        path = bead_path(person, target)
        path.write_text(json.dumps(changed, indent=2) + "\n")
        git(person, "commit", "--quiet", "--no-verify", "--allow-empty", "-am", f"edit {step}")
        git(town.path, "fetch", "--quiet", str(person), "+HEAD:refs/pushed/tasks")
        after = git(town.path, "rev-parse", "refs/pushed/tasks").strip()
        quick = quickcheck.clean(town.git_dir, before, after, time.time())
        _, full = since(town.store(), before, after)  # the full check alone, as the hook runs it
        assert not (quick and full), (changed, full)
        clean_seen += quick
        refused_seen += bool(full)
    assert clean_seen and refused_seen  # both kinds were tried


def test_a_replacement_object_cannot_hide_what_was_pushed(town, clone, bare_remote):
    """A pushed refs/replace/* entry must not make the hook read a harmless blob in place of
    the one on tasks: the hook refuses such refs, and the quick path ignores them."""
    remote = bare_remote("central.git")
    git(town.path, "remote", "add", "central", str(remote))
    town.queue().add_many([NewBead(title="a bead")])
    git(town.path, "push", "--quiet", "central", "tasks")
    person = clone(remote, "person")
    (target,) = [p for p in (person / "beads").rglob("*.json")]
    good = git(person, "hash-object", "-w", str(target)).strip()
    data = json.loads(target.read_text())
    target.write_text(json.dumps({**data, "priority": 9}, indent=2) + "\n")
    bad = git(person, "hash-object", "-w", str(target)).strip()
    git(person, "replace", bad, good)
    refused = subprocess.run(
        ["git", "push", "origin", f"refs/replace/{bad}"], cwd=person, capture_output=True, text=True
    )
    assert refused.returncode != 0 and "replacement objects are refused" in refused.stderr
    git(person, "commit", "--quiet", "--no-verify", "-am", "priority 9, hidden")
    pushed = subprocess.run(["git", "push", "origin", "tasks"], cwd=person, capture_output=True, text=True)
    assert pushed.returncode != 0 and "$.priority" in pushed.stderr, pushed.stderr
    # Even with the replacement in the remote itself, the quick path reads what was pushed.
    git(remote, "fetch", "--quiet", str(person), f"+refs/replace/{bad}:refs/replace/{bad}", "+tasks:refs/pushed")
    base = git(remote, "rev-parse", "tasks").strip()
    assert not quickcheck.clean(remote, base, git(remote, "rev-parse", "refs/pushed").strip(), time.time())


def test_a_gitlink_is_never_clean_whatever_the_servers_diff_settings(town, clone):
    """``git log`` reads diff.* settings: with diff.ignoreSubmodules=all a gitlink added under
    beads/ would vanish from its output and the push would look like an empty commit."""
    town.queue().add_many([NewBead(title="one")])
    before = town.tip()
    person = clone(town.path, "person")

    git(person, "update-index", "--add", "--cacheinfo", f"160000,{before},beads/sub")
    git(person, "commit", "--quiet", "--no-verify", "-m", "a gitlink among the beads")
    git(town.path, "fetch", "--quiet", str(person), "+tasks:refs/pushed/tasks")
    linked = git(town.path, "rev-parse", "refs/pushed/tasks").strip()
    git(town.path, "config", "diff.ignoreSubmodules", "all")
    assert not quickcheck.clean(town.git_dir, before, linked, time.time())
    refused = pre_receive(town.git_dir, [RefUpdate(before, linked, "refs/heads/tasks")])
    assert refused, "a gitlink on tasks was let through"


def test_blob_names_that_overflow_a_one_page_pipe_are_read_without_a_deadlock(town, monkeypatch):
    """Past a user's pipe quota the kernel gives new pipes one page: the names must go in
    while git answers, or a fold of a hundred claims hangs the push."""
    import functools

    queue = town.queue()
    made = [b.id for b in queue.add_many([NewBead(title=f"bead {i}") for i in range(150)])]
    names = [
        f"{town.tip()}:{path}" for path in git(town.path, "ls-tree", "-r", "--name-only", "tasks", "beads").split()
    ]
    assert len(names) > len(made) and sum(len(n) + 1 for n in names) > 2 * 4096
    monkeypatch.setattr(quickcheck.subprocess, "Popen", functools.partial(subprocess.Popen, pipesize=4096))
    found = quickcheck._blobs(town.git_dir, names)
    assert found is not None and len(found) == len(names)


def test_a_towntoml_broken_outside_its_limits_stops_neither_check(town, clone):
    """A town.toml that landed where no hook ran, broken in [machine]: both checks read the
    [limits] alone, so they agree, and the town's pushes are judged as before."""
    town.queue().add_many([NewBead(title="one")])
    person = clone(town.path, "person")
    toml = person / "town.toml"
    toml.write_text(toml.read_text() + "\n[machine]\nvram_mib = -5\n")
    broken = landed(town, person, "a town.toml no hook saw", lambda c: None)
    git(town.path, "update-ref", "refs/heads/tasks", broken)  # as a host without hooks takes it
    (bead_id,) = [p.stem for p in (person / "beads").rglob("gt-*.json")]
    edited = landed(town, person, "a title", lambda c: write_bead(c, {**bead_file(c, bead_id), "title": "renamed"}))
    assert quickcheck.clean(town.git_dir, broken, edited, time.time())
    assert hooks._check_range(town.git_dir, broken, edited, time.time(), ancestry=True) == []
    toml.write_text(toml.read_text().replace("push_commits = 10000", "push_commits = -1"))  # its limits unreadable
    assert "push_commits = -1" in toml.read_text()
    bad_limits = landed(town, person, "limits no hook saw", lambda c: None)
    git(town.path, "update-ref", "refs/heads/tasks", bad_limits)
    edited = landed(town, person, "a title again", lambda c: write_bead(c, {**bead_file(c, bead_id), "title": "again"}))
    assert hooks._check_range(town.git_dir, bad_limits, edited, time.time(), ancestry=True) == []  # the defaults
