"""Factories for real towns, real clones, real git and real gt processes."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gastown.cli import main as cli_main
from gastown.town import founding
from gastown.town import town as townmod
from gastown.town.queue import NewBead, Queue
from gastown.town.store import GitStore

REPO_ROOT = Path(__file__).resolve().parents[1]
# pytest as the tests' rigs run it: without this environment's own plugins (hypothesis,
# anyio), which no rig's tests use and which cost 2 s of every run
PYTEST = (sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:anyio")


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test sees the same git identity and no user or system git config."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for key, value in {
        "GIT_AUTHOR_NAME": "Pat Person",
        "GIT_AUTHOR_EMAIL": "pat@example.invalid",
        "GIT_COMMITTER_NAME": "Pat Person",
        "GIT_COMMITTER_EMAIL": "pat@example.invalid",
    }.items():
        monkeypatch.setenv(key, value)
    (home / ".gitconfig").write_text('[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n')
    for key in ("GT_TOWN", "GT_AGENT", "GIT_DIR", "GIT_WORK_TREE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture(autouse=True)
def _no_model_server_outlives_its_test(tmp_path: Path) -> Iterator[None]:
    """A watcher warms up its role's model: stop every server a test's towns started."""
    yield
    from gastown.machine.runner import Runner

    for folder in tmp_path.glob("**/gastown/servers"):
        runner = Runner(folder.parent)
        for server in runner.servers():
            runner.stop(server.name)


def git(cwd: Path | str, *args: str, check: bool = True, input: str | None = None) -> str:
    """Run real git; return stdout."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, input=input, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def gt_inprocess(*args: str, cwd: Path | None = None) -> Result:
    """``gt ARGS`` in this process (fast); the same code path as the console script."""
    out, err = io.StringIO(), io.StringIO()
    old = Path.cwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli_main(list(args))
    finally:
        os.chdir(old)
    return Result(code, out.getvalue(), err.getvalue())


def gt_process(
    *args: str,
    cwd: Path | None = None,
    input: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> Result:
    """``gt ARGS`` as a real process, the way a person or a hook runs it."""
    proc = subprocess.run(
        [sys.executable, "-m", "gastown", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        input=input,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@dataclass
class TownHandle:
    """A real town on disk, with helpers to drive it."""

    path: Path
    git_dir: Path

    def store(self) -> GitStore:
        return GitStore(townmod.locate(self.path))

    def queue(self) -> Queue:
        return Queue(self.store())

    def add(self, title: str = "a bead", **fields: Any) -> str:
        return self.queue().add(NewBead(title=title, **fields)).id

    def gt(self, *args: str) -> Result:
        return gt_inprocess("--town", str(self.path), *args)

    def gt_process(self, *args: str, **kwargs: Any) -> Result:
        return gt_process("--town", str(self.path), *args, **kwargs)

    def git(self, *args: str, check: bool = True) -> str:
        return git(self.path, *args, check=check)

    def tip(self) -> str:
        return self.git("rev-parse", "refs/heads/tasks").strip()

    def fsck(self) -> None:
        """``git fsck --strict`` passes. A ``git gc --auto`` that a killed process's git left
        running in the background packs loose objects while fsck reads them ("unable to mmap"
        a loose object now in a pack): fsck waits for it, and reads again after one."""
        for _ in range(3):
            _wait_for_gc(self.git_dir)
            proc = subprocess.run(
                ["git", "fsck", "--strict", "--no-progress"],
                cwd=self.git_dir,
                capture_output=True,
                text=True,
            )
            if proc.returncode == 0 or "unable to mmap" not in proc.stderr:
                break
        assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture
def make_town(tmp_path: Path) -> Callable[..., TownHandle]:
    """``make_town(name, remote=None, hooks=True)``: a real town (a fresh git repository)."""
    counter = iter(range(1000))

    def make(name: str | None = None, remote: str | None = None, hooks: bool = True, prefix: str = "gt") -> TownHandle:
        folder = tmp_path / (name or f"town{next(counter)}")
        town, _ = founding.init(folder, remote, name=folder.name, prefix=prefix)
        if hooks:
            from gastown.town.hooks import CLIENT_HOOKS, SERVER_HOOKS, install

            install(town.git_dir, SERVER_HOOKS + CLIENT_HOOKS)
        return TownHandle(folder, town.git_dir)

    return make


@pytest.fixture
def town(make_town: Callable[..., TownHandle]) -> TownHandle:
    return make_town("town")


@pytest.fixture
def bare_remote(tmp_path: Path) -> Callable[..., Path]:
    """``bare_remote(name)``: a bare repository with gastown's server hooks installed.

    Its automatic ``git gc`` after a push runs before the push returns, not detached: a
    ``git fsck`` once the pushes are done must not meet a repack moving objects into a pack."""

    def make(name: str = "remote.git", hooks: bool = True) -> Path:
        path = tmp_path / name
        git(tmp_path, "init", "--quiet", "--bare", str(path))
        git(path, "config", "gc.autoDetach", "false")
        if hooks:
            from gastown.town.hooks import SERVER_HOOKS, install

            install(path, SERVER_HOOKS)
        return path

    return make


def _wait_for_gc(git_dir: Path) -> None:
    """Until no ``git gc`` runs in ``git_dir`` (it holds gc.pid while it does)."""
    wait_for(lambda: not (git_dir / "gc.pid").exists(), 60, f"a git gc still running in {git_dir}")


def wait_for(condition: Callable[[], Any], timeout: float, describe: Callable[[], str] | str) -> Any:
    """Poll ``condition`` until truthy; on timeout fail with the current state."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            state = describe() if callable(describe) else describe
            raise AssertionError(f"timed out after {timeout}s waiting; state: {state}")
        time.sleep(0.02)


@pytest.fixture
def clone(tmp_path: Path) -> Callable[..., Path]:
    """``clone(source, name)``: a person's clone with the tasks branch checked out."""

    def make(source: Path | str, name: str) -> Path:
        target = tmp_path / name
        git(tmp_path, "clone", "--quiet", "--branch", "tasks", str(source), str(target))
        return target

    return make


def write_bead_file(clone_dir: Path, bead: dict[str, Any], path: str | None = None) -> Path:
    target = clone_dir / (path or f"beads/{bead['id']}.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(bead, indent=2) + "\n")
    return target


@contextlib.contextmanager
def cwd(path: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)
