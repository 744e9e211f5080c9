import time

import pytest

from gastown.errors import InvalidBead, NotFound, NothingReady, Refused, UsageError
from gastown.town import events
from gastown.town.beadtext import parse_dependency
from gastown.town.history import read_log
from gastown.town.queue import NewBead


def trailers_of_tip(town):
    entry = read_log(town.store().git, "refs/heads/tasks", limit=1)[0]
    return dict(entry.trailers), entry.subject


def test_ready_is_best_first_and_respects_blockers(town):
    q = town.queue()
    low = town.add("low", priority=3)
    first_high = town.add("high one", priority=1)
    time.sleep(0.01)
    second_high = town.add("high two", priority=1)
    blocked = town.add("blocked", priority=0, dependencies=(parse_dependency(low),))
    other_role = town.add("review", role="refinery", priority=0)
    assert [e.id for e in q.ready("polecat")] == [first_high, second_high, low]
    assert [e.id for e in q.ready()] == [other_role, first_high, second_high, low]
    got = q.claim("polecat", "p1", lease=60)
    assert got.bead.id == first_high and not got.recovery
    assert q.claim("polecat", "p2", lease=60).bead.id == second_high
    assert q.claim("polecat", "p3", lease=60).bead.id == low
    with pytest.raises(NothingReady, match="nothing is ready for role polecat"):
        q.claim("polecat", "p4")
    q.complete(low, "p3")
    assert q.claim("polecat", "p4", lease=60).bead.id == blocked


def test_a_child_waits_while_its_parent_is_blocked(town):
    q = town.queue()
    gate = town.add("gate")
    epic = town.add("epic", dependencies=(parse_dependency(gate),), issue_type="epic", role="mayor")
    child = town.add("child", dependencies=(parse_dependency(f"{epic}:parent-child"),))
    assert [e.id for e in q.ready("polecat")] == [gate]
    snap = q.snapshot()
    assert q.waiting_on(snap, snap.index.get(child)) == [f"{gate} (open) via parent {epic}"]
    q.claim("polecat", "p", lease=60)
    q.complete(gate, "p")
    assert [e.id for e in q.ready("polecat")] == [child]


def test_claim_commit_carries_the_trailers(town):
    bead_id = town.add("Add beat scoring", rig="aerobeat")
    got = town.queue().claim("polecat", "polecat@host-1", lease=120)
    trailers, subject = trailers_of_tip(town)
    assert subject == f"claim {bead_id} polecat@host-1: Add beat scoring"
    assert trailers["Bead"] == bead_id and trailers["Event"] == "claim"
    assert trailers["Agent"] == "polecat@host-1" and trailers["Role"] == "polecat"
    assert trailers["Generation"] == "1" and trailers["Rig"] == "aerobeat"
    assert trailers["Lease-Expires"] == got.bead.claim.expires_at


def test_only_the_owner_of_the_current_generation_may_finish(town):
    q = town.queue()
    bead_id = town.add("contested")
    q.claim("polecat", "alice", lease=0.2)
    time.sleep(0.3)
    taken = q.claim("polecat", "bob", lease=60)
    assert taken.recovery and taken.previous_agent == "alice" and taken.bead.generation == 2
    trailers, _ = trailers_of_tip(town)
    assert trailers["Recovery"] == "yes" and trailers["Previous-Agent"] == "alice"
    tip = town.tip()
    with pytest.raises(Refused, match="stale generation 1: the bead is at generation 2"):
        q.complete(bead_id, "alice", generation=1)
    with pytest.raises(Refused, match="claimed by bob .generation 2., not by alice"):
        q.renew(bead_id, "alice")
    with pytest.raises(Refused, match="generation 1 is not its claim's") as wrong:
        q.complete(bead_id, "bob", generation=1)  # the owner, with a wrong number: not "taken over"
    assert "--generation 2" in (wrong.value.hint or "")
    with pytest.raises(Refused, match="not by alice") as other:
        q.release(bead_id, "alice")
    assert "only the owner may release" in (other.value.hint or "") and "--force" in (other.value.hint or "")
    with pytest.raises(NothingReady, match="not ready .claimed by bob."):
        q.claim("polecat", "carol", lease=60, bead_id=bead_id)
    assert town.tip() == tip  # refusals change nothing
    q.renew(bead_id, "bob", generation=2, lease=300)
    assert q.show(bead_id).lease_left(time.time()) > 250
    done = q.complete(bead_id, "bob", generation=2, result={"summary": "merged", "tokens_in": 10})
    assert done.status == "done" and done.close_reason == "merged"
    with pytest.raises(Refused, match="is done, not claimed"):
        q.fail(bead_id, "bob", "too late")


def test_an_expired_claim_that_nobody_took_can_still_be_completed(town):
    q = town.queue()
    bead_id = town.add("slow")
    q.claim("polecat", "slowpoke", lease=0.1)
    time.sleep(0.2)
    assert [e.id for e in q.ready("polecat")] == [bead_id]  # reclaimable
    assert q.complete(bead_id, "slowpoke").status == "done"


