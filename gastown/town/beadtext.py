"""A bead's fields as a person types them: ``field=value`` edits and ``gt-x:type`` dependencies.

``gt bead add --dep``, ``gt bead edit --set`` and the Refinery's follow-up beads read
these forms; a bad one is a ``UsageError`` that names the field and what it takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gastown.errors import UsageError
from gastown.town import ids
from gastown.town.bead import BLOCKS, DEPENDENCY_TYPES, PROTOCOL_FIELDS, Dependency

_INT_FIELDS = {"priority", "estimated_tokens"}
_LIST_FIELDS = {"labels", "acceptance_tests"}
_TEXT_FIELDS = {
    "title",
    "description",
    "design",
    "acceptance_criteria",
    "notes",
    "role",
    "rig",
    "convoy",
    "assignee",
    "issue_type",
    "external_ref",
    "close_reason",
}


def parse_assignments(assignments: Sequence[str]) -> dict[str, Any]:
    """``["priority=1", "labels=a,b", "dependencies=gt-x,gt-y:related"]`` as typed fields."""
    changes: dict[str, Any] = {}
    for item in assignments:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise UsageError(f"--set {item!r}: expected field=value")
        if name in PROTOCOL_FIELDS:
            raise UsageError(
                f"--set {name}: {name} belongs to the claim protocol",
                "use gt claim / renew / release / complete / fail / retry",
            )
        if name in _INT_FIELDS:
            if value.strip() in ("", "null", "none") and name == "estimated_tokens":
                changes[name] = None
                continue
            try:
                changes[name] = int(value)
            except ValueError:
                raise UsageError(f"--set {name}: {value!r} is not a whole number") from None
        elif name in _LIST_FIELDS:
            changes[name] = tuple(v.strip() for v in value.split(",") if v.strip())
        elif name == "dependencies":
            changes[name] = tuple(parse_dependency(v) for v in value.split(",") if v.strip())
        elif name in _TEXT_FIELDS:
            nullable = name in ("rig", "convoy", "assignee", "external_ref", "close_reason")
            changes[name] = None if nullable and value == "" else value
        else:
            known = ", ".join(sorted(_INT_FIELDS | _LIST_FIELDS | _TEXT_FIELDS | {"dependencies"}))
            raise UsageError(f"--set {name}: no such field", f"editable fields: {known}")
    return changes


def parse_dependency(text: str) -> Dependency:
    """``gt-x`` (blocks) or ``gt-x:related``."""
    bead_id, _, kind = text.strip().partition(":")
    kind = kind or BLOCKS
    if kind not in DEPENDENCY_TYPES:
        raise UsageError(f"dependency {text!r}: type must be one of {', '.join(DEPENDENCY_TYPES)}")
    if not ids.is_valid_id(bead_id):
        raise UsageError(f"dependency {text!r}: {bead_id!r} is not a bead id (like gt-3k9x2)")
    return Dependency(bead_id, kind)
