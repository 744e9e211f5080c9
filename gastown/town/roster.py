"""The town's models and the rules that give them to roles, read from ``town.toml``.

Every model is an OpenAI-compatible endpoint (llama.cpp ``llama-server``, Ollama, vLLM
or a cloud API). A local model also says what it costs the machine: weights plus a KV
cache of ``2 × layers × kv_heads × head_dim × bytes`` per token (or a configured MiB per
token) × context × parallel slots, so the governor can decide what fits.

The known models of ``gastown.town.catalog`` are in every town's roster unless town.toml
defines the same name. With no model configured, every role uses Qwen2.5-Coder-1.5B once
``gt models pull`` has put it in the user's cache (``models_dir``), else the tiny model:
SmolLM2-135M, still called ``embedded`` (its old name) when it is the default. Both are
served on this machine by llama-cpp-python (see ``gastown.machine.runner``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gastown.errors import ConfigError
from gastown.town import catalog

MIB = 1024 * 1024

# Bytes per element of llama.cpp's KV cache types (-ctk/-ctv); quantized types count
# their block scales (q8_0: 34 bytes per 32 values, q4_0: 18, q4_1: 20, q5_0: 22 ...).
CACHE_TYPE_BYTES = {
    "f32": 4.0,
    "f16": 2.0,
    "bf16": 2.0,
    "q8_0": 34 / 32,
    "q5_1": 24 / 32,
    "q5_0": 22 / 32,
    "q4_1": 20 / 32,
    "q4_0": 18 / 32,
    "iq4_nl": 18 / 32,
}

EMBEDDED = "embedded"  # the tiny model's old name, still accepted (and the default's name)
TINY = catalog.TINY.name


@dataclass(frozen=True)
class ModelSpec:
    """One model of the roster: where it answers, what it costs, how to launch it."""

    name: str
    model: str  # the name sent in requests
    local: bool = True
    endpoints: tuple[str, ...] = ()
    api_key_env: str | None = None
    context: int = 4096
    parallel: int = 1
    weights_mib: float = 0.0
    kv_mib_per_token: float | None = None
    layers: int | None = None
    kv_heads: int | None = None
    head_dim: int | None = None
    cache_type_k: str = "f16"
    cache_type_v: str = "f16"
    device: str = "gpu"  # "gpu" or "cpu": where the weights and KV cache live
    ram_mib: float = 0.0  # for CPU models: RAM beyond weights + KV (buffers)
    cpu_cores: tuple[int, ...] = ()
    tokens_per_second: float | None = None
    price_in_per_mtok: float = 0.0
    price_out_per_mtok: float = 0.0
    power_watts: float | None = None
    launch: tuple[str, ...] = ()
    model_path: str | None = None
    port: int | None = None
    gpu_layers: int | None = None
    threads: int | None = None
    timeout_s: float = 300.0
    retries: int = 3
    fallback: str | None = None
    structured_output: bool = True  # accepts response_format json_schema
    max_output_tokens: int = 1024  # per reply: a slow model must not ramble past its timeout
    max_turns: int | None = None  # tool-loop turns for one bead (a tiny model gets fewer)
    # "native": the OpenAI tools parameter. "schema": each reply is one tool call as JSON,
    # held to a JSON Schema by the server's grammar (llama.cpp's json_object + schema);
    # for small models whose native tool calls run on past their length limit.
    tool_mode: str = "native"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def kv_bytes_per_token(self) -> float:
        """KV cache bytes for one token of context (all layers, K and V)."""
        if self.kv_mib_per_token is not None:
            return self.kv_mib_per_token * MIB
        if self.layers and self.kv_heads and self.head_dim:
            per_value = (CACHE_TYPE_BYTES[self.cache_type_k] + CACHE_TYPE_BYTES[self.cache_type_v]) / 2
            return 2 * self.layers * self.kv_heads * self.head_dim * per_value
        return 0.0

    def kv_mib(self, context: int | None = None, slots: int | None = None) -> float:
        """KV cache for ``context`` tokens in each of ``slots`` slots, in MiB."""
        tokens = (context or self.context) * (slots or self.parallel)
        return self.kv_bytes_per_token() * tokens / MIB

    def footprint_mib(self, context: int | None = None, slots: int | None = None) -> float:
        """Weights + KV cache: what loading this model takes from its device."""
        return self.weights_mib + self.kv_mib(context, slots)

    def price(self, tokens_in: int, tokens_out: int) -> float:
        """Dollars for a call at the roster's per-million-token prices."""
        return (tokens_in * self.price_in_per_mtok + tokens_out * self.price_out_per_mtok) / 1e6


