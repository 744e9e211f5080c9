"""A ``gt eval`` suite: read from its folder, and set up as the rig of a throwaway town.

A suite is a folder: ``suite.toml`` describes a project (the rig: its language, test
command, test paths, docs) and beads like a user's; ``project/`` holds the project as it
starts; ``overlays/`` holds files laid over a checkout when judging. ``prepare`` makes a
town whose roster gives every role under test to one model, with the project as its rig.
"""

from __future__ import annotations

import difflib
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from gastown.agents import rig as rigmod
from gastown.agents.rig import BUILTIN_ROLES, Rig
from gastown.errors import NotFound, UsageError
from gastown.town import config as configmod
from gastown.town import events, founding, schema, townfile
from gastown.town import roster as rostermod
from gastown.town.bead import ISSUE_TYPES
from gastown.town.resources import data_dir
from gastown.town.riggit import RigGit
from gastown.town.store import GitStore, Update
from gastown.town.town import Town

SUITE_FILE = "suite.toml"
DEFAULT_SUITE = "starter"
AGENT = "eval"
GRACE_SECONDS = 3.0  # after each signal to a watcher past its budget
ROLES = ("polecat", "refinery", "crew", "mayor")
RUNTIMES = ("loop", "plain")  # gastown's loop; one plain prompt a bead (the control)
RIG_KEYS = {
    "name", "description", "language", "test_command", "test_timeout", "test_paths", "lint_command",
    "coverage_command", "coverage_threshold", "allowed_commands", "shell_timeout", "docs"
}  # fmt: skip
BEAD_KEYS = {
    "key", "title", "description", "role", "issue_type", "kind",
    "acceptance_tests", "acceptance_criteria", "timeout", "judge"
}  # fmt: skip
JUDGE_KEYS = {"solution", "stub", "reference", "tests", "facts", "sources"}
SUITE_KEYS = {"name", "description", "bead_timeout"}
SUITE_HINT = "docs/eval.md (Writing a suite) shows a whole suite.toml"
TOML_HINT = f"fix the line named above; {SUITE_HINT}"
AUTHOR = "gastown eval"  # who commits the suite's project and the solutions it checks


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


def shipped_suites() -> list[str]:
    """The names of the suites shipped with gastown (``gt eval --suite NAME``)."""
    try:
        return sorted(p.name for p in data_dir("evals").iterdir() if (p / SUITE_FILE).is_file())
    except FileNotFoundError:
        return []


def load_suite(path: str | Path | None = None) -> Suite:
    """The suite in ``path`` — a folder, or the name of a suite shipped with gastown (default:
    the starter suite); UsageError names what is wrong."""
    folder = Path(path).expanduser().resolve() if path else default_suite()
    if path and not folder.exists() and str(path) in shipped_suites():
        folder = data_dir("evals") / str(path)
    source = folder / SUITE_FILE
    if not folder.is_dir():
        raise NotFound(
            f"no suite at {folder}: not a folder",
            f"pass --suite DIR (a folder with suite.toml and project/) or a shipped suite: "
            f"{', '.join(shipped_suites()) or 'none'}",
        )
    if not source.is_file():
        raise NotFound(f"no suite at {folder}: it has no {SUITE_FILE}", "a suite is suite.toml plus project/")
    if not (folder / "project").is_dir():
        raise NotFound(f"suite {folder} has no project/ folder", "project/ holds the rig's files as the suite starts")
    try:
        data = townfile.parse_toml(source.read_text(), str(source))
    except UsageError as error:
        raise UsageError(error.message, TOML_HINT) from None
    head = _table(data, "suite", str(source))
    unknown = sorted(set(head) - SUITE_KEYS)
    if unknown:
        raise UsageError(
            f"{source}: [suite]: unknown key {unknown[0]!r}", f"known keys: {', '.join(sorted(SUITE_KEYS))}"
        )
    rig = dict(_table(data, "rig", str(source)))
    where = f"{source}: [rig]"
    unknown = sorted(set(rig) - RIG_KEYS)
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r}", f"known keys: {', '.join(sorted(RIG_KEYS))}")
    if not isinstance(rig.get("name"), str) or not rig["name"].strip():
        raise UsageError(f"{where}.name: required (the rig's name, a string)", SUITE_HINT)
    _strings(rig.get("test_command"), f"{where}.test_command", required=True)
    for key in ("test_paths", "docs", "lint_command", "coverage_command"):
        _strings(rig.get(key), f"{where}.{key}")
    found = schema.problems("rig", {**rig, "path": "."})
    if found:
        raise UsageError(f"{where}: {found[0]}", "docs/eval.md (Writing a suite) says what each key of [rig] takes")
    timeout = head.get("bead_timeout", 600)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise UsageError(f"{source}: [suite].bead_timeout: a number of seconds, got {timeout!r}")
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


