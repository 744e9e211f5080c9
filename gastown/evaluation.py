"""``gt eval``: how well each model does real work, judged by running the work's own tests.

A suite is a folder: ``suite.toml`` describes a project (the rig: its language, test
command, test paths, docs) and beads like a user's; ``project/`` holds the project as it
starts; ``overlays/`` holds files laid over a checkout when judging. For each model,
``evaluate`` makes a throwaway town and rig, writes the roster so every role under test
uses that model, starts the model's server if it is local (through the runner and the
governor, as ``gt up`` does; stopped after), and works the beads one at a time: a bead
is added to the tasks branch and worked by a real ``gt watch --once`` process under a
wall-clock budget. Then the eval judges the outcome itself, never from the worker's
report:

* a bead with acceptance tests (a Polecat's): they run with the rig's test command on
  ``bead/<id>`` in a scratch checkout, the original test files put back first;
* a Refinery test bead: the tests it wrote must fail on the suite's stub implementation
  and pass on its reference implementation;
* a Crew question: the answer must hold the expected facts and cite one of the sources;
* a Mayor plan: ``gt mayor plan --dry-run`` must give a plan that ``mayor.check_plan``
  accepts and that has tests beads for the code to wait on.

One watcher process per bead, not one for the suite: the budget is enforced by ending a
process (its signal handling hands the bead back; a hung model call cannot hold it), a
crash stays inside its bead, every bead starts from the rig's main branch, and the
process is the one users run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from gastown import config as configmod
from gastown import cost as costmod
from gastown import crew, events, founding, mayor, schema
from gastown import rig as rigmod
from gastown import roster as rostermod
from gastown.bead import CLAIMED, CLOSED, DONE, ISSUE_TYPES, OPEN, Bead
from gastown.errors import GastownError, NotFound, UsageError
from gastown.git import clean_env, run_git
from gastown.governor import governor_for
from gastown.queue import NewBead, Queue
from gastown.resources import data_dir
from gastown.rig import Rig
from gastown.runner import Runner
from gastown.store import GitStore, Update
from gastown.tools import Run, count_tests, run_command
from gastown.town import Town
from gastown.worktree import branch_for

log = logging.getLogger(__name__)

SUITE_FILE = "suite.toml"
DEFAULT_SUITE = "starter"
AGENT = "eval"
GRACE_SECONDS = 3.0  # after each signal to a watcher past its budget
ROLES = ("polecat", "refinery", "crew", "mayor")
RIG_KEYS = {
    "name",
    "description",
    "language",
    "test_command",
    "test_timeout",
    "test_paths",
    "lint_command",
    "coverage_command",
    "coverage_threshold",
    "allowed_commands",
    "shell_timeout",
    "docs",
}
BEAD_KEYS = {
    "key",
    "title",
    "description",
    "role",
    "issue_type",
    "kind",
    "acceptance_tests",
    "acceptance_criteria",
    "timeout",
    "judge",
}
JUDGE_KEYS = {"solution", "stub", "reference", "tests", "facts", "sources"}
# Files that decide how tests are collected: a worker's change to them is undone too.
GUARDED_NAMES = {"conftest.py", "pytest.ini"}
# What crew.answer says when no model answered (the retrieved excerpts stand in).
EXCERPTS_HEAD = "From the rig's files:"
IDENTITY = {
    "GIT_AUTHOR_NAME": "gastown eval",
    "GIT_AUTHOR_EMAIL": "eval@localhost",
    "GIT_COMMITTER_NAME": "gastown eval",
    "GIT_COMMITTER_EMAIL": "eval@localhost",
}

Progress = Callable[[str], None]


# ---- the suite -----------------------------------------------------------------------


@dataclass(frozen=True)
class SuiteBead:
    """One bead of a suite and what judges it (``tests``, ``tests-written``, ``answer``, ``plan``)."""

    key: str
    title: str
    description: str
    role: str
    issue_type: str
    kind: str
    judge: str
    acceptance_tests: tuple[str, ...] = ()
    acceptance_criteria: str = ""
    timeout: float | None = None
    solution: Path | None = None
    stub: Path | None = None
    reference: Path | None = None
    tests: tuple[str, ...] = ()  # the files a Refinery bead is asked to write
    facts: tuple[tuple[str, ...], ...] = ()  # each: any one of these strings
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Suite:
    """A suite as read from its folder."""

    name: str
    path: Path
    rig: Mapping[str, Any]
    beads: tuple[SuiteBead, ...]
    bead_timeout: float = 600.0
    description: str = ""

    @property
    def project(self) -> Path:
        return self.path / "project"

    @property
    def rig_name(self) -> str:
        return str(self.rig["name"])


def default_suite() -> Path:
    """The suite shipped with gastown."""
    try:
        return data_dir("evals") / DEFAULT_SUITE
    except FileNotFoundError:
        raise NotFound("this installation has no evals/ folder", "pass --suite DIR") from None


def load_suite(path: str | Path | None = None) -> Suite:
    """The suite in ``path`` (default: the starter suite); UsageError names what is wrong."""
    folder = Path(path).expanduser().resolve() if path else default_suite()
    source = folder / SUITE_FILE
    if not folder.is_dir():
        raise NotFound(f"no suite at {folder}: not a folder", "pass --suite DIR, a folder with suite.toml and project/")
    if not source.is_file():
        raise NotFound(f"no suite at {folder}: it has no {SUITE_FILE}", "a suite is suite.toml plus project/")
    if not (folder / "project").is_dir():
        raise NotFound(f"suite {folder} has no project/ folder", "project/ holds the rig's files as the suite starts")
    data = configmod.parse_toml(source.read_text(), str(source))
    head = _table(data, "suite", str(source))
    rig = dict(_table(data, "rig", str(source)))
    where = f"{source}: [rig]"
    unknown = sorted(set(rig) - RIG_KEYS)
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r}", f"known keys: {', '.join(sorted(RIG_KEYS))}")
    if not isinstance(rig.get("name"), str) or not isinstance(rig.get("test_command"), list):
        raise UsageError(f"{where}: needs name and test_command (a list of strings)")
    found = schema.problems("rig", {**rig, "path": "."})
    if found:
        raise UsageError(f"{where}: {found[0]}")
    timeout = head.get("bead_timeout", 600)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise UsageError(f"{source}: suite.bead_timeout: a number of seconds, got {timeout!r}")
    items = data.get("beads")
    if not isinstance(items, list) or not items:
        raise UsageError(f"{source}: no [[beads]]", "describe each bead in a [[beads]] table")
    beads = [_bead(item, n, folder, source) for n, item in enumerate(items)]
    keys = [b.key for b in beads]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise UsageError(f"{source}: bead key {twice[0]!r} is used twice")
    return Suite(
        name=str(head.get("name") or folder.name),
        path=folder,
        rig=rig,
        beads=tuple(beads),
        bead_timeout=float(timeout),
        description=str(head.get("description", "")),
    )


def _table(data: Mapping[str, Any], name: str, source: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, Mapping):
        raise UsageError(f"{source}: [{name}] must be a table")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise UsageError(f"{where}: a list of strings")
    return tuple(value)


def _inside(relative: str, where: str) -> str:
    parts = PurePosixPath(relative).parts
    if relative.startswith(("/", "~")) or ".." in parts:
        raise UsageError(f"{where}: {relative!r} must be a path inside the project")
    return relative


def _bead(item: Any, n: int, folder: Path, source: Path) -> SuiteBead:
    where = f"{source}: beads[{n}]"
    if not isinstance(item, Mapping):
        raise UsageError(f"{where}: must be a table")
    unknown = sorted(set(item) - BEAD_KEYS)
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r}", f"known keys: {', '.join(sorted(BEAD_KEYS))}")
    key, title = item.get("key"), item.get("title")
    if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", key):
        raise UsageError(f"{where}.key: a short name of letters, digits, '-', '_' or '.', got {key!r}")
    where = f"{source}: beads.{key}"
    if not isinstance(title, str) or not title.strip():
        raise UsageError(f"{where}.title: required")
    role = item.get("role", "polecat")
    issue_type = item.get("issue_type", "question" if role == "crew" else "task")
    if not isinstance(role, str) or not re.fullmatch(r"[a-z][a-z0-9_-]*", role):
        raise UsageError(f"{where}.role: a role name, got {role!r}")
    if issue_type not in ISSUE_TYPES:
        raise UsageError(f"{where}.issue_type: one of {', '.join(ISSUE_TYPES)}, got {issue_type!r}")
    judge = item.get("judge", {})
    if not isinstance(judge, Mapping):
        raise UsageError(f"{where}.judge: must be a table")
    unknown = sorted(set(judge) - JUDGE_KEYS)
    if unknown:
        raise UsageError(f"{where}.judge: unknown key {unknown[0]!r}", f"known keys: {', '.join(sorted(JUDGE_KEYS))}")
    tests = tuple(_inside(t, f"{where}.acceptance_tests") for t in _strings(item.get("acceptance_tests"), where))
    timeout = item.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise UsageError(f"{where}.timeout: a number of seconds, got {timeout!r}")

    def overlay(name: str, required: bool = False) -> Path | None:
        value = judge.get(name)
        if value is None:
            if required:
                raise UsageError(f"{where}.judge.{name}: required for a {role} bead (a folder of the suite)")
            return None
        path = (folder / str(value)).resolve()
        if not path.is_dir() or folder not in path.parents:
            raise UsageError(f"{where}.judge.{name}: {value!r} is not a folder inside the suite")
        return path

    if role == "mayor":
        kind = "plan"
    elif role == "crew" or issue_type == "question":
        kind = "answer"
    elif role == "refinery":
        kind = "tests-written"
    else:
        kind = "tests"
        if not tests:
            raise UsageError(f"{where}.acceptance_tests: required for a {role} bead (test paths or pytest ids)")
    for test in tests:
        if not (folder / "project" / test.split("::")[0]).is_file():
            raise UsageError(f"{where}.acceptance_tests: {test.split('::')[0]} is not in the suite's project/")
    facts = tuple((f,) if isinstance(f, str) else _strings(f, f"{where}.judge.facts") for f in judge.get("facts", []))
    if kind == "answer" and not facts:
        raise UsageError(f"{where}.judge.facts: required for a question (what the answer must say)")
    return SuiteBead(
        key=key,
        title=title.strip(),
        description=str(item.get("description", "")).strip(),
        role=role,
        issue_type=str(issue_type),
        kind=str(item.get("kind") or kind),
        judge=kind,
        acceptance_tests=tests,
        acceptance_criteria=str(item.get("acceptance_criteria", "")).strip(),
        timeout=float(timeout) if timeout is not None else None,
        solution=overlay("solution"),
        stub=overlay("stub", kind == "tests-written"),
        reference=overlay("reference", kind == "tests-written"),
        tests=tuple(_inside(t, f"{where}.judge.tests") for t in _strings(judge.get("tests"), f"{where}.judge.tests")),
        facts=facts,
        sources=_strings(judge.get("sources"), f"{where}.judge.sources"),
    )


def select(suite: Suite, role: str | None = None, keys: Sequence[str] = ()) -> list[SuiteBead]:
    """The beads to run: those of ``role``, those named by ``keys`` (in suite order)."""
    known = [b.key for b in suite.beads]
    missing = [k for k in keys if k not in known]
    if missing:
        raise UsageError(f"suite {suite.name} has no bead {missing[0]!r}", f"its beads: {', '.join(known)}")
    chosen = [b for b in suite.beads if (not keys or b.key in keys) and (role is None or b.role == role)]
    if not chosen:
        roles = sorted({b.role for b in suite.beads})
        raise UsageError(f"suite {suite.name} has no such beads to run", f"its roles: {', '.join(roles)}")
    return chosen


# ---- models and the town's configuration -----------------------------------------------


def load_config(path: str | Path | None) -> configmod.TownConfig:
    """The models (and [machine], [cost]) of ``--config FILE``; an empty config without one."""
    if path is None:
        return configmod.TownConfig()
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise UsageError(f"--config {path}: {error.strerror or error}") from None
    return configmod.parse(text, str(path))


def check_models(names: Sequence[str], config: configmod.TownConfig) -> rostermod.Roster:
    """The roster the models come from; UsageError for a name it does not know."""
    if not names:
        raise UsageError("name the models to evaluate: --models a,b")
    roster = rostermod.load(config.models, {})
    for name in names:
        if name not in roster.models:
            raise UsageError(
                f"unknown model {name!r} (known: {', '.join(sorted(roster.models))})",
                "use a known model's name (`gt models` lists them) or define it in [models] of --config FILE",
            )
    twice = sorted({n for n in names if list(names).count(n) > 1})
    if twice:
        raise UsageError(f"--models names {twice[0]!r} twice")
    return roster


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise UsageError(f"--config: cannot carry a {type(value).__name__} value into the eval's town")


def town_toml(base: str, config: configmod.TownConfig, model: str | None, roles: Sequence[str]) -> str:
    """The throwaway town's town.toml: its own head, the config's models, every role on ``model``."""
    parts = [base.rstrip() + "\n"]
    tables: list[tuple[str, Mapping[str, Any]]] = [("machine", config.machine), ("cost", config.cost)]
    tables += [(f"models.{_toml_key(name)}", table) for name, table in config.models.items()]
    for header, table in tables:
        if table:
            lines = [f"[{header}]"] + [f"{_toml_key(str(k))} = {_toml_value(v)}" for k, v in table.items()]
            parts.append("\n".join(lines) + "\n")
    if model is not None:
        for role in roles:
            parts.append(f"[roles.{_toml_key(role)}]\nmodel = {_toml_value(model)}\n")
    return "\n".join(parts)


# ---- the throwaway town and rig --------------------------------------------------------


@dataclass(frozen=True)
class Workspace:
    """One model's throwaway town, with the suite's project as its rig."""

    root: Path
    town: Town
    store: GitStore
    rig: Rig
    base: str  # the rig's main when the eval started: the original files

    @property
    def town_dir(self) -> Path:
        return self.root / "town"

    @property
    def logs(self) -> Path:
        return self.root / "logs"


def _git(cwd: Path, *args: str) -> str:
    return run_git(["-c", "commit.gpgsign=false", *args], cwd, env=IDENTITY).stdout.decode(errors="replace")


def prepare(
    suite: Suite, root: Path, config: configmod.TownConfig, model: str | None, roles: Sequence[str]
) -> Workspace:
    """A town at ``root/town`` whose roster gives ``roles`` to ``model``, and the suite's rig."""
    rig_dir = root / suite.rig_name
    shutil.copytree(suite.project, rig_dir, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))
    _git(root, "init", "--quiet", "-b", "main", str(rig_dir))
    _git(rig_dir, "add", "--all")
    _git(rig_dir, "commit", "--quiet", "--no-verify", "-m", f"{suite.name}: the project as the suite starts")
    base = _git(rig_dir, "rev-parse", "HEAD").strip()
    town, _ = founding.init(root / "town", name=f"eval-{suite.name}"[:64], prefix="ev")
    store = GitStore(town)
    current = (store.snapshot().read(configmod.TOWN_FILE) or b"").decode()
    text = town_toml(current, config, model, roles)
    parsed = configmod.parse(text, "the eval's town.toml")
    rostermod.load(parsed.models, parsed.roles)  # a bad roster fails here, before any bead
    event = events.Event(events.CONFIG, (), AGENT, f"roster: every role on {model or 'nothing'}")
    store.update(lambda _snap: Update(event, files={configmod.TOWN_FILE: text.encode()}))
    added = rigmod.add(store, suite.rig_name, str(rig_dir), list(suite.rig["test_command"]), "main", agent=AGENT)
    definition = {**added, **{k: v for k, v in suite.rig.items() if k not in ("name", "test_command")}}
    found = schema.problems("rig", definition)
    if found:
        raise UsageError(f"{suite.path / SUITE_FILE}: [rig]: {found[0]}")
    rig_event = events.Event(events.CONFIG, (), AGENT, f"rig {suite.rig_name} as the suite describes it")
    rig_file = f"{rigmod.RIGS_DIR}/{suite.rig_name}.toml"
    store.update(lambda _snap: Update(rig_event, files={rig_file: rigmod.to_toml(definition).encode()}))
    (root / "logs").mkdir(exist_ok=True)
    return Workspace(root, town, store, rigmod.load(store, suite.rig_name), base)


