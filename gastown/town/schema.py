"""The one door to JSON Schema: validate beads, convoys, rigs and town configs.

Two validators, one schema file: ``fastjsonschema`` compiles each schema to Python
once and answers "valid?" in microseconds without importing much, which keeps the git
hooks quick; ``jsonschema`` writes the full report when something is wrong. A test
holds the two to the same verdict. Messages name the thing (``bead gt-3k9x2``), the
JSON path (``$.priority``) and the reason, and never carry more than a short excerpt of
the offending value.
"""

from __future__ import annotations

import json
import marshal
import os
import re
import sys
import threading
import types
import zlib
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gastown.errors import InvalidBead
from gastown.town import bead as beadmod
from gastown.town.resources import data_dir

if TYPE_CHECKING:
    import jsonschema

KINDS = ("bead", "convoy", "rig", "town", "plan", "result")
MAX_MESSAGE = 160

# A count up to this stays in a decoding grammar (llama.cpp repeats a rule that many times).
GRAMMAR_SAFE_COUNT = 8
_GRAMMAR_COUNTS = frozenset({"minLength", "maxLength", "minItems", "maxItems"})
_GRAMMAR_DROPPED = frozenset(
    {
        "$schema",
        "$id",
        "pattern",
        "patternProperties",
        "format",
        "uniqueItems",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minProperties",
        "maxProperties",
        "propertyNames",
        "contains",
        "minContains",
        "maxContains",
        "if",
        "then",
        "else",
        "not",
        "dependentRequired",
        "dependentSchemas",
    }
)
_SCHEMA_MAPS = frozenset({"properties", "$defs", "definitions"})  # name -> subschema
_SCHEMA_VALUES = frozenset({"items", "prefixItems", "additionalProperties", "anyOf", "oneOf", "allOf"})


@cache
def schema_of(kind: str) -> dict[str, Any]:
    """The parsed JSON Schema for ``kind``."""
    loaded: dict[str, Any] = json.loads((data_dir("schemas") / f"{kind}.schema.json").read_text())
    return loaded


@cache
def _fast(kind: str) -> Callable[[Any], Any]:
    """``kind``'s fastjsonschema validator. Generating and compiling its code takes ~20 ms,
    which every short-lived process (a hook, a ``gt`` command) would pay: the compiled code
    is kept in the user's cache, keyed by the schema file's bytes, fastjsonschema's version
    and Python's, and used only from a file and folder that this user owns and no one else
    may write. The key is a CRC, not a cryptographic hash: it tells versions of our own file
    apart, and loading OpenSSL for it would cost a hook more than the check itself."""
    import fastjsonschema

    raw = (data_dir("schemas") / f"{kind}.schema.json").read_bytes()
    key = zlib.crc32(f"{fastjsonschema.VERSION}\0{sys.version}\0".encode() + raw)
    folder = _cache_dir()
    cached = folder / f"{kind}-{key:08x}-{len(raw):x}.marshal" if folder is not None else None
    code = _cached_code(cached) if cached is not None else None
    if code is None:
        code = compile(fastjsonschema.compile_to_code(schema_of(kind)), f"<{kind} schema>", "exec")
        if cached is not None:
            _keep(cached, marshal.dumps(code))
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # noqa: S102 (our own schema's code, compiled here or by an earlier run of ours)
    entry = next(name for name in code.co_names if name.startswith("validate"))
    validate: Callable[[Any], Any] = namespace[entry]
    return validate


def _cache_dir() -> Path | None:
    try:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    except RuntimeError:  # no home (a service user without one): nothing is kept
        return None
    return Path(base) / "gastown" / "schemas"


def _private(path: Path) -> bool:
    """Owned by this user, and writable by no one else."""
    info = path.stat()
    return info.st_uid == os.getuid() and not info.st_mode & 0o022


def _cached_code(path: Path) -> types.CodeType | None:
    try:
        if not (_private(path.parent) and _private(path)):
            return None
        code = marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    return code if isinstance(code, types.CodeType) else None


def _keep(path: Path, data: bytes) -> None:
    """Write the cache file whole (a read-only or foreign cache is left alone: compiled again next time)."""
    with suppress(OSError):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)


def is_valid(kind: str, instance: Any) -> bool:
    """The quick verdict, with no report."""
    import fastjsonschema

    try:
        _fast(kind)(instance)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


