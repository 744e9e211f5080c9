"""Queue benchmarks: claims, contention, `gt ready`, whole commands, the saved index, hooks, remote.

    python bench/queue.py [--sizes 100,10000,100000] [--quick]

Prints one line per figure. Every figure comes from real git repositories under a
temporary directory, real processes and real pushes; nothing is simulated.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the stdlib's queue module; keep its folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import multiprocessing
import os
import random
import statistics
import subprocess
import tempfile
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gastown.errors import NothingReady  # noqa: E402
from gastown.town import events, founding, ids  # noqa: E402
from gastown.town import town as townmod  # noqa: E402
from gastown.town.bead import new_bead  # noqa: E402
from gastown.town.index import Index  # noqa: E402
from gastown.town.queue import Queue  # noqa: E402
from gastown.town.store import SAVE_EVERY, GitStore, Update  # noqa: E402

GT = [sys.executable, "-m", "gastown"]


def make_town(root: Path, name: str, n: int, remote: str | None = None) -> Path:
    """A town holding ``n`` open beads with realistic random ids (one setup commit)."""
    path = root / name
    town, _ = founding.init(path, remote)
    store = GitStore(town)
    rng = random.Random(n)
    now = time.time()
    seen: set[str] = set()
    beads = []
    while len(beads) < n:
        bead_id = "gt-" + "".join(rng.choice(ids.ALPHABET) for _ in range(6))
        if bead_id not in seen:
            seen.add(bead_id)
            beads.append(new_bead(bead_id, f"bead {len(beads)}", now - n + len(beads), priority=rng.randint(0, 4)))
    step = 4000  # a write may change at most [limits] commit_paths files (5000)
    for start in range(0, n, step):
        chunk = beads[start : start + step]
        event = events.Event(events.ADD, (), "bench", f"{len(chunk)} beads")
        store.update(lambda snap, chunk=chunk, event=event: Update(event, chunk))
    store.save_index()
    return path


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def claim_latency(root: Path, n: int, claims: int) -> tuple[float, float]:
    path = make_town(root, f"latency-{n}", n)
    queue = Queue(GitStore(townmod.locate(path)))
    queue.snapshot()  # a watcher's index is warm
    times = []
    for _ in range(min(claims, n)):
        started = time.perf_counter()
        queue.claim("polecat", "bench@host", lease=3600)
        times.append(time.perf_counter() - started)
    return statistics.median(times), percentile(times, 0.99)


def _claimer(path: str, agent: str, start: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue = Queue(GitStore(townmod.locate(path)))
    queue.snapshot()
    while time.time() < start:
        time.sleep(0.0005)
    count = 0
    while True:
        try:
            queue.claim("polecat", agent, lease=3600)
        except NothingReady:
            break
        count += 1
    out.put((agent, count, time.time()))


def claims_per_second(root: Path, processes: int, n: int) -> float:
    path = make_town(root, f"contention-{processes}", n)
    ctx = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    start = time.time() + 2.0
    workers = [ctx.Process(target=_claimer, args=(str(path), f"w{i}", start, results)) for i in range(processes)]
    for worker in workers:
        worker.start()
    finished = [results.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join()
    total = sum(count for _, count, _ in finished)
    assert total == n, f"{total} claims for {n} beads"
    return n / (max(end for _, _, end in finished) - start)


def whole_command(path: Path, args: list[str], runs: int = 7) -> float:
    subprocess.run([*GT, "--town", str(path), *args], capture_output=True, check=False)  # warm
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([*GT, "--town", str(path), *args], capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def ready_in_process(path: Path, runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        queue = Queue(GitStore(townmod.locate(path)))  # a new process's view: loads the saved index
        started = time.perf_counter()
        queue.ready("polecat")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def index_times(path: Path, claims: int, runs: int = 7) -> tuple[float, float]:
    """The saved index: loading it (what every new process does first), and saving it after
    ``claims`` claims (a watcher saves every SAVE_EVERY changes)."""
    store = GitStore(townmod.locate(path))
    store.snapshot()
    store.save_index()
    loads = []
    for _ in range(runs):
        started = time.perf_counter()
        Index.load(store.index_path)
        loads.append(time.perf_counter() - started)
    queue = Queue(store)
    for _ in range(claims):
        queue.claim("polecat", "bench@host", lease=3600)
    started = time.perf_counter()
    store.save_index()
    return statistics.median(loads), time.perf_counter() - started


def hook_time(root: Path, n: int, runs: int = 7) -> tuple[float, float]:
    """The pre-receive hook as git runs it on a town of n beads: for a one-claim push to
    tasks, and for a claim proposal's push (refs/claims/<id>)."""
    path = make_town(root, f"hook-{n}", n)
    store = GitStore(townmod.locate(path))
    from gastown.town.hooks import SERVER_HOOKS, install

    install(store.town.git_dir, SERVER_HOOKS)
    before = store.tip()
    claimed = Queue(store).claim("polecat", "bench", lease=3600)
    after = store.tip()
    hook = store.town.git_dir / "hooks" / "pre-receive"
    env = {**os.environ, "GIT_DIR": "."}  # as git runs a server's hook: in the repository, named
    medians = []
    for line in (f"{before} {after} refs/heads/tasks\n", f"{'0' * 40} {after} refs/claims/{claimed.bead.id}\n"):
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            proc = subprocess.run(
                [str(hook)], input=line, text=True, capture_output=True, cwd=store.town.git_dir, env=env
            )
            times.append(time.perf_counter() - started)
            assert proc.returncode == 0, proc.stderr
        medians.append(statistics.median(times))
    return medians[0], medians[1]