# ---- processes under a budget ----------------------------------------------------------


def supervise(
    argv: Sequence[str], budget: float, log_path: Path, out: Path | None = None, grace: float = GRACE_SECONDS
) -> tuple[int | None, bool, float]:
    """Run ``argv`` for at most ``budget`` seconds: (exit code, timed out, wall seconds)."""
    started = time.monotonic()
    with ExitStack() as files:
        sink = files.enter_context(open(log_path, "ab"))
        stdout = files.enter_context(open(out, "wb")) if out is not None else sink
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=stdout, stderr=sink, start_new_session=True
        )
        timed_out = False
        try:
            proc.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop(proc, grace)
        except BaseException:  # interrupted: the child is in its own session and must not outlive us
            _stop(proc, 1.0)
            raise
    return proc.returncode, timed_out, time.monotonic() - started


def _stop(proc: subprocess.Popen[bytes], grace: float) -> None:
    # The first TERM lets a watcher hand its bead back at its next step; the second ends
    # it at once (a model call that hangs holds the first); KILL is for anything left.
    for sig in (signal.SIGTERM, signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.wait()


def _log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    # gastown's own lines start at the margin; quoted server logs are indented under them
    kept = [line.strip() for line in text.splitlines() if line.strip() and not line[:1].isspace()]
    return " | ".join(kept[-lines:])[-400:]


# ---- judging ---------------------------------------------------------------------------


@contextmanager
def checkout(rig_path: Path, ref: str, scratch: Path) -> Iterator[Path]:
    """A detached scratch worktree of ``ref``, removed afterwards."""
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.parent.mkdir(parents=True, exist_ok=True)
    run_git(["worktree", "add", "--quiet", "--detach", str(scratch), ref], rig_path)
    try:
        yield scratch
    finally:
        run_git(["worktree", "remove", "--force", str(scratch)], rig_path, check=False)
        shutil.rmtree(scratch, ignore_errors=True)
        run_git(["worktree", "prune"], rig_path, check=False)


def _changed(tree: Path, base: str) -> list[str]:
    out = run_git(["diff", "--name-only", "--no-renames", "-z", base, "HEAD"], tree).stdout.decode(errors="replace")
    return [p for p in out.split("\0") if p]


def restore(tree: Path, base: str, rig: Rig, tests: Sequence[str]) -> list[str]:
    """Put back the test files the branch changed (as of ``base``); the paths undone."""
    files = {t.split("::")[0] for t in tests}
    guarded = [
        p
        for p in _changed(tree, base)
        if rig.is_test_path(p) or p in files or PurePosixPath(p).name in GUARDED_NAMES
    ]
    if not guarded:
        return []
    listed = run_git(["ls-tree", "-r", "-z", "--name-only", base, "--", *guarded], tree).stdout.decode()
    original = [p for p in listed.split("\0") if p]
    if original:
        run_git(["checkout", base, "--", *original], tree)
    for path in set(guarded) - set(original):
        (tree / path).unlink(missing_ok=True)  # a file the worker added among the tests
    return sorted(guarded)


def run_tests(rig: Rig, tree: Path, args: Sequence[str]) -> Run:
    """The rig's test command on ``args`` in ``tree``."""
    env = clean_env({"PYTHONDONTWRITEBYTECODE": "1"})
    return run_command([*rig.test_command, *args], tree, rig.test_timeout, env)


def judged(run: Run) -> tuple[bool, str]:
    """Whether a test run passed (exit 0 and something passed), and a line saying how."""
    counts = count_tests(run.output)
    said = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
    if run.timed_out:
        return False, "the tests timed out"
    if run.exit_code == 0:
        if counts["passed"] or not said:  # no counts at all: a runner that is not pytest
            return True, said or "exit 0"
        return False, f"no test passed ({said})"
    failures = [line.strip() for line in run.output.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    errors = [line.strip() for line in run.output.splitlines() if line.startswith("E   ")]
    detail = "; ".join([*failures[:2], *errors[:1]]) or _last_line(run.output)
    return False, f"{said or 'no test counts'} (exit {run.exit_code}): {detail[:400]}"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _has_ref(rig: Rig, ref: str) -> bool:
    return run_git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], rig.path, check=False).returncode == 0


