"""A full disk and a read-only file system under a real town: one line naming the place and
what to do, exit 1, no traceback, nothing changed, and `git fsck` clean.

The faults are real: bubblewrap mounts a small tmpfs (filled up) or binds the town
read-only, and `gt` runs as a process inside it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT, TownHandle

GT = f"PYTHONPATH={REPO_ROOT} {sys.executable} -m gastown"


def inside(mounts: list[str], script: str) -> subprocess.CompletedProcess[str]:
    """``script`` (sh) run with the whole system as it is, plus ``mounts`` (bwrap arguments)."""
    argv = ["bwrap", "--dev-bind", "/", "/", *mounts, "sh", "-c", script]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def one_clean_line(err: str, expected: str) -> None:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[0].startswith(f"gt: {expected}"), err
    assert all(line.startswith(("gt: ", "hint: ")) for line in lines), err


def test_a_full_disk_says_so_in_one_line_and_the_town_stays_consistent(town: TownHandle, tmp_path: Path) -> None:
    town.add("written before the disk filled")
    small = tmp_path / "small"
    small.mkdir()
    copy = small / "town"
    script = f"""
        cp -a {town.path} {copy} || exit 90
        tip=$(git -C {copy} rev-parse refs/heads/tasks)
        dd if=/dev/zero of={small}/fill bs=64k 2>/dev/null
        {GT} --town {copy} bead add --title "written on a full disk" 2>{tmp_path}/err
        echo "exit $?" > {tmp_path}/exit
        rm {small}/fill
        test "$(git -C {copy} rev-parse refs/heads/tasks)" = "$tip" || echo "tip moved" >> {tmp_path}/exit
        git -C {copy} fsck --strict --no-progress >> {tmp_path}/exit 2>&1 || echo "fsck failed" >> {tmp_path}/exit
        {GT} --town {copy} bead add --title "written once there is room" >> {tmp_path}/exit 2>&1
        git -C {copy} log --format=%s refs/heads/tasks >> {tmp_path}/exit
    """
    run = inside(["--size", str(8 << 20), "--tmpfs", str(small)], script)
    assert run.returncode == 0, run.stderr
    report = (tmp_path / "exit").read_text()
    assert report.startswith("exit 1\n"), report
    assert "tip moved" not in report and "fsck failed" not in report, report
    one_clean_line((tmp_path / "err").read_text(), f"no space left on the disk ({copy}")
    assert "hint: free some space" in (tmp_path / "err").read_text()
    assert "written once there is room" in report.split("exit 1\n", 1)[1], report  # the town works again


def test_a_read_only_town_says_so_in_one_line_and_changes_nothing(town: TownHandle, tmp_path: Path) -> None:
    bead_id = town.add("claimable")
    tip = town.tip()
    script = f"""
        {GT} --town {town.path} bead add --title "on a read-only mount"; echo "add $?" >&2
        {GT} --town {town.path} claim --role polecat --agent polecat@h1; echo "claim $?" >&2
    """
    run = inside(["--ro-bind", str(town.path), str(town.path)], script)
    for verb in ("add", "claim"):
        assert f"{verb} 1" in run.stderr, run.stderr
    for part in run.stderr.split("add 1\n"):
        one_clean_line(part.replace("claim 1\n", ""), "the file system is read-only")
    assert town.tip() == tip
    town.fsck()
    assert town.gt("claim", "--role", "polecat", "--agent", "polecat@h1").out.strip().startswith(bead_id)