def remote_round_trip(root: Path, runs: int = 15) -> float:
    """One claim through a bare remote with the server hooks: a proposal, a fetch and a fold."""
    remote = root / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(remote)], check=True)
    from gastown.town.hooks import SERVER_HOOKS, install

    install(remote, SERVER_HOOKS)
    path = make_town(root, "remote-town", runs + 5, remote=str(remote))
    queue = Queue(GitStore(townmod.locate(path)))
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        queue.claim("polecat", "bench", lease=3600)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,10000,100000")
    parser.add_argument("--quick", action="store_true", help="smaller runs (for a smoke test)")
    parser.add_argument("--hooks", action="store_true", help="only the server hook's figures (21 runs each)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="gastown-bench-") as tmp:
        root = Path(tmp)
        print(f"gastown queue benchmark  python {sys.version.split()[0]}  cpus {os.cpu_count()}")
        if args.hooks:
            for n in sizes:
                to_tasks, proposal = hook_time(root, n, runs=21)
                print(f"pre-receive hook, {n:>6} beads, one-claim push to tasks: {ms(to_tasks)}")
                print(f"pre-receive hook, {n:>6} beads, one claim proposal push: {ms(proposal)}")
            return
        for n in sizes:
            median, p99 = claim_latency(root, n, 50 if args.quick else 300)
            print(f"claim latency, {n:>6} beads (in-process, warm): median {ms(median)}  p99 {ms(p99)}")
        contention_n = 200 if args.quick else 1000
        for processes in (1, 4, 8):
            rate = claims_per_second(root, processes, contention_n)
            print(f"claims/s, {processes} contending processes, {contention_n} beads: {rate:.0f}")
        for n in [s for s in sizes if s >= 10000] or sizes[-1:]:
            path = make_town(root, f"ready-{n}", n)
            command = ["ready", "--role", "polecat", "--limit", "20"]
            print(
                f"gt ready, {n:>6} beads: in-process {ms(ready_in_process(path))}, "
                f"whole process {ms(whole_command(path, command))}"
            )
            if n == 10000 or n == sizes[-1]:
                some = next(iter(GitStore(townmod.locate(path)).snapshot().index.entries))
                for label, command in (
                    ("gt status", ["status"]),
                    ("gt bead show", ["bead", "show", some]),
                    ("gt claim", ["claim", "--role", "polecat", "--agent", "bench"]),
                ):
                    print(f"{label}, {n:>6} beads, whole process: {ms(whole_command(path, command))}")
                claims = min(SAVE_EVERY, n)
                load, save = index_times(path, claims)
                print(f"saved index, {n:>6} beads: load {ms(load)}, save after {claims} claims {ms(save)}")
                to_tasks, proposal = hook_time(root, n)
                print(f"pre-receive hook, {n:>6} beads, one-claim push to tasks: {ms(to_tasks)}")
                print(f"pre-receive hook, {n:>6} beads, one claim proposal push: {ms(proposal)}")
        print(f"remote claim round trip (proposal + fetch + fold, hooks on): {ms(remote_round_trip(root))}")


if __name__ == "__main__":
    main()