def test_release_fail_and_retry(town):
    q = town.queue()
    bead_id = town.add("flaky")
    q.claim("polecat", "p", lease=60)
    released = q.release(bead_id, "p", reason="endpoint down")
    assert released.status == "open" and released.generation == 1 and released.attempts == 0
    trailers, _ = trailers_of_tip(town)
    assert trailers["Event"] == "release" and trailers["Reason"] == "endpoint down"
    q.claim("polecat", "p", lease=60)
    with pytest.raises(UsageError, match="--reason is required"):
        q.fail(bead_id, "p", " ")
    failed = q.fail(bead_id, "p", "tests failed", result={"tests": {"passed": 3, "failed": 2}})
    assert failed.attempts == 1 and failed.status == "failed"
    trailers, _ = trailers_of_tip(town)
    assert trailers["Tests-Failed"] == "2" and trailers["Attempts"] == "1"
    with pytest.raises(NothingReady):
        q.claim("polecat", "p")
    with pytest.raises(Refused, match="only failed or done beads reopen"):
        q.retry(town.add("open one"))
    assert q.retry(bead_id, reason="fallback model").status == "open"
    assert q.claim("polecat", "p", lease=60, bead_id=bead_id).bead.generation == 3


def test_result_fields_become_trailers_metrics_can_read(town):
    q = town.queue()
    bead_id = town.add("measured")
    q.claim("polecat", "p", lease=60)
    q.complete(
        bead_id,
        "p",
        result={
            "summary": "ok",
            "model": "qwen3-coder-3b",
            "tokens_in": 1200,
            "tokens_out": 300,
            "tool_calls": {"read_file": 3, "write_file": 1},
            "tool_calls_failed": 1,
            "tests": {"passed": 5, "failed": 0},
            "commits": ["abc1234"],
        },
    )
    entry = read_log(town.store().git, "refs/heads/tasks", limit=1)[0]
    pairs = entry.trailers
    assert events.first(pairs, "Model") == "qwen3-coder-3b"
    assert events.first(pairs, "Tokens-In") == "1200" and events.first(pairs, "Tokens-Out") == "300"
    assert events.first(pairs, "Tool-Calls") == "4" and events.first(pairs, "Tool-Calls-Failed") == "1"
    assert events.every(pairs, "Tool-Call") == ["read_file=3", "write_file=1"]
    assert events.first(pairs, "Commit") == "abc1234"


def test_bad_input_changes_nothing(town):
    q = town.queue()
    existing = town.add("exists")
    tip = town.tip()
    with pytest.raises(InvalidBead, match="gt-nope1 does not exist"):
        q.add(NewBead(title="x", dependencies=(parse_dependency("gt-nope1"),)))
    with pytest.raises(InvalidBead, match="role") as bad_role:
        q.add(NewBead(title="x", role="Not A Role"))
    assert bad_role.value.problems == [  # in words, and naming no id: none was made
        "new bead 'x': $.role: 'Not A Role' is not a role name: a role is a lowercase letter, then up to 31 "
        "lowercase letters, digits, '_' or '-' (like polecat)"
    ]
    with pytest.raises(UsageError, match="belongs to the claim protocol"):
        q.edit(existing, ["generation=4"])
    with pytest.raises(UsageError, match="no such field"):
        q.edit(existing, ["colour=red"])
    with pytest.raises(UsageError, match="not a whole number"):
        q.edit(existing, ["priority=high"])
    with pytest.raises(InvalidBead, match="priority"):
        q.edit(existing, ["priority=7"])
    with pytest.raises(NotFound):
        q.edit("gt-nope1", ["priority=1"])
    assert town.tip() == tip


def test_a_named_bead_of_another_role_is_not_claimed(town):
    review = town.add("review the scoring", role="refinery")
    tip = town.tip()
    with pytest.raises(NothingReady, match=f"bead {review} is for role refinery, not polecat") as refused:
        town.queue().claim("polecat", "p", lease=60, bead_id=review)
    assert "--role refinery" in refused.value.hint
    assert town.tip() == tip and town.queue().show(review).status == "open"
    assert town.queue().claim("refinery", "r", lease=60, bead_id=review).bead.claim.role == "refinery"


def test_edits_that_would_make_a_cycle_are_refused(town):
    q = town.queue()
    a = town.add("a")
    b = town.add("b", dependencies=(parse_dependency(a),))
    c = town.add("c", dependencies=(parse_dependency(b),))
    with pytest.raises(InvalidBead, match=f"dependency cycle {a} -> {c} -> {b} -> {a}"):
        q.edit(a, [f"dependencies={c}"])
    edited = q.edit(a, ["priority=0", "labels=ui,godot", f"dependencies={c}:related"])
    assert edited.priority == 0 and edited.labels == ("ui", "godot")


def test_convoys_collect_their_beads(town):
    from gastown.town import convoy

    made = convoy.create(town.store(), "Beat scoring", rig="aerobeat")
    assert made.id.startswith("gt-cv-")
    first = town.add("tests first", convoy=made.id, role="refinery")
    second = town.add("code", convoy=made.id)
    snap = town.store().snapshot()
    loaded = convoy.load(snap, made.id)
    assert loaded.beads == (first, second)
    assert convoy.progress(snap, loaded) == {"status": "waiting", "beads": 2, "counts": {"open": 2}}
    with pytest.raises(NotFound, match="no convoy gt-cv-zzzzz"):
        town.add("lost", convoy="gt-cv-zzzzz")