@dataclass(frozen=True)
class Violation:
    """The first way an instance breaks its schema, as the quick validator finds it."""

    path: tuple[str, ...]  # from the instance's root, an item's index as digits ("bands", "0", "model")
    keyword: str  # what it breaks: "type", "minimum", "enum", "required", "additionalProperties" ...
    rule: Mapping[str, Any]  # the subschema holding the keyword, a $ref followed
    value: Any  # the part of the instance at ``path``


def first_violation(kind: str, instance: Any) -> Violation | None:
    """Where ``instance`` first breaks ``kind``'s schema, or None: the quick validator's
    answer, without jsonschema. A key holding a dot reads as two steps of ``path``."""
    import fastjsonschema

    try:
        _fast(kind)(instance)
    except fastjsonschema.JsonSchemaValueException as error:
        return Violation(tuple(error.path[1:]), error.rule or "", error.definition or {}, error.value)
    return None


@cache
def _validator(kind: str) -> jsonschema.protocols.Validator:
    import jsonschema

    schema = schema_of(kind)
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator: jsonschema.protocols.Validator = validator_class(schema)
    return validator


def _message(error: jsonschema.ValidationError) -> str:
    """jsonschema's message with a long offending value cut down, keeping the reason."""
    text = str(error.message)
    shown = repr(error.instance)
    if len(shown) > 48 and shown in text:
        text = text.replace(shown, shown[:40] + "..." + shown[-1], 1)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def problems(kind: str, instance: Any) -> list[str]:
    """Every schema violation of ``instance`` as ``$.path: reason``; empty when valid."""
    if is_valid(kind, instance):
        return []
    import jsonschema

    found = []
    errors = sorted(_validator(kind).iter_errors(instance), key=lambda e: list(map(str, e.path)))
    for error in errors:
        if error.context:  # oneOf/anyOf: report the branch that came closest
            error = jsonschema.exceptions.best_match(error.context) or error
        found.append(f"{error.json_path}: {_message(error)}")
    return found or [f"$: {_fast_reason(kind, instance)}"]


def grammar_safe(node: Any) -> Any:
    """``node`` with only what a decoding grammar holds cheaply: shapes stay, bounds go.

    llama.cpp turns a schema into a grammar for constrained decoding and expands every
    count into that many rules: ``maxLength: 8000`` aborts the grammar ("number of rules
    that are going to be repeated ... exceeds sane defaults") and can take the server down
    with it. Types, ``required``, ``enum``, ``const``, properties and references stay, as do
    counts up to ``GRAMMAR_SAFE_COUNT``; longer counts, patterns, formats and numeric ranges
    are dropped, to be checked on the decoded value against the full schema.
    """
    if isinstance(node, list):
        return [grammar_safe(item) for item in node]
    if not isinstance(node, dict):
        return node
    safe: dict[str, Any] = {}
    for key, value in node.items():
        if key in _GRAMMAR_DROPPED:
            continue
        if key in _GRAMMAR_COUNTS:
            if isinstance(value, int) and value <= GRAMMAR_SAFE_COUNT:
                safe[key] = value
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            safe[key] = {name: grammar_safe(sub) for name, sub in value.items()}
        elif key in _SCHEMA_VALUES:
            safe[key] = grammar_safe(value)
        else:
            safe[key] = value  # type, required, enum, const, $ref, descriptions: kept as they are
    return safe


def _fast_reason(kind: str, instance: Any) -> str:
    import fastjsonschema

    try:
        _fast(kind)(instance)
    except fastjsonschema.JsonSchemaException as error:
        return str(error)
    return "invalid"


@cache
def _adhoc_validator(text: str) -> jsonschema.protocols.Validator:
    import jsonschema

    schema = json.loads(text)
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator: jsonschema.protocols.Validator = validator_class(schema)
    return validator


def violations(schema: Mapping[str, Any], instance: Any) -> list[tuple[list[str | int], str, str]]:
    """How ``instance`` breaks a schema that is not a file (a tool's parameters): (path, keyword, reason)."""
    import jsonschema

    found = []
    for error in _adhoc_validator(json.dumps(schema, sort_keys=True)).iter_errors(instance):
        if error.context:  # oneOf/anyOf: report the branch that came closest
            error = jsonschema.exceptions.best_match(error.context) or error
        found.append((list(error.absolute_path), str(error.validator), _message(error)))
    return sorted(found, key=lambda f: [str(p) for p in f[0]])