def _strings(value: Any, where: str, required: bool = False) -> tuple[str, ...]:
    if value is None and not required:
        return ()
    if (
        not isinstance(value, list)
        or (required and not value)
        or not all(isinstance(v, str) and v.strip() for v in value)
    ):
        got = "nothing" if value is None else repr(value)
        raise UsageError(f'{where}: a list of strings, like ["a", "b"]; got {got}', SUITE_HINT)
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
    if key is None:
        raise UsageError(f"{where}.key: required (a short name for the bead, stable across runs)", SUITE_HINT)
    if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", key):
        raise UsageError(f"{where}.key: a short name of letters, digits, '-', '_' or '.', got {key!r}")
    where = f"{source}: beads[{n}] ({key})"
    if not isinstance(title, str) or not title.strip():
        raise UsageError(f"{where}.title: required")
    role = item.get("role", "polecat")
    issue_type = item.get("issue_type", "question" if role == "crew" else "task")
    if not isinstance(role, str) or not re.fullmatch(r"[a-z][a-z0-9_-]*", role):
        raise UsageError(f"{where}.role: a role name, got {role!r}", f"gastown's roles: {', '.join(BUILTIN_ROLES)}")
    close = difflib.get_close_matches(role, BUILTIN_ROLES, n=1, cutoff=0.75) if role not in BUILTIN_ROLES else []
    if close:  # a role of the user's own (given the generic prompt) may not look like one of gastown's
        raise UsageError(
            f"{where}.role: {role!r} is no role of gastown's; did you mean {close[0]!r}?",
            f"gastown's roles: {', '.join(BUILTIN_ROLES)}; a role of your own needs a name unlike them",
        )
    if issue_type not in ISSUE_TYPES:
        raise UsageError(f"{where}.issue_type: one of {', '.join(ISSUE_TYPES)}, got {issue_type!r}")
    judge = item.get("judge", {})
    if not isinstance(judge, Mapping):
        raise UsageError(f"{where}.judge: must be a table")
    unknown = sorted(set(judge) - JUDGE_KEYS)
    if unknown:
        raise UsageError(f"{where}.judge: unknown key {unknown[0]!r}", f"known keys: {', '.join(sorted(JUDGE_KEYS))}")
    tests = tuple(
        _inside(t, f"{where}.acceptance_tests")
        for t in _strings(item.get("acceptance_tests"), f"{where}.acceptance_tests")
    )
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
    """The beads to run (or check): those of ``role``, those named by ``keys`` (in suite order)."""
    known = [b.key for b in suite.beads]
    missing = [k for k in keys if k not in known]
    if missing:
        raise UsageError(f"suite {suite.name} has no bead {missing[0]!r}", f"its beads: {', '.join(known)}")
    roles = sorted({b.role for b in suite.beads})
    if role is not None and role not in roles:
        raise UsageError(f"suite {suite.name} has no beads of role {role!r}", f"its roles: {', '.join(roles)}")
    chosen = [b for b in suite.beads if (not keys or b.key in keys) and (role is None or b.role == role)]
    if not chosen:
        raise UsageError(
            f"suite {suite.name}: none of the beads {', '.join(keys)} has role {role!r}",
            "drop --role, or name beads of that role",
        )
    return chosen


@dataclass(frozen=True)
class Options:
    """What ``gt eval`` was asked: the models, which of the suite's beads, the budget."""

    models: tuple[str, ...]
    role: str | None = None
    beads: tuple[str, ...] = ()
    timeout: float | None = None  # per bead; default: the bead's, else the suite's
    keep: bool = False
    grace: float = GRACE_SECONDS
    runtimes: tuple[str, ...] = ("loop",)  # "loop" (gastown's) and/or "plain" (one prompt a bead)
    repeat: int = 1  # each bead worked this many times per model and runtime
    seed: int | None = None  # sample reproducibly: repeat r is seeded from seed + SEED_SPREAD * (r - 1)

    def seed_of(self, repeat: int, model_seed: float | None = None) -> int | None:
        """The sampling seed of ``repeat`` (1-based): from ``--seed``, else from the model's
        own (``model_seed``, town.toml's: each repeat must still sample its own way), else None
        to sample as the server likes."""
        base = self.seed if self.seed is not None else model_seed
        return None if base is None else (int(base) + SEED_SPREAD * (repeat - 1)) % rostermod.SEEDS


