"""One store contract, every storage: a town written locally (CAS on the ref) and one whose
tasks branch lives on a remote (push). The remote runs no hooks, so nothing but the store's
own door stands between a bad write and the published branch."""

from __future__ import annotations

import subprocess
from dataclasses import replace

import pytest
from conftest import git

from gastown.errors import ConfigError, InvalidBead, Refused
from gastown.town import events
from gastown.town.beadtext import parse_dependency
from gastown.town.queue import NewBead, Queue
from gastown.town.store import GitStore, Snapshot, Update


@pytest.fixture(params=["local", "push"])
def kind(request):
    return request.param


@pytest.fixture
def world(kind, make_town, bare_remote):
    """(town, where the published tip is read)."""
    if kind == "local":
        town = make_town("t", hooks=False)
        return town, town.git_dir
    remote = bare_remote("remote.git", hooks=False)
    town = make_town("t", remote=str(remote), hooks=False)
    return town, remote


def published(where) -> str:
    return git(where, "rev-parse", "refs/heads/tasks").strip()


def write(store: GitStore, change: Update) -> str:
    return store.update(lambda _snap: change)


def test_a_lost_race_decides_again_on_the_new_tip(world, kind):
    town, where = world
    bead_id = town.add("raced")
    store = town.store()
    seen: list[str | None] = []

    def decide(snap: Snapshot) -> Update:
        seen.append(snap.commit)
        if len(seen) == 1:  # another writer lands between our read and our publish
            intruder = git(where, "commit-tree", f"{snap.commit}^{{tree}}", "-p", snap.commit, "-m", "other").strip()
            git(where, "update-ref", "refs/heads/tasks", intruder, snap.commit)
        bead = snap.bead(bead_id)
        return Update(events.Event(events.EDIT, (bead_id,), "t", "notes"), [bead.edited(1.0, notes="mine")])

    commit = store.update(decide)
    assert len(seen) == 2 and seen[0] != seen[1]
    assert published(where) == commit
    assert git(where, "rev-parse", f"{commit}^").strip() == seen[1]  # built on the intruder, not over it
    assert town.store().snapshot().bead(bead_id).notes == "mine"


@pytest.mark.parametrize(
    "text",
    ["[queue\nlease_seconds = 60\n", '[queue]\nlease_seconds = "an hour"\n', "[models.m]\nendpoint = 7\n"],
    ids=["toml", "type", "model"],
)
def test_a_broken_town_toml_is_refused_before_it_is_published(world, text):
    town, where = world
    before = published(where)
    with pytest.raises(ConfigError) as refused:
        write(town.store(), Update(events.Event(events.CONFIG, summary="break it"), files={"town.toml": text.encode()}))
    assert "town.toml" in str(refused.value.message)
    assert published(where) == before and town.tip() == before
    status = town.gt_process("status")
    assert status.code == 0, status.err  # the town still reads


def test_a_bead_that_breaks_its_schema_or_the_protocol_is_refused_before_it_is_published(world):
    town, where = world
    bead_id = town.add("fine")
    store = town.store()
    bead = store.snapshot().bead(bead_id)
    before = published(where)
    edit = events.Event(events.EDIT, (bead_id,), "t", "x")
    with pytest.raises(InvalidBead, match=rf"bead {bead_id}: \$\.priority"):
        write(store, Update(edit, [replace(bead, priority=99)]))
    with pytest.raises(Refused, match="a new bead must not arrive claimed"):
        write(store, Update(edit, [replace(bead.claimed("a", None, 0, 60), id="gt-fresh1")]))
    with pytest.raises(Refused, match="deleting a bead loses work"):
        write(store, Update(edit, files={store.snapshot().path_of(bead_id): None}))
    with pytest.raises(InvalidBead, match="not a known tasks-branch path"):
        write(store, Update(edit, files={"notes.txt": b"hello"}))
    with pytest.raises(InvalidBead, match="depends on gt-nosuch1, which does not exist"):
        write(store, Update(edit, [replace(bead, dependencies=(parse_dependency("gt-nosuch1"),))]))
    other = replace(bead, id="gt-other1", dependencies=(parse_dependency(bead_id),))
    with pytest.raises(InvalidBead, match="dependency cycle"):
        write(store, Update(edit, [replace(bead, dependencies=(parse_dependency(other.id),)), other]))
    assert published(where) == before and town.tip() == before
    Queue(store).claim("polecat", "p1", lease=60)
    with pytest.raises(Refused, match="stale generation"):  # a write decided before the claim: fenced off
        write(store, Update(edit, [bead.edited(2.0, notes="late")]))


def test_a_snapshot_keeps_answering_for_its_own_commit(world):
    town, _ = world
    bead_id = town.add("steady")
    store = town.store()
    old = store.snapshot()
    queue = Queue(store)  # the same store object: its shared index moves on under the old snapshot
    queue.claim("polecat", "p1", lease=60)
    later = queue.add(NewBead(title="arrives later")).id
    assert old.bead(bead_id).status == "open" and old.index.get(bead_id).status == "open"
    assert [e.id for e in old.index.ready("polecat", 0.0)] == [bead_id]
    assert b'"status": "open"' in (old.read(old.path_of(bead_id)) or b"")
    assert store.snapshot().bead(bead_id).status == "claimed"
    assert not old.has(later) and store.snapshot().has(later)
    subprocess.run(["git", "fsck", "--no-progress"], cwd=town.git_dir, check=True, capture_output=True)


def test_a_bead_over_the_size_limit_is_refused_before_it_is_published(world):
    town, where = world
    store = town.store()
    current = (store.snapshot().read("town.toml") or b"").decode()
    smaller = current.replace("bead_bytes = 262144", "bead_bytes = 4096")
    assert smaller != current
    write(store, Update(events.Event(events.CONFIG, summary="limits"), files={"town.toml": smaller.encode()}))
    before = published(where)
    with pytest.raises(InvalidBead, match="bytes is over the limit of 4096"):
        Queue(store).add(NewBead(title="long", description="x" * 8000))
    assert published(where) == before
