"""A town: the git repository whose ``tasks`` branch holds the beads.

A town may be a repository of its own or live inside a project repository that someone
is working in: nothing here touches a working tree, an index or HEAD. With a remote
(``gastown.remote`` in the git config, set by ``gt init --remote`` or found when a
town was cloned) the remote's ``tasks`` branch is the single source of truth and every
write is a ``git push``.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from gastown.errors import NotFound
from gastown.town import git
from gastown.town.refs import REMOTE, REMOTE_REF, TASKS_REF

STATE_DIR = "gastown"

TASKS_README = """\
# tasks: this town's beads

This branch is written by gastown (`gt`) and by people with plain git. Each bead is one
JSON file under `beads/` (the tool shards new ones as `beads/<a>/<b>/<id>.json`; a
person may push `beads/<id>.json`). Convoys are in `convoys/`, plans in `plans/`, the
configuration in `town.toml`. Every commit message carries trailers (`Bead:`, `Event:`,
`Agent:` ...) that make `git log` the event log. Pushes are checked by the town's
pre-receive hook: a rejected push changes nothing.
"""


@dataclass(frozen=True)
class Town:
    """Where a town's repository and its local state are."""

    git_dir: Path
    remote: str | None

    @property
    def state_dir(self) -> Path:
        """Local, disposable state: caches, locks, traces, logs (never committed)."""
        return self.git_dir / STATE_DIR

    def open_git(self) -> git.Git:
        return git.Git(self.git_dir)

    def remote_folder(self, repo: git.Git | None = None) -> Path | None:
        """The remote's git directory when it is on this machine (a path, or a file:// URL;
        a relative path read from where gastown runs git, as git reads it): what it holds can
        be read, and watched, without starting git. None for a remote elsewhere, or none.
        ``repo``: this town's repository, when the caller has it open."""
        if self.remote is None:
            return None
        repo = repo or self.open_git()
        url = repo.config(f"remote.{self.remote}.url") or ""
        if not url or ("://" in url and not url.startswith("file://")):
            return None
        local = Path(url.removeprefix("file://"))
        if not local.is_absolute():
            local = (repo.workdir or repo.git_dir) / local
        return next((folder for folder in (local, local / ".git") if git.is_git_dir(folder)), None)


def agent_host() -> str:
    return socket.gethostname().split(".")[0] or "localhost"


def locate(path: str | Path | None = None) -> Town:
    """The town at ``path``, ``$GT_TOWN`` or the repository enclosing the current directory."""
    start = Path(path or os.environ.get("GT_TOWN") or Path.cwd())
    if not start.exists():
        raise NotFound(f"no such directory: {start}", "pass --town DIR or set GT_TOWN")
    git_dir = git.discover(start)
    if git_dir is None:
        raise NotFound(
            f"{start} is not inside a git repository",
            "run `gt init` to make a town, or pass --town DIR / set GT_TOWN",
        )
    remote = _configured_remote(git_dir)
    if remote is None and _ref(git_dir, REMOTE_REF) is not None:
        remote = REMOTE  # a plain `git clone` of a town: its origin is the source of truth
    if _ref(git_dir, TASKS_REF) is None and (remote is None or _ref(git_dir, REMOTE_REF) is None):
        where = git_dir.parent if git_dir.name == ".git" else git_dir
        raise NotFound(
            f"{where} is a git repository but not a town (no tasks branch)",
            f"cd into a town (or pass --town DIR / set GT_TOWN), or run `gt init {where}` to make this one a town",
        )
    return Town(git_dir, remote)


def _ref(git_dir: Path, ref: str) -> str | None:
    try:
        return git.read_ref(git_dir, ref)
    except LookupError:
        return git.Git(git_dir).resolve(ref)


def _configured_remote(git_dir: Path) -> str | None:
    """``gastown.remote`` from the git config, cached beside it (keyed by the config's stat)."""
    config_file = git_dir / "config"
    try:
        stat = config_file.stat()
        stamp = [stat.st_mtime_ns, stat.st_size]
    except FileNotFoundError:
        stamp = None
    cache = git_dir / STATE_DIR / "town.json"
    try:
        saved = json.loads(cache.read_text())
        if saved.get("stamp") == stamp:
            remote = saved.get("remote")
            return remote if isinstance(remote, str) else None
    except (OSError, ValueError, AttributeError):
        pass
    remote = git.Git(git_dir).config("gastown.remote")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"stamp": stamp, "remote": remote}))
    except OSError:
        pass  # a read-only repository: answer without the cache
    return remote
