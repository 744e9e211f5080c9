"""Rigs: the project repositories agents work in, and how to work in each.

A rig's definition is TOML checked by ``schemas/rig.schema.json``. It is found, in
order, on the town's tasks branch (``rigs/<name>.toml``, written by ``gt rig add``)
and among the rigs shipped with gastown (``rigs/<name>/rig.toml``). Role prompts come
from the tasks branch (``rigs/<rig>/roles/<role>.md``), then the shipped rig, then the
built-in ``rigs/roles/<role>.md``. A prompt file may start with front matter::

    ---
    done_when: tests-pass      # or: committed
    ---

so a new role is a new file, not new code.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

from gastown.agents.jail import Policy
from gastown.errors import ConfigError, NotFound, UsageError, as_written
from gastown.town import config as configmod
from gastown.town import events, schema, townfile
from gastown.town.resources import data_dir
from gastown.town.riggit import RigGit
from gastown.town.store import GitStore, Snapshot, Update

RIGS_DIR = "rigs"
DEFAULT_DOCS = ("README.md", "AGENTS.md")
BUILTIN_ROLES = ("mayor", "refinery", "polecat", "librarian", "crew")  # each has its prompt in rigs/roles/
DONE_WHEN = ("tests-pass", "committed")
# Files that change how tests are collected and run, in any folder...
COLLECTION_FILES = ("conftest.py", "pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml", "tox.ini", "setup.cfg")
# ...and modules at the root that `python -m pytest` would import in place of the real ones.
SHADOWS = ("pytest.py", "py.py", "sitecustomize.py", "usercustomize.py", "pytest", "_pytest", "pluggy")


@dataclass(frozen=True)
class RolePrompt:
    """A role's prompt text and the behaviour its front matter asks for."""

    role: str
    text: str
    done_when: str = "tests-pass"
    source: str = ""


@dataclass(frozen=True)
class Rig:
    """A rig as the agents use it."""

    name: str
    path: Path
    branch: str = "main"
    test_command: tuple[str, ...] = ()
    test_timeout: float = 600.0
    test_paths: tuple[str, ...] = ("tests/**",)
    lint_command: tuple[str, ...] = ()
    coverage_command: tuple[str, ...] = ()
    coverage_threshold: float | None = None
    allowed_commands: tuple[tuple[str, ...], ...] = ()
    shell_timeout: float = 60.0
    sandbox: Policy = field(default_factory=Policy)  # what model commands may have (see jail)
    docs: tuple[str, ...] = DEFAULT_DOCS
    url: str | None = None
    prompts: Mapping[str, RolePrompt] = field(default_factory=dict)

    def prompt(self, role: str) -> RolePrompt:
        found = self.prompts.get(role)
        if found is not None:
            return found
        return builtin_prompt(role)

    def is_test_path(self, relative: str) -> bool:
        """Whether ``relative`` is one of the rig's test files (``test_paths``)."""
        return any(glob_match(pattern, relative) for pattern in self.test_paths)

    def is_protected(self, relative: str) -> bool:
        """Whether ``relative`` belongs to the Refinery, so no other role may change it: the
        tests, the files that decide how tests are collected and run (a ``conftest.py``
        anywhere can fake a module or skip every test), and root modules that would stand in
        for the test runner (a ``pytest.py`` that prints "3 passed")."""
        path = PurePosixPath(relative)
        return self.is_test_path(relative) or path.name in COLLECTION_FILES or path.parts[0] in SHADOWS


def pytest_setup_changed(before: str | None, after: str | None) -> bool:
    """Whether two texts of a ``pyproject.toml`` differ in how pytest runs (its
    ``[tool.pytest...]`` tables); a text that does not parse counts as changed."""

    def section(text: str | None) -> object:
        if text is None:
            return None
        return tomllib.loads(text).get("tool", {}).get("pytest")

    try:
        return section(before) != section(after)
    except (tomllib.TOMLDecodeError, AttributeError):
        return True