def check(kind: str, instance: Any, what: str) -> None:
    """Raise InvalidBead naming ``what`` when ``instance`` is not a valid ``kind``."""
    found = problems(kind, instance)
    if found:
        raise InvalidBead([f"{what}: {p}" for p in found])


# A NUL or a lone surrogate reaches decoded JSON only as an escape (the raw bytes are not UTF-8
# text, or not allowed in a JSON string): ``\u0000``, ``\ud800``-``\udfff``.
_ESCAPES_RE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
MAX_DEPTH = 32  # JSON nesting a bead or convoy may have: deeper is refused before it is parsed


def parse_json(raw: bytes | str, what: str) -> Any:
    """JSON from ``raw``, or InvalidBead saying what is wrong: the syntax, nesting deeper
    than MAX_DEPTH (checked before parsing: a deep document exhausts every later reader's
    stack), or a string no writer can encode (a lone surrogate such as ``"\\ud800"``, a NUL)."""
    try:
        text = raw.decode() if isinstance(raw, bytes) else raw
        depth = _depth(text)
        if depth > MAX_DEPTH:
            raise InvalidBead([f"{what}: JSON nested {depth} deep; at most {MAX_DEPTH} levels"])
        data = json.loads(text)
        # From bytes, only an escape can make one (the bytes decoded as UTF-8, and JSON allows no raw NUL).
        bad = _unwritable(data) if _ESCAPES_RE.search(text) or isinstance(raw, str) else None
        if bad is not None:
            raise InvalidBead([f"{what}: {bad}: remove it (text must be valid Unicode without NUL)"])
        return data
    except UnicodeDecodeError:
        raise InvalidBead([f"{what}: not UTF-8 text"]) from None
    except json.JSONDecodeError as error:
        raise InvalidBead(
            [f"{what}: not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"]
        ) from None
    except RecursionError:
        raise InvalidBead([f"{what}: JSON nested too deeply"]) from None


def _depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` in JSON text, outside strings (when that cannot
    exceed MAX_DEPTH, the count of brackets: a bound, found without walking the text)."""
    brackets = text.count("[") + text.count("{")
    if brackets <= MAX_DEPTH:  # no deeper than that, and counting is quick: skip the walk
        return brackets
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _unwritable(value: Any, where: str = "$") -> str | None:
    """Where ``value`` holds a string that cannot be written back (a lone surrogate, a NUL)."""
    if isinstance(value, str):
        if "\0" in value:
            return f"{where} holds a NUL character"
        try:
            value.encode()
        except UnicodeEncodeError:
            return f"{where} holds a lone surrogate (an escape like \\ud800 with no pair)"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _unwritable(key, f"{where} (a key)") or _unwritable(item, f"{where}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for n, item in enumerate(value):
            found = _unwritable(item, f"{where}[{n}]")
            if found:
                return found
    return None


def load_bead(raw: bytes | str, source: str, expected_id: str | None = None) -> beadmod.Bead:
    """A validated Bead from the bytes of a bead file; InvalidBead lists every problem."""
    return bead_of(parse_json(raw, source), source, expected_id)


def bead_of(data: Any, source: str, expected_id: str | None = None) -> beadmod.Bead:
    """A validated Bead from a bead file's parsed JSON (``parse_json``): the one definition
    of a bead the hook, ``gt validate``, the index and every reader apply."""
    what = source
    if isinstance(data, dict) and isinstance(data.get("id"), str) and data["id"] not in source:
        what = f"bead {data['id']} ({source})"
    found = problems("bead", data)
    if not found and isinstance(data.get("result"), dict):
        found = [p.replace("$", "$.result", 1) for p in problems("result", data["result"])]
    if found:
        raise InvalidBead([f"{what}: {p}" for p in found])
    bead = beadmod.Bead.from_dict(data)
    found = beadmod.semantic_problems(bead)
    if expected_id is not None and bead.id != expected_id:
        found.insert(0, f"$.id: {bead.id!r} does not match the file name ({expected_id}.json)")
    if found:
        raise InvalidBead([f"{what}: {p}" for p in found])
    return bead
