"""kill -9 at any moment leaves the town consistent and every bead claimable."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gastown.town.git import Git
from gastown.town.queue import NewBead

CLAIMER = Path(__file__).with_name("claimer.py")


@pytest.mark.slow
def test_kill_9_in_the_middle_of_claims_never_breaks_the_town(town, tmp_path):
    queue = town.queue()
    made = {b.id for b in queue.add_many([NewBead(title=f"bead {i}") for i in range(150)])}
    rng = random.Random(3)
    go = tmp_path / "go"
    go.write_text("go")
    claimed_by_killed: set[str] = set()
    for round_ in range(12):
        out = tmp_path / f"out{round_}"
        proc = subprocess.Popen(
            [
                sys.executable,
                str(CLAIMER),
                str(town.path),
                "polecat",
                f"victim{round_}",
                str(out),
                str(go),
                "0.5",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.25, 0.6))  # it is mid-way through some claim by now
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        town.fsck()
        if out.exists():
            claimed_by_killed |= {line.split()[0] for line in out.read_text().splitlines()}
    snap = town.store().snapshot()
    assert {e.id for e in snap.index} == made  # nothing lost
    claimed = {e.id for e in snap.index if e.status == "claimed"}
    assert claimed >= claimed_by_killed  # every reported claim is on the branch
    assert claimed, "the victims should have claimed something"
    time.sleep(0.6)  # their leases run out
    survivor = []
    while True:
        try:
            survivor.append(queue.claim("polecat", "survivor", lease=60))
        except Exception as error:  # NothingReady ends it; anything else is a failure
            assert type(error).__name__ == "NothingReady", error
            break
    assert {c.bead.id for c in survivor} == made
    recovered = [c for c in survivor if c.recovery]
    assert {c.bead.id for c in recovered} == claimed
    town.fsck()


def test_a_lock_file_left_by_a_dead_writer_is_cleared(town, monkeypatch):
    import gastown.town.git as gitmod

    bead_id = town.add("after a crash")
    lock = town.git_dir / "refs" / "heads" / "tasks.lock"
    lock.write_text("dead\n")
    old = time.time() - 60
    os.utime(lock, (old, old))
    got = town.queue().claim("polecat", "p", lease=60)
    assert got.bead.id == bead_id and not lock.exists()
    # A fresh lock (a live writer) is waited for, not stolen: the CAS gives up cleanly.
    lock.write_text("alive\n")
    monkeypatch.setattr(gitmod, "STALE_LOCK_SECONDS", 3600.0)
    git = Git(town.git_dir)
    started = time.monotonic()
    with pytest.raises(gitmod.GitFailed, match="cannot update refs/heads/tasks"):
        git.cas_ref(
            "refs/heads/tasks",
            git.resolve("refs/heads/tasks"),
            git.resolve("refs/heads/tasks"),
            "x",
        )
    assert time.monotonic() - started >= 4.5
    assert lock.read_text() == "alive\n"


def test_a_fresh_lock_of_a_killed_claimer_does_not_stall_the_next_claim(town):
    bead_id = town.add("right after a crash")
    lock = town.git_dir / "refs" / "heads" / "tasks.lock"
    lock.write_text("left by a claimer killed mid-transaction\n")
    started = time.monotonic()
    got = town.queue().claim("polecat", "p", lease=60)
    assert got.bead.id == bead_id and not lock.exists()
    assert 1.5 < time.monotonic() - started < 5  # cleared once it is clearly stale, not at once
