"""A reply begun for the model against one only shown its start: the same traced prompt asked both ways.

    python bench/start.py --trace town/.git/gastown/traces/<bead>/generation-1.jsonl [--at SECONDS]
        [--times 4] [--model qwen2.5-coder-1.5b] [--temperature 0.7]

The prompt is a request of a bead's trace (``gt eval --keep`` keeps them) whose last section
is the start of the reply (prompts.OPENING): by default the last such request, else the one
the trace records at ``--at`` seconds. It is asked ``--times`` times by chat, the start only
shown in the prompt (as for a model whose template gastown does not know), then as many
times begun with the start (ModelClient.chat's ``start``, a text completion), each with
seed 1, 2, ... and the sampling of a fresh try (the temperature, the wide nucleus). A
gastown-started llama-cpp-python server of the known model answers; it is stopped after.
For each reply: whether it writes the function the start opens, how many other functions it
writes (the module sent back writes them all), its tokens and seconds.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gastown.agents import prompts  # noqa: E402
from gastown.agents.repeats import WIDE_SAMPLING  # noqa: E402
from gastown.errors import GastownError  # noqa: E402
from gastown.machine.providers import ModelClient  # noqa: E402
from gastown.machine.runner import Runner  # noqa: E402
from gastown.town import catalog, roster  # noqa: E402


def fail(line: str, hint: str) -> NoReturn:
    print(f"bench/start.py: {line}\nhint: {hint}", file=sys.stderr)
    sys.exit(2)


def traced(path: Path, at: float | None) -> list[dict[str, Any]]:
    """The system message and the last user message of the chosen request of ``path``."""
    hint = "give a bead's generation-1.jsonl, kept by gt eval --keep"
    try:
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, ValueError) as error:
        fail(f"{path}: not a readable trace ({error})", hint)
    requests = [r for r in records if isinstance(r, dict) and r.get("kind") == "request"]
    if not requests:
        fail(f"{path}: holds no request", "give the trace of a bead that asked its model something")
    try:
        system = next(m["content"] for m in requests[0]["new"] if m["role"] == "system")
        return _chosen(path, requests, system, at)
    except (KeyError, TypeError, StopIteration, ValueError):
        fail(f"{path}: its requests are not a bead's (no system message, or no messages and times)", hint)


def _chosen(path: Path, requests: list[dict[str, Any]], system: str, at: float | None) -> list[dict[str, Any]]:
    """The system message and the last user message of the request at ``at`` (else the last begun one)."""

    def asked(request: dict[str, Any]) -> list[dict[str, Any]]:
        users = [m for m in request["new"] if m["role"] == "user"]
        return [{"role": "system", "content": system}, *users[-1:]]

    if at is not None:
        chosen = [r for r in requests if abs(float(r["t"]) - at) < 0.5]
        if not chosen:
            fail(f"{path}: no request at {at:g} s", "the trace's request lines carry their time as t")
        return asked(chosen[0])
    begun = [r for r in requests if prompts.reply_start(asked(r))]
    if not begun:
        fail(f"{path}: no request ends with the start of a reply", "choose a bead that adds one function")
    return asked(begun[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trace", type=Path, required=True, help="a bead's trace (generation-1.jsonl)")
    parser.add_argument("--at", type=float, help="the request at this many seconds (default: the last begun one)")
    parser.add_argument("--times", type=int, default=4, help="replies each way, seeds 1..N (default: 4)")
    parser.add_argument(
        "--model",
        default=catalog.QWEN_1_5B.name,
        help=f"a known, pulled model; its server is started here (default: {catalog.QWEN_1_5B.name})",
    )
    parser.add_argument("--temperature", type=float, default=0.7, help="a fresh try's (default: 0.7)")
    args = parser.parse_args()
    if args.times < 1:
        fail(f"--times {args.times}: at least one reply each way", "--times 4 is the default")
    try:
        spec = roster.load({}, {}).model(args.model)
    except GastownError:
        fail(f"no known model {args.model!r}", "gt models pull --list names them")
    messages = traced(args.trace, args.at)
    start = prompts.reply_start(messages)
    found = re.search(r"def (\w+)", start)
    if not found:
        fail("the chosen request's last section opens no function", "choose a request that ends with a def line")
    name, path = found.group(1), start.splitlines()[0]
    if spec.template is None:
        fail(f"{args.model} has no chat template gastown renders", "use a known Qwen coder")
    state = Path(tempfile.mkdtemp(prefix="gt-bench-start-"))
    runner = Runner(state)
    try:
        url = runner.ensure(spec, wait=300)
    except GastownError as error:
        shutil.rmtree(state, ignore_errors=True)
        fail(error.message, error.hint or f"gt models pull {args.model}")
    print(f"{path}: `{name}`; {args.times} replies each way at T {args.temperature:g}")
    print(f"{'asked':<8} {'seed':>4} {'writes it':>9} {'other defs':>10} {'tokens':>6} {'seconds':>7}")
    try:
        for way in ("chat", "begun"):
            for seed in range(1, args.times + 1):
                client = ModelClient(replace(spec, endpoints=(url,), sampling={**spec.sampling, "seed": seed}))
                began = time.monotonic()
                reply = client.chat(
                    messages,
                    max_tokens=600,
                    temperature=args.temperature,
                    sampling=WIDE_SAMPLING,
                    start=start if way == "begun" else "",
                )
                text = reply.content or ""
                others = [d for d in re.findall(r"^def (\w+)", text, re.MULTILINE) if d != name]
                print(
                    f"{way:<8} {seed:>4} {str(f'def {name}(' in text):>9} {len(others):>10} "
                    f"{reply.usage.tokens_out:>6} {time.monotonic() - began:>7.1f}",
                    flush=True,
                )
    finally:
        runner.stop(spec.name)
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
