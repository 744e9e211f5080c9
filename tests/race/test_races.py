"""Exactly-once claims under real contention: processes on one clone, clones on one remote."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import git, wait_for

from gastown.town import claims, founding
from gastown.town import town as townmod
from gastown.town.history import read_log
from gastown.town.queue import NewBead, Queue
from gastown.town.refs import PROPOSALS
from gastown.town.store import GitStore
from race import githttp

CLAIMER = Path(__file__).with_name("claimer.py")
N = int(os.environ.get("RACE_N", "500"))


def seed(queue: Queue, n: int) -> set[str]:
    made = set()
    for start in range(0, n, 250):
        made |= {b.id for b in queue.add_many([NewBead(title=f"bead {i}") for i in range(start, min(n, start + 250))])}
    return made


def start_claimers(specs, go: Path, work_ms: float = 0, wait: bool = True):
    procs = []
    for town_dir, agent, out in specs:
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(CLAIMER),
                    str(town_dir),
                    "polecat",
                    agent,
                    str(out),
                    str(go),
                    "600",
                    str(work_ms),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    if not wait:
        return procs
    ready = [Path(f"{out}.ready") for _, _, out in specs]
    wait_for(lambda: all(r.exists() for r in ready), 60, lambda: [r.name for r in ready if not r.exists()])
    go.write_text("go\n")  # every process has warmed its index: they start together
    return procs


def finish(procs, timeout):
    """Wait for every claimer (reaping all of them, pipes closed, even when one failed);
    then each must have exited 0."""
    failed = []
    for proc in procs:
        try:
            _out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            _out, err = proc.communicate()
        if proc.returncode != 0:
            failed.append(err)
    assert not failed, failed[0]


def claimed_lines(outs):
    lines = []
    for out in outs:
        lines += [line.split()[0] for line in Path(out).read_text().splitlines()]
    return lines


def check_exactly_once(lines, made, git_dir, tip_ref):
    counts = Counter(lines)
    assert set(counts) == made, f"missing {len(made - set(counts))}"
    assert [b for b, c in counts.items() if c > 1] == []
    fsck = subprocess.run(["git", "fsck", "--strict", "--no-progress"], cwd=git_dir, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr
    entries = read_log(GitStore(townmod.locate(git_dir)).git, tip_ref)
    claims = Counter(e.beads[0] for e in entries if e.event == "claim")
    assert set(claims) == made and max(claims.values()) == 1


@pytest.mark.slow
def test_eight_processes_on_one_clone_claim_every_bead_exactly_once(town, tmp_path):
    made = seed(town.queue(), N)
    go = tmp_path / "go"
    outs = [tmp_path / f"out{i}" for i in range(8)]
    started = time.monotonic()
    procs = start_claimers([(town.path, f"p{i}@local", outs[i]) for i in range(8)], go)
    finish(procs, timeout=240)
    elapsed = time.monotonic() - started
    lines = claimed_lines(outs)
    check_exactly_once(lines, made, town.git_dir, "refs/heads/tasks")
    snap = town.store().snapshot()
    assert all(e.status == "claimed" and e.generation == 1 for e in snap.index)
    print(f"8 local claimers: {N} claims in {elapsed:.1f}s")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def git_daemon(tmp_path):
    """``git daemon`` on 127.0.0.1 serving tmp_path, pushes enabled."""
    port = free_port()
    proc = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--enable=receive-pack",
            f"--base-path={tmp_path}",
            "--listen=127.0.0.1",
            f"--port={port}",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def accepting():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    wait_for(accepting, 10, lambda: f"git daemon on port {port} (exit {proc.poll()})")
    yield f"git://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


REMOTE_N = int(os.environ.get("RACE_REMOTE_N", "120"))
KILLS = 3


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("transport", ["file", "git-daemon", "http"])
def test_four_clones_two_processes_each_claim_through_one_remote_and_survive_kill_9(
    transport, tmp_path, bare_remote, git_daemon
):
    """Every bead claimed exactly once over file://, git daemon and smart HTTP, while
    claimers are killed with SIGKILL at random moments and replaced."""
    remote = bare_remote("central.git")
    founder, _ = founding.init(tmp_path / "founder", str(remote))
    made = seed(Queue(GitStore(founder)), REMOTE_N)
    with contextlib.ExitStack() as stack:
        if transport == "file":
            urls = [str(remote), f"file://{remote}"] * 2
        elif transport == "git-daemon":
            urls = [f"{git_daemon}/central.git"] * 4
        else:
            urls = [f"{stack.enter_context(githttp.serve(tmp_path))}/central.git"] * 4
        clones = []
        for i, url in enumerate(urls):
            _, what = founding.init(tmp_path / f"clone{i}", url)
            assert "joined" in what
            clones.append(tmp_path / f"clone{i}")
        go = tmp_path / "go"
        specs = [
            (clone_dir, f"c{i}p{j}", tmp_path / f"out-c{i}p{j}") for i, clone_dir in enumerate(clones) for j in range(2)
        ]
        started = time.monotonic()
        running = dict(zip([agent for _, agent, _ in specs], start_claimers(specs, go), strict=True))
        killed = kill_some(running, {agent: clone for clone, agent, _ in specs}, tmp_path, go)
        finish(list(running.values()), timeout=240)
        elapsed = time.monotonic() - started
    left = git(remote, "for-each-ref", "--format=%(objectname)", PROPOSALS).split()
    owners = {git(remote, "log", "-1", "--format=%an", oid).strip() for oid in left}
    assert owners <= killed, f"proposals of live claimers left unfolded: {owners - killed}"
    claims.fold(GitStore(founder))  # a killed claimer's last proposal: the next claim would fold it
    outs = sorted(tmp_path.glob("out-*[0-9]"))
    entries = check_remote_claims(outs, made, remote, killed)
    per_clone = Counter((e.get("Agent") or "").split("p")[0] for e in entries if e.event == "claim")
    print(
        f"4 clones x 2 over {transport}: {REMOTE_N} claims in {elapsed:.1f}s, {len(killed)} killed, per clone {per_clone}"
    )


def kill_some(running, clone_of, tmp_path, go):
    """SIGKILL ``KILLS`` claimers at random moments, each replaced by a new one in its clone."""
    rng = random.Random(12)
    killed = set()
    for n in range(KILLS):
        time.sleep(rng.uniform(0.3, 1.2))
        alive = [agent for agent, proc in running.items() if proc.poll() is None]
        if not alive:
            break
        victim = rng.choice(alive)
        os.kill(running[victim].pid, signal.SIGKILL)
        running.pop(victim).communicate()  # reaps it and closes its pipes
        killed.add(victim)
        heir = f"{victim.split('p')[0]}p{n + 2}"
        clone_of[heir] = clone_of[victim]
        out = tmp_path / f"out-{heir}"
        running[heir] = start_claimers([(clone_of[heir], heir, out)], go, wait=False)[0]
    return killed


def check_remote_claims(outs, made, remote, killed):
    """Each bead claimed exactly once on the remote's tasks; every claim a claimer reported
    is there, under its name; a surviving claimer reported every claim it made; nothing is
    left proposed; the repository is sound."""
    fsck = subprocess.run(["git", "fsck", "--strict", "--no-progress"], cwd=remote, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr
    left = subprocess.run(["git", "for-each-ref", "refs/claims/"], cwd=remote, capture_output=True, text=True)
    assert left.stdout == "", f"proposals left unfolded: {left.stdout}"
    entries = read_log(GitStore(townmod.locate(remote)).git, "refs/heads/tasks")
    claims = [(e.beads[0], e.get("Agent")) for e in entries if e.event == "claim"]
    counts = Counter(bead for bead, _ in claims)
    assert set(counts) == made and max(counts.values()) == 1
    landed = {bead: agent for bead, agent in claims}
    reported = {}
    for out in outs:
        agent = out.name.removeprefix("out-")
        for line in out.read_text().splitlines():
            bead = line.split()[0]
            assert bead not in reported, f"{bead} reported by {reported[bead]} and {agent}"
            reported[bead] = agent
    assert {b: a for b, a in landed.items() if b in reported} == reported
    unreported = {b: a for b, a in landed.items() if b not in reported}
    assert set(unreported.values()) <= killed, f"claims no claimer reported: {unreported}"
    return entries


@pytest.mark.stress
@pytest.mark.parametrize("round_", range(10))
def test_local_race_again_and_again(round_, make_town, tmp_path):
    town = make_town(f"stress{round_}")
    made = seed(town.queue(), 300)
    go = tmp_path / f"go{round_}"
    outs = [tmp_path / f"s{round_}-{i}" for i in range(8)]
    finish(start_claimers([(town.path, f"p{i}", outs[i]) for i in range(8)], go), timeout=240)
    check_exactly_once(claimed_lines(outs), made, town.git_dir, "refs/heads/tasks")
