"""The sandbox a model's commands run in: real bubblewrap, real processes, real signals.

Each test runs a real command through ``run_command`` the way the loop, the Refinery's
gates and ``gt eval``'s judge do, and checks from outside what it could reach.
"""

from __future__ import annotations

import fcntl
import http.server
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from gastown.agents import cgroups
from gastown.agents.commands import CHILDREN, run_command
from gastown.agents.jail import Jail, Policy, SandboxUnavailable

ENV = {"PATH": os.environ.get("PATH", os.defpath), "GT_TEST_KEY": "sekrit-value-1234", "HOME": "/nonexistent"}


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    path = tmp_path / "worktree"
    path.mkdir()
    return path


def test_a_command_writes_only_inside_its_worktree(tmp_path, worktree):
    outside = tmp_path / "outside.txt"
    beside_python = Path(sys.executable).parent / f"gt-escape-{os.getpid()}"
    code = f"""
        import pathlib
        for target in ({str(outside)!r}, {str(beside_python)!r}, "inside.txt"):
            try:
                pathlib.Path(target).write_text("x")
                print("wrote", target)
            except OSError as error:
                print("refused", target, error.strerror)
    """
    run = run_command(python(code), worktree, 30, ENV, Jail())
    assert run.exit_code == 0, run.output
    assert (worktree / "inside.txt").read_text() == "x"
    assert not outside.exists() and not beside_python.exists(), run.output
    assert f"refused {beside_python} Read-only file system" in run.output