def verify_tests(rig: Rig, base: str, branch: str, tests: Sequence[str], scratch: Path) -> tuple[bool, str]:
    """A Polecat's work: the acceptance tests on ``branch``, the original test files restored."""
    if not _has_ref(rig, branch):
        return False, f"no branch {branch}: the worker never started on the bead"
    with checkout(rig.path, branch, scratch) as tree:
        untouched = run_git(["rev-parse", "HEAD"], tree).stdout.decode().strip() == base
        undone = restore(tree, base, rig, tests)
        ok, said = judged(run_tests(rig, tree, tests))
    notes = []
    if untouched:
        notes.append("the branch has no commits")
    if undone:
        notes.append(f"its changes to {', '.join(undone)} were undone first")
    why = f"acceptance tests {'passed' if ok else 'failed'}: {said}"
    return ok, why + (f" ({'; '.join(notes)})" if notes else "")


def lay_over(overlay: Path, tree: Path) -> None:
    """Copy every file under ``overlay`` onto ``tree`` at the same relative path."""
    for path in sorted(overlay.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            target = tree / path.relative_to(overlay)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def verify_written_tests(
    rig: Rig, base: str, branch: str, stub: Path, reference: Path, expected: Sequence[str], scratch: Path
) -> tuple[bool, str]:
    """A Refinery's tests: they must fail on the stub and pass on the reference implementation."""
    if not _has_ref(rig, branch):
        return False, f"no branch {branch}: the worker never started on the bead"
    with checkout(rig.path, branch, scratch) as tree:
        changed = [p for p in _changed(tree, base) if (tree / p).is_file()]
        written = [p for p in expected if (tree / p).is_file()] or [
            p for p in changed if rig.is_test_path(p) and PurePosixPath(p).name not in {*GUARDED_NAMES, "__init__.py"}
        ]
        if not written:
            wanted = ", ".join(expected) or ", ".join(rig.test_paths)
            return False, f"it wrote no test files ({wanted})"
        results = []
        for overlay in (stub, reference):
            run_git(["reset", "--hard", "--quiet"], tree)
            run_git(["clean", "-fdq"], tree)
            lay_over(overlay, tree)
            results.append(judged(run_tests(rig, tree, written)))
    (stub_ok, stub_said), (ref_ok, ref_said) = results
    files = ", ".join(written)
    if not ref_ok:
        return False, f"{files} fail on the reference implementation: {ref_said}"
    if stub_ok:
        return False, f"{files} pass on the stub too ({stub_said}): they miss what the stub gets wrong"
    return True, f"{files} fail on the stub and pass on the reference ({ref_said})"


def judge_answer(summary: str, facts: Sequence[Sequence[str]], sources: Sequence[str]) -> tuple[bool, str]:
    """A Crew answer: every fact (any of its forms) in the model's text, and a path cited."""
    text, _, cited = summary.partition("\n\nSources: ")
    if text.startswith(EXCERPTS_HEAD):
        return False, "no model answered: the Crew fell back to quoting excerpts"
    if crew.NOT_FOUND[:40] in text:
        return False, "the Crew said the answer is not in the rig's files"
    lowered = text.lower()
    missing = [" or ".join(forms) for forms in facts if not any(f.lower() in lowered for f in forms)]
    if missing:
        return False, f"the answer lacks {', '.join(repr(m) for m in missing)}: {' '.join(text.split())[:200]}"
    named = [s for s in sources if s in summary] if sources else [c.strip() for c in cited.split(",") if c.strip()]
    if not named:
        return False, f"the answer cites none of {', '.join(sources) or 'the rig files'}"
    return True, f"holds {len(facts)} expected fact(s), cites {', '.join(named)}"


def judge_plan(output: Mapping[str, Any]) -> tuple[bool, str]:
    """``gt mayor plan --json``'s output: the plan schema, tests first, tests beads present."""
    beads = [b for b in output.get("beads") or () if isinstance(b, Mapping)]
    keys = {str(b.get("id")): str((b.get("metadata") or {}).get("plan_key") or b.get("id")) for b in beads}
    items = [
        {
            "key": keys[str(b.get("id"))],
            "title": b.get("title"),
            "role": b.get("role"),
            "kind": (b.get("labels") or ["code"])[0],
            "estimated_tokens": b.get("estimated_tokens") or 1,
            "depends_on": [
                keys[d["id"]]
                for d in b.get("dependencies") or ()
                if isinstance(d, Mapping) and d.get("type", "blocks") == "blocks" and d.get("id") in keys
            ],
        }
        for b in beads
    ]
    convoy = output.get("convoy")
    title = convoy.get("title") if isinstance(convoy, Mapping) else None
    plan = {"title": title or "plan", "plan": output.get("plan") or "-", "beads": items}
    problems = mayor.check_plan(plan)
    kinds = [str(item["kind"]) for item in items]
    if "tests" not in kinds:
        problems.append("the plan has no tests (Refinery) bead for the code to wait on")
    by_key = {str(item["key"]): item for item in items}
    for item in items:
        if item["kind"] == "code" and "tests" in kinds and not _reaches_tests(str(item["key"]), by_key):
            problems.append(f"code bead {item['key']!r} does not wait on any tests bead")
    if problems:
        return False, f"the plan is not acceptable: {'; '.join(problems[:3])}"
    attempts = output.get("attempts")
    return True, (
        f"a valid plan: {len(items)} beads ({kinds.count('tests')} tests, {kinds.count('code')} code)"
        + (f" in {attempts} attempt(s)" if attempts else "")
    )


def _reaches_tests(key: str, by_key: Mapping[str, Mapping[str, Any]]) -> bool:
    seen: set[str] = set()
    todo = list(by_key[key]["depends_on"])
    while todo:
        current = todo.pop()
        if current in seen or current not in by_key:
            continue
        seen.add(current)
        if by_key[current]["kind"] == "tests":
            return True
        todo.extend(by_key[current]["depends_on"])
    return False


# ---- one bead, one model ---------------------------------------------------------------


@dataclass
class BeadRun:
    """How one model did on one bead: the eval's verdict and what the work used."""

    model: str
    key: str
    kind: str
    role: str
    verdict: str  # passed | failed
    why: str
    wall_s: float
    bead: str | None = None  # its id in the throwaway town
    reported: str | None = None  # the status the worker left it in
    close_reason: str | None = None
    timed_out: bool = False
    tokens_in: int = 0
    tokens_out: int = 0
    model_s: float = 0.0
    tool_calls: int = 0
    tool_calls_failed: int = 0
    tool_calls_recovered: int = 0
    stuck: bool = False
    prefill_tps: float | None = None
    decode_tps: float | None = None
    cached_tokens: int = 0
    cache_basis: int = 0  # prompt tokens of the calls whose server reported cached tokens
    energy_j: float | None = None
    by_model: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.verdict == "passed"

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "by_model"}
        data["wall_s"] = round(self.wall_s, 3)
        return data

    def take(self, result: Mapping[str, Any]) -> None:
        """What the worker's result says it used (tokens, calls, speed, energy)."""
        calls = result.get("tool_calls")
        self.tool_calls = sum(v for v in calls.values() if isinstance(v, int)) if isinstance(calls, Mapping) else 0
        self.tool_calls_failed = int(result.get("tool_calls_failed") or 0)
        self.tool_calls_recovered = int(result.get("tool_calls_recovered") or 0)
        self.tokens_in = int(result.get("tokens_in") or 0)
        self.tokens_out = int(result.get("tokens_out") or 0)
        self.model_s = float(result.get("model_s") or 0.0)
        self.prefill_tps = _number(result.get("prefill_tps"))
        self.decode_tps = _number(result.get("decode_tps"))
        self.energy_j = _number(result.get("energy_j"))
        self.stuck = bool(result.get("stuck")) or (self.close_reason or "").startswith("stuck:")
        rows = result.get("by_model")
        if isinstance(rows, Mapping):
            self.by_model = {str(k): dict(v) for k, v in rows.items() if isinstance(v, Mapping)}
        self.cached_tokens, self.cache_basis = _cache_figures(result.get("trace"))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _cache_figures(trace: Any) -> tuple[int, int]:
    """(cached prompt tokens, prompt tokens) over the trace's replies whose server reported a cache."""
    cached = basis = 0
    if not isinstance(trace, str):
        return 0, 0
    try:
        lines = Path(trace).read_text(errors="replace").splitlines()
    except OSError:
        return 0, 0
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        usage = record.get("usage") if record.get("kind") == "reply" else None
        if isinstance(usage, Mapping) and isinstance(usage.get("cached_tokens"), int):
            cached += usage["cached_tokens"]
            basis += int(usage.get("tokens_in") or 0)
    return cached, basis


