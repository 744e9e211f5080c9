"""The bead: a frozen task value with an explicit JSON codec.

Field names follow beads (``bd``) wherever they mean the same thing, so a beads JSONL
export can be imported and ours exported back. A bead knows nothing about git: the
store decides where it lives and the queue decides when it may change. Every change is
a copy made by one of the transition methods below.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from gastown.town import times

OPEN, CLAIMED, DONE, FAILED = "open", "claimed", "done", "failed"
STATUSES = (OPEN, CLAIMED, DONE, FAILED)
CLOSED = (DONE, FAILED)
ISSUE_TYPES = ("task", "bug", "feature", "epic", "chore", "question")
BLOCKS, PARENT_CHILD, RELATED, DISCOVERED_FROM = (
    "blocks",
    "parent-child",
    "related",
    "discovered-from",
)
DEPENDENCY_TYPES = (BLOCKS, PARENT_CHILD, RELATED, DISCOVERED_FROM)
DEFAULT_ROLE = "polecat"
DEFAULT_PRIORITY = 2

# bead.schema.json's patterns for $.role and for a name ($defs/name: an agent), said in words
# for a person: the schema's own message is the regex (a test holds the two to the same text).
ROLE_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,31}")
ROLE_RULE = "a role is a lowercase letter, then up to 31 lowercase letters, digits, '_' or '-' (like polecat)"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@:+-]{0,127}")
NAME_RULE = (
    "a name is a letter or digit, then up to 127 letters, digits or '_' '.' '@' ':' '+' '-' (like polecat@host1)"
)

# Fields only the queue's transitions may change; `gt bead edit` refuses them.
PROTOCOL_FIELDS = frozenset({"id", "status", "generation", "claim", "attempts", "result", "created_at", "closed_at"})


@dataclass(frozen=True)
class Dependency:
    """An edge to another bead; ``blocks`` and ``parent-child`` gate readiness."""

    id: str
    type: str = BLOCKS

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "type": self.type}


@dataclass(frozen=True)
class Claim:
    """Who holds a bead, under which generation, until when."""

    agent: str
    generation: int
    claimed_at: str
    expires_at: str
    role: str | None = None

    def expires(self) -> float:
        return times.epoch(self.expires_at)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "agent": self.agent,
            "generation": self.generation,
            "claimed_at": self.claimed_at,
            "expires_at": self.expires_at,
        }
        if self.role is not None:
            data["role"] = self.role
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Claim:
        return cls(
            agent=data["agent"],
            generation=int(data["generation"]),
            claimed_at=data["claimed_at"],
            expires_at=data["expires_at"],
            role=data.get("role"),
        )


@dataclass(frozen=True)
class Bead:
    """One unit of work, as stored in ``beads/**/<id>.json`` on the tasks branch."""

    id: str
    title: str
    status: str = OPEN
    description: str = ""
    design: str = ""
    acceptance_criteria: str = ""
    acceptance_tests: tuple[str, ...] = ()
    notes: str = ""
    priority: int = DEFAULT_PRIORITY
    issue_type: str = "task"
    role: str = DEFAULT_ROLE
    rig: str | None = None
    convoy: str | None = None
    assignee: str | None = None
    labels: tuple[str, ...] = ()
    dependencies: tuple[Dependency, ...] = ()
    estimated_tokens: int | None = None
    generation: int = 0
    claim: Claim | None = None
    attempts: int = 0
    result: Mapping[str, Any] | None = None
    close_reason: str | None = None
    external_ref: str | None = None
    created_at: str = ""
    updated_at: str = ""
    closed_at: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    # ---- reading ---------------------------------------------------------------

    def blockers(self) -> tuple[str, ...]:
        """Ids that must be done before this bead is ready."""
        return tuple(d.id for d in self.dependencies if d.type == BLOCKS)

    def parent(self) -> str | None:
        """The ``parent-child`` parent, if any."""
        for dep in self.dependencies:
            if dep.type == PARENT_CHILD:
                return dep.id
        return None

    def lease_left(self, now: float) -> float | None:
        """Seconds left on the claim's lease (negative once expired), None if unclaimed."""
        return None if self.claim is None else self.claim.expires() - now

    # ---- transitions (each returns a copy) --------------------------------------

    def claimed(self, agent: str, role: str | None, now: float, lease: float) -> Bead:
        """This bead claimed by ``agent`` under the next generation."""
        generation = self.generation + 1
        claim = Claim(agent, generation, times.iso(now), times.iso(now + lease), role)
        return replace(
            self,
            status=CLAIMED,
            generation=generation,
            claim=claim,
            assignee=agent,
            updated_at=times.iso(now),
        )

    def renewed(self, now: float, lease: float) -> Bead:
        """The same claim with its lease pushed out to ``now + lease``."""
        assert self.claim is not None
        claim = replace(self.claim, expires_at=times.iso(now + lease))
        return replace(self, claim=claim, updated_at=times.iso(now))

    def released(self, now: float) -> Bead:
        """Back to open, claim dropped, generation kept so old owners stay fenced off."""
        return replace(self, status=OPEN, claim=None, assignee=None, updated_at=times.iso(now))

    def completed(self, now: float, result: Mapping[str, Any] | None) -> Bead:
        """Done, with the worker's result."""
        summary = (result or {}).get("summary")
        return replace(
            self,
            status=DONE,
            claim=None,
            result=dict(result) if result else None,
            close_reason=summary if isinstance(summary, str) and summary else "done",
            updated_at=times.iso(now),
            closed_at=times.iso(now),
        )

    def failed(self, now: float, reason: str, result: Mapping[str, Any] | None) -> Bead:
        """Failed with a reason; the attempt is counted."""
        return replace(
            self,
            status=FAILED,
            claim=None,
            attempts=self.attempts + 1,
            result=dict(result) if result else None,
            close_reason=reason,
            updated_at=times.iso(now),
            closed_at=times.iso(now),
        )

    def reopened(self, now: float) -> Bead:
        """A failed (or done) bead made open again for another try."""
        return replace(self, status=OPEN, claim=None, assignee=None, closed_at=None, updated_at=times.iso(now))

    def edited(self, now: float, **changes: Any) -> Bead:
        """A copy with non-protocol fields changed."""
        bad = PROTOCOL_FIELDS.intersection(changes)
        if bad:
            raise ValueError(f"protocol fields cannot be edited: {', '.join(sorted(bad))}")
        return replace(self, **changes, updated_at=times.iso(now))

    # ---- codec -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "priority": self.priority,
            "issue_type": self.issue_type,
            "role": self.role,
            "rig": self.rig,
            "convoy": self.convoy,
            "description": self.description,
            "design": self.design,
            "acceptance_criteria": self.acceptance_criteria,
            "notes": self.notes,
            "assignee": self.assignee,
            "labels": list(self.labels),
            "dependencies": [d.to_dict() for d in self.dependencies],
            "estimated_tokens": self.estimated_tokens,
            "generation": self.generation,
            "claim": None if self.claim is None else self.claim.to_dict(),
            "attempts": self.attempts,
            "result": None if self.result is None else dict(self.result),
            "close_reason": self.close_reason,
            "external_ref": self.external_ref,
            "closed_at": self.closed_at,
        }
        for stamp in ("created_at", "updated_at"):  # a bead a person wrote may have none: left out, not ""
            if getattr(self, stamp):
                data[stamp] = getattr(self, stamp)
        if self.acceptance_tests:
            data["acceptance_tests"] = list(self.acceptance_tests)
        if self.metadata:
            data["metadata"] = dict(self.metadata)
        return data

    def to_json(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n").encode()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Bead:
        """Build a bead from a dict that already passed ``schema.validate``."""
        deps = []
        for item in data.get("dependencies") or ():
            if isinstance(item, str):
                deps.append(Dependency(item))
            else:
                deps.append(Dependency(item["id"], item.get("type", BLOCKS)))
        claim = data.get("claim")
        return cls(
            id=data["id"],
            title=data["title"],
            status=data.get("status", OPEN),
            description=data.get("description") or "",
            design=data.get("design") or "",
            acceptance_criteria=data.get("acceptance_criteria") or "",
            acceptance_tests=tuple(data.get("acceptance_tests") or ()),
            notes=data.get("notes") or "",
            priority=data.get("priority", DEFAULT_PRIORITY),
            issue_type=data.get("issue_type", "task"),
            role=data.get("role") or DEFAULT_ROLE,
            rig=data.get("rig"),
            convoy=data.get("convoy"),
            assignee=data.get("assignee"),
            labels=tuple(data.get("labels") or ()),
            dependencies=tuple(deps),
            estimated_tokens=data.get("estimated_tokens"),
            generation=data.get("generation", 0),
            claim=None if claim is None else Claim.from_dict(claim),
            attempts=data.get("attempts", 0),
            result=data.get("result"),
            close_reason=data.get("close_reason"),
            external_ref=data.get("external_ref"),
            created_at=data.get("created_at", ""),
            updated_at=data.get("updated_at", ""),
            closed_at=data.get("closed_at"),
            metadata=data.get("metadata") or {},
        )


def new_bead(bead_id: str, title: str, now: float, **fields: Any) -> Bead:
    """A fresh open bead stamped with ``now``."""
    stamp = times.iso(now)
    return Bead(id=bead_id, title=title, created_at=stamp, updated_at=stamp, **fields)


def named_like_tests(path: str) -> bool:
    """Whether a file's name (a test id's file part) is a test module's: ``test_*``, ``*_test``
    or ``*_spec`` (pytest's and the common runners' naming; a conftest holds none)."""
    name = path.split("::")[0].rsplit("/", 1)[-1].lower()
    return name.startswith("test_") or name.rsplit(".", 1)[0].endswith(("_test", "_spec"))


def _test_path_problem(test: str) -> str | None:
    """What is wrong with one acceptance test name, said so a person can fix it; None if fine.

    The schema's pattern refuses most of these too, but its message is a regex; this one
    comes first and says what to write instead.
    """
    path, _, name = test.partition("::")
    parts = path.split("/")
    if path.startswith("/"):
        return "is an absolute path; name a test file inside the rig, like tests/test_x.py"
    if path.startswith("~"):
        return "starts with ~; name a test file relative to the rig root, like tests/test_x.py"
    if any(c.isspace() for c in test):
        return "holds whitespace; list each test on its own, like tests/test_x.py::test_y"
    clean = "/".join(p for p in parts if p not in ("", "."))
    if not clean:
        return "names no test file; write tests/test_x.py, or tests/test_x.py::test_y"
    if ".." in parts:
        return "climbs out of the rig; name a path inside it"
    if clean != path:
        return f"has ./ or // in it; write it as {clean}"
    if "::" in test and not all(name.split("::")):
        return f"names no test after '::'; write {path}, or {path}::test_name"
    return None


def role_problem(role: str) -> str | None:
    """What is wrong with a role's name, in words; None if it is one."""
    if ROLE_PATTERN.fullmatch(role):
        return None
    return f"is empty; {ROLE_RULE}" if not role.strip() else f"{role!r} is not a role name: {ROLE_RULE}"


def name_problem(name: str) -> str | None:
    """What is wrong with an agent's name, in words; None if it is one."""
    if NAME_PATTERN.fullmatch(name):
        return None
    return f"is empty; {NAME_RULE}" if not name.strip() else f"{name!r} is not a name: {NAME_RULE}"


def semantic_problems(bead: Bead) -> list[str]:
    """Rules a JSON Schema cannot say well: claim/status agreement, self-edges, times."""
    problems = []
    if bead.status == CLAIMED and bead.claim is None:
        problems.append("$.claim: a claimed bead needs a claim (agent, generation, expires_at)")
    if bead.status != CLAIMED and bead.claim is not None:
        problems.append(f"$.claim: must be null when status is {bead.status!r}")
    if bead.claim is not None and bead.claim.generation != bead.generation:
        problems.append(f"$.claim.generation: {bead.claim.generation} differs from $.generation {bead.generation}")
    role = role_problem(bead.role)
    if role:
        problems.append(f"$.role: {role}")
    seen = set()
    for n, dep in enumerate(bead.dependencies):
        if dep.id == bead.id:
            problems.append(f"$.dependencies[{n}]: a bead cannot depend on itself")
        if (dep.id, dep.type) in seen:
            problems.append(f"$.dependencies[{n}]: {dep.id} ({dep.type}) is listed twice")
        seen.add((dep.id, dep.type))
    if sum(1 for d in bead.dependencies if d.type == PARENT_CHILD) > 1:
        problems.append("$.dependencies: a bead has at most one parent-child parent")
    for n, test in enumerate(bead.acceptance_tests):
        problem = _test_path_problem(test)
        if problem:
            problems.append(f"$.acceptance_tests[{n}]: {test!r} {problem}")
    stamps = [("created_at", bead.created_at), ("updated_at", bead.updated_at)]
    stamps.append(("closed_at", bead.closed_at or ""))
    if bead.claim is not None:
        stamps += [
            ("claim.claimed_at", bead.claim.claimed_at),
            ("claim.expires_at", bead.claim.expires_at),
        ]
    for name, value in stamps:
        if value and not times.is_timestamp(value):
            problems.append(f"$.{name}: {value!r} is not an RFC 3339 timestamp with a zone")
    return problems