@dataclass(frozen=True)
class Band:
    """A switcher rule: beads up to ``max_tokens`` go to ``model``, ``parallel`` at once."""

    max_tokens: int
    model: str
    parallel: int = 1


@dataclass(frozen=True)
class RoleRule:
    """Which models a role uses: token bands, a fallback, and what to do when none fits."""

    role: str
    model: str | None = None
    bands: tuple[Band, ...] = ()
    fallback: str | None = None
    cloud: str | None = None
    when_nothing_fits: str = "cloud"  # "cloud" or "wait"
    max_attempts: int | None = None
    prompt: str | None = None
    bead_tokens: int | None = None  # tokens in + out one bead may use before the done check decides
    bead_seconds: float | None = None  # wall time one bead's loop may take
    max_turns: int | None = None


@dataclass(frozen=True)
class Roster:
    """All models and role rules of a town."""

    models: Mapping[str, ModelSpec]
    roles: Mapping[str, RoleRule]
    default: str = EMBEDDED  # every role's model when town.toml names none
    builtin: frozenset[str] = frozenset()  # names the catalogue added (town.toml does not define them)

    def model(self, name: str) -> ModelSpec:
        try:
            return self.models[name]
        except KeyError:
            known = ", ".join(sorted(self.models)) or "none"
            raise ConfigError(f"town.toml: no model named {name!r} (models: {known})") from None

    def rule(self, role: str) -> RoleRule:
        return self.roles.get(role) or RoleRule(role)

    def model_for(self, role: str) -> str | None:
        """The model a role uses when no bead size is known: its model, else its first band."""
        rule = self.rule(role)
        return rule.model or (rule.bands[0].model if rule.bands else None)

    def key_variables(self) -> list[str]:
        """The environment variables the roster says hold API keys (secrets, whatever their names)."""
        return sorted({m.api_key_env for m in self.models.values() if m.api_key_env})

    def candidates(self, role: str) -> list[str]:
        """Models a role may use, in the order it prefers them."""
        rule = self.rule(role)
        names: list[str] = []
        listed: list[str | None] = [b.model for b in rule.bands]
        for name in [*listed, rule.model, rule.fallback, rule.cloud]:
            if name and name not in names:
                names.append(name)
        return names or ([self.default] if self.default in self.models else list(self.models)[:1])


def _where(model: str, key: str) -> str:
    return f"town.toml: models.{model}.{key}"