def work_bead(ws: Workspace, bead: SuiteBead, model: str, budget: float, grace: float = GRACE_SECONDS) -> BeadRun:
    """Add ``bead`` to the town, let a real watcher work it within ``budget``, judge the branch."""
    if bead.judge == "plan":
        return _plan_bead(ws, bead, model, budget, grace)
    queue = Queue(ws.store)
    added = queue.add(
        NewBead(
            title=bead.title,
            role=bead.role,
            rig=ws.rig.name,
            description=bead.description,
            acceptance_criteria=bead.acceptance_criteria,
            issue_type=bead.issue_type,
            acceptance_tests=bead.acceptance_tests,
            labels=("eval",),
        ),
        agent=AGENT,
    )
    agent = f"{AGENT}-{bead.role}"
    log_path = ws.logs / f"{bead.key}.log"
    argv = [sys.executable, "-m", "gastown", "--town", str(ws.town_dir), "watch", "--role", bead.role]
    argv += ["--agent", agent, "--model", model, "--once"]
    code, timed_out, wall = supervise(argv, budget, log_path, grace=grace)
    final = queue.show(added.id)
    run = BeadRun(model, bead.key, bead.kind, bead.role, "failed", "", wall, added.id, final.status)
    run.close_reason, run.timed_out = final.close_reason, timed_out
    run.take(final.result or {})
    if final.status not in CLOSED:
        _close(queue, final, f"eval: the watcher ended without closing it (exit {code})")
    scratch = ws.root / "verify" / bead.key
    if bead.judge == "tests":
        ok, why = verify_tests(ws.rig, ws.base, branch_for(added.id), bead.acceptance_tests, scratch)
    elif bead.judge == "tests-written":
        assert bead.stub is not None and bead.reference is not None
        ok, why = verify_written_tests(
            ws.rig, ws.base, branch_for(added.id), bead.stub, bead.reference, bead.tests, scratch
        )
    elif final.status != DONE:
        ok, why = False, f"not answered ({final.status}: {final.close_reason or 'no reason given'})"
    else:
        ok, why = judge_answer(str((final.result or {}).get("summary", "")), bead.facts, bead.sources)
    if timed_out:
        why = f"timed out after {budget:.0f}s; {why}"
    elif final.status not in CLOSED:
        why = f"{why}; the watcher left it {final.status} (exit {code}): {_log_tail(log_path) or 'no log'}"
    run.verdict, run.why = ("passed" if ok else "failed"), why
    return run