@pytest.fixture
def outside_tmp():
    """A folder outside /tmp (which the sandbox hides whole): what it shows of the rest is real."""
    folder = Path(tempfile.mkdtemp(prefix="gt-jail-test-", dir="/var/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_rigs_hooks_cannot_be_written_from_a_command(outside_tmp, worktree):
    hooks = outside_tmp / "rig" / ".git" / "hooks"  # a rig beside the town, not under a hidden folder
    hooks.mkdir(parents=True)
    code = f"""
        import pathlib
        try:
            pathlib.Path({str(hooks / "post-commit")!r}).write_text("#!/bin/sh\\necho owned\\n")
        except OSError as error:
            print("refused", error.strerror)
    """
    run = run_command(python(code), worktree, 30, ENV, Jail())
    assert "refused Read-only file system" in run.output and not (hooks / "post-commit").exists(), run.output


def test_the_worktrees_link_to_its_repository_cannot_be_rewritten(worktree):
    (worktree / ".git").write_text("gitdir: /somewhere/the/bead/started\n")
    code = """
        try:
            open(".git", "w").write("gitdir: ./evil")
        except OSError as error:
            print("refused", error.strerror)
    """
    run = run_command(python(code), worktree, 30, ENV, Jail())
    assert "refused Read-only file system" in run.output, run.output
    assert (worktree / ".git").read_text() == "gitdir: /somewhere/the/bead/started\n"


def test_the_callers_environment_and_processes_are_out_of_sight(worktree):
    code = f"""
        import os
        print(sorted(os.environ))
        print("pid", os.getpid())
        try:
            print(open("/proc/{os.getpid()}/environ", "rb").read())
        except OSError as error:
            print("no caller:", error.strerror)
    """
    run = run_command(python(code), worktree, 30, ENV, Jail())
    assert run.exit_code == 0, run.output
    assert "sekrit-value-1234" not in run.output and "GT_TEST_KEY" not in run.output
    assert "no caller: No such file or directory" in run.output
    assert "pid 2\n" in run.output or "pid 1\n" in run.output  # its own PID namespace


def test_the_home_folder_and_the_sessions_sockets_are_hidden(outside_tmp, worktree):
    home = outside_tmp / "home"  # where keys and configs live
    (home / "bin").mkdir(parents=True)
    (home / ".netrc").write_text("machine example.invalid password hunter2\n")
    tool = home / "bin" / "mytool"  # a program in ~/bin: its folder's parent is the home itself
    tool.write_text('#!/bin/sh\ncat "$1"\n')
    tool.chmod(0o755)
    env = {**ENV, "HOME": str(home), "PATH": f"{home / 'bin'}:{ENV['PATH']}"}
    run = run_command(["cat", str(home / ".netrc")], worktree, 30, env, Jail())
    assert run.exit_code != 0 and "hunter2" not in run.output, run.output
    run = run_command([str(tool), str(home / ".netrc")], worktree, 30, env, Jail())
    assert "hunter2" not in run.output, run.output  # its program's folder is shown, never the home around it
    run = run_command(["ls", "-A", "/run"], worktree, 30, env, Jail())
    assert run.exit_code == 0 and run.output.strip() == "", run.output  # no D-Bus, agent or docker socket


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"hello from the host")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def host_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_no_network_unless_the_rig_allows_it(worktree, host_server):
    code = f"""
        import urllib.request
        try:
            print(urllib.request.urlopen({host_server!r}, timeout=5).read().decode())
        except OSError as error:
            print("no network:", error)
    """
    closed = run_command(python(code), worktree, 30, ENV, Jail())
    assert "no network" in closed.output and "hello from the host" not in closed.output, closed.output
    opened = run_command(python(code), worktree, 30, ENV, Jail(policy=Policy(network=True)))
    assert "hello from the host" in opened.output, opened.output


HOLD = """
import fcntl, pathlib, sys, time
lock = open(sys.argv[1], "w")
fcntl.flock(lock, fcntl.LOCK_EX)
pathlib.Path(sys.argv[1] + ".held").write_text("1")
time.sleep(60)
"""


def released_within(lock: Path, seconds: float) -> bool:
    """Whether the process holding ``lock`` is gone (its lock free) within ``seconds``."""
    deadline = time.monotonic() + seconds
    with open(lock, "a") as handle:
        while time.monotonic() < deadline:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                time.sleep(0.05)
    return False


def test_a_process_started_in_its_own_session_dies_with_the_command(worktree):
    lock = worktree / "grandchild.lock"
    code = f"""
        import pathlib, subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", {HOLD!r}, {str(lock)!r}], start_new_session=True)
        while not pathlib.Path({str(lock)!r} + ".held").exists():
            time.sleep(0.01)
        print("started")
    """
    began = time.monotonic()
    run = run_command(python(code), worktree, 30, ENV, Jail())
    assert time.monotonic() - began < 10, "the grandchild held the output open"
    assert run.exit_code == 0 and "started" in run.output, run.output
    assert released_within(lock, 5), "the grandchild outlived the command"


def test_a_command_that_closes_its_output_and_runs_on_is_stopped_at_its_timeout(worktree):
    code = """
        import os, time
        print("closing", flush=True)
        os.close(1)
        os.close(2)
        time.sleep(60)
    """
    began = time.monotonic()
    run = run_command(python(code), worktree, 2, ENV, Jail())
    assert run.timed_out and time.monotonic() - began < 10, run


def test_a_killed_caller_takes_its_command_with_it(tmp_path, worktree):
    lock = worktree / "command.lock"
    started = Path(f"{lock}.held")
    command = [sys.executable, "-c", HOLD, str(lock)]
    caller = tmp_path / "caller.py"
    caller.write_text(
        "import sys\n"
        "from pathlib import Path\n"
        "from gastown.agents.commands import run_command\n"
        "from gastown.agents.jail import Jail\n"
        f"run_command({command!r}, Path({str(worktree)!r}), 60, {ENV!r}, Jail())\n"
    )
    proc = subprocess.Popen([sys.executable, str(caller)], env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    deadline = time.monotonic() + 30
    while not started.exists():  # barrier: the command is running
        assert proc.poll() is None and time.monotonic() < deadline, "the command never started"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # as the OOM killer would
    proc.wait()
    assert released_within(lock, 5), "the command outlived its caller"


def test_output_past_the_limit_stops_the_command(worktree):
    code = """
        import sys, time
        for _ in range(100):
            sys.stdout.write("x" * 1024 * 1024)
            sys.stdout.flush()
        time.sleep(30)
    """
    began = time.monotonic()
    run = run_command(python(code), worktree, 60, ENV, Jail(policy=Policy(output_mb=1)))
    assert time.monotonic() - began < 20
    assert "[stopped: the output passed 1 MiB]" in run.output
    assert len(run.output) < 2 * 1024 * 1024


def test_memory_past_the_limit_is_refused(worktree):
    code = """
        try:
            block = bytearray(1024 * 1024 * 1024)
            print("allocated")
        except MemoryError:
            print("refused")
    """
    run = run_command(python(code), worktree, 60, ENV, Jail(policy=Policy(memory_mb=256)))
    assert "refused" in run.output, run.output


def test_a_command_keeps_no_capability_even_when_the_watcher_runs_as_root(worktree):
    """Run by root, bubblewrap would leave the command root's capabilities (it could mount,
    read any file, pass the caps): the jail drops them all."""
    code = """
        for line in open("/proc/self/status"):
            if line.startswith(("CapEff", "CapPrm", "CapBnd")):
                print(line.split()[0], int(line.split()[1], 16))
    """
    run = run_command(python(code), worktree, 60, ENV, Jail())
    assert run.exit_code == 0, run.output
    assert run.output.split() == ["CapPrm:", "0", "CapEff:", "0", "CapBnd:", "0"], run.output


def test_without_bubblewrap_commands_are_refused_with_what_to_do(worktree):
    jail = Jail(bwrap="/nonexistent/bwrap")
    run = run_command(["true"], worktree, 30, ENV, jail)
    assert run.exit_code == 126
    assert "bubblewrap (/nonexistent/bwrap) is not installed" in run.output
    assert "apt-get install bubblewrap" in run.output and 'mode = "none"' in run.output
    with pytest.raises(SandboxUnavailable):
        jail.check()
    assert jail.describe().startswith("bwrap: model commands are refused")


def test_the_opted_in_unconfined_mode_still_starts_from_an_empty_environment(worktree):
    code = """
        import os
        print(sorted(os.environ))
        print("home", os.environ["HOME"])
    """
    run = run_command(python(code), worktree, 30, ENV, Jail(mode="none"))
    assert run.exit_code == 0, run.output
    assert "GT_TEST_KEY" not in run.output and "sekrit" not in run.output
    home = run.output.split("home ", 1)[1].strip()
    assert home != "/nonexistent" and not Path(home).exists()  # a private home, removed after


def test_unconfined_a_process_holding_the_output_does_not_hang_the_caller(worktree):
    code = """
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
        print("grandchild", child.pid)
    """
    began = time.monotonic()
    run = run_command(python(code), worktree, 60, ENV, Jail(mode="none", groups=False))
    assert time.monotonic() - began < 10, "the caller waited for the grandchild"
    assert "kept the output open" in run.output
    os.kill(int(run.output.split("grandchild ", 1)[1].split()[0]), signal.SIGKILL)


# ---- control groups: one cap for the whole command, and nothing left running -----------

needs_groups = pytest.mark.skipif(
    not cgroups.find().hierarchies, reason=f"no control group can be made here: {cgroups.find().why}"
)


def start_many(count: int) -> list[str]:
    return python(f"""
        import subprocess
        started = []
        try:
            for _ in range({count}):
                started.append(subprocess.Popen(["sleep", "30"]))
        except OSError as error:
            print("refused:", error.strerror)
        print("started", len(started))
        for child in started:
            child.kill()
    """)


def started(run) -> int:
    return int(run.output.split("started ", 1)[1].split()[0])


@needs_groups
@pytest.mark.parametrize("mode", ["bwrap", "none"])
def test_the_process_cap_holds_for_the_whole_command_even_as_root(worktree, mode):
    """prlimit's process cap counts a user's processes and never binds root; the command's
    control group counts its own, whoever runs it."""
    run = run_command(start_many(40), worktree, 60, ENV, Jail(mode=mode, policy=Policy(processes=16)))
    assert started(run) < 16 and "refused: Resource temporarily unavailable" in run.output, run.output


@needs_groups
def test_the_memory_cap_holds_for_the_whole_command(worktree):
    """Three processes of 150 MB each are within a 256 MB cap one by one (prlimit's), not
    together: the control group ends one of them."""
    hold = f"""
        import pathlib, sys, time
        block = bytearray(b"x") * (150 * 1024 * 1024)
        pathlib.Path(sys.argv[1]).write_text("1")
        deadline = time.monotonic() + 20
        while len(list(pathlib.Path({str(worktree)!r}).glob("held-*"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        print("held together" if time.monotonic() < deadline else "alone")
    """
    code = f"""
        import subprocess, sys
        children = [
            subprocess.Popen([sys.executable, "-c", {textwrap.dedent(hold)!r}, f"held-{{n}}"]) for n in range(3)
        ]
        print("exits", [child.wait() for child in children])
    """
    run = run_command(python(code), worktree, 60, ENV, Jail(policy=Policy(memory_mb=256)))
    assert "held together" not in run.output and "-9" in run.output, run.output


@needs_groups
def test_unconfined_what_a_command_leaves_running_is_ended_with_it(worktree):
    lock = worktree / "grandchild.lock"
    code = f"""
        import pathlib, subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", {HOLD!r}, {str(lock)!r}], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not pathlib.Path({str(lock)!r} + ".held").exists():
            time.sleep(0.01)
        print("started")
    """
    run = run_command(python(code), worktree, 30, ENV, Jail(mode="none"))
    assert run.exit_code == 0 and "started" in run.output, run.output
    assert released_within(lock, 5), "the grandchild outlived the command"


@needs_groups
def test_unconfined_a_command_left_by_a_killed_caller_is_ended_by_the_next(tmp_path, worktree):
    """Without bubblewrap nothing ties the command to its watcher; the group it ran in is
    swept by the next watcher's first command."""
    lock = worktree / "command.lock"

    def caller(command: list[str]) -> subprocess.Popen[bytes]:
        script = tmp_path / f"caller-{len(list(tmp_path.glob('caller-*')))}.py"
        script.write_text(
            "from pathlib import Path\n"
            "from gastown.agents.commands import run_command\n"
            "from gastown.agents.jail import Jail\n"
            f"run_command({command!r}, Path({str(worktree)!r}), 60, {ENV!r}, Jail(mode='none'))\n"
        )
        return subprocess.Popen([sys.executable, str(script)], env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})

    first = caller([sys.executable, "-c", HOLD, str(lock)])
    deadline = time.monotonic() + 30
    while not Path(f"{lock}.held").exists():  # barrier: the command is running
        assert first.poll() is None and time.monotonic() < deadline, "the command never started"
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    with open(lock, "a") as handle:  # held: the command outlived its caller (nothing ties them)
        with pytest.raises(BlockingIOError):
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert caller(["true"]).wait(timeout=60) == 0
    assert released_within(lock, 5), "the next watcher's command left the old one running"
    assert not [p for h in cgroups.find().hierarchies for p in h.folder.glob(f"gastown-*-{first.pid}-*")]


@needs_groups
def test_a_watcher_stopping_at_once_ends_what_left_the_commands_process_group(worktree):
    """The second SIGTERM ends a watcher without waiting for its command: ``kill_all`` kills
    the process group, and the control group catches what started a session of its own."""
    lock = worktree / "grandchild.lock"
    code = f"""
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", {HOLD!r}, {str(lock)!r}], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(60)
    """
    runner = threading.Thread(target=run_command, args=(python(code), worktree, 60, ENV, Jail(mode="none")))
    runner.start()
    deadline = time.monotonic() + 30
    while not Path(f"{lock}.held").exists():  # barrier: the grandchild holds its lock
        assert time.monotonic() < deadline, "the grandchild never started"
        time.sleep(0.05)
    CHILDREN.kill_all()
    assert released_within(lock, 5), "the process in its own session outlived kill_all"
    runner.join(timeout=30)


def fake_tree(root: Path, folders: dict[str, str]) -> None:
    """Control group folders under ``root``, each with its cgroup.subtree_control words."""
    for folder, enabled in folders.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "cgroup.subtree_control").write_text(enabled)
        (root / folder / "cgroup.procs").write_text("")


