"""Remote claims side by side: one tasks branch against claim proposals, at 1, 2 and 4 clones.

    python bench/claims.py [--clones 1,2,4] [--seconds 20] [--beads 2000] [--transport file]

For each design and clone count: a bare remote with gastown's server hooks, a town of open
beads, that many clones joined to it, one claimer process per clone. All start together and
claim back to back for ``--seconds``; then each finishes the claim in hand. Printed per run:
claims/s (claims over the time to the last one), each clone's claims, fairness (the least
served clone over an even share) and claim latency (a claim call's time) p50 / p90.

The two designs are the town's own setting, ``[queue] claim_refs``: ``branch`` is every claim
pushed to tasks (``false``), ``refs`` is a proposal on ``refs/claims/<id>`` folded into
tasks (``true``, the default). Real processes, real pushes, real hooks; nothing simulated.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gastown.town import events, founding  # noqa: E402
from gastown.town.hooks import SERVER_HOOKS, install  # noqa: E402
from gastown.town.queue import NewBead, Queue  # noqa: E402
from gastown.town.store import GitStore, Update  # noqa: E402

CLAIMER = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from gastown.errors import NothingReady
from gastown.town.queue import Queue
from gastown.town.store import GitStore
from gastown.town.town import locate

town, agent, out, go = sys.argv[1:5]
queue = Queue(GitStore(locate(town)))
queue.snapshot()
Path(out + ".ready").write_text("ready")
while not Path(go).exists():
    time.sleep(0.001)
until = float(Path(go).read_text())  # the burst's end, the same for every claimer
rows = []
while time.time() < until:
    started = time.time()
    try:
        queue.claim("polecat", agent, lease=3600)
    except NothingReady:
        break
    rows.append((started, time.time()))
Path(out).write_text(json.dumps(rows))
"""


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_remote(root: Path, design: str, clones: int, beads: int, transport: str) -> list[Path]:
    """A bare remote with the hooks, ``beads`` open beads, and ``clones`` joined clones."""
    remote = root / "central.git"
    git(root, "init", "--quiet", "--bare", str(remote))
    git(remote, "config", "gc.autoDetach", "false")
    install(remote, SERVER_HOOKS)
    founder, _ = founding.init(root / "founder", str(remote))
    store = GitStore(founder)
    if design == "branch":
        text = (store.snapshot().read("town.toml") or b"").decode()
        toml = text.replace("[queue]\n", "[queue]\nclaim_refs = false\n").encode()
        store.update(
            lambda snap: Update(
                events.Event(events.EDIT, (), "bench", "claims on the branch"), files={"town.toml": toml}
            )
        )
    queue = Queue(store)
    for start in range(0, beads, 1000):
        queue.add_many([NewBead(title=f"bead {i}") for i in range(start, min(beads, start + 1000))])
    url = f"file://{remote}" if transport == "file" else str(remote)
    paths = []
    for i in range(clones):
        founding.init(root / f"clone{i}", url)
        paths.append(root / f"clone{i}")
    return paths


def burst(root: Path, design: str, clones: int, seconds: float, beads: int, transport: str) -> dict[str, object]:
    paths = make_remote(root, design, clones, beads, transport)
    script = root / "claimer.py"
    script.write_text(CLAIMER.format(root=str(ROOT)))
    go, ready = root / "go", root / "go.tmp"
    procs, outs = [], []
    for i, path in enumerate(paths):
        out = root / f"out{i}"
        outs.append(out)
        procs.append(subprocess.Popen([sys.executable, str(script), str(path), f"c{i}", str(out), str(go)]))
    while not all(Path(f"{o}.ready").exists() for o in outs):
        time.sleep(0.01)
    started = time.time()
    ready.write_text(str(started + seconds))
    ready.rename(go)  # every claimer sees the whole file or none
    for proc in procs:
        if proc.wait(timeout=seconds + 600) != 0:
            raise RuntimeError(f"a claimer exited with {proc.returncode}")
    rows = [json.loads(out.read_text()) for out in outs]
    per_clone = [len(r) for r in rows]
    ends = [end for r in rows for _, end in r]
    latencies = sorted(end - begin for r in rows for begin, end in r)
    total = sum(per_clone)
    return {
        "design": design,
        "clones": clones,
        "claims": total,
        "claims_per_s": total / (max(ends) - started) if ends else 0.0,
        "per_clone": per_clone,
        "fairness": min(per_clone) / (total / clones) if total else 0.0,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else 0.0,
        "p90_ms": 1000 * latencies[int(0.9 * (len(latencies) - 1))] if latencies else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clones", default="1,2,4")
    parser.add_argument("--designs", default="branch,refs")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--beads", type=int, default=2000)
    parser.add_argument("--transport", choices=("file", "path"), default="file")
    parser.add_argument("--json", action="store_true", help="one JSON object per run")
    args = parser.parse_args()
    print(f"gastown remote claims  python {sys.version.split()[0]}  cpus {os.cpu_count()}  {args.seconds:.0f} s bursts")
    results = []
    for design in args.designs.split(","):
        for clones in (int(c) for c in args.clones.split(",")):
            with tempfile.TemporaryDirectory(prefix="gastown-claims-") as tmp:
                row = burst(Path(tmp), design, clones, args.seconds, args.beads, args.transport)
            results.append(row)
            if args.json:
                print(json.dumps(row))
            else:
                print(
                    f"{design:>6}  {clones} clone(s): {row['claims_per_s']:6.2f} claims/s  per clone {row['per_clone']}  "
                    f"fairness {row['fairness']:.2f}  latency p50 {row['p50_ms']:.0f} ms  p90 {row['p90_ms']:.0f} ms"
                )
    by = {(r["design"], r["clones"]): r["claims_per_s"] for r in results}
    for design in args.designs.split(","):
        one, four = by.get((design, 1)), by.get((design, 4))
        if one and four:
            print(f"{design}: 4 clones / 1 clone = {float(four) / float(one):.2f}x")  # type: ignore[arg-type]
    if by.get(("branch", 4)) and by.get(("refs", 4)):
        print(f"refs / branch at 4 clones = {float(by[('refs', 4)]) / float(by[('branch', 4)]):.2f}x")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
