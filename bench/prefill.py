"""How fast a pulled local model reads a bead-sized prompt, with the server's options and with gastown's.

    python bench/prefill.py [--model qwen2.5-coder-1.5b] [--threads 2] [--repeat 1] [--trace FILE]

llama-cpp-python's server keeps the logits of every prompt token unless told otherwise
(``--logits_all``, default true: for ``logprobs``, which gastown never asks for); for
Qwen2.5-Coder that is a 151,936-wide output layer run over each of the prompt's tokens.
gastown starts the known models with ``--logits_all false`` (machine/runner.py). This
loads the model once per setting and times a cold first prompt (the starter suite's
README, two of its modules and their test files, as a bead's first prompt holds them: about
1,300 tokens), then 128 tokens of reply with the prompt cached. ``--trace`` takes the
first prompt of a bead's trace instead (``town/.git/gastown/traces/<bead>/generation-1.jsonl``,
kept by ``gt eval --keep``): a long module's bug fix is 4,000-5,000 tokens. Flash attention
is shown for comparison, and so is llama-cpp-python's speculative decoding by prompt lookup
(``--draft_model prompt-lookup-decoding``): the tokens that followed the reply's last few
in the prompt are checked as a batch, which pays where a reply copies the prompt (a small
model sends a module back with one line changed). It keeps every logit, as the default does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gastown.machine.pull import located  # noqa: E402
from gastown.town import catalog  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1] / "evals" / "starter" / "project"
FILES = ("README.md", "textkit/stats.py", "textkit/cli.py", "tests/test_stats.py", "tests/test_cli.py")
SETTINGS = (
    ("the server's default (logits_all true)", {"logits_all": True}),
    ("gastown's (logits_all false)", {"logits_all": False}),
    ("logits_all false, flash_attn true", {"logits_all": False, "flash_attn": True}),
    ("prompt lookup, 10 tokens drafted", {"draft_tokens": 10}),
    ("prompt lookup, 4 tokens drafted", {"draft_tokens": 4}),
)


def prompt() -> list[dict[str, str]]:
    shown = "\n\n".join(f"## {name}\n```\n{(PROJECT / name).read_text()}```" for name in FILES)
    task = "Add reading_time(text, words_per_minute=200) to textkit/stats.py and a line for it to the summary."
    return [
        {"role": "system", "content": "You are a Polecat: you write the code that makes a bead's tests pass."},
        {"role": "user", "content": f"{shown}\n\n## Your task\n{task}"},
    ]


def traced(path: Path) -> list[dict[str, str]]:
    """The first request's messages in a bead's trace."""
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record.get("kind") == "request":
            return [{"role": m["role"], "content": m["content"]} for m in record["new"]]
    sys.exit(f"bench/prefill.py: {path} holds no request")


def made(options: dict[str, object]) -> dict[str, object]:
    """A setting's arguments for ``Llama``: a number of drafted tokens becomes its draft model."""
    arguments = dict(options)
    drafted = arguments.pop("draft_tokens", None)
    if isinstance(drafted, int):
        from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

        arguments["draft_model"] = LlamaPromptLookupDecoding(num_pred_tokens=drafted)
        arguments["logits_all"] = True  # a draft is checked against every position's logits
    return arguments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=catalog.QWEN_1_5B.name)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="cold prompts per setting (a new model load each)")
    parser.add_argument("--trace", type=Path, help="a bead's trace: its first prompt instead of the built-in one")
    args = parser.parse_args()
    known = catalog.find(args.model)
    if known is None:
        sys.exit(f"bench/prefill.py: no known model {args.model!r} (gt models lists them)")
    path = located(known)
    if path is None or not path.is_file():
        sys.exit(f"bench/prefill.py: {known.name} is not pulled: gt models pull {known.name}")
    try:
        from llama_cpp import Llama
    except ImportError:
        sys.exit("bench/prefill.py: needs llama-cpp-python: run it with the project's .venv/bin/python (make install)")

    messages = traced(args.trace) if args.trace else prompt()
    print(f"{'setting':<38} {'prompt':>7} {'prefill s':>10} {'tok/s':>7} {'decode tok/s':>13}")
    for label, options in SETTINGS:
        for _ in range(args.repeat):
            llm = Llama(str(path), n_ctx=known.context, n_threads=args.threads, verbose=False, **made(options))
            started = time.monotonic()
            first = llm.create_chat_completion(messages, max_tokens=1, temperature=0)
            prefill = time.monotonic() - started
            started = time.monotonic()
            reply = llm.create_chat_completion(messages, max_tokens=128, temperature=0)
            decode = time.monotonic() - started
            tokens = first["usage"]["prompt_tokens"]
            written = reply["usage"]["completion_tokens"]
            print(f"{label:<38} {tokens:>7} {prefill:>10.1f} {tokens / prefill:>7.1f} {written / decode:>13.1f}")
            del llm


if __name__ == "__main__":
    main()