def glob_match(pattern: str, path: str) -> bool:
    """Glob with ``**`` spanning folders: ``tests/**``, ``**/test_*.gd``, ``src/*.py``."""
    return _glob_regex(pattern).fullmatch(path) is not None


@cache
def _glob_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            parts.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            parts.append(".*")
            i += 2
        elif pattern[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            parts.append("[^/]")
            i += 1
        else:
            parts.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(parts))


def parse_front_matter(text: str) -> tuple[dict[str, str], str]:
    """``---`` delimited ``key: value`` lines at the head of a prompt file, and the rest."""
    if not text.startswith("---\n"):
        return {}, text
    end = text.find("\n---", 4)
    if end == -1:
        return {}, text
    meta = {}
    for line in text[4:end].splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            meta[key.strip()] = value.split("#", 1)[0].strip()
    return meta, text[end + 4 :].lstrip("\n")


def _role_prompt(role: str, text: str, source: str) -> RolePrompt:
    meta, body = parse_front_matter(text)
    done_when = meta.get("done_when", "tests-pass")
    if done_when not in DONE_WHEN:
        raise ConfigError(f"{source}: done_when must be one of {', '.join(DONE_WHEN)}, got {as_written(done_when)}")
    return RolePrompt(role, body.strip() + "\n", done_when, source)


def builtin_prompt(role: str) -> RolePrompt:
    """The prompt shipped for ``role`` (a generic worker prompt for an unknown role)."""
    folder = data_dir("rigs") / "roles"
    path = folder / f"{role}.md"
    if not path.exists():
        path = folder / "worker.md"
    return _role_prompt(role, path.read_text(), f"rigs/roles/{path.name}")


def shipped_definition(name: str) -> tuple[dict[str, Any], Path] | None:
    """A rig definition shipped with gastown (``rigs/<name>/rig.toml``), or None."""
    folder = data_dir("rigs") / name
    path = folder / "rig.toml"
    if not path.is_file():
        return None
    return townfile.parse_toml(path.read_text(), f"rigs/{name}/rig.toml"), folder


def _definition(snap: Snapshot, name: str) -> tuple[dict[str, Any], Path | None]:
    raw = snap.read(f"{RIGS_DIR}/{name}.toml")
    if raw is not None:
        return townfile.parse_toml(raw.decode(errors="replace"), f"rigs/{name}.toml on tasks"), None
    shipped = shipped_definition(name)
    if shipped is None:
        known = list_rigs(snap)
        raise NotFound(
            f"no rig named {name!r} (known: {', '.join(known) or 'none'})",
            f"add it with `gt rig add {name} PATH|URL`",
        )
    return shipped


def list_rigs(snap: Snapshot) -> list[str]:
    names = {n[: -len(".toml")] for n in snap.listdir(RIGS_DIR) if n.endswith(".toml")}
    return sorted(names)


def load(store: GitStore, name: str, snap: Snapshot | None = None) -> Rig:
    """The rig ``name`` with a local clone ready to work in."""
    snap = snap or store.snapshot()
    data, shipped_folder = _definition(snap, name)
    template = data.get("template")
    if isinstance(template, str):
        shipped = shipped_definition(template)
        if shipped is not None:
            data = {
                **shipped[0],
                **{k: v for k, v in data.items() if k != "template"},
                "name": name,
            }
            shipped_folder = shipped[1]
    data = {k: v for k, v in data.items() if k != "template"}
    found = schema.problems("rig", data)
    if found:
        raise ConfigError(f"rig {name}: {found[0]}", "fix the rig's TOML (gt rig show shows it)")
    path = _local_path(store, name, data, shipped_folder)
    prompts = {}
    for role in (*BUILTIN_ROLES, *(data.get("roles") or {})):
        prompt = _rig_prompt(snap, name, role, data, shipped_folder)
        if prompt is not None:
            prompts[role] = prompt
    return Rig(
        name=name,
        path=path,
        branch=data.get("branch", "main"),
        test_command=_commands(data.get("test_command", ())),
        test_timeout=float(data.get("test_timeout", 600)),
        test_paths=tuple(data.get("test_paths", ("tests/**",))),
        lint_command=_commands(data.get("lint_command", ())),
        coverage_command=_commands(data.get("coverage_command", ())),
        coverage_threshold=data.get("coverage_threshold"),
        allowed_commands=tuple(_commands(c) for c in data.get("allowed_commands", ())),
        shell_timeout=float(data.get("shell_timeout", 60)),
        sandbox=Policy.of(data.get("sandbox")),
        docs=tuple(data.get("docs", DEFAULT_DOCS)),
        url=data.get("url"),
        prompts=prompts,
    )


