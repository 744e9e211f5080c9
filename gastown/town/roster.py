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

The keys of a ``[models.NAME]`` and a ``[roles.NAME]`` table, their types and bounds, are
defined once, in ``schemas/town.schema.json``: a table is held to that definition (the
compiled validator of ``gastown.town.schema``) and read into its dataclass key by key.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gastown.errors import ConfigError, as_written
from gastown.town import catalog, schema

MIB = 1024 * 1024
SEEDS = 2**32  # a sampling seed is a 32-bit number (llama.cpp's)

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
    # "native": the OpenAI tools parameter. "text": the tools described in the system prompt
    # and calls read from the reply's text (a small model shown the tools' JSON definitions
    # answers with fragments of them). "schema": each reply is one tool call as JSON, held
    # to a JSON Schema by the server's grammar (llama.cpp's json_object + schema); for small
    # models whose native tool calls run on past their length limit.
    tool_mode: str = "native"
    # top_p, top_k, min_p, repeat_penalty: sent with every request (the temperature is the
    # loop's). Qwen's coders ask for top_p 0.8, top_k 20; a server's own defaults are wider.
    # seed: reproducible sampling, a process's n-th request to the model seeded seed + n - 1.
    sampling: Mapping[str, float] = field(default_factory=dict)
    # the chat template gastown may render itself to start a reply (gastown.machine.templates):
    # "chatml" for Qwen's; None asks by chat only
    template: str | None = None
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


def _definition(name: str) -> Mapping[str, Any]:
    """A table's definition in town.schema.json: the one list of its keys and their types."""
    found: Mapping[str, Any] = schema.schema_of("town")["$defs"][name]
    return found


MODEL_KEYS = frozenset(_definition("model")["properties"])
ROLE_KEYS = frozenset(_definition("role")["properties"])

# The keys of [models.NAME] that are not a ModelSpec field of their own name (read into
# ``local``, ``endpoints``, ``cache_type_k``/``_v`` and ``extra``), and the fields no key
# names. Every other key is read into its field; a test holds the three lists together.
MODEL_ONLY_KEYS = frozenset({"kind", "endpoint", "cache_type", "notes"})
SPEC_ONLY_FIELDS = frozenset({"name", "local", "extra"})

_BOUNDS = (("minimum", "≥"), ("exclusiveMinimum", "above"), ("maximum", "≤"), ("exclusiveMaximum", "below"))
_NOUNS = {
    "integer": ("a whole number", "whole numbers"),
    "number": ("a number", "numbers"),
    "string": ("a string", "strings"),
    "boolean": ("true or false", "true or false"),
    "array": ("a list", "lists"),
    "object": ("a table", "tables"),
}


def _check(section: str, name: str, table: Any) -> None:
    """Hold ``[section.name]`` to its definition in town.schema.json; ConfigError names the first bad key."""
    where = f"town.toml: {section}.{name}"
    # Checked under a stand-in name: every table of a section has the same definition,
    # and a name with a dot in it ("smollm2-1.7b") would blur the path of the bad key.
    found = schema.first_violation("town", {section: {"_": table}})
    if found is None:
        _finite(table, where)
        return
    steps = found.path[2:]
    at = where + "".join(f"[{step}]" if step.isdigit() else f".{step}" for step in steps)
    rule = found.rule
    if found.keyword == "additionalProperties" and isinstance(found.value, Mapping):
        known = sorted(rule.get("properties", ()))
        unknown = sorted(set(found.value) - set(known))
        raise ConfigError(f"{at}: unknown key {unknown[0]!r}", f"known keys: {', '.join(known)}")
    if found.keyword == "required":
        raise ConfigError(f"{at}: needs {' and '.join(rule['required'])}")
    if found.keyword == "enum" and "title" in rule:
        raise ConfigError(f"{at}: unknown {rule['title']} {_shown(found.value)}", f"one of {', '.join(rule['enum'])}")
    if not steps and found.keyword == "type":
        raise ConfigError(f"{where} must be a table")
    raise ConfigError(f"{at}: must be {_expected(rule)}, got {_shown(found.value)}")


def _finite(table: Mapping[str, Any], where: str) -> None:
    """No nan or inf: a schema cannot refuse them (JSON has neither), TOML can write both."""
    for key, value in table.items():
        items = value if isinstance(value, list) else [value]
        for item in items:
            numbers = item.values() if isinstance(item, Mapping) else [item]
            if any(isinstance(n, float) and not math.isfinite(n) for n in numbers):
                raise ConfigError(f"{where}.{key}: must be a finite number, got {_shown(value)}")


