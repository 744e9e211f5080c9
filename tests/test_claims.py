"""Claims through a remote: a proposal on refs/claims/<id>, folded into tasks (gastown.town.claims).

Real clones of a real bare remote with gastown's server hooks; a claimer that dies between
its proposal and its fold is played by calling the two steps it had done, as it left them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time

import pytest
from conftest import git, gt_inprocess

from gastown.errors import GitFailed, InvalidBead, NothingReady, Refused, Unavailable
from gastown.town import claims, events, founding
from gastown.town.bead import Dependency
from gastown.town.queue import NewBead, Queue, _claim_change
from gastown.town.refs import PROPOSALS
from gastown.town.store import GitStore, Update


@pytest.fixture
def shared(tmp_path, bare_remote):
    """``shared(n)``: the remote and ``n`` queues, each on its own clone of one town."""

    def make(n: int = 2, beads: int = 3):
        remote = bare_remote("central.git")
        queues = []
        for i in range(n):
            town, _ = founding.init(tmp_path / f"clone{i}", str(remote))
            queues.append(Queue(GitStore(town)))
        made = [b.id for b in queues[0].add_many([NewBead(title=f"bead {i}", priority=i % 5) for i in range(beads)])]
        for queue in queues:
            queue.store.sync()
        return remote, queues, made

    return make


def proposals_on(remote) -> list[str]:
    return git(remote, "for-each-ref", "--format=%(refname)", PROPOSALS).split()


def claim_events(remote) -> list[tuple[str, str]]:
    log = git(
        remote,
        "log",
        "--format=%(trailers:key=Bead,valueonly,separator=)|%(trailers:key=Agent,valueonly,separator=)|%(trailers:key=Event,valueonly,separator=)",
        "tasks",
    )
    rows = [line.split("|") for line in log.splitlines() if line.strip()]
    return [(bead, agent) for bead, agent, event in rows if event == "claim"]


def propose_only(queue: Queue, bead_id: str, agent: str, lease: float = 600) -> str:
    """What a claimer killed right after its proposal's push leaves behind: the proposal."""
    snap = queue.store.snapshot()
    change, _ = _claim_change(snap, snap.bead(bead_id), "polecat", agent, lease, (), time.time())
    commit, _ = claims.stage(queue.store, snap, change)
    assert claims.propose(queue.store, bead_id, commit)
    return commit


def test_a_claim_lands_on_tasks_as_its_own_commit_and_leaves_no_proposal(shared):
    remote, (a, _b), made = shared()
    got = a.claim("polecat", "worker-a", lease=60)
    assert got.bead.id in made and got.bead.claim.agent == "worker-a"
    subject = git(remote, "log", "--format=%s%n%an", "-1", "tasks").split("\n")
    assert subject[0].startswith(f"claim {got.bead.id} worker-a") and subject[1] == "worker-a"
    assert proposals_on(remote) == []
    assert git(remote, "rev-list", "--merges", "--count", "tasks").strip() == "0"  # still a straight line
    assert a.show(got.bead.id).status == "claimed"


def test_a_clone_that_has_not_seen_a_claim_cannot_claim_the_bead_again(shared):
    remote, (a, b), made = shared()
    first = a.claim("polecat", "worker-a", lease=60)  # b has not fetched since
    with pytest.raises(NothingReady, match="claimed by worker-a first"):
        b.claim("polecat", "worker-b", lease=60, bead_id=first.bead.id)
    assert claim_events(remote) == [(first.bead.id, "worker-a")]
    assert proposals_on(remote) == []  # b's void proposal went with its fold
    other = b.claim("polecat", "worker-b", lease=60)  # and b goes on to another bead
    assert other.bead.id != first.bead.id


def test_a_named_bead_of_another_role_is_refused_before_anything_is_proposed(shared):
    remote, (a, b), made = shared(beads=1)
    review = a.add(NewBead(title="review it", role="refinery")).id
    b.store.sync()
    with pytest.raises(NothingReady, match=f"bead {review} is for role refinery, not polecat"):
        b.claim("polecat", "worker-b", lease=60, bead_id=review)
    assert proposals_on(remote) == [] and claim_events(remote) == []