def _commands(argv: Sequence[str]) -> tuple[str, ...]:
    """A command with ``{python}`` standing for the interpreter gastown runs on."""
    return tuple(sys.executable if part == "{python}" else part for part in argv)


def _rig_prompt(
    snap: Snapshot, name: str, role: str, data: Mapping[str, Any], shipped: Path | None
) -> RolePrompt | None:
    raw = snap.read(f"{RIGS_DIR}/{name}/roles/{role}.md")
    if raw is not None:
        return _role_prompt(role, raw.decode(errors="replace"), f"rigs/{name}/roles/{role}.md on tasks")
    named = (data.get("roles") or {}).get(role)
    if shipped is not None:
        path = shipped / (named or f"roles/{role}.md")
        if path.is_file():
            return _role_prompt(role, path.read_text(), str(path))
    return None


def _local_path(store: GitStore, name: str, data: Mapping[str, Any], shipped: Path | None) -> Path:
    """The rig's clone on this machine: its path, or a clone of its URL in the town's state."""
    if data.get("path"):
        path = Path(data["path"]).expanduser()
        if not path.is_absolute():
            base = store.git.workdir or store.town.git_dir
            path = (base / path).resolve()
        if not (path / ".git").exists() and not (path / "HEAD").is_file():
            raise NotFound(
                f"rig {name}: {path} is not a git repository",
                f"clone the project there, or `gt rig add {name} URL` to let gastown clone it",
            )
        return path
    url = data.get("url")
    if not url:
        raise ConfigError(f"rig {name}: needs a path or a url")
    clone = store.town.state_dir / "rigs" / name
    if not (clone / ".git").exists():
        RigGit.clone(url, clone)
    return clone


def to_toml(data: Mapping[str, Any]) -> str:
    """A flat rig definition as TOML (strings, numbers, lists)."""
    lines = [f"{key} = {configmod.toml_value(value)}" for key, value in data.items() if value is not None]
    return "\n".join(lines) + "\n"


def add(
    store: GitStore,
    name: str,
    location: str,
    test_command: Sequence[str] | None = None,
    branch: str | None = None,
    template: str | None = None,
    agent: str | None = None,
) -> dict[str, Any]:
    """Record a rig on the tasks branch (``rigs/<name>.toml``); returns its definition."""
    data: dict[str, Any] = {"name": name}
    if template:
        if shipped_definition(template) is None:
            raise UsageError(f"--from {template}: no rig named {template} ships with gastown")
        data["template"] = template
    local = Path(location).expanduser()
    if "://" in location or location.endswith(".git") and not local.exists() or "@" in location.split("/")[0]:
        data["url"] = location
    else:
        if not (local / ".git").exists() and not (local / "HEAD").is_file():
            raise UsageError(f"{location}: not a git repository", "pass a clone's path or a git URL")
        data["path"] = str(local.resolve())
    if branch:
        data["branch"] = branch
    if test_command:
        data["test_command"] = list(test_command)
    found = schema.problems("rig", data)
    if found:
        raise UsageError(f"rig {name}: {found[0]}")
    text = to_toml(data)

    def decide(snap: Snapshot) -> Update:
        event = events.Event(events.CONFIG, (), agent, f"rig {name}", (("Rig", name),))
        return Update(event, files={f"{RIGS_DIR}/{name}.toml": text.encode()})

    store.update(decide)
    return data