def _get(
    table: Mapping[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    where: str,
    default: Any = None,
) -> Any:
    value = table.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{where}: expected {_name(kind)}, got {value!r}")
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: expected {_name(kind)}, got {value!r}")
    return value


def _name(kind: type | tuple[type, ...]) -> str:
    if isinstance(kind, tuple):
        return " or ".join(k.__name__ for k in kind)
    return kind.__name__


MODEL_KEYS = {
    "model",
    "kind",
    "endpoint",
    "endpoints",
    "api_key_env",
    "context",
    "parallel",
    "weights_mib",
    "kv_mib_per_token",
    "layers",
    "kv_heads",
    "head_dim",
    "cache_type",
    "cache_type_k",
    "cache_type_v",
    "device",
    "ram_mib",
    "cpu_cores",
    "tokens_per_second",
    "price_in_per_mtok",
    "price_out_per_mtok",
    "power_watts",
    "launch",
    "model_path",
    "port",
    "gpu_layers",
    "threads",
    "timeout_s",
    "retries",
    "fallback",
    "structured_output",
    "notes",
    "max_output_tokens",
    "max_turns",
    "tool_mode",
}


def parse_model(name: str, table: Mapping[str, Any]) -> ModelSpec:
    """A ModelSpec from ``[models.NAME]``; ConfigError names the bad key."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"town.toml: models.{name} must be a table")
    unknown = sorted(set(table) - MODEL_KEYS)
    if unknown:
        raise ConfigError(
            f"town.toml: models.{name}: unknown key {unknown[0]!r}",
            f"known keys: {', '.join(sorted(MODEL_KEYS))}",
        )
    number = (int, float)
    kind = _get(table, "kind", str, _where(name, "kind"), "local")
    if kind not in ("local", "cloud"):
        raise ConfigError(f"{_where(name, 'kind')}: must be 'local' or 'cloud', got {kind!r}")
    endpoints = table.get("endpoints", table.get("endpoint", ()))
    if isinstance(endpoints, str):
        endpoints = (endpoints,)
    if not isinstance(endpoints, Sequence) or not all(isinstance(e, str) for e in endpoints):
        raise ConfigError(f"{_where(name, 'endpoints')}: a list of base URLs like http://127.0.0.1:8080/v1")
    cache = _get(table, "cache_type", str, _where(name, "cache_type"), "f16")
    cache_k = _get(table, "cache_type_k", str, _where(name, "cache_type_k"), cache)
    cache_v = _get(table, "cache_type_v", str, _where(name, "cache_type_v"), cache)
    for key, value in (("cache_type_k", cache_k), ("cache_type_v", cache_v)):
        if value not in CACHE_TYPE_BYTES:
            raise ConfigError(
                f"{_where(name, key)}: unknown KV cache type {value!r}",
                f"one of {', '.join(CACHE_TYPE_BYTES)}",
            )
    device = _get(table, "device", str, _where(name, "device"), "gpu" if kind == "local" else "cloud")
    cores = _get(table, "cpu_cores", list, _where(name, "cpu_cores"), [])
    if not all(isinstance(c, int) and c >= 0 for c in cores):
        raise ConfigError(f"{_where(name, 'cpu_cores')}: a list of core numbers")
    launch = _get(table, "launch", list, _where(name, "launch"), [])
    if not all(isinstance(part, str) for part in launch):
        raise ConfigError(f"{_where(name, 'launch')}: a list of strings (a command template)")
    positive = ("context", "parallel")
    for key in positive:
        value = table.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ConfigError(f"{_where(name, key)}: must be a whole number ≥ 1, got {value!r}")
    return ModelSpec(
        name=name,
        model=_get(table, "model", str, _where(name, "model"), name),
        local=kind == "local",
        endpoints=tuple(endpoints),
        api_key_env=_get(table, "api_key_env", str, _where(name, "api_key_env")),
        context=table.get("context", 4096),
        parallel=table.get("parallel", 1),
        weights_mib=float(_get(table, "weights_mib", number, _where(name, "weights_mib"), 0.0)),
        kv_mib_per_token=_float_or_none(_get(table, "kv_mib_per_token", number, _where(name, "kv_mib_per_token"))),
        layers=_get(table, "layers", int, _where(name, "layers")),
        kv_heads=_get(table, "kv_heads", int, _where(name, "kv_heads")),
        head_dim=_get(table, "head_dim", int, _where(name, "head_dim")),
        cache_type_k=cache_k,
        cache_type_v=cache_v,
        device=device,
        ram_mib=float(_get(table, "ram_mib", number, _where(name, "ram_mib"), 0.0)),
        cpu_cores=tuple(cores),
        tokens_per_second=_float_or_none(_get(table, "tokens_per_second", number, _where(name, "tokens_per_second"))),
        price_in_per_mtok=float(_get(table, "price_in_per_mtok", number, _where(name, "price_in_per_mtok"), 0.0)),
        price_out_per_mtok=float(_get(table, "price_out_per_mtok", number, _where(name, "price_out_per_mtok"), 0.0)),
        power_watts=_float_or_none(_get(table, "power_watts", number, _where(name, "power_watts"))),
        launch=tuple(launch),
        model_path=_get(table, "model_path", str, _where(name, "model_path")),
        port=_get(table, "port", int, _where(name, "port")),
        gpu_layers=_get(table, "gpu_layers", int, _where(name, "gpu_layers")),
        threads=_get(table, "threads", int, _where(name, "threads")),
        timeout_s=float(_get(table, "timeout_s", number, _where(name, "timeout_s"), 300.0)),
        retries=_get(table, "retries", int, _where(name, "retries"), 3),
        fallback=_get(table, "fallback", str, _where(name, "fallback")),
        structured_output=_get(table, "structured_output", bool, _where(name, "structured_output"), True),
        max_output_tokens=_get(table, "max_output_tokens", int, _where(name, "max_output_tokens"), 1024),
        max_turns=_get(table, "max_turns", int, _where(name, "max_turns")),
        tool_mode=_tool_mode(table, name),
        extra={k: v for k, v in table.items() if k == "notes"},
    )


def _tool_mode(table: Mapping[str, Any], name: str) -> str:
    mode = _get(table, "tool_mode", str, _where(name, "tool_mode"), "native")
    if mode not in ("native", "schema"):
        raise ConfigError(f"{_where(name, 'tool_mode')}: 'native' or 'schema', got {mode!r}")
    return str(mode)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


ROLE_KEYS = {
    "model",
    "bands",
    "fallback",
    "cloud",
    "when_nothing_fits",
    "max_attempts",
    "prompt",
    "bead_tokens",
    "bead_seconds",
    "max_turns",
}


def _positive_int(table: Mapping[str, Any], key: str, where: str) -> int | None:
    value = _get(table, key, int, f"{where}.{key}")
    if value is not None and value < 1:
        raise ConfigError(f"{where}.{key}: must be at least 1, got {value}")
    return None if value is None else int(value)


def _positive_number(table: Mapping[str, Any], key: str, where: str) -> float | None:
    value = _get(table, key, (int, float), f"{where}.{key}")
    if value is not None and not (0 < value < 1e9):
        raise ConfigError(f"{where}.{key}: must be a number of seconds above 0, got {value}")
    return None if value is None else float(value)


def parse_role(role: str, table: Mapping[str, Any]) -> RoleRule:
    if not isinstance(table, Mapping):
        raise ConfigError(f"town.toml: roles.{role} must be a table")
    where = f"town.toml: roles.{role}"
    unknown = sorted(set(table) - ROLE_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}", f"known keys: {', '.join(sorted(ROLE_KEYS))}")
    bands = []
    for n, band in enumerate(_get(table, "bands", list, f"{where}.bands", [])):
        if not isinstance(band, Mapping) or "max_tokens" not in band or "model" not in band:
            raise ConfigError(f"{where}.bands[{n}]: needs max_tokens and model")
        bands.append(
            Band(
                int(band["max_tokens"]),
                str(band["model"]),
                int(band.get("parallel", 1)),
            )
        )
    bands.sort(key=lambda b: b.max_tokens)
    fits = _get(table, "when_nothing_fits", str, f"{where}.when_nothing_fits", "cloud")
    if fits not in ("cloud", "wait"):
        raise ConfigError(f"{where}.when_nothing_fits: 'cloud' or 'wait', got {fits!r}")
    return RoleRule(
        role=role,
        model=_get(table, "model", str, f"{where}.model"),
        bands=tuple(bands),
        fallback=_get(table, "fallback", str, f"{where}.fallback"),
        cloud=_get(table, "cloud", str, f"{where}.cloud"),
        when_nothing_fits=fits,
        max_attempts=_get(table, "max_attempts", int, f"{where}.max_attempts"),
        prompt=_get(table, "prompt", str, f"{where}.prompt"),
        bead_tokens=_positive_int(table, "bead_tokens", where),
        bead_seconds=_positive_number(table, "bead_seconds", where),
        max_turns=_positive_int(table, "max_turns", where),
    )


def models_dir() -> Path:
    """Where pulled models live: ``$XDG_CACHE_HOME/gastown/models``, else ``~/.cache/gastown/models``."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec: a relative path is invalid and must be ignored.
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "gastown" / "models"


def stamp_path(path: Path) -> Path:
    """The stamp beside a verified GGUF: its size, mtime and sha256 when it was last hashed."""
    return path.with_name(path.name + ".verified")


def stamp(path: Path, known: catalog.KnownModel) -> dict[str, Any]:
    """What the stamp of ``path``, just verified as ``known``, holds."""
    stat = path.stat()
    return {"model": known.name, "sha256": known.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def pulled_path(known: catalog.KnownModel, folder: Path | None = None) -> Path | None:
    """The verified GGUF of a pulled model, or None. Trusts the stamp: no rehash."""
    if not known.pulled_by_pip:
        return None
    path = (folder or models_dir()) / known.file
    try:
        recorded = json.loads(stamp_path(path).read_text())
        current = stamp(path, known)
    except (OSError, ValueError):
        return None
    return path if recorded == current and current["size"] == known.size else None


def known_spec(known: catalog.KnownModel, name: str | None = None) -> ModelSpec:
    """The roster's entry for a catalogue model (served by the runner from the user's cache)."""
    path = pulled_path(known)
    return ModelSpec(
        name=name or known.name,
        model=known.model,
        local=True,
        endpoints=(),  # filled in by the runner once the server is up
        context=known.context,
        parallel=1,
        weights_mib=known.weights_mib,
        layers=known.layers,
        kv_heads=known.kv_heads,
        head_dim=known.head_dim,
        device="cpu",  # llama-cpp-python as installed here has no GPU offload
        ram_mib=known.ram_mib,
        tokens_per_second=known.tokens_per_second,
        timeout_s=known.timeout_s,
        structured_output=known.structured_output,
        max_output_tokens=known.max_output_tokens,
        max_turns=known.max_turns,
        tool_mode=known.tool_mode,
        model_path=str(path) if path else None,
        extra={"catalog": known.name},
    )


def embedded_spec() -> ModelSpec:
    """SmolLM2-135M on this machine's CPU, under its old name: the tiny model."""
    return known_spec(catalog.TINY, EMBEDDED)


def default_model(defined: Mapping[str, ModelSpec]) -> str:
    """Every role's model when none is configured: the 1.5B once pulled (or defined), else the tiny one."""
    wanted = catalog.DEFAULT
    if wanted in defined or pulled_path(catalog.MODELS[wanted]) is not None:
        return wanted
    return EMBEDDED


def load(models: Mapping[str, Any], roles: Mapping[str, Any]) -> Roster:
    """The roster from town.toml's ``[models]`` and ``[roles]``; checks every reference."""
    parsed = {name: parse_model(name, table) for name, table in models.items()}
    defined = dict(parsed)
    for known in catalog.MODELS.values():
        for name in (known.name, *known.aliases):
            if name not in parsed:
                parsed[name] = known_spec(known, name)
    rules = {role: parse_role(role, table) for role, table in roles.items()}
    for name, spec in parsed.items():
        if spec.fallback and spec.fallback not in parsed:
            raise ConfigError(f"{_where(name, 'fallback')}: no model named {spec.fallback!r}")
        if not spec.local and not spec.endpoints:
            raise ConfigError(f"{_where(name, 'endpoints')}: a cloud model needs its endpoint")
    for rule in rules.values():
        named: list[str | None] = [b.model for b in rule.bands]
        for wanted in [*named, rule.model, rule.fallback, rule.cloud]:
            if wanted and wanted not in parsed:
                raise ConfigError(f"town.toml: roles.{rule.role} names model {wanted!r}, which is not in [models]")
    return Roster(parsed, rules, default_model(defined), frozenset(parsed) - frozenset(defined))
