"""A real bead on the local Qwen2.5-Coder-1.5B (llama-cpp-python, CPU).

Runs when llama-cpp-python[server] is installed and the model is pulled (`make test`
pulls it once with `gt models pull`). A model's work is judged honestly: the bead ends
done or failed with a reason, never lost; when it is done, its acceptance tests pass on
its branch, run here again.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import PYTEST, git, gt_process
from watchers import make_rig, set_config

from gastown.agents import rig as rigmod
from gastown.machine.pull import located
from gastown.machine.runner import llama_cpp_available
from gastown.town import catalog

CACHE = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")  # read before tests move HOME
MODEL = catalog.DEFAULT

pytestmark = [pytest.mark.llm, pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture
def pulled(monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", CACHE)
    if not llama_cpp_available() or located(catalog.MODELS[MODEL]) is None:
        pytest.skip(f"llama-cpp-python[server] and a pulled {MODEL} are needed (gt models pull {MODEL})")


def test_the_local_model_works_the_example_bead(town, tmp_path, pulled):
    rig_path = make_rig(tmp_path)
    rigmod.add(town.store(), "example", str(rig_path), template="example")
    # a CPU's pace (5-20 tokens/s on 2 cores): the role's budget bounds the bead, the done check judges it
    set_config(town.path, "[roles.polecat]\nbead_seconds = 300\nmax_turns = 12\n")
    bead_id = town.add(
        "Implement beatscore.combo.multiplier",
        rig="example",
        description="Create beatscore/combo.py with multiplier(streak) as the README describes.",
    )
    try:
        result = gt_process(
            "--town",
            str(town.path),
            "watch",
            "--role",
            "polecat",
            "--model",
            MODEL,
            "--agent",
            "qwen",
            "--once",
            timeout=600,
        )
    finally:
        gt_process("--town", str(town.path), "down", timeout=60)
    assert result.code == 0, result.err[-3000:]
    shown = town.queue().show(bead_id)
    assert shown.status in ("done", "failed"), (shown.status, shown.close_reason)
    assert shown.result["model"] == MODEL and shown.result["tokens_out"] > 0
    trace = [json.loads(line) for line in Path(shown.result["trace"]).read_text().splitlines()]
    assert trace[0]["kind"] == "claim" and any(t["kind"] == "baseline" for t in trace)
    if shown.status == "failed":
        assert shown.close_reason  # it says why
        return
    checkout = tmp_path / "check"
    git(rig_path, "worktree", "add", "--quiet", "--detach", str(checkout), f"bead/{bead_id}")
    git(checkout, "checkout", "main", "--", "tests")  # the Refinery's tests as they were
    run = subprocess.run(
        [*PYTEST, "tests/test_combo.py"],
        cwd=checkout,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-2000:]


def test_gastowns_chatml_is_the_default_models_own_template(monkeypatch):
    """A reply gastown begins (templates.py) is asked as a text completion: its prompt must be
    what the GGUF's own chat template makes of the same conversation, or the model reads
    another prompt than the chat's (and the server's cache of that one goes unused)."""
    monkeypatch.setenv("XDG_CACHE_HOME", CACHE)
    known = catalog.MODELS[MODEL]
    if not llama_cpp_available() or located(known) is None:
        pytest.skip(f"llama-cpp-python and a pulled {MODEL} are needed (gt models pull {MODEL})")
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    from gastown.machine import templates

    gguf = Llama(str(located(known)), vocab_only=True, verbose=False)
    own = Jinja2ChatFormatter(gguf.metadata["tokenizer.chat_template"], eos_token="", bos_token="")
    conversation = [
        {"role": "system", "content": "You are a Polecat.\n\nTools:\n- read_file(path)"},
        {"role": "user", "content": "# Bead gt-1: Add truncate\n\n## Your task\nWrite it."},
        {"role": "assistant", "content": "textkit/wrap.py\n```python\ndef truncate(text):\n    return text\n```"},
        {"role": "user", "content": "The tests ran after that change: 1 of 5 pass."},
    ]
    for messages in (conversation[:2], conversation):
        assert known.template == templates.CHATML
        assert templates.render(known.template, messages) == own(messages=messages).prompt
