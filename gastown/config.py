"""The town's configuration: one frozen dataclass tree read from ``town.toml``.

``town.toml`` lives on the tasks branch, so every machine of a town reads the same
settings. Reading is strict about the keys it uses (errors name the key and what was
wrong); the full JSON Schema check runs where the file is written or pushed.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gastown import ids
from gastown.errors import ConfigError

TOWN_FILE = "town.toml"

TEMPLATE = """\
# The town's configuration, read by every gastown process from the tasks branch.
# Secrets never go here: a model names the environment variable holding its key.

[town]
name = "{name}"
prefix = "{prefix}"      # bead ids look like {prefix}-3k9x2

[queue]
lease_seconds = 900     # a claim lives this long unless its worker renews it
max_attempts = 3        # failures before the Mayor decides (retry, split, needs-human)

[limits]
bead_bytes = 262144     # largest bead file a push may carry
file_bytes = 1048576    # largest other file (plans, convoys)
commit_paths = 5000     # most files one pushed commit may change
push_commits = 10000    # most new commits one push may carry
"""


@dataclass(frozen=True)
class QueueConfig:
    lease_seconds: float = 900.0
    max_attempts: int = 3
    claim_retries: int = 500


@dataclass(frozen=True)
class Limits:
    bead_bytes: int = 262144
    file_bytes: int = 1048576
    commit_paths: int = 5000
    push_commits: int = 10000


@dataclass(frozen=True)
class TownConfig:
    """Everything ``town.toml`` says; sections later layers read stay raw mappings."""

    name: str = "town"
    prefix: str = "gt"
    queue: QueueConfig = field(default_factory=QueueConfig)
    limits: Limits = field(default_factory=Limits)
    rigs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    roles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    machine: Mapping[str, Any] = field(default_factory=dict)
    cost: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def template(name: str, prefix: str) -> str:
    return TEMPLATE.format(name=name, prefix=prefix)


def parse_toml(text: str, source: str = TOWN_FILE) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML ({error})") from None


def _section(data: Mapping[str, Any], name: str, source: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{source}: [{name}] must be a table, got {type(value).__name__}")
    return value


def _number(section: Mapping[str, Any], key: str, where: str, default: float, *, whole: bool = False) -> Any:
    value: Any = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
        value = None
    if value is None or value <= 0:
        kind = "a positive whole number" if whole else "a positive number"
        raise ConfigError(f"{where}.{key}: must be {kind}, got {value!r}")
    return value


def from_dict(data: Mapping[str, Any], source: str = TOWN_FILE) -> TownConfig:
    """A TownConfig from parsed TOML; ConfigError names the first bad key."""
    town = _section(data, "town", source)
    queue = _section(data, "queue", source)
    limits = _section(data, "limits", source)
    prefix = town.get("prefix", "gt")
    if not isinstance(prefix, str) or not ids.is_valid_prefix(prefix):
        raise ConfigError(
            f"{source}: town.prefix: {prefix!r} is not a valid id prefix (lowercase letters, "
            "digits and inner dashes, starting with a letter)"
        )
    name = town.get("name", "town")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{source}: town.name: must be a non-empty string")
    where_q, where_l = f"{source}: queue", f"{source}: limits"
    return TownConfig(
        name=name,
        prefix=prefix,
        queue=QueueConfig(
            lease_seconds=float(_number(queue, "lease_seconds", where_q, 900.0)),
            max_attempts=_number(queue, "max_attempts", where_q, 3, whole=True),
            claim_retries=_number(queue, "claim_retries", where_q, 500, whole=True),
        ),
        limits=Limits(
            bead_bytes=_number(limits, "bead_bytes", where_l, 262144, whole=True),
            file_bytes=_number(limits, "file_bytes", where_l, 1048576, whole=True),
            commit_paths=_number(limits, "commit_paths", where_l, 5000, whole=True),
            push_commits=_number(limits, "push_commits", where_l, 10000, whole=True),
        ),
        rigs=_section(data, "rigs", source),
        models=_section(data, "models", source),
        roles=_section(data, "roles", source),
        machine=_section(data, "machine", source),
        cost=_section(data, "cost", source),
        raw=data,
    )


def parse(text: str, source: str = TOWN_FILE) -> TownConfig:
    return from_dict(parse_toml(text, source), source)


def toml_key(key: str) -> str:
    """A TOML key: bare when it can be, else quoted."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def toml_value(value: Any) -> str:
    """A TOML value for what town.toml and rig files hold (TypeError for anything else)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")