def _close(queue: Queue, bead: Bead, reason: str) -> None:
    """Fail a bead the watcher left open or claimed, so the town tells the truth."""
    try:
        if bead.status == CLAIMED and bead.claim is not None:
            queue.fail(bead.id, bead.claim.agent, reason, bead.generation)
        elif bead.status == OPEN:
            claimed = queue.claim(bead.role, AGENT, bead_id=bead.id)
            queue.fail(bead.id, AGENT, reason, claimed.bead.generation)
    except GastownError as error:
        log.warning("could not close %s: %s", bead.id, error.message)


def _plan_bead(ws: Workspace, bead: SuiteBead, model: str, budget: float, grace: float) -> BeadRun:
    """A Mayor bead: ``gt mayor plan --dry-run --json`` in its own process, then the plan judged."""
    feature = f"{bead.title}\n\n{bead.description}".strip()
    out = ws.logs / f"{bead.key}.json"
    log_path = ws.logs / f"{bead.key}.log"
    argv = [sys.executable, "-m", "gastown", "--town", str(ws.town_dir), "mayor", "plan", feature]
    argv += ["--rig", ws.rig.name, "--model", model, "--dry-run", "--json"]
    code, timed_out, wall = supervise(argv, budget, log_path, out, grace)
    run = BeadRun(model, bead.key, bead.kind, bead.role, "failed", "", wall, timed_out=timed_out)
    output: Any = None
    try:
        output = json.loads(out.read_text())
    except (OSError, ValueError):
        output = None
    if timed_out:
        ok, why = False, f"timed out after {budget:.0f}s"
    elif code != 0 or not isinstance(output, Mapping):
        ok, why = False, f"gt mayor plan exited {code}: {_log_tail(log_path, 2) or 'no output'}"
    else:
        usage = output.get("usage")
        usage = usage if isinstance(usage, Mapping) else {}
        run.tokens_in, run.tokens_out = int(usage.get("tokens_in") or 0), int(usage.get("tokens_out") or 0)
        ok, why = judge_plan(output)
    run.reported = "planned" if code == 0 else "refused"
    run.verdict, run.why = ("passed" if ok else "failed"), why
    return run


