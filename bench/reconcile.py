"""Reconcile benchmark: reading a long tasks history, in full and incrementally.

    python bench/reconcile.py [--commits 100000]

Builds a synthetic tasks history with `git fast-import` (claim, renew, complete and
fail commits with their trailers, a few manual commits that edit a bead file), then
times a full reconcile (no saved state), an incremental one after one new commit, and
reading every record back from the ledger (what metrics and cost do).
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gastown.mayor.decisions import reconcile  # noqa: E402
from gastown.mayor.reconcile import all_records, bring_up_to_date  # noqa: E402
from gastown.town import founding  # noqa: E402
from gastown.town import roster as rostermod  # noqa: E402
from gastown.town.store import GitStore  # noqa: E402


def synthetic_history(repo: Path, commits: int) -> None:
    rng = random.Random(1)
    lines: list[str] = []
    base = 1_790_000_000
    tip = subprocess.run(
        ["git", "rev-parse", "refs/heads/tasks"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    beads = [f"gt-{n:06d}" for n in range(commits // 5 + 1)]
    for n in range(commits):
        bead = beads[n // 5]
        kind = ("claim", "renew", "renew", "complete" if rng.random() < 0.8 else "fail", "claim")[n % 5]
        trailers = [f"Bead: {bead}", f"Event: {kind}", f"Agent: polecat@host-{n % 8}", "Role: polecat", "Generation: 1"]
        if kind == "claim":
            trailers.append(f"Lease-Expires: 2026-11-23T07:{n % 60:02d}:00.000Z")
        if kind in ("complete", "fail"):
            trailers += [
                f"Model: qwen3-coder-{'3b' if n % 2 else '7b'}",
                f"Tokens-In: {rng.randint(500, 9000)}",
                f"Tokens-Out: {rng.randint(50, 900)}",
                "Tool-Calls: 6",
                "Tool-Call: read_file=3",
                "Tool-Call: write_file=2",
                "Tool-Call: finish=1",
                "Tool-Calls-Failed: 0",
            ]
        message = f"{kind} {bead} polecat@host-{n % 8}: synthetic work\n\n" + "\n".join(trailers) + "\n"
        manual = n % 1000 == 999
        if manual:
            message = "edit a bead by hand\n"
        data = message.encode()
        lines.append(
            f"commit refs/heads/tasks\ncommitter Bench <bench@example.invalid> {base + n} +0000\ndata {len(data)}\n"
        )
        lines.append(message)
        if n == 0:
            lines.append(f"from {tip}\n")
        if manual:
            content = f'{{"id": "{bead}", "title": "edited {n}"}}\n'
            lines.append(f"M 100644 inline beads/{bead}.json\ndata {len(content.encode())}\n{content}\n")
        lines.append("\n")
    subprocess.run(["git", "fast-import", "--quiet", "--force"], cwd=repo, input="".join(lines).encode(), check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=100000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gastown-bench-") as tmp:
        town, _ = founding.init(Path(tmp) / "town")
        started = time.perf_counter()
        synthetic_history(town.git_dir, args.commits)
        subprocess.run(["git", "commit-graph", "write", "--reachable"], cwd=town.git_dir, check=True)
        print(
            f"gastown reconcile benchmark  python {sys.version.split()[0]}  ({args.commits} commits built in {time.perf_counter() - started:.1f} s)"
        )
        store = GitStore(town)
        roster = rostermod.load({}, {})
        folder = town.state_dir
        started = time.perf_counter()
        ledger = bring_up_to_date(store.git, store.tip(), folder)
        full = time.perf_counter() - started
        print(f"full reconcile (read + fold {args.commits} commits, {ledger.beads()} beads): {full:.2f} s")
        started = time.perf_counter()
        result = reconcile(store, roster, act=False)
        print(
            f"  gt mayor reconcile afterwards, nothing new: {(time.perf_counter() - started) * 1000:.1f} ms ({len(result.problems)} reports)"
        )
        tree = subprocess.run(
            ["git", "rev-parse", "tasks^{tree}"], cwd=town.git_dir, capture_output=True, text=True, check=True
        ).stdout.strip()
        samples = []
        for n in range(7):
            tip = store.git.resolve("refs/heads/tasks")
            message = f"claim gt-new{n:02d} polecat@x: one more\n\nBead: gt-new{n:02d}\nEvent: claim\nAgent: polecat@x\nGeneration: 1\nLease-Expires: 2026-11-23T08:00:00.000Z\n"
            commit = subprocess.run(
                ["git", "commit-tree", tree, "-p", tip, "-m", message],
                cwd=town.git_dir,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            subprocess.run(["git", "update-ref", "refs/heads/tasks", commit, tip], cwd=town.git_dir, check=True)
            started = time.perf_counter()
            bring_up_to_date(store.git, commit, folder)
            samples.append(time.perf_counter() - started)
        samples.sort()
        print(
            f"incremental reconcile after one new commit: median {samples[3] * 1000:.1f} ms (min {samples[0] * 1000:.1f}, max {samples[-1] * 1000:.1f})"
        )
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            records = all_records(store.git, store.tip(), folder)
            samples.append(time.perf_counter() - started)
        samples.sort()
        print(f"every record read back ({len(records)}, for metrics and cost): median {samples[2] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