def _expected(rule: Mapping[str, Any], plural: bool = False) -> str:
    """What a value must be, in words, from its definition: ``a whole number ≥ 1``."""
    if "enum" in rule:
        choices = [as_written(choice) for choice in rule["enum"]]
        return " or ".join(choices) if len(choices) < 3 else f"{', '.join(choices[:-1])} or {choices[-1]}"
    if "anyOf" in rule:
        return " or ".join(_expected(branch, plural) for branch in rule["anyOf"])
    one, many = _NOUNS.get(rule.get("type", ""), ("a value", "values"))
    words = many if plural else one
    if "items" in rule:
        words += f" of {_expected(rule['items'], plural=True)}"
    bounds = [f"{sign} {_bound(rule[key])}" for key, sign in _BOUNDS if key in rule]
    return f"{words} {' and '.join(bounds)}" if bounds else words


def _bound(value: float) -> str:
    """A bound as a person writes it: ``10000000`` and ``0.5`` in full, ``1e+12`` past ten billion."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e10 else f"{value:g}"


def _shown(value: Any) -> str:
    shown = as_written(value)
    return shown if len(shown) <= 60 else shown[:56] + "..." + shown[-1]


def _typed(key: str, value: Any, definition: Mapping[str, Any]) -> Any:
    """A checked value as its field holds it: numbers as floats, whole numbers as ints, lists as tuples."""
    kind = definition["properties"][key].get("type")
    if kind == "number":
        return float(value)
    if kind == "integer":
        return int(value)  # the schema's integers include 2.0
    if kind == "array":
        return tuple(value)
    return value


def parse_model(name: str, table: Mapping[str, Any]) -> ModelSpec:
    """A ModelSpec from ``[models.NAME]``; ConfigError names the bad key."""
    _check("models", name, table)
    definition = _definition("model")
    local = table.get("kind", "local") == "local"
    endpoints = table.get("endpoints", table.get("endpoint", ()))
    cache = table.get("cache_type", "f16")
    given: dict[str, Any] = {
        "name": name,
        "model": name,
        "local": local,
        "device": "gpu" if local else "cloud",
        "cache_type_k": cache,
        "cache_type_v": cache,
        "extra": {key: value for key, value in table.items() if key == "notes"},
    }
    given |= {key: _typed(key, value, definition) for key, value in table.items() if key not in MODEL_ONLY_KEYS}
    given["endpoints"] = (endpoints,) if isinstance(endpoints, str) else tuple(endpoints)
    return ModelSpec(**given)


def parse_role(role: str, table: Mapping[str, Any]) -> RoleRule:
    """A RoleRule from ``[roles.NAME]``; ConfigError names the bad key."""
    _check("roles", role, table)
    definition = _definition("role")
    given = {key: _typed(key, value, definition) for key, value in table.items()}
    bands = [Band(int(b["max_tokens"]), b["model"], int(b.get("parallel", 1))) for b in table.get("bands", ())]
    given["bands"] = tuple(sorted(bands, key=lambda b: b.max_tokens))
    return RoleRule(role=role, **given)


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
        sampling=dict(known.sampling),
        template=known.template,
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


# Keys that make a town.toml entry named like a known model a model of the town's own (served
# elsewhere, or started another way); without them the entry tunes the known model.
OWN_MODEL_KEYS = frozenset({"endpoint", "endpoints", "launch", "kind"})


def tuned(known: catalog.KnownModel, name: str, table: Mapping[str, Any]) -> ModelSpec:
    """A known model with the settings town.toml gives it (``sampling``, ``context`` …) and
    the catalogue's for the rest: a town that only wants other sampling for the 1.5B keeps
    its device, context, tool mode, file and the sampling keys it does not set."""
    _check("models", name, table)
    definition = _definition("model")
    spec = known_spec(known, name)
    changed = {key: _typed(key, value, definition) for key, value in table.items() if key not in MODEL_ONLY_KEYS}
    if "cache_type" in table:
        changed |= {"cache_type_k": table["cache_type"], "cache_type_v": table["cache_type"]}
    if "notes" in table:
        changed["extra"] = {**spec.extra, "notes": table["notes"]}
    if "sampling" in changed:  # key by key: top_k = 40 alone keeps the model's top_p
        changed["sampling"] = {**spec.sampling, **changed["sampling"]}
    return replace(spec, **changed)


def _model(name: str, table: Mapping[str, Any]) -> ModelSpec:
    known = catalog.find(name)
    if known is not None and isinstance(table, Mapping) and not OWN_MODEL_KEYS & set(table):
        return tuned(known, name, table)
    return parse_model(name, table)


def load(models: Mapping[str, Any], roles: Mapping[str, Any]) -> Roster:
    """The roster from town.toml's ``[models]`` and ``[roles]``; checks every reference. An
    entry named like a known model with no endpoint, launch or kind tunes that model."""
    parsed = {name: _model(name, table) for name, table in models.items()}
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