# ---- a whole evaluation ----------------------------------------------------------------


@dataclass
class ModelRun:
    """One model's pass over the suite."""

    model: str
    beads: list[BeadRun] = field(default_factory=list)
    error: str | None = None  # why the model could not be run at all
    town: str | None = None  # the kept town's folder (--keep)
    dollars: float = 0.0
    kwh: float = 0.0
    estimated_energy: bool = False

    def summary(self) -> dict[str, Any]:
        beads = self.beads
        walls = [b.wall_s for b in beads]
        basis = sum(b.cache_basis for b in beads)
        prefill = [b.prefill_tps for b in beads if b.prefill_tps]
        decode = [b.decode_tps for b in beads if b.decode_tps]
        measured = [b.energy_j for b in beads if b.energy_j is not None]
        passed = sum(b.passed for b in beads)
        return {
            "model": self.model,
            "beads": len(beads),
            "passed": passed,
            "pass_rate": round(passed / len(beads), 4) if beads else None,
            "median_wall_s": round(statistics.median(walls), 3) if walls else None,
            "tool_calls": {
                "total": sum(b.tool_calls for b in beads),
                "failed": sum(b.tool_calls_failed for b in beads),
                "recovered": sum(b.tool_calls_recovered for b in beads),
            },
            "stuck": sum(b.stuck for b in beads),
            "timed_out": sum(b.timed_out for b in beads),
            "tokens_in": sum(b.tokens_in for b in beads),
            "tokens_out": sum(b.tokens_out for b in beads),
            "prefill_tps": round(statistics.mean(prefill), 2) if prefill else None,
            "decode_tps": round(statistics.mean(decode), 2) if decode else None,
            "cache_reuse": round(sum(b.cached_tokens for b in beads) / basis, 4) if basis else None,
            "energy_wh": round(self.kwh * 1000, 4),
            "energy_measured_j": round(sum(measured), 3) if measured else None,
            "estimated_energy": self.estimated_energy,
            "dollars": round(self.dollars, 6),
            "error": self.error,
            "town": self.town,
        }