def test_the_proposal_of_a_claimer_killed_before_its_fold_lands_with_the_next_claim(shared):
    remote, (a, b), made = shared()
    orphan = propose_only(a, made[0], "killed-a")
    assert proposals_on(remote) == [claims.ref(made[0])]
    b.store.sync()  # b sees the proposal: the bead is being claimed, b takes another
    shown = gt_inprocess("status", cwd=b.store.town.git_dir.parent)
    assert f"claim proposal {made[0]} by killed-a: not on tasks yet" in shown.out
    got = b.claim("polecat", "worker-b", lease=60)
    assert got.bead.id != made[0]
    assert proposals_on(remote) == []
    assert sorted(claim_events(remote)) == sorted([(made[0], "killed-a"), (got.bead.id, "worker-b")])
    bead = b.show(made[0])
    assert bead.status == "claimed" and bead.claim.agent == "killed-a"  # its lease will free it
    assert git(remote, "cat-file", "-t", orphan).strip() == "commit"


def test_proposals_of_dead_claimers_on_every_ready_bead_are_folded_then_nothing_is_ready(shared):
    remote, (a, b), made = shared(beads=2)
    for bead_id in made:
        propose_only(a, bead_id, "killed-a")
    b.store.sync()
    with pytest.raises(NothingReady):
        b.claim("polecat", "worker-b", lease=60)
    assert proposals_on(remote) == []
    assert {agent for _, agent in claim_events(remote)} == {"killed-a"}


def test_an_expired_claim_is_recovered_through_a_proposal_and_the_old_owner_is_fenced(shared):
    remote, (a, b), made = shared(beads=1)
    old = a.claim("polecat", "worker-a", lease=0.5)
    time.sleep(0.6)  # the lease runs out: worker-a is presumed dead
    b.store.sync()
    got = b.claim("polecat", "worker-b", lease=60)
    assert got.bead.id == old.bead.id and got.recovery and got.previous_agent == "worker-a"
    assert got.bead.generation == old.bead.generation + 1
    last = git(
        remote, "log", "-1", "--format=%(trailers:key=Recovery,valueonly)%(trailers:key=Generation,valueonly)", "tasks"
    )
    assert last.split() == ["yes", "2"]
    with pytest.raises(Refused, match="stale generation"):
        a.complete(old.bead.id, "worker-a", old.bead.generation)


def test_a_renewal_that_lands_first_voids_a_recovery_proposal(shared):
    remote, (a, b), made = shared(beads=1)
    old = a.claim("polecat", "worker-a", lease=0.5)
    time.sleep(0.6)
    b.store.sync()
    propose_only(b, old.bead.id, "worker-b")  # b decided on the expired lease ...
    a.renew(old.bead.id, "worker-a", old.bead.generation, lease=60)  # ... but the owner was alive
    claims.fold(b.store)
    bead = b.show(old.bead.id)
    assert bead.claim.agent == "worker-a" and bead.generation == old.bead.generation
    assert proposals_on(remote) == [] and claim_events(remote) == [(old.bead.id, "worker-a")]


def test_a_proposal_that_is_not_a_claim_is_dropped_and_claims_go_on(shared, tmp_path):
    remote, (a, b), made = shared(beads=2)
    # A person pushes junk under refs/claims: a commit that rewrites town.toml, and a blob.
    snap = a.store.snapshot()
    junk = Update(events.Event(events.EDIT, (), "mallory", "junk"), files={"town.toml": b'[town]\nname = "x"\n'})
    commit, _root, _ = a.store.write(snap, junk)
    blob = a.store.git.write_blob(b"not a commit")
    git(
        a.store.git.git_dir,
        "push",
        "--quiet",
        "--no-verify",
        str(remote),
        f"{commit}:refs/claims/{made[0]}",
        f"{blob}:refs/claims/{made[1]}",
    )
    b.store.sync()
    got = b.claim("polecat", "worker-b", lease=60, bead_id=made[0])  # the fold drops the junk first
    assert got.bead.id == made[0] and got.bead.claim.agent == "worker-b"
    assert proposals_on(remote) == []
    assert b.claim("polecat", "worker-b", lease=60).bead.id == made[1]
    assert 'name = "x"' not in git(remote, "show", "tasks:town.toml")


def test_with_claim_refs_off_claims_are_pushed_to_the_branch(shared, tmp_path):
    remote, (a, b), made = shared()
    touched = tmp_path / "touched"
    hook = remote / "hooks" / "reference-transaction"  # the remote writes down every ref it moves
    hook.write_text(f'#!/bin/sh\n[ "$1" = committed ] && cat >> {touched} || cat > /dev/null\n')
    hook.chmod(0o755)
    toml = (a.store.snapshot().read("town.toml") or b"").decode()
    toml = toml.replace("[queue]\n", "[queue]\nclaim_refs = false\n")
    edit = events.Event(events.EDIT, (), "person", "claims on the branch")
    a.store.update(lambda snap: Update(edit, files={"town.toml": toml.encode()}))
    b.store.sync()
    got = b.claim("polecat", "worker-b", lease=60)
    assert claim_events(remote) == [(got.bead.id, "worker-b")]
    assert "refs/heads/tasks" in touched.read_text() and PROPOSALS not in touched.read_text()


