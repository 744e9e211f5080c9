"""``gt serve`` benchmarks: first byte of the town page and ``/metrics`` on a 10k-bead town,
and the latency from a plain ``git push`` to the server-sent event.

    python bench/serve.py [--beads 10000] [--requests 30] [--pushes 40]

Everything is real: a town made like bench/queue.py's, ``gt serve`` as its own process on
127.0.0.1, a clone that pushes bead files with plain git (through the town's hooks), and
plain HTTP from this process.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py is named like the stdlib's queue module; keep this folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import http.client
import importlib.util
import json
import os
import queue
import signal
import statistics
import subprocess
import tempfile
import threading
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gastown.town import times  # noqa: E402
from gastown.town import town as townmod  # noqa: E402
from gastown.town.hooks import CLIENT_HOOKS, SERVER_HOOKS, install  # noqa: E402

_spec = importlib.util.spec_from_file_location("queue_bench", Path(__file__).resolve().parent / "queue.py")
assert _spec is not None and _spec.loader is not None
queue_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(queue_bench)
make_town, ms, percentile = queue_bench.make_town, queue_bench.ms, queue_bench.percentile  # towns made the same way


def start(town: Path) -> tuple[subprocess.Popen[str], str, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gastown", "--town", str(town), "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    hostport = line.split()[2].removeprefix("http://").rstrip("/")
    host, port = hostport.rsplit(":", 1)
    return proc, host, int(port)


def first_byte(host: str, port: int, path: str) -> float:
    """Seconds from sending the request to the first byte of the response (a fresh connection)."""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.connect()
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()  # returns once the status line has arrived
    elapsed = time.perf_counter() - started
    response.read()
    conn.close()
    assert response.status == 200, (path, response.status)
    return elapsed


def page_times(host: str, port: int, path: str, requests: int) -> tuple[float, float, float]:
    cold = first_byte(host, port, path)
    warm = [first_byte(host, port, path) for _ in range(requests)]
    return cold, statistics.median(warm), percentile(warm, 0.99)


def after_moves(town: Path, host: str, port: int, path: str, moves: int) -> tuple[float, float]:
    """First byte of the first request after each of ``moves`` new commits (the cache is cold)."""
    from gastown.town.queue import NewBead, Queue
    from gastown.town.store import GitStore

    q = Queue(GitStore(townmod.locate(town)))
    found = []
    for i in range(moves):
        q.add(NewBead(title=f"moved {i}"))
        first_byte(host, port, "/agents")  # the move is seen (agents reads no per-tip figure)
        found.append(first_byte(host, port, path))
    return statistics.median(found), max(found)


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def push_latency(root: Path, pushes: int) -> list[float]:
    """Seconds from the start of a plain ``git push`` of one bead file to its SSE event."""
    town = make_town(root, "live", 100)
    install(townmod.locate(town).git_dir, SERVER_HOOKS + CLIENT_HOOKS)
    person = root / "person"
    git(root, "clone", "--quiet", "--branch", "tasks", str(town), str(person))
    proc, host, port = start(town)
    arrived: queue.Queue[tuple[float, str]] = queue.Queue()

    def listen() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=60)
        conn.request("GET", "/events")
        stream = conn.getresponse()
        event = ""
        while True:
            line = stream.fp.readline().decode().rstrip("\r\n")
            if not line and stream.isclosed():
                return
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                arrived.put((time.perf_counter(), event))

    threading.Thread(target=listen, daemon=True).start()
    assert arrived.get(timeout=30)[1] == "hello"
    found = []
    try:
        for i in range(pushes):
            stamp = times.iso(time.time())
            bead_id = f"gt-pu{i:03d}"
            path = person / "beads" / f"{bead_id}.json"
            path.parent.mkdir(exist_ok=True)
            bead = {"id": bead_id, "title": f"pushed {i}", "created_at": stamp, "updated_at": stamp}
            path.write_text(json.dumps(bead) + "\n")
            git(person, "add", "-A")
            git(person, "commit", "--quiet", "-m", f"add {bead_id} by hand")
            started = time.perf_counter()
            git(person, "push", "--quiet", "origin", "tasks")
            when, event = arrived.get(timeout=30)
            assert event == "tasks", event
            found.append(when - started)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beads", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--pushes", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        os.environ.setdefault("GIT_AUTHOR_NAME", "bench")
        os.environ.setdefault("GIT_AUTHOR_EMAIL", "bench@example.invalid")
        os.environ.setdefault("GIT_COMMITTER_NAME", "bench")
        os.environ.setdefault("GIT_COMMITTER_EMAIL", "bench@example.invalid")
        town = make_town(root, "big", args.beads)
        proc, host, port = start(town)
        try:
            for path in ("/", "/metrics", "/agents", "/panels"):
                cold, p50, p99 = page_times(host, port, path, args.requests)
                moved, worst = after_moves(town, host, port, path, 5)
                print(
                    f"serve {args.beads} beads: {path:<9} first byte cold {ms(cold)}, warm p50 {ms(p50)}, "
                    f"p99 {ms(p99)}; after a move p50 {ms(moved)}, max {ms(worst)}"
                )
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
        latencies = push_latency(root, args.pushes)
        print(
            f"serve: git push -> SSE event ({len(latencies)} pushes, through the hooks): "
            f"p50 {ms(statistics.median(latencies))}, p99 {ms(percentile(latencies, 0.99))}, "
            f"max {ms(max(latencies))}"
        )


if __name__ == "__main__":
    main()