def mountinfo(*mounts: tuple[str, str, str]) -> str:
    return "".join(
        f"{30 + n} 1 0:{40 + n} / {point} rw - {kind} cgroup rw,{opts}\n"
        for n, (kind, point, opts) in enumerate(mounts)
    )


def test_cgroup_v2_groups_go_where_a_group_already_delegates_pids_and_nowhere_else(tmp_path):
    unified = tmp_path / "v2"
    fake_tree(unified, {"": "cpu pids memory", "user.slice": "pids memory", "user.slice/watcher": ""})
    place = cgroups.locate("0::/user.slice/watcher\n", mountinfo(("cgroup2", str(unified), "")))
    assert place.hierarchies == (cgroups.Hierarchy(unified / "user.slice", ("pids", "memory"), 2),)  # the parent
    fake_tree(unified, {"user.slice": "memory"})  # nothing enables pids for this group's children
    place = cgroups.locate("0::/user.slice/watcher\n", mountinfo(("cgroup2", str(unified), "")))
    assert not place.hierarchies and "cgroup v2" in place.why and "Delegate=yes" in place.why, place
    assert not (unified / "user.slice" / "watcher" / "gastown").exists()  # found, never written


def test_cgroup_v1_groups_go_under_the_processes_own_group_of_each_controller(tmp_path):
    pids, memory = tmp_path / "pids", tmp_path / "memory"
    fake_tree(pids, {"": ""})
    fake_tree(memory, {"": "", "box": ""})
    place = cgroups.locate(
        "8:pids:/\n4:memory:/box\n0::/\n",
        mountinfo(("cgroup", str(pids), "pids"), ("cgroup", str(memory), "memory")),
    )
    assert place.hierarchies == (
        cgroups.Hierarchy(pids, ("pids",), 1),
        cgroups.Hierarchy(memory / "box", ("memory",), 1),
    ), place


def test_gt_status_says_which_limits_hold(worktree):
    line = Jail().describe()
    if cgroups.find().hierarchies:  # the group a command runs in is the one gt status names
        run = run_command(["cat", "/proc/self/cgroup"], worktree, 30, ENV, Jail(mode="none"))
        assert "/gastown-" in run.output, run.output
        assert "limits: a control group per command (cgroup v" in line and "pids" in line, line
    else:
        assert "limits: prlimit's caps per process only (no control group:" in line
    assert Jail(groups=False).describe().endswith("limits: prlimit's caps per process only")