def test_a_bead_edited_after_a_proposal_was_made_keeps_the_edit(shared):
    remote, (a, b), made = shared(beads=1)
    propose_only(b, made[0], "worker-b")
    a.edit(made[0], ["description=say it better"], agent="person")  # lands before the fold
    claims.fold(b.store)
    bead = b.show(made[0])
    assert bead.description == "say it better"  # a fold never writes an older copy of the bead
    assert bead.status == "open" and proposals_on(remote) == []
    assert b.claim("polecat", "worker-b", lease=60).bead.description == "say it better"


def test_a_claim_whose_proposal_an_edit_made_void_decides_again_and_takes_the_bead(shared):
    remote, (a, b), made = shared(beads=1)
    a.edit(made[0], ["description=edited after b last looked"], agent="person")  # b has not fetched it
    got = b.claim("polecat", "worker-b", lease=60)  # b's first proposal is void: the bead changed
    assert got.bead.id == made[0] and got.bead.description == "edited after b last looked"
    a.edit(made[0], ["notes=again"], agent="person")
    with pytest.raises(NothingReady, match="not ready"):
        a.claim("polecat", "worker-a", lease=60, bead_id=made[0])
    assert a.show(made[0]).claim.agent == "worker-b"


def test_proposals_that_are_not_claims_are_dropped_whatever_they_change(shared, tmp_path):
    remote, (a, b), made = shared(beads=2)
    # Each "claims" its bead and adds a dependency on the other: together, a cycle.
    snap = a.store.snapshot()
    pushes = []
    for me, other in ((made[0], made[1]), (made[1], made[0])):
        bead = snap.bead(me).claimed("mallory", "polecat", time.time(), 600)
        bead = dataclasses.replace(bead, dependencies=(Dependency(other, "blocks"),))
        commit, _root, _ = a.store.write(snap, Update(events.Event(events.CLAIM, (me,), "mallory"), [bead]))
        pushes.append(f"{commit}:{claims.ref(me)}")
    git(a.store.git.git_dir, "push", "--quiet", "--no-verify", str(remote), *pushes)
    b.store.sync()
    got = b.claim("polecat", "worker-b", lease=60)
    assert got.bead.id in made and proposals_on(remote) == []
    assert {agent for _, agent in claim_events(remote)} == {"worker-b"}
    assert b.show(got.bead.id).dependencies == ()


def test_a_fold_takes_no_more_proposals_than_a_push_may_carry(shared):
    remote, (a, b), made = shared(beads=4)
    toml = (a.store.snapshot().read("town.toml") or b"").decode().replace("push_commits = 10000", "push_commits = 2")
    a.store.update(
        lambda snap: Update(events.Event(events.EDIT, (), "person", "small pushes"), files={"town.toml": toml.encode()})
    )
    for bead_id in made[:3]:
        propose_only(a, bead_id, "killed-a")
    git(remote, "config", "core.logAllRefUpdates", "always")  # count the folds that landed
    b.store.sync()
    got = b.claim("polecat", "worker-b", lease=60)
    assert got.bead.id == made[3]
    claims.fold(b.store)  # what is left
    assert proposals_on(remote) == []
    folds = git(remote, "reflog", "show", "--format=%H", "refs/heads/tasks").split()
    assert len(folds) == 2  # two at a time: none refused for carrying too many, none alone
    assert sorted(bead for bead, agent in claim_events(remote) if agent == "killed-a") == sorted(made[:3])


def test_a_claim_that_cannot_fold_takes_its_proposal_back(shared):
    remote, (a, b), made = shared()
    b.store.sync()
    git(b.store.git.git_dir, "config", "remote.origin.uploadpack", "false")  # fetches fail, pushes work
    with pytest.raises(Unavailable, match="cannot fetch"):
        b.claim("polecat", "worker-b", lease=60)
    assert proposals_on(remote) == []  # nothing left to land later under worker-b's name
    assert claim_events(remote) == []


def test_a_host_without_atomic_pushes_is_named_with_what_to_do(shared):
    remote, (a, b), made = shared()
    git(remote, "config", "receive.advertiseAtomic", "false")
    with pytest.raises(GitFailed, match="does not take atomic pushes") as caught:
        b.claim("polecat", "worker-b", lease=60)
    assert "claim_refs = false" in (caught.value.hint or "")
    assert proposals_on(remote) == [] and claim_events(remote) == []


