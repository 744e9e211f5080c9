"""A full disk and a read-only file system under a real town: one line naming the place and
what to do, exit 1, no traceback, nothing changed, and `git fsck` clean; a watcher whose
disk fills while it works a bead hands the bead back with that reason once there is room.

The faults are real: bubblewrap mounts a small tmpfs (filled up) or binds the town
read-only, and `gt` runs as a process inside it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import REPO_ROOT, TownHandle, wait_for
from fake_llm import Answer, FakeLLM, script, tool
from watchers import COMBO_CODE, make_rig, roster_toml, set_config

from gastown.agents import rig as rigmod
from gastown.town.history import read_log
from gastown.town.town import locate

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


def test_a_watcher_whose_disk_fills_mid_bead_says_so_in_one_line_and_hands_the_bead_back(
    make_town: Callable[..., TownHandle], tmp_path: Path
) -> None:
    small, staged, after = tmp_path / "small", tmp_path / "staged", tmp_path / "after"
    town = make_town("small/town")
    (tmp_path / "rig").mkdir()
    rigmod.add(town.store(), "example", str(make_rig(tmp_path / "rig")), template="example")
    bead_id = town.add("combo", rig="example")
    # Only the town is on the small disk: the rig and the bead's worktree are elsewhere, so
    # removing the worktree frees nothing there and the disk stays full until the test frees it.
    worktrees, elsewhere = locate(town.path).state_dir / "worktrees", tmp_path / "worktrees"
    elsewhere.mkdir()
    asked, full, err = tmp_path / "asked", tmp_path / "full", tmp_path / "err"
    padded = COMBO_CODE + "# a long file: its trace line needs a new page of the full disk\n" * 200
    afterwards = script([tool("write_file", path="beatscore/combo.py", content=COMBO_CODE)])

    def respond(request: dict[str, Any]) -> Answer:
        if asked.exists():
            return afterwards(request)
        asked.touch()  # the bead is being worked: the disk fills before the model answers
        wait_for(full.exists, 60, "the disk was never filled")
        return tool("write_file", path="beatscore/combo.py", content=padded)

    with FakeLLM(respond) as llm:
        set_config(town.path, roster_toml(llm.url))
        small.rename(staged)  # the town moves onto the small disk inside bubblewrap
        small.mkdir()
        said = f"$(grep -v 'the heartbeat' {err} | grep -c 'free some space')"
        run = inside(
            ["--size", str(8 << 20), "--tmpfs", str(small), "--bind", str(elsewhere), str(worktrees)],
            f"""
            end=$(($(date +%s) + 60))
            until_said() {{ until [ -e {asked} ] && [ {said} -ge "$1" ]; do
                kill -0 $watcher 2>/dev/null || {{ echo "it ended before saying it $1 times"; return; }}
                [ $(date +%s) -lt $end ] || {{ echo "it never said it $1 times"; return; }}; sleep 0.05
            done; }}
            cp -a {staged}/. {small}/ || exit 90
            {GT} --town {town.path} watch --role polecat --agent p1 --max-beads 1 2>{err} &
            watcher=$!
            until_said 0
            dd if=/dev/zero of={small}/fill bs=64k 2>/dev/null
            touch {full}
            # said once for the bead, then once per try to hand it back (the first try comes at
            # once: the claim's own commit woke the watcher); between later tries it backs off
            until_said 3; said_3=$(date +%s%N)
            until_said 4; echo "backed off $(( ($(date +%s%N) - said_3) / 1000000 )) ms"
            rm {small}/fill
            while kill -0 $watcher 2>/dev/null && [ $(date +%s) -lt $end ]; do sleep 0.05; done
            kill $watcher 2>/dev/null && echo "it never ended"
            wait $watcher; echo "exit $?"
            git -C {town.path} fsck --strict --no-progress >/dev/null || echo "fsck failed"
            cp -a {town.path} {after}
            """,
        )
    report, said_lines = run.stdout, err.read_text()
    # One line says what happened, where, and what to do; every later line (the tries to hand
    # the bead back) says the same; no traceback; the tries back off. The heartbeat's own line,
    # once, comes whenever its timer next fires: before the bead's line or after it.
    assert "Traceback" not in said_lines, said_lines
    lines = said_lines.splitlines()
    beats = [line for line in lines if line.startswith("could not write the heartbeat: ")]
    assert len(beats) <= 1, said_lines
    lines = [line for line in lines if line not in beats]
    assert lines[0].startswith(f"{bead_id}: no space left on the disk ({town.git_dir}/gastown)"), said_lines
    assert all("no space left on the disk (" in line and "free some space" in line for line in lines + beats), (
        said_lines
    )
    assert "exit 0" in report, report + said_lines + run.stderr
    assert "fsck failed" not in report, report
    backoff = int(report.split("backed off ", 1)[1].split()[0])
    assert backoff >= 900, f"it retried {backoff} ms after the last try: it spins\n{said_lines}"
    # The bead was handed back with the reason, then claimed again once there was room, and done.
    done = TownHandle(after, after / ".git")
    history = read_log(done.store().git, "refs/heads/tasks", bead=bead_id, reverse=True)
    assert [entry.event for entry in history] == ["add", "claim", "release", "claim", "complete"], history
    assert dict(history[2].trailers)["Reason"].startswith("no space left on the disk ("), history[2]
    assert done.queue().show(bead_id).status == "done"


def test_git_in_a_worktree_on_a_full_disk_is_the_disks_trouble_not_the_works(tmp_path: Path) -> None:
    # A bead's own git (the worktree's commit, a rebase) on a disk that filled: a StorageError
    # naming the place, which a watcher waits out and hands back, not a failed bead.
    small = tmp_path / "small"
    small.mkdir()
    repo = small / "rig"
    elsewhere = tmp_path / "elsewhere"  # a rig on a disk with room, its worktree on the full one
    probe = (
        "from pathlib import Path\n"
        "from gastown.town.git import run_git\n"
        "from gastown.town.riggit import RigGit\n"
        "from gastown.errors import StorageError\n"
        "for name, step in (\n"
        f"    ('add', lambda: run_git(['add', '-A'], {str(repo)!r})),\n"  # a command that must succeed
        f"    ('worktree', lambda: RigGit({str(repo)!r}).worktree_add_new_branch(Path({str(small / 'wt')!r}), 'b', 'HEAD')),\n"
        f"    ('elsewhere', lambda: RigGit({str(elsewhere)!r}).worktree_add_new_branch(Path({str(small / 'wt2')!r}), 'c', 'HEAD')),\n"
        "):\n"  # and ones whose failure RigGit reads itself: the disk named is the one written
        "    try:\n"
        "        step()\n"
        "        print(name, 'no error')\n"
        "    except StorageError as error:\n"
        "        print(name, 'StorageError:', error.message, '|', error.hint)\n"
        "    except Exception as error:\n"
        "        print(name, type(error).__name__, error)\n"
    )
    (tmp_path / "probe.py").write_text(probe)
    commit = "-c user.name=t -c user.email=t@t commit -qm first"
    script = f"""
        for rig in {repo} {elsewhere}; do
            git init --quiet $rig && head -c 100000 /dev/urandom > $rig/first.bin || exit 90
            git -C $rig add -A && git -C $rig {commit} || exit 91
        done
        head -c 200000 /dev/urandom > {repo}/data.bin || exit 92
        dd if=/dev/zero of={small}/fill bs=64k 2>/dev/null
        PYTHONPATH={REPO_ROOT} {sys.executable} {tmp_path}/probe.py > {tmp_path}/out 2>&1
    """
    run = inside(["--size", str(4 << 20), "--tmpfs", str(small)], script)
    assert run.returncode == 0, run.stderr
    lines = (tmp_path / "out").read_text().splitlines()
    for (name, disk), line in zip((("add", repo), ("worktree", small), ("elsewhere", small)), lines, strict=True):
        assert line.startswith(f"{name} StorageError: no space left on the disk ({disk})"), lines
        assert "free some space" in line, lines


def test_a_town_gastown_may_not_write_says_permission_denied_in_one_line(town: TownHandle, tmp_path: Path) -> None:
    """A permission problem is real even for root: bubblewrap drops every capability, so the
    owner's own write bit decides, and the town's objects are made read-only for everyone."""
    tip = town.tip()
    objects = town.git_dir / "objects"
    script = f"""
        chmod -R a-w {objects}
        {GT} --town {town.path} bead add --title "not allowed here"; echo "add $?" >&2
        chmod -R u+w {objects}
    """
    run = inside(["--cap-drop", "ALL"], script)
    assert "add 1" in run.stderr, run.stderr
    one_clean_line(run.stderr.replace("add 1\n", ""), "permission denied (")
    assert "hint: check who owns it and its mode" in run.stderr
    assert town.tip() == tip
    town.fsck()


def test_gt_up_on_a_full_disk_says_so_in_one_line(make_town: Callable[..., TownHandle], tmp_path: Path) -> None:
    """A model server's log cannot be opened on a full disk: `gt up` says where, and exits 6."""
    small, staged = tmp_path / "small", tmp_path / "staged"
    town = make_town("small/town")
    fake = Path(__file__).with_name("fake_llm.py")
    set_config(
        town.path, f'[models.fake]\nlaunch = ["{sys.executable}", "{fake}", "--port", "{{port}}"]\ndevice = "cpu"\n'
    )
    small.rename(staged)
    small.mkdir()
    script = f"""
        cp -a {staged}/. {small}/ || exit 90
        dd if=/dev/zero of={small}/fill bs=64k 2>/dev/null
        {GT} --town {town.path} up fake; echo "up $?" >&2
        {GT} --town {town.path} down >/dev/null 2>&1
    """
    run = inside(["--size", str(8 << 20), "--tmpfs", str(small)], script)
    assert "up 6" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert "fake: not started: no space left on the disk (" in run.stderr, run.stderr
