"""Helpers for tests that run real watcher processes on a real town and rig."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import git

from gastown.town import events, times
from gastown.town.resources import data_dir
from gastown.town.store import GitStore, Update
from gastown.town.town import locate

COMBO_TEST = """from beatscore.combo import multiplier


def test_multiplier_grows_with_the_streak():
    assert [multiplier(s) for s in (0, 9, 10, 24, 25, 49, 50, 99)] == [1, 1, 2, 2, 3, 3, 4, 4]
"""

COMBO_CODE = '''"""Combo multipliers."""


def multiplier(streak: int) -> int:
    """The score multiplier for a streak of non-miss hits."""
    for threshold, value in ((50, 4), (25, 3), (10, 2)):
        if streak >= threshold:
            return value
    return 1
'''


def bead(bead_id: str, **fields: object) -> dict[str, object]:
    """A polecat bead of the example rig as a person writes it: the combo multiplier."""
    stamp = times.iso(time.time())
    return {
        "id": bead_id,
        "title": "Implement the combo multiplier",
        "rig": "example",
        "role": "polecat",
        "description": "beatscore.combo.multiplier as the README says",
        "created_at": stamp,
        "updated_at": stamp,
        **fields,
    }


def make_rig(root: Path, with_combo_test: bool = True) -> Path:
    """The example project as a git repository on main (plus the Refinery's combo test)."""
    path = root / "beatscore"
    shutil.copytree(data_dir("rigs") / "example" / "project", path)
    if with_combo_test:
        (path / "tests" / "test_combo.py").write_text(COMBO_TEST)
    git(root, "init", "--quiet", "-b", "main", str(path))
    git(path, "add", "-A")
    git(path, "commit", "--quiet", "-m", "beatscore with the combo tests")
    return path


def set_config(town_path: Path, extra: str) -> None:
    """Append TOML to the town's town.toml with a config commit."""
    store = GitStore(locate(town_path))
    current = (store.snapshot().read("town.toml") or b"").decode()
    event = events.Event(events.CONFIG, (), "test", "roster")
    store.update(lambda snap: Update(event, files={"town.toml": (current + "\n" + extra).encode()}))


def roster_toml(url: str, role: str = "polecat", name: str = "fake", **extra: object) -> str:
    settings = {
        "endpoint": url,
        "model": "fake",
        "context": 16384,
        "retries": 2,
        "timeout_s": 10,
        **extra,
    }
    lines = [f"[models.{name}]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    lines += ["", f"[roles.{role}]", f'model = "{name}"', ""]
    return "\n".join(lines)


def start_watcher(
    town_path: Path, role: str, agent: str, *args: str, env: dict[str, str] | None = None, quiet: bool = False
) -> subprocess.Popen[str]:
    """A real ``gt watch`` process (``quiet``: its output is dropped, for long runs)."""
    sink = subprocess.DEVNULL if quiet else subprocess.PIPE
    argv = [sys.executable, "-m", "gastown", "--town", str(town_path), "watch", "--role", role, "--agent", agent]
    return subprocess.Popen(
        [*argv, *args],
        stdout=sink,
        stderr=sink,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )


def stop_watchers(*procs: subprocess.Popen[str] | None) -> None:
    """SIGTERM the live ones; one still busy 30 s later (a held model call) is killed, so a
    failing test shows its own assertion, not a leaked process's timeout."""
    live = [proc for proc in procs if proc is not None and proc.poll() is None]
    for proc in live:
        proc.send_signal(signal.SIGTERM)
    for proc in live:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def commit_beads(clone_dir: Path, *beads: dict[str, object]) -> None:
    """A person's commit of new bead files on an up-to-date tasks checkout."""
    git(clone_dir, "pull", "--quiet", "--rebase", "origin", "tasks")
    for bead in beads:
        (clone_dir / "beads" / f"{bead['id']}.json").write_text(json.dumps(bead, indent=2) + "\n")
    git(clone_dir, "add", "-A")
    git(clone_dir, "commit", "--quiet", "-m", f"add {', '.join(str(b['id']) for b in beads)}")


def push_bead(clone_dir: Path, bead: dict[str, object]) -> None:
    commit_beads(clone_dir, bead)
    git(clone_dir, "push", "--quiet", "origin", "tasks")