def test_a_fold_the_remote_refuses_drops_only_what_it_refuses(shared):
    remote, (a, b), made = shared(beads=2)
    propose_only(a, made[0], "killed-a")
    hook = remote / "hooks" / "pre-receive"  # this host refuses every fold that lands made[0]
    hook.rename(hook.with_name("pre-receive.gastown"))  # chained after the host's own check
    hook.write_text(
        "#!/bin/sh\nall=$(cat)\n"
        f'case "$all" in *{made[0]}*refs/heads/tasks*|*refs/heads/tasks*{made[0]}*) '
        f'echo "no {made[0]} here" >&2; exit 1;; esac\n'
        """printf '%s\\n' "$all" | exec "$(dirname "$0")/pre-receive.gastown"\n"""
    )
    hook.chmod(0o755)
    b.store.sync()
    got = b.claim("polecat", "worker-b", lease=60)
    assert got.bead.id == made[1]  # the refused proposal did not stop this one ...
    assert proposals_on(remote) == []  # ... and, refused alone, it was taken back: in nobody's way
    assert b.show(made[0]).status == "open"


def test_a_bead_a_person_wrote_with_fields_left_out_is_claimed_like_any_other(shared):
    remote, (a, b), made = shared(beads=0)
    stamp = "2026-12-01T10:00:00.000Z"
    terse = {"id": "gt-t3rse", "title": "written by hand", "created_at": stamp, "updated_at": stamp}
    edit = events.Event(events.ADD, ("gt-t3rse",), "person", "a bead by hand")
    a.store.update(lambda snap: Update(edit, files={"beads/gt-t3rse.json": json.dumps(terse).encode()}))
    b.store.sync()
    got = b.claim("polecat", "worker-b", lease=60)  # gastown writes every field back: still a claim
    assert got.bead.id == "gt-t3rse" and claim_events(remote) == [("gt-t3rse", "worker-b")]
    bare = {"id": "gt-b4r3b", "title": "no dates at all", "priority": 0}
    edit = events.Event(events.ADD, ("gt-b4r3b",), "person", "a bead with no dates")
    a.store.update(lambda snap: Update(edit, files={"beads/gt-b4r3b.json": json.dumps(bare).encode()}))
    b.store.sync()
    got = b.claim("polecat", "worker-b", lease=60)  # a missing created_at is left missing, not written ""
    assert got.bead.id == "gt-b4r3b" and "created_at" not in json.loads(
        git(remote, "show", "tasks:beads/gt-b4r3b.json")
    )


def test_a_proposal_whose_bead_is_no_longer_ready_is_void(shared):
    remote, (a, b), made = shared(beads=0)
    blocker = a.add(NewBead(title="blocker"))
    child = a.add(NewBead(title="child", dependencies=(Dependency(blocker.id, "blocks"),)))
    got = a.claim("polecat", "worker-a", lease=60, bead_id=blocker.id)
    a.complete(blocker.id, "worker-a", got.bead.generation)
    propose_only(a, child.id, "slow-claimer")  # decided while the child was ready ...
    a.retry(blocker.id, reason="reopened", reopen_done=True)  # ... which it no longer is
    claims.fold(b.store)
    assert b.show(child.id).status == "open" and proposals_on(remote) == []
    assert [bead for bead, _ in claim_events(remote)] == [blocker.id]


def test_a_host_that_refuses_a_proposal_ref_says_so_at_once(shared):
    remote, (a, b), made = shared(beads=1)
    hook = remote / "hooks" / "update"  # a host policy: claim refs may be made, never deleted
    hook.write_text(
        '#!/bin/sh\ncase "$1" in refs/claims/*) [ "$3" = '
        + "0" * 40
        + ' ] && { echo "claims stay" >&2; exit 1; };; esac\nexit 0\n'
    )
    hook.chmod(0o755)
    started = time.monotonic()
    with pytest.raises(Refused, match="claims stay"):
        b.claim("polecat", "worker-b", lease=60)
    assert time.monotonic() - started < 10  # refused, not retried as a lost race
    assert claim_events(remote) == []


