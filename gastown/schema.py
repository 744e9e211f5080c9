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
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from gastown import bead as beadmod
from gastown.errors import InvalidBead
from gastown.resources import data_dir

if TYPE_CHECKING:
    import jsonschema

KINDS = ("bead", "convoy", "rig", "town", "plan", "result")
MAX_MESSAGE = 160


@cache
def schema_of(kind: str) -> dict[str, Any]:
    """The parsed JSON Schema for ``kind``."""
    loaded: dict[str, Any] = json.loads((data_dir("schemas") / f"{kind}.schema.json").read_text())
    return loaded


@cache
def _fast(kind: str) -> Callable[[Any], Any]:
    import fastjsonschema

    validate: Callable[[Any], Any] = fastjsonschema.compile(schema_of(kind))
    return validate


def is_valid(kind: str, instance: Any) -> bool:
    """The quick verdict, with no report."""
    import fastjsonschema

    try:
        _fast(kind)(instance)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


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


def _fast_reason(kind: str, instance: Any) -> str:
    import fastjsonschema

    try:
        _fast(kind)(instance)
    except fastjsonschema.JsonSchemaException as error:
        return str(error)
    return "invalid"


def check(kind: str, instance: Any, what: str) -> None:
    """Raise InvalidBead naming ``what`` when ``instance`` is not a valid ``kind``."""
    found = problems(kind, instance)
    if found:
        raise InvalidBead([f"{what}: {p}" for p in found])


def parse_json(raw: bytes | str, what: str) -> Any:
    """JSON from ``raw``, or InvalidBead saying where the syntax broke."""
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise InvalidBead([f"{what}: not UTF-8 text"]) from None
    except json.JSONDecodeError as error:
        raise InvalidBead(
            [f"{what}: not valid JSON ({error.msg} at line {error.lineno} column {error.colno})"]
        ) from None
    except RecursionError:
        raise InvalidBead([f"{what}: JSON nested too deeply"]) from None


def load_bead(raw: bytes | str, source: str, expected_id: str | None = None) -> beadmod.Bead:
    """A validated Bead from the bytes of a bead file; InvalidBead lists every problem."""
    data = parse_json(raw, source)
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
