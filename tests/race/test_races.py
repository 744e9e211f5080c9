"""Exactly-once claims under real contention: processes on one clone, clones on one remote."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import wait_for

from gastown.town import founding
from gastown.town import town as townmod
from gastown.town.history import read_log
from gastown.town.queue import NewBead, Queue
from gastown.town.store import GitStore

CLAIMER = Path(__file__).with_name("claimer.py")
N = int(__import__("os").environ.get("RACE_N", "500"))


def seed(queue: Queue, n: int) -> set[str]:
    made = set()
    for start in range(0, n, 250):
        made |= {b.id for b in queue.add_many([NewBead(title=f"bead {i}") for i in range(start, min(n, start + 250))])}
    return made


def start_claimers(specs, go: Path, work_ms: float = 0):
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
    ready = [Path(f"{out}.ready") for _, _, out in specs]
    wait_for(lambda: all(r.exists() for r in ready), 60, lambda: [r.name for r in ready if not r.exists()])
    go.write_text("go\n")  # every process has warmed its index: they start together
    return procs


def finish(procs, timeout):
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err


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


@pytest.mark.slow
@pytest.mark.timeout(900)  # ~130 s on 2 cores: every claim is a push through the server's hook
@pytest.mark.parametrize("transport", ["file", "git-daemon"])
def test_three_clones_two_processes_each_push_claims_to_one_remote(transport, tmp_path, bare_remote, git_daemon):
    remote = bare_remote("central.git")
    founder, _ = founding.init(tmp_path / "founder", str(remote))
    made = seed(Queue(GitStore(founder)), N)
    if transport == "file":
        urls = [str(remote), f"file://{remote}", str(remote)]
    else:  # every clone talks to the remote only through git daemon on 127.0.0.1
        urls = [f"{git_daemon}/central.git"] * 3
    clones = []
    for i, url in enumerate(urls):
        _, what = founding.init(tmp_path / f"clone{i}", url)
        assert "joined" in what
        clones.append(tmp_path / f"clone{i}")
    go = tmp_path / "go"
    specs, outs = [], []
    for i, clone_dir in enumerate(clones):
        for j in range(2):
            out = tmp_path / f"out{i}{j}"
            outs.append(out)
            specs.append((clone_dir, f"c{i}p{j}", out))
    started = time.monotonic()
    procs = start_claimers(specs, go)
    finish(procs, timeout=600)
    elapsed = time.monotonic() - started
    lines = claimed_lines(outs)
    check_exactly_once(lines, made, remote, "refs/heads/tasks")
    per_clone = {out.name: len(out.read_text().splitlines()) for out in outs}
    print(f"3 clones x 2 over {transport}: {N} remote claims in {elapsed:.1f}s, per claimer {per_clone}")


@pytest.mark.stress
@pytest.mark.parametrize("round_", range(10))
def test_local_race_again_and_again(round_, make_town, tmp_path):
    town = make_town(f"stress{round_}")
    made = seed(town.queue(), 300)
    go = tmp_path / f"go{round_}"
    outs = [tmp_path / f"s{round_}-{i}" for i in range(8)]
    finish(start_claimers([(town.path, f"p{i}", outs[i]) for i in range(8)], go), timeout=240)
    check_exactly_once(claimed_lines(outs), made, town.git_dir, "refs/heads/tasks")