def test_a_bead_whose_claim_the_rules_refuse_is_passed_over_locally_and_through_a_remote(shared, town):
    big = {"id": "gt-b1gg0", "title": "tight", "priority": 0, "description": "x" * 850}
    for queue in (town.queue(), shared(beads=0)[1][0]):
        toml = (queue.store.snapshot().read("town.toml") or b"").decode()
        toml = toml.replace("bead_bytes = 262144", "bead_bytes = 1024")  # the stored file fits ...
        edit = events.Event(events.EDIT, (), "person", "small beads")
        queue.store.update(lambda snap, t=toml, e=edit: Update(e, files={"town.toml": t.encode()}))
        add = events.Event(events.ADD, ("gt-b1gg0",), "person", "by hand")
        queue.store.update(lambda snap, a=add: Update(a, files={"beads/gt-b1gg0.json": json.dumps(big).encode()}))
        other = queue.add(NewBead(title="fine", priority=1))
        got = queue.claim("polecat", "worker", lease=60)  # ... its claimed rewrite does not
        assert got.bead.id == other.id
        with pytest.raises(InvalidBead, match="over the limit"):
            queue.claim("polecat", "worker", lease=60, bead_id="gt-b1gg0")  # named: said, not skipped


def test_a_remote_that_is_gone_is_said_in_one_line_and_exit_6(shared, tmp_path):
    remote, (a, b), made = shared()
    remote.rename(tmp_path / "moved.git")
    result = gt_inprocess("claim", "--role", "polecat", "--agent", "worker-b", cwd=b.store.town.git_dir.parent)
    assert result.code == 6, result.err
    lines = [line for line in result.err.splitlines() if line.startswith("gt:")]
    assert lines and all("fatal: " in line and "\n" not in line for line in lines), result.err
    assert "Traceback" not in result.err and "and the repository exists" not in result.err


def test_a_pause_for_another_claimers_fold_ends_when_it_lands_on_a_remote_here(shared):
    """A claimer leaves the fold to the first proposal's owner; with the remote on this
    machine it reads the remote's ref files while it waits, and goes on as soon as that
    proposal is gone, not when the pause runs out."""
    remote, (a, b), made = shared()
    here = b.store.town.remote_folder()
    assert here is not None and here.resolve() == remote.resolve()
    first = claims.Proposal(made[0], propose_only(a, made[0], "worker-a"))
    started = time.monotonic()
    claims._await_fold(here, [first], 0.5)  # nothing folds it: the pause runs its length
    assert time.monotonic() - started >= 0.45
    waiter = threading.Thread(target=claims._await_fold, args=(here, [first], 60.0), daemon=True)
    started = time.monotonic()
    waiter.start()
    claims.fold(a.store)  # lands the proposal and deletes its ref
    waiter.join(timeout=20)
    assert not waiter.is_alive(), "the pause ran on after the fold landed"
    assert time.monotonic() - started < 20


def test_a_remote_elsewhere_is_fetched_and_a_relative_path_is_read_where_git_reads_it(shared):
    remote, (a, b), made = shared()
    git_dir = b.store.git.git_dir
    git(git_dir, "config", "remote.origin.url", "git://127.0.0.1:9/central.git")
    assert b.store.town.remote_folder() is None  # only ever fetched
    relative = os.path.relpath(remote, git_dir.parent)
    git(git_dir, "config", "remote.origin.url", relative)
    assert git(git_dir.parent, "ls-remote", "origin", "refs/heads/tasks").strip()  # git finds it so
    found = b.store.town.remote_folder()
    assert found is not None and found.resolve() == remote.resolve()


def test_a_ref_lock_a_killed_writer_left_is_cleared_and_one_held_for_a_moment_is_waited_for(tmp_path):
    """A claimer killed while libgit2 held a claim ref's lock leaves `<ref>.lock` behind, and
    the next writer of that ref got "failed to create locked file: File exists" and died
    (the kill -9 race test saw it): a lock older than STALE_LOCK_SECONDS is a dead writer's
    and is removed; a younger one is waited for."""
    from gastown.town.git import STALE_LOCK_SECONDS, Git

    repo = tmp_path / "clone"
    git(tmp_path, "init", "--quiet", str(repo))
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "one")
    head = git(repo, "rev-parse", "HEAD").strip()
    lock = repo / ".git" / "refs" / "gastown" / "claims" / "gt-abcde.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("")
    dead = time.time() - STALE_LOCK_SECONDS - 5
    os.utime(lock, (dead, dead))
    Git(repo).set_ref("refs/gastown/claims/gt-abcde", head)
    assert not lock.exists() and git(repo, "rev-parse", "refs/gastown/claims/gt-abcde").strip() == head
    lock.write_text("")  # a live writer's, let go of while the mirror waits
    released = threading.Event()

    def let_go() -> None:
        released.wait(5)
        lock.unlink()

    holder = threading.Thread(target=let_go)
    holder.start()
    threading.Timer(0.2, released.set).start()
    Git(repo).delete_ref("refs/gastown/claims/gt-abcde")
    holder.join()
    assert git(repo, "for-each-ref", "refs/gastown/claims").strip() == ""