@dataclass(frozen=True)
class Options:
    """What ``gt eval`` was asked."""

    models: tuple[str, ...]
    role: str | None = None
    beads: tuple[str, ...] = ()
    timeout: float | None = None  # per bead; default: the bead's, else the suite's
    keep: bool = False
    grace: float = GRACE_SECONDS


@dataclass
class Report:
    """Every model's runs over one suite."""

    suite: Suite
    options: Options
    runs: list[ModelRun]

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": {"name": self.suite.name, "path": str(self.suite.path), "rig": self.suite.rig_name},
            "role": self.options.role,
            "timeout_s": self.options.timeout,
            "models": [run.summary() for run in self.runs],
            "beads": [bead.to_dict() for run in self.runs for bead in run.beads],
        }


def evaluate(
    suite: Suite, config: configmod.TownConfig, options: Options, progress: Progress | None = None
) -> Report:
    """Run the chosen beads of ``suite`` for each model, one model at a time, and judge them."""
    say = progress or (lambda _text: None)
    chosen = select(suite, options.role, options.beads)
    roster = check_models(options.models, config)
    roles = sorted({*ROLES, *(b.role for b in chosen)})
    runs = []
    for name in options.models:
        runs.append(_run_model(suite, chosen, config, roster, name, roles, options, say))
    return Report(suite, options, runs)


def _run_model(
    suite: Suite,
    chosen: Sequence[SuiteBead],
    config: configmod.TownConfig,
    roster: rostermod.Roster,
    name: str,
    roles: Sequence[str],
    options: Options,
    say: Progress,
) -> ModelRun:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
    root = Path(tempfile.mkdtemp(prefix=f"gt-eval-{safe}-"))
    run = ModelRun(name, town=str(root) if options.keep else None)
    runner: Runner | None = None
    try:
        ws = prepare(suite, root, config, name, roles)
        runner = Runner(ws.town.state_dir)
        spec = roster.model(name)
        if spec.local and not spec.endpoints:
            say(f"{name}: starting its server")
            try:
                runner.ensure(spec, governor=governor_for(config.machine))
            except GastownError as error:
                run.error = f"could not start: {error.message}" + (f" ({error.hint})" if error.hint else "")
                say(f"{name}: {run.error}")
                return run
        for n, bead in enumerate(chosen, 1):
            budget = options.timeout or bead.timeout or suite.bead_timeout
            say(f"{name}: bead {n}/{len(chosen)} {bead.key} ({bead.role}, {budget:.0f}s budget)")
            done = work_bead(ws, bead, name, budget, options.grace)
            run.beads.append(done)
            say(f"{name}: {bead.key} {done.verdict} in {done.wall_s:.1f}s: {done.why}")
        run.dollars, run.kwh, run.estimated_energy = _priced(run, roster, config)
        return run
    finally:
        if runner is not None:
            for server in runner.servers():  # everything this throwaway town started
                runner.stop(server.name)
        if not options.keep:
            shutil.rmtree(root, ignore_errors=True)


def _priced(run: ModelRun, roster: rostermod.Roster, config: configmod.TownConfig) -> tuple[float, float, bool]:
    """(dollars, kWh, energy estimated) for the run, priced as ``gt cost`` prices work."""
    usages = []
    for bead in run.beads:
        rows = bead.by_model or {
            run.model: {"tokens_in": bead.tokens_in, "tokens_out": bead.tokens_out, "model_s": bead.model_s}
        }
        for name, row in rows.items():
            energy = row.get("energy_j") if bead.energy_j is not None else None
            usages.append(
                costmod.Usage(
                    bead.role,
                    name,
                    int(row.get("tokens_in", 0)),
                    int(row.get("tokens_out", 0)),
                    float(row.get("model_s", 0.0)),
                    float(energy) if energy is not None else None,
                    bead.bead or bead.key,
                )
            )
    compare = config.cost.get("compare_to")
    if not isinstance(compare, str) or compare not in roster.models:
        compare = run.model  # no cloud model to compare with: price the model as itself
    price_per_kwh = float(config.cost.get("price_per_kwh", 0.15))
    total = costmod.price(usages, roster, config.machine, price_per_kwh, compare).total()
    return total.dollars, total.kwh, total.estimated_energy


# ---- checking a suite without a model --------------------------------------------------


def check_suite(suite: Suite, keys: Sequence[str] = ()) -> list[tuple[str, bool, str]]:
    """Is each bead fair? Its judge must reject the project as it starts and accept the
    bead's ``solution`` overlay; a question's facts must be in its sources. (key, ok, why)."""
    found: list[tuple[str, bool, str]] = []
    root = Path(tempfile.mkdtemp(prefix="gt-eval-check-"))
    try:
        ws = prepare(suite, root, configmod.TownConfig(), None, ())
        for bead in select(suite, None, keys):
            found.append((bead.key, *_fair(ws, suite, bead)))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return found


def _fair(ws: Workspace, suite: Suite, bead: SuiteBead) -> tuple[bool, str]:
    if bead.judge == "plan":
        return True, "a plan is judged by its schema and order (nothing to check without a model)"
    if bead.judge == "answer":
        texts = " ".join(_read(suite.project / s) for s in bead.sources).lower()
        absent = [" or ".join(f) for f in bead.facts if not any(form.lower() in texts for form in f)]
        if not bead.sources:
            return False, "a question needs judge.sources to be checked"
        if absent:
            return False, f"its sources do not hold {', '.join(repr(a) for a in absent)}"
        return True, "its facts are in its sources"
    if bead.solution is None:
        return False, "no judge.solution to check it with"
    scratch = ws.root / "verify" / bead.key
    start = f"check/{bead.key}/start"
    solved = f"check/{bead.key}/solution"
    run_git(["branch", start, ws.base], ws.rig.path)
    run_git(["branch", solved, ws.base], ws.rig.path)
    with checkout(ws.rig.path, solved, scratch) as tree:
        run_git(["switch", "--quiet", solved], tree)
        lay_over(bead.solution, tree)
        _git(tree, "add", "--all")
        _git(tree, "commit", "--quiet", "--no-verify", "--allow-empty", "-m", f"the solution of {bead.key}")
    outcomes = []
    for branch in (start, solved):
        if bead.judge == "tests":
            outcomes.append(verify_tests(ws.rig, ws.base, branch, bead.acceptance_tests, scratch))
        else:
            assert bead.stub is not None and bead.reference is not None
            outcomes.append(
                verify_written_tests(ws.rig, ws.base, branch, bead.stub, bead.reference, bead.tests, scratch)
            )
    (start_ok, start_why), (solved_ok, solved_why) = outcomes
    if start_ok:
        return False, f"it passes before any work: {start_why}"
    if not solved_ok:
        return False, f"its solution does not pass: {solved_why}"
    return True, f"fails at the start, passes with its solution ({solved_why})"


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


