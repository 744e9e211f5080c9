"""`make demo`'s Mayor path, end to end: the demo script against scripted models on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_llm import Answer, FakeLLM
from test_convoy_flow import BAD_CODE, Scripted, roster

pytestmark = pytest.mark.slow
DEMO = Path(__file__).resolve().parents[1] / "demo" / "run.sh"


def run_demo(tmp_path, script) -> str:
    """The demo's Mayor path against ``script``'s answers; its stdout (it must exit 0)."""
    with FakeLLM(script) as llm:
        config = tmp_path / "models.toml"
        config.write_text(roster(llm.url))
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "TMPDIR": str(tmp_path)}
        proc = subprocess.run(["bash", str(DEMO), str(config)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert not list(tmp_path.glob("gastown-demo.*"))  # it cleaned up after itself
    return proc.stdout


def test_the_demo_starts_from_gt_mayor_plan_when_a_mayor_is_configured(tmp_path):
    out = run_demo(tmp_path, Scripted())
    assert "The Mayor plans the feature" in out and "3 beads committed" in out
    assert "acceptance tests: tests/test_combo.py" in out  # the plan shows what says the code is done
    assert "merged into convoy/" in out  # the Refinery's tests, then the code, on the convoy's branch
    assert "3 passed" in out and "the convoy onto the rig's main: merged" in out
    assert "polecat: Implement beatscore.combo.multiplier" in out  # git log main of the rig
    assert "done 3" in out  # gt status: tests, code and review all done
    assert "Combo multiplier" in out and "decisions            1" in out


def test_a_failed_bead_is_shown_with_its_reason_and_the_demo_still_ends_cleanly(tmp_path):
    out = run_demo(tmp_path, Scripted({"fake": [BAD_CODE]}))
    assert "(polecat, code): FAILED" in out and "WHY IT FAILED: " in out
    assert "what it wrote on bead/" in out and "return 1" in out  # the failed code is shown, not merged
    assert "The Mayor reconciles" in out  # time was left: one more try, which fails the same way
    assert "main of the rig did NOT move" in out and "NOT DONE: " in out


class NoPlan:
    """A Mayor that answers with prose instead of a plan."""

    def __call__(self, request) -> Answer:
        return Answer(content="I would start by writing some tests.")


def test_a_plan_that_fails_is_reported_and_nothing_else_is_pretended(tmp_path):
    out = run_demo(tmp_path, NoPlan())
    assert "NOT PLANNED: gt mayor plan exited" in out and "main is unchanged" in out
    assert "The refinery takes" not in out
