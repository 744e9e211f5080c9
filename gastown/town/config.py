"""The town's configuration: one frozen dataclass tree read from ``town.toml``.

``town.toml`` lives on the tasks branch, so every machine of a town reads the same
settings. Reading is strict about the keys it uses (errors name the key and what was
wrong); the full JSON Schema check runs where the file is written or pushed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gastown.errors import ConfigError, UsageError, as_written
from gastown.town import ids, townfile
from gastown.town.townfile import MAX_LEASE_SECONDS, TOWN_FILE, Limits, number, parse_toml, section

if TYPE_CHECKING:
    from gastown.town.roster import Roster

SANDBOX_MODES = ("bwrap", "none")  # how a model's commands run (see jail)

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
    claim_refs: bool = True  # with a remote: claims go through refs/claims/<id> (gastown.town.claims)


@dataclass(frozen=True)
class MachineConfig:
    """``[machine]``: what the governor and the energy estimate assume of this machine."""

    vram_mib: float = 0.0  # the GPU's memory, used when NVML cannot read one
    desktop_reserve_mib: float = 0.0  # VRAM left for the person at the desktop
    gpu_index: int = 0  # which GPU NVML reads
    ram_mib: float | None = None  # None: the total the machine reports
    ram_reserve_mib: float = 0.0  # RAM gastown leaves alone
    cpu_threads: int | None = None  # None: the count the machine reports
    reserved_cores: tuple[int, ...] = ()  # cores gastown never pins a model to
    gpu_watts: float | None = None  # a GPU model's draw, for energy nothing measured
    cpu_watts: float | None = None  # a CPU model's draw, likewise
    idle_s: float = 30.0  # a server idle this long may be stopped to make room for another model

    def watts_for(self, device: str) -> float | None:
        """The configured draw of a model on ``device`` (``gpu_watts`` for "gpu", else ``cpu_watts``)."""
        return self.gpu_watts if device == "gpu" else self.cpu_watts

    def to_dict(self) -> dict[str, Any]:
        """The keys that differ from their defaults: a ``[machine]`` table that reads back the same."""
        return _set_keys(self)


@dataclass(frozen=True)
class CostConfig:
    """``[cost]``: the price of local energy and the cloud model the work is compared with."""

    price_per_kwh: float = 0.15
    compare_to: str | None = None  # None: each reader picks (``gt cost``: the dearest cloud model)

    def to_dict(self) -> dict[str, Any]:
        """The keys that differ from their defaults: a ``[cost]`` table that reads back the same."""
        return _set_keys(self)


def _set_keys(section: MachineConfig | CostConfig) -> dict[str, Any]:
    """A section's fields that differ from their defaults, as plain TOML values."""
    found: dict[str, Any] = {}
    for spec in fields(section):
        value = getattr(section, spec.name)
        if value != spec.default:
            found[spec.name] = list(value) if isinstance(value, tuple) else value
    return found


@dataclass(frozen=True)
class TownConfig:
    """Everything ``town.toml`` says. ``models`` and ``roles`` stay as written; ``roster`` is
    them parsed, once, on first use (a town with a bad model entry still answers `gt status`)."""

    name: str = "town"
    prefix: str = "gt"
    queue: QueueConfig = field(default_factory=QueueConfig)
    limits: Limits = field(default_factory=Limits)
    rigs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    roles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    machine: MachineConfig = field(default_factory=MachineConfig)
    cost: CostConfig = field(default_factory=CostConfig)
    sandbox_mode: str = "bwrap"  # how model commands run (see jail): bwrap, or none by opt-in
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    source: str = field(default=TOWN_FILE, compare=False)  # the file it was read from, as errors name it
    local: bool = field(default=False, compare=False)  # a file the user named (--config), not the town's

    @cached_property
    def roster(self) -> Roster:
        """The models and role rules, every reference checked (ConfigError names the key,
        and the file it was read from)."""
        return self.roster_with(self.roles)

    def roster_with(self, roles: Mapping[str, Mapping[str, Any]] | None = None) -> Roster:
        """The roster of the models with ``roles`` (none: ``gt eval`` gives every role its own)."""
        from gastown.town.roster import load  # ~10 ms: only commands that use models pay it

        try:
            return load(self.models, roles or {})
        except ConfigError as error:
            message = error.message
            if self.source != TOWN_FILE and message.startswith(f"{TOWN_FILE}:"):
                message = self.source + message[len(TOWN_FILE) :]
            if message == error.message and not self.local:
                raise
            raise ConfigError(message, _local_hint(error, self.source) if self.local else error.hint) from None


def template(name: str, prefix: str) -> str:
    return TEMPLATE.format(name=name, prefix=prefix)


def _known_keys(section: Mapping[str, Any], known: type[MachineConfig | CostConfig], where: str) -> None:
    names = [spec.name for spec in fields(known)]
    for key in section:
        if key not in names:
            raise ConfigError(f"{where}.{key}: unknown key (known: {', '.join(sorted(names))})")