# ---- rendering -------------------------------------------------------------------------


def _cell(value: Any, spec: str = "", none: str = "-") -> str:
    return none if value is None else format(value, spec)


def render(report: Report, verbose: bool = False) -> str:
    """The table (and with ``verbose`` every bead's verdict and why)."""
    header = (
        f"{'model':<24} {'pass':>6} {'rate':>5} {'median s':>9} {'calls t/f/r':>12} {'stuck':>5} "
        f"{'tok in':>8} {'tok out':>8} {'prefill':>8} {'decode':>7} {'cache':>6} {'energy Wh':>10} {'cost $':>9}"
    )
    rows = [f"suite {report.suite.name} ({report.suite.path})", header, "-" * len(header)]
    for run in report.runs:
        s = run.summary()
        if run.error:
            rows.append(f"{run.model:<24} error: {run.error}")
            continue
        calls = s["tool_calls"]
        mark = "*" if s["estimated_energy"] else " "
        rows.append(
            f"{run.model:<24} {s['passed']:>2}/{s['beads']:<3} {_cell(s['pass_rate'], '.0%'):>5} "
            f"{_cell(s['median_wall_s'], '.1f'):>9} {calls['total']:>5}/{calls['failed']}/{calls['recovered']:<4} "
            f"{s['stuck']:>5} {s['tokens_in']:>8} {s['tokens_out']:>8} {_cell(s['prefill_tps'], '.0f'):>8} "
            f"{_cell(s['decode_tps'], '.1f'):>7} {_cell(s['cache_reuse'], '.0%'):>6} "
            f"{s['energy_wh']:>9.3f}{mark} {s['dollars']:>9.4f}"
        )
    if any(run.estimated_energy for run in report.runs):
        rows.append("* energy estimated from configured watts × model time (no meter)")
    if verbose:
        rows.append("")
        for run in report.runs:
            for bead in run.beads:
                rows.append(
                    f"{run.model:<24} {bead.key:<18} {bead.verdict:<6} {bead.wall_s:>7.1f}s "
                    f"in {bead.tokens_in:>7} out {bead.tokens_out:>6}  {bead.why}"
                )
    for run in report.runs:
        if run.town:
            rows.append(f"{run.model}: town kept at {run.town}")
    return "\n".join(rows)


def _nice_step(top: float) -> float:
    raw = max(top, 1e-9) / 5
    power = 10.0 ** int(f"{raw:e}".split("e")[1])
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def svg_chart(report: Report) -> str:
    """Pass rate against median wall time per bead, one labelled point per model (SVG text)."""
    width, height, left, right, top, bottom = 640, 420, 64, 24, 48, 56
    plotted = [(r.model, r.summary()) for r in report.runs if r.beads]
    slowest = max((s["median_wall_s"] or 0.0 for _, s in plotted), default=0.0)
    step = _nice_step(slowest * 1.1 or 10.0)
    x_max = step * max(1, -(-slowest * 1.1 // step))
    inner_w, inner_h = width - left - right, height - top - bottom

    def x(seconds: float) -> float:
        return left + inner_w * seconds / x_max

    def y(rate: float) -> float:
        return top + inner_h * (1 - rate)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f"<title>gt eval: suite {_xml(report.suite.name)}</title>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="15">'
        f"gt eval — suite {_xml(report.suite.name)}: pass rate against time per bead</text>",
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{left}" y1="{y(tick):.1f}" x2="{width - right}" y2="{y(tick):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:.0%}</text>')
    seconds = 0.0
    while seconds <= x_max + 1e-9:
        at = f"{x(seconds):.1f}"
        parts.append(f'<line x1="{at}" y1="{top}" x2="{at}" y2="{top + inner_h}" stroke="#eee"/>')
        parts.append(f'<text x="{at}" y="{top + inner_h + 16}" text-anchor="middle">{seconds:g}</text>')
        seconds += step
    parts += [
        f'<line x1="{left}" y1="{top + inner_h}" x2="{width - right}" y2="{top + inner_h}" stroke="black"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + inner_h}" stroke="black"/>',
        f'<text x="{left + inner_w / 2}" y="{height - 12}" text-anchor="middle">median wall time per bead (s)</text>',
        f'<text x="16" y="{top + inner_h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 16 {top + inner_h / 2})">pass rate</text>',
    ]
    colours = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
    for n, (model, s) in enumerate(plotted):
        cx, cy = x(s["median_wall_s"] or 0.0), y(s["pass_rate"] or 0.0)
        tip = f"{model}: {s['passed']}/{s['beads']} passed, median {s['median_wall_s']} s per bead"
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="6" fill="{colours[n % len(colours)]}">'
            f"<title>{_xml(tip)}</title></circle>"
        )
        parts.append(f'<text x="{cx + 9:.1f}" y="{cy - 8:.1f}">{_xml(model)}</text>')
    failed = [r.model for r in report.runs if not r.beads]
    if failed:
        parts.append(f'<text x="{left}" y="{top - 8}" fill="#a00">not run: {_xml(", ".join(failed))}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
