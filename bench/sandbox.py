"""What the sandbox costs a command: the same commands run bare, unconfined and in bubblewrap.

    python bench/sandbox.py [--runs 50]

Each of `true` and `python -c pass` runs --runs times up to five ways: a bare
``subprocess.run``; ``run_command`` with ``mode = "none"`` (an empty environment,
``prlimit``'s caps, the bounded reader); and ``run_command`` in bubblewrap (namespaces,
the read-only system, the hidden home); each of the last two without and with its own
control group (``+cg``: made, joined, emptied and removed per command) where one can be made. Prints the median and p90 milliseconds per run
and the overhead over bare. The target is at most 20 ms a command.

Then what a bead's test run costs: the example rig's pytest suite, its ``test_command`` as
rigs/example/rig.toml writes it, in bubblewrap, against the same command with every pytest
plugin gastown's interpreter has loaded (a development install's hypothesis and anyio),
--runs / 5 times each (at least 3): the median and the slowest, in seconds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gastown.agents import cgroups  # noqa: E402
from gastown.agents.commands import run_command  # noqa: E402
from gastown.agents.jail import Jail  # noqa: E402


def timed(runs: int, once: Callable[[], object]) -> list[float]:
    once()  # warm: the first bubblewrap run checks that namespaces work
    found = []
    for _ in range(runs):
        began = time.perf_counter()
        once()
        found.append((time.perf_counter() - began) * 1000)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        print(f"{'command':<18} {'how':<10} {'median ms':>10} {'p90 ms':>8} {'overhead ms':>12}")
        for argv in (["true"], [sys.executable, "-c", "pass"]):
            bare = timed(args.runs, lambda a=argv: subprocess.run(a, cwd=root, env=env, capture_output=True))
            base = statistics.median(bare)
            rows = [("bare", bare)]
            for mode, groups in (("none", False), ("none", True), ("bwrap", False), ("bwrap", True)):
                jail = Jail(mode, groups=groups)
                how = f"{mode}+cg" if groups else mode
                if jail.problem():
                    print(f"{' '.join(argv)[-18:]:<18} {how:<10} skipped: {jail.problem()}")
                    continue
                if groups and not cgroups.find().hierarchies:
                    print(f"{' '.join(argv)[-18:]:<18} {how:<10} skipped: {cgroups.find().why}")
                    continue
                rows.append((how, timed(args.runs, lambda a=argv, j=jail: run_command(a, root, 30, env, j))))
            for how, times in rows:
                median = statistics.median(times)
                p90 = sorted(times)[int(len(times) * 0.9) - 1]
                name = " ".join(Path(argv[0]).name if n == 0 else a for n, a in enumerate(argv))
                print(f"{name:<18} {how:<10} {median:>10.1f} {p90:>8.1f} {median - base:>12.1f}")
        test_runs(max(args.runs // 5, 3), root, env)


def test_runs(runs: int, root: Path, env: dict[str, str]) -> None:
    """The example rig's tests, as its rig.toml runs them and with every plugin loaded."""
    example = Path(__file__).resolve().parents[1] / "rigs" / "example"
    shutil.copytree(example / "project", root / "example")
    written = tomllib.loads((example / "rig.toml").read_text())["test_command"]
    command = [sys.executable if part == "{python}" else part for part in written]
    plugins = [part for part in command if part.startswith("no:") and part != "no:cacheprovider"]
    every = [p for n, p in enumerate(command) if p not in plugins and not (p == "-p" and command[n + 1] in plugins)]
    jail = Jail("bwrap")
    if jail.problem():
        print(f"test runs skipped: {jail.problem()}")
        return
    print(f"\n{'the example tests':<30} {'median s':>9} {'max s':>7}")
    for how, argv in (("as rig.toml runs them", command), ("with every plugin loaded", every)):
        times = timed(runs, lambda a=argv: run_command(a, root / "example", 120, env, jail))
        print(f"{how:<30} {statistics.median(times) / 1000:>9.2f} {max(times) / 1000:>7.2f}")


if __name__ == "__main__":
    main()