SEED_SPREAD = 1000  # between repeats' seeds: a bead's requests (one seed each) never reach it


def tagged(key: str, repeat: int) -> str:
    """A bead's name in a run's files and branches: its key, and ``.rN`` from its second repeat on."""
    return key if repeat == 1 else f"{key}.r{repeat}"


def repeat_label(repeat: int, repeats: int) -> str:
    """``"repeat 2/3, "`` in a progress line, nothing when each bead is worked once."""
    return f"repeat {repeat}/{repeats}, " if repeats > 1 else ""


# ---- models and the town's configuration -----------------------------------------------


def load_config(path: str | Path | None) -> configmod.TownConfig:
    """The models (and [machine], [cost]) of ``--config FILE``; an empty config without one."""
    if path is None:
        return configmod.TownConfig()
    return configmod.from_file(Path(path))


def check_models(names: Sequence[str], config: configmod.TownConfig) -> rostermod.Roster:
    """The roster the models come from; UsageError for a name it does not know."""
    if not names:
        raise UsageError("name the models to evaluate: --models a,b")
    roster = config.roster_with()
    for name in names:
        if name not in roster.models:
            raise UsageError(
                f"unknown model {name!r} (known: {', '.join(sorted(roster.models))})",
                "use a known model's name (`gt models pull --list` says what each is) "
                "or define it in [models] of --config FILE",
            )
    twice = sorted({n for n in names if list(names).count(n) > 1})
    if twice:
        raise UsageError(f"--models names {twice[0]!r} twice")
    return roster


def _toml_value(value: Any) -> str:
    try:
        return configmod.toml_value(value)
    except TypeError:
        raise UsageError(f"--config: cannot carry a {type(value).__name__} value into the eval's town") from None


# The loop's own time budget, as a share of the eval's per-bead budget: the loop ends by itself,
# so the done check runs and the work is committed (and judged) before the eval's budget ends it.
LOOP_SHARE = 0.85


def town_toml(
    base: str, config: configmod.TownConfig, model: str | None, roles: Sequence[str], budget: float | None = None
) -> str:
    """The throwaway town's town.toml: its own head, the config's models, every role on ``model``."""
    parts = [base.rstrip() + "\n"]
    tables: list[tuple[str, Mapping[str, Any]]] = [
        ("machine", config.machine.to_dict()),  # the typed values, so the eval's town.toml reads back the same
        ("cost", config.cost.to_dict()),
    ]
    if config.sandbox_mode != "bwrap":  # a town that opted in to unconfined commands evaluates the same way
        tables.append(("sandbox", {"mode": config.sandbox_mode}))
    tables += [(f"models.{configmod.toml_key(name)}", table) for name, table in config.models.items()]
    for header, table in tables:
        if table:
            lines = [f"[{header}]"] + [f"{configmod.toml_key(str(k))} = {_toml_value(v)}" for k, v in table.items()]
            parts.append("\n".join(lines) + "\n")
    if model is not None:
        for role in roles:
            seconds = f"bead_seconds = {round(budget * LOOP_SHARE)}\n" if budget else ""
            parts.append(f"[roles.{configmod.toml_key(role)}]\nmodel = {_toml_value(model)}\n{seconds}")
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


def prepare(
    suite: Suite,
    root: Path,
    config: configmod.TownConfig,
    model: str | None,
    roles: Sequence[str],
    budget: float | None = None,
) -> Workspace:
    """A town at ``root/town`` whose roster gives ``roles`` to ``model``, and the suite's rig."""
    rig_dir = root / suite.rig_name
    shutil.copytree(suite.project, rig_dir, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))
    rig = RigGit.create(rig_dir)
    rig.stage_all()
    base = rig.commit_staged(f"{suite.name}: the project as the suite starts", AUTHOR) or rig.head()
    town, _ = founding.init(root / "town", name=f"eval-{suite.name}"[:64], prefix="ev")
    store = GitStore(town)
    current = (store.snapshot().read(townfile.TOWN_FILE) or b"").decode()
    text = town_toml(current, config, model, roles, budget)
    parsed = configmod.parse(text, "the eval's town.toml")
    _ = parsed.roster  # a bad roster fails here, before any bead
    event = events.Event(events.CONFIG, (), AGENT, f"roster: every role on {model or 'nothing'}")
    store.update(lambda _snap: Update(event, files={townfile.TOWN_FILE: text.encode()}))
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
