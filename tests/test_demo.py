"""`make demo`'s Mayor path, end to end: the demo script against scripted models on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_llm import FakeLLM
from test_convoy_flow import Scripted, roster

pytestmark = pytest.mark.slow
DEMO = Path(__file__).resolve().parents[1] / "demo" / "run.sh"


def test_the_demo_starts_from_gt_mayor_plan_when_a_mayor_is_configured(tmp_path):
    with FakeLLM(Scripted()) as llm:
        config = tmp_path / "models.toml"
        config.write_text(roster(llm.url))
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "TMPDIR": str(tmp_path)}
        proc = subprocess.run(["bash", str(DEMO), str(config)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "The Mayor plans the feature" in out and "3 beads committed" in out
    assert "done 3" in out  # gt status: tests, code and review all done
    assert "Combo multiplier" in out and "decisions            1" in out
    assert not list(tmp_path.glob("gastown-demo.*"))  # it cleaned up after itself
