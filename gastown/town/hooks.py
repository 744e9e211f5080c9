"""The git hooks: what they check, and how they are installed.

The files in ``hooks/`` are tiny shell shims that run ``gt hook NAME``; installing
writes them into a repository with ``gt`` replaced by this interpreter's absolute path,
so a hook works under ``git daemon`` or an ssh login whose PATH lacks gastown.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gastown.errors import ConfigError, GastownError, UsageError
from gastown.town import quickcheck, townfile
from gastown.town.refs import REMOTE_REF, TASKS_REF, ZERO

if TYPE_CHECKING:  # the full check's parts, imported when a push needs them (a hook starts lean)
    from gastown.town.git import Git
    from gastown.town.store import GitStore, Snapshot
    from gastown.town.townfile import Limits

SERVER_HOOKS = ("pre-receive", "post-receive")
WORKFLOW = ".github/workflows/gastown-tasks.yml"  # the check for hosts without server hooks
CLIENT_HOOKS = ("pre-commit", "pre-push")
MARKER = "# gastown hook:"


@dataclass(frozen=True)
class RefUpdate:
    old: str
    new: str
    ref: str


def parse_updates(lines: Iterable[str]) -> list[RefUpdate]:
    """``<old> <new> <ref>`` lines as git feeds them to pre-/post-receive."""
    updates = []
    for line in lines:
        parts = line.split()
        if len(parts) == 3:
            updates.append(RefUpdate(*parts))
    return updates


def pre_receive(git_dir: Path, updates: Sequence[RefUpdate], now: float | None = None) -> list[str]:
    """Problems with a push; empty means accept. Only the tasks branch is checked."""
    now = time.time() if now is None else now
    problems: list[str] = []
    for update in updates:
        if update.ref.startswith("refs/replace/"):
            problems.append(
                f"{update.ref}: replacement objects are refused: they would change what git shows of the tasks history"
            )
            continue
        if update.ref != TASKS_REF:
            continue
        if update.new == ZERO:
            problems.append("deleting the tasks branch is refused: it is the town's whole history")
            continue
        if quickcheck.clean(git_dir, update.old, update.new, now):
            continue  # only existing beads rewritten, each legally: the common push, checked cheaply
        problems += _check_range(git_dir, update.old, update.new, now, ancestry=True)
    return problems


def _check_range(git_dir: Path, old: str, new: str, now: float, ancestry: bool) -> list[str]:
    from gastown.town import admission
    from gastown.town.store import GitStore
    from gastown.town.town import Town

    store = GitStore(Town(git_dir, None))
    git = store.git
    base = None if old == ZERO else old
    if base is not None and ancestry and not git.is_ancestor(base, new):
        return [
            "a non-fast-forward push to tasks is refused: the history is append-only "
            "(fetch, rebase your commits onto the new tip, push again)"
        ]
    snap = _state(store, base)
    commits = git.commits_between(base, new)
    return admission.check_commits(git, snap.index, commits, _limits(snap), now).problems


def since(store: GitStore, base: str | None, tip: str) -> tuple[int, list[str]]:
    """What a pre-receive hook would have refused among the commits after ``base`` up to
    ``tip`` (None: all of them): (commits, problems). For a town whose host runs no server
    hooks (``gt validate --since``, the CI workflow). Each commit is judged at its commit
    time, but never later than now: a date set in the future cannot make a live claim look
    expired. A ``base`` the tip does not grow from (a force-push) is said, and the commits
    after the point where the two histories part are checked."""
    from gastown.town import admission

    git = store.git
    problems: list[str] = []
    if base is not None and not git.is_ancestor(base, tip):
        fork = git.run("merge-base", base, tip, check=False).stdout.decode().strip() or None
        problems.append(
            f"{base[:10]} is not an ancestor of tasks: the history was rewritten (a force-push); "
            f"checking from {fork[:10] if fork else 'the first commit'}, where the two part"
        )
        base = fork
    snap = _state(store, base)
    index = snap.index.copy()  # moved along commit by commit; the store's own stays as it is
    limits = _limits(snap)
    commits = git.commits_between(base, tip)
    now = time.time()
    for commit in commits:
        when = min(float(commit.commit_time), now)
        problems += admission.check_commits(git, index, [commit], limits, when).problems
    return len(commits), problems


def _state(store: GitStore, commit: str | None) -> Snapshot:
    """The tasks branch at ``commit`` (None: before its first commit, empty)."""
    from gastown.town.index import Index
    from gastown.town.store import Snapshot

    return store.snapshot(commit) if commit else Snapshot(store, None, Index())


def _limits(snap: Snapshot) -> Limits:
    """The ``[limits]`` in force at ``snap``, read alone as the quick path reads them; the
    defaults when there are none or they cannot be read. A town.toml broken (one that landed
    where no hook ran, or a rule added since) does not stop every push, and a push that mends
    it can land: the new town.toml a push carries is judged whole on its own."""
    raw = snap.read(townfile.TOWN_FILE)
    try:
        return townfile.parse(raw.decode(errors="replace")) if raw is not None else townfile.Limits()
    except ConfigError:
        return townfile.Limits()


def post_receive(git_dir: Path, updates: Sequence[RefUpdate]) -> list[str]:
    """A line per tasks update for the pusher: how many commits of each event landed."""
    from gastown.town import events
    from gastown.town.git import Git

    lines = []
    git = Git(git_dir)
    for update in updates:
        if update.ref != TASKS_REF or update.new == ZERO:
            continue
        counts: dict[str, int] = {}
        base = None if update.old == ZERO else update.old
        for commit in git.commits_between(base, update.new):
            kind = events.first(events.parse_trailers(commit.message), "Event") or events.MANUAL
            counts[kind] = counts.get(kind, 0) + 1
        summary = ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))
        lines.append(f"gastown: tasks is now {update.new[:10]} ({summary})")
    nudge(git_dir)
    return lines


def nudge(git_dir: Path) -> None:
    """Touch the nudge file watchers on this machine listen to."""
    path = git_dir / "gastown" / "nudge"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{time.time()}\n")
    except OSError:
        pass  # a read-only server still accepted the push; watchers fall back to polling


def pre_commit(git_dir: Path, now: float | None = None) -> list[str]:
    """Check what is staged on a checked-out tasks branch, as the server would."""
    from gastown.town import admission
    from gastown.town.store import GitStore
    from gastown.town.town import Town

    now = time.time() if now is None else now
    store = GitStore(Town(git_dir, None))
    git = store.git
    staged = git.run("write-tree").stdout.decode().strip()
    snap = _state(store, git.resolve("HEAD"))
    return admission.check_trees(git, snap.index, snap.tree, staged, _limits(snap), now)


def pre_push(git_dir: Path, lines: Iterable[str], now: float | None = None) -> list[str]:
    """Check commits about to be pushed to a remote's tasks branch."""
    from gastown.town.git import Git

    now = time.time() if now is None else now
    git = Git(git_dir)
    problems = []
    for line in lines:
        parts = line.split()
        if len(parts) != 4 or parts[2] != TASKS_REF or parts[1] == ZERO:
            continue
        local, remote_sha = parts[1], parts[3]
        # What the remote already has: its sha when we know it, else our view of it.
        base = remote_sha if remote_sha != ZERO and git.exists(remote_sha) else git.resolve(REMOTE_REF)
        problems += _check_range(git_dir, base or ZERO, local, now, ancestry=False)
    return problems


