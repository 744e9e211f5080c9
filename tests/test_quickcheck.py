"""The hook's quick path: pushes that only rewrite existing beads legally are shown clean
with plain git; everything else is left to the full check, whose words a refusal keeps."""

from __future__ import annotations

import json
import time

from conftest import git

from gastown.town import quickcheck
from gastown.town.hooks import RefUpdate, pre_receive
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


def test_a_push_that_is_not_a_fast_forward_is_never_clean(town):
    queue = town.queue()
    queue.add_many([NewBead(title="a"), NewBead(title="b")])
    base = town.tip()
    queue.claim("polecat", "p1", lease=600)
    ahead = town.tip()
    assert quickcheck.clean(town.git_dir, base, ahead, time.time())
    assert not quickcheck.clean(town.git_dir, ahead, base, time.time())  # backwards: nothing to show clean
    assert not quickcheck.clean(town.git_dir, quickcheck.ZERO, ahead, time.time())  # a new branch
