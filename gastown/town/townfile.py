"""town.toml's text, and its ``[limits]``: what one push may carry.

A module of its own, beside ``config``: the server's hook reads the limits on every push,
and loading the whole configuration (the machine, the costs, the models) would cost it more
than its check. ``config`` parses through here, so both say the same.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gastown.errors import ConfigError, as_written

TOWN_FILE = "town.toml"
MAX_LEASE_SECONDS = 7 * 24 * 3600  # a claim no worker renews for a week is abandoned, whatever it says


@dataclass(frozen=True)
class Limits:
    bead_bytes: int = 262144
    file_bytes: int = 1048576
    commit_paths: int = 5000
    push_commits: int = 10000


def parse_toml(text: str, source: str = TOWN_FILE) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML ({error})") from None


def section(data: Mapping[str, Any], name: str, source: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{source}: [{name}] must be a table, got {type(value).__name__}")
    return value


def number(
    table: Mapping[str, Any], key: str, where: str, default: float, *, whole: bool = False, most: float = 1e12
) -> Any:
    """``table[key]``: a positive number no larger than ``most`` (inf and nan are not numbers here)."""
    value: Any = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
        value = None
    if value is None or not math.isfinite(value) or value <= 0 or value > most:
        kind = "a positive whole number" if whole else "a positive number"
        got = value if value is not None else table.get(key)
        raise ConfigError(f"{where}.{key}: must be {kind} no larger than {most:g}, got {as_written(got)}")
    return value


def from_dict(data: Mapping[str, Any], source: str = TOWN_FILE) -> Limits:
    """The ``[limits]`` of parsed TOML; ConfigError names the first bad key."""
    table, where = section(data, "limits", source), f"{source}: limits"
    return Limits(
        bead_bytes=number(table, "bead_bytes", where, 262144, whole=True),
        file_bytes=number(table, "file_bytes", where, 1048576, whole=True),
        commit_paths=number(table, "commit_paths", where, 5000, whole=True),
        push_commits=number(table, "push_commits", where, 10000, whole=True),
    )


def parse(text: str, source: str = TOWN_FILE) -> Limits:
    """The ``[limits]`` of town.toml's text (the rest of it is not read)."""
    return from_dict(parse_toml(text, source), source)