def run_hook(name: str, git_dir: Path, stdin: Iterable[str]) -> tuple[int, list[str]]:
    """Run hook ``name`` as git would; returns the exit code and the lines to print."""
    if name == "post-receive":
        return 0, post_receive(git_dir, parse_updates(stdin))
    if name == "pre-receive":
        problems = pre_receive(git_dir, parse_updates(stdin))
    elif name == "pre-commit":
        problems = pre_commit(git_dir)
    elif name == "pre-push":
        problems = pre_push(git_dir, stdin)
    else:
        return 2, [f"gastown: no hook named {name!r} (known: {', '.join(SERVER_HOOKS + CLIENT_HOOKS)})"]
    if not problems:
        return 0, []
    lines = [f"gastown: {name} refused {len(problems)} problem(s) on the tasks branch:"]
    lines += [f"  {problem}" for problem in problems]
    if name in ("pre-receive", "pre-push"):
        lines.append(
            "hint: every commit pushed is checked, not only the last: mend the commit named above "
            "(git rebase -i origin/tasks), or fold them into one (git reset --soft origin/tasks; git commit)"
        )
    return 1, lines


def main(argv: Sequence[str]) -> int:
    """``python -m gastown hook NAME``: the entry the installed shims call."""
    if not argv:
        print("usage: gt hook NAME", file=sys.stderr)
        return 2
    git_dir = _repository()
    if git_dir is None:
        print("gastown: a hook must run inside a git repository", file=sys.stderr)
        return 2
    try:
        code, lines = run_hook(argv[0], git_dir, sys.stdin)
    except GastownError as error:
        code, lines = 1, [f"gastown: {argv[0]}: {error.message}"]
    for line in lines:
        print(line, file=sys.stderr if code else sys.stdout)
    return code


def _repository() -> Path | None:
    """The repository a hook runs for: git names it in ``GIT_DIR`` (a server's hook starts
    in it), else the one around the working directory."""
    named = os.environ.get("GIT_DIR")
    if named:
        return Path(named).resolve()
    from gastown.town.git import discover

    return discover(Path.cwd())


def workflow(install: str) -> bytes:
    """The GitHub Actions workflow that runs ``gt validate --since`` on each push to tasks,
    installing gastown with ``pip install INSTALL``; UsageError for a spec it cannot quote."""
    import re

    from gastown.town import admission

    if not re.fullmatch(admission.INSTALL_SPEC, install):
        raise UsageError(
            f"--install {install!r}: not a pip requirement this workflow can carry",
            "give a name, a version (gastown==0.3), a git URL or a wheel URL, without quotes or spaces",
        )
    return admission.workflow_template().replace("{install}", install).encode()


def hooks_dir(git: Git) -> Path:
    path = git.run("rev-parse", "--git-path", "hooks").stdout.decode().strip()
    resolved = Path(path)
    if not resolved.is_absolute():
        resolved = (git.workdir or git.git_dir) / resolved
    return resolved


def install(git_dir: Path, names: Sequence[str], force: bool = False) -> list[Path]:
    """Write the named hooks into the repository; refuse to overwrite someone else's."""
    import shlex

    from gastown.town.git import Git
    from gastown.town.resources import data_dir

    git = Git(git_dir)
    target = hooks_dir(git)
    target.mkdir(parents=True, exist_ok=True)
    command = f"{shlex.quote(sys.executable)} -m gastown"
    written = []
    planned = []
    for name in names:
        path = target / name
        if path.exists() and MARKER not in path.read_text(errors="replace") and not force:
            raise UsageError(
                f"{path} exists and is not a gastown hook",
                "move it aside (or call it from the gastown hook), or pass --force to replace it",
            )
        shim = (data_dir("hooks") / name).read_text()
        planned.append((path, shim.replace("exec gt hook", f"exec {command} hook")))
    for path, text in planned:
        path.write_text(text)
        path.chmod(0o755)
        written.append(path)
    return written
