"""Founding a town (``gt init``): make or adopt a repository, give it a tasks branch.

Nothing here touches the working tree, the checked-out branch or the index: the first
commit of ``tasks`` is written as objects and a ref, like every other write.
"""

from __future__ import annotations

from pathlib import Path

from gastown.errors import GitFailed, UsageError
from gastown.town import config, git, ids, townfile
from gastown.town.refs import REMOTE, REMOTE_REF, TASKS_REF
from gastown.town.store import GitStore
from gastown.town.town import TASKS_README, Town


def _looks_local(url: str) -> bool:
    return "://" not in url and not (":" in url.split("/", 1)[0] and not url.startswith("/"))


def init(
    directory: str | Path | None,
    remote_url: str | None = None,
    name: str | None = None,
    prefix: str = "gt",
) -> tuple[Town, str]:
    """Make (or adopt) a repository with a tasks branch; returns the town and what happened."""
    if directory is None:
        git_dir = git.discover(Path.cwd())
        target = Path.cwd()
    else:
        target = Path(directory).resolve()
        target.mkdir(parents=True, exist_ok=True)
        is_root = (target / ".git").exists() or (target / "HEAD").is_file()
        git_dir = git.discover(target) if is_root else None
    if git_dir is None:
        git.run_git(["init", "--quiet", str(target)], target)
        git_dir = git.discover(target)
        assert git_dir is not None
    repo = git.Git(git_dir)
    town_name = name or (repo.workdir or repo.git_dir).name.removesuffix(".git") or "town"
    if not ids.is_valid_prefix(prefix):
        raise UsageError(f"--prefix {prefix!r}: use lowercase letters and digits, e.g. gt")

    if remote_url:
        return _init_with_remote(repo, remote_url, town_name, prefix)
    if repo.resolve(TASKS_REF) is not None:
        return Town(repo.git_dir, repo.config("gastown.remote")), "already a town"
    store = GitStore(Town(repo.git_dir, None))
    store.create(_initial_files(town_name, prefix), town_name)
    return Town(repo.git_dir, None), "created"


def _initial_files(name: str, prefix: str) -> dict[str, bytes]:
    return {
        townfile.TOWN_FILE: config.template(name, prefix).encode(),
        "README.md": TASKS_README.encode(),
        "beads/.keep": b"",
        "convoys/.keep": b"",
        "plans/.keep": b"",
    }


def _init_with_remote(repo: git.Git, url: str, name: str, prefix: str) -> tuple[Town, str]:
    existing = repo.config(f"remote.{REMOTE}.url")
    if existing is None:
        if _looks_local(url) and not Path(url).exists():
            git.run_git(["init", "--quiet", "--bare", url], Path.cwd())
        repo.run("remote", "add", REMOTE, url)
    elif existing != url:
        raise UsageError(
            f"this repository's {REMOTE} is {existing}, not {url}",
            f"use --remote {existing}, or change it with `git remote set-url {REMOTE} {url}`",
        )
    repo.run("config", "gastown.remote", REMOTE)
    town = Town(repo.git_dir, REMOTE)
    store = GitStore(town)
    try:
        store.sync()
    except GitFailed as error:
        raise GitFailed(f"cannot reach {url}: {error}", "check the URL and your access") from None
    if store.git.resolve(REMOTE_REF) is not None:
        return town, f"joined the town at {url}"
    if repo.resolve(TASKS_REF) is not None:
        store.publish()
        return town, f"published the existing tasks branch to {url}"
    store.create(_initial_files(name, prefix), name)
    return town, f"created and pushed to {url}"