def _amount(section: Mapping[str, Any], key: str, where: str, *, whole: bool = False, positive: bool = False) -> Any:
    """``section[key]`` when it is a finite number ≥ 0 (> 0 when ``positive``; an int when ``whole``)."""
    value: Any = section[key]
    number = not isinstance(value, bool) and isinstance(value, int if whole else (int, float))
    if not number or not math.isfinite(value) or value < 0 or (positive and value == 0):
        noun = "whole number" if whole else "number"
        kind = f"a positive {noun}" if positive else f"a {noun} ≥ 0"
        raise ConfigError(f"{where}.{key}: must be {kind}, got {as_written(value)}")
    return value if whole else float(value)


# [machine]'s numbers: key -> (whole, positive). reserved_cores, a list, is read on its own.
_MACHINE_NUMBERS = {
    "vram_mib": (False, False),
    "desktop_reserve_mib": (False, False),
    "gpu_index": (True, False),
    "ram_mib": (False, True),
    "ram_reserve_mib": (False, False),
    "cpu_threads": (True, True),
    "gpu_watts": (False, False),
    "cpu_watts": (False, False),
    "idle_s": (False, False),
}


def _machine(section: Mapping[str, Any], where: str) -> MachineConfig:
    _known_keys(section, MachineConfig, where)
    given: dict[str, Any] = {
        key: _amount(section, key, where, whole=whole, positive=positive)
        for key, (whole, positive) in _MACHINE_NUMBERS.items()
        if key in section
    }
    if "reserved_cores" in section:
        cores = section["reserved_cores"]
        listed = isinstance(cores, list) and all(type(c) is int and c >= 0 for c in cores)  # bool is no core
        if not listed:
            got = as_written(cores)
            raise ConfigError(f"{where}.reserved_cores: must be a list of core numbers (each ≥ 0), got {got}")
        given["reserved_cores"] = tuple(cores)
    return MachineConfig(**given)


def _cost(section: Mapping[str, Any], where: str) -> CostConfig:
    _known_keys(section, CostConfig, where)
    given: dict[str, Any] = {}
    if "price_per_kwh" in section:
        given["price_per_kwh"] = _amount(section, "price_per_kwh", where)
    if "compare_to" in section:
        name = section["compare_to"]
        if not isinstance(name, str) or not name:
            got = as_written(name)
            raise ConfigError(f"{where}.compare_to: must be a model's name (a non-empty string), got {got}")
        given["compare_to"] = name
    return CostConfig(**given)


def _flag(section: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    value = section.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}.{key}: must be true or false, got {as_written(value)}")
    return value


def _sandbox_mode(section: Mapping[str, Any], where: str) -> str:
    unknown = sorted(set(section) - {"mode"})
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (the one key is mode)")
    mode = section.get("mode", "bwrap")
    if mode not in SANDBOX_MODES:
        got = as_written(mode)
        raise ConfigError(f'{where}.mode: {got} is not a mode; use "bwrap" (the default) or "none" (unconfined)')
    return str(mode)


def from_dict(data: Mapping[str, Any], source: str = TOWN_FILE) -> TownConfig:
    """A TownConfig from parsed TOML; ConfigError names the first bad key."""
    town = section(data, "town", source)
    queue = section(data, "queue", source)
    prefix = town.get("prefix", "gt")
    if not isinstance(prefix, str) or not ids.is_valid_prefix(prefix):
        raise ConfigError(
            f"{source}: town.prefix: {as_written(prefix)} is not a valid id prefix (lowercase letters, "
            "digits and inner dashes, starting with a letter)"
        )
    name = town.get("name", "town")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{source}: town.name: must be a non-empty string")
    where_q = f"{source}: queue"
    return TownConfig(
        name=name,
        prefix=prefix,
        queue=QueueConfig(
            lease_seconds=float(number(queue, "lease_seconds", where_q, 900.0, most=MAX_LEASE_SECONDS)),
            max_attempts=number(queue, "max_attempts", where_q, 3, whole=True),
            claim_retries=number(queue, "claim_retries", where_q, 500, whole=True),
            claim_refs=_flag(queue, "claim_refs", where_q, True),
        ),
        limits=townfile.from_dict(data, source),
        rigs=section(data, "rigs", source),
        models=section(data, "models", source),
        roles=section(data, "roles", source),
        machine=_machine(section(data, "machine", source), f"{source}: machine"),
        cost=_cost(section(data, "cost", source), f"{source}: cost"),
        sandbox_mode=_sandbox_mode(section(data, "sandbox", source), f"{source}: sandbox"),
        raw=data,
        source=source,
    )


def parse(text: str, source: str = TOWN_FILE) -> TownConfig:
    return from_dict(parse_toml(text, source), source)


def from_file(path: Path) -> TownConfig:
    """A town.toml the user names (``--config FILE``): its errors name that file and say to
    fix it there, not on the tasks branch; a file that cannot be read is a UsageError."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise UsageError(f"--config {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--config {path}: not UTF-8 text", "save it as UTF-8 (TOML files are UTF-8)") from None
    try:
        return replace(parse(text.removeprefix("\ufeff"), str(path)), local=True)
    except ConfigError as error:
        raise ConfigError(error.message, _local_hint(error, str(path))) from None


def _local_hint(error: ConfigError, source: str) -> str:
    """A config error's hint for a file of the user's own: its own hint, or "fix it there"."""
    return f"fix the key in {source}" if error.hint == ConfigError.default_hint else error.hint


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
