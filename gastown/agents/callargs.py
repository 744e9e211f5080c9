"""A tool call's arguments: decoded, coerced to what the tool's schema asks, and checked.

Shared by structured ``tool_calls`` and the calls recovered from text (``textcalls``);
``toolcalls.parse`` puts the two together.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from gastown.agents import jsonfix
from gastown.town import schema

# Strict first; then raw newlines and tabs inside strings are taken as they are (a repair).
DECODERS = ((json.JSONDecoder(), False), (json.JSONDecoder(strict=False), True))


def base_name(name: str) -> str:
    """``functions.write_file`` or ``default_api:write_file`` -> ``write_file``."""
    return re.split(r"[.:]", name.strip())[-1]


def arguments(raw: Any) -> tuple[dict[str, Any] | None, bool]:
    """Arguments as an object, and whether they had to be repaired; None when not an object."""
    if isinstance(raw, dict):
        return raw, False
    if raw is None or raw == "":
        return {}, False
    if not isinstance(raw, str):
        return None, False
    for decoder, repaired in DECODERS:
        try:
            value = decoder.decode(raw)
        except (ValueError, RecursionError):
            continue
        return (value, repaired) if isinstance(value, dict) else (None, False)
    text = raw.strip()
    value = None if text.startswith("{") else first_json_object(text)  # prose around whole JSON
    if not isinstance(value, dict) and "{" in text:
        value = jsonfix.repair(text[text.index("{") :])
    return (value, True) if isinstance(value, dict) else (None, False)


def first_json_object(text: str) -> Any:
    """The first complete JSON value in ``text`` starting at a ``{`` or ``[``."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[\[{]", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        return value
    return None


def coerce(arguments: Mapping[str, Any], parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    """The few harmless fixes small models need, made before validation.

    Where the schema asks for an integer, a number or a boolean: a string that spells one
    (``"12"`` -> 12, ``"true"`` -> True), and a whole float for an integer (12.0 -> 12).
    Where it asks for an array or an object: JSON text of one. Nothing else is changed.
    """
    fixed: dict[str, Any] = {}
    for key, value in arguments.items():
        wanted = wanted_type(parameters, key)
        fixed[key] = value if wanted is None else _as_type(value, wanted)
    return fixed


def wanted_type(parameters: Mapping[str, Any] | None, key: str) -> str | None:
    """The one JSON type the schema gives argument ``key``, if it gives one."""
    prop = ((parameters or {}).get("properties") or {}).get(key)
    wanted = prop.get("type") if isinstance(prop, Mapping) else None
    return wanted if isinstance(wanted, str) else None


_INTEGER_RE = re.compile(r"[-+]?\d+")
_NUMBER_RE = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _as_type(value: Any, wanted: str) -> Any:
    """``value`` as the ``wanted`` JSON type where it plainly spells one; else unchanged."""
    if wanted == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, str):
        return value
    text = value.strip()
    if wanted == "integer" and _INTEGER_RE.fullmatch(text):
        return int(text)
    if wanted == "number" and _NUMBER_RE.fullmatch(text):
        return int(text) if _INTEGER_RE.fullmatch(text) else float(text)
    if wanted == "boolean" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if wanted in ("array", "object") and text[:1] in "[{":
        try:
            decoded = json.loads(text)
        except ValueError:
            return value
        if isinstance(decoded, list if wanted == "array" else dict):
            return decoded
    return value


def loose_value(raw: str) -> Any:
    """An untyped XML parameter: JSON when it looks like JSON, else the text."""
    stripped = raw.strip()
    if stripped[:1] in "[{" or stripped in ("true", "false", "null") or re.fullmatch(r"-?\d+(\.\d+)?", stripped):
        try:
            return json.loads(stripped)
        except ValueError:
            pass
    return raw


def problem(parameters: Mapping[str, Any] | None, arguments: Mapping[str, Any]) -> str | None:
    """Why ``arguments`` do not fit the tool's schema, naming the argument; None when they do."""
    if parameters is None:
        return None
    missing = [p for p in parameters.get("required", ()) if p not in arguments]
    if missing:
        return f"missing required argument(s) {', '.join(missing)}"
    reasons = []
    for path, keyword, reason in schema.violations(parameters, arguments):
        if path:
            inner = "".join(f"[{p!r}]" for p in path[1:])
            reasons.append(f"argument {path[0]!r}{inner}: {reason}")
        elif keyword == "additionalProperties":
            known = parameters.get("properties") or {}
            extra = ", ".join(repr(k) for k in arguments if k not in known)
            reasons.append(f"unknown argument(s) {extra}; it takes: {', '.join(known) or 'no arguments'}")
        else:
            reasons.append(reason)
    return "; ".join(reasons) or None
