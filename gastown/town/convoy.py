"""Convoys: the beads that ship one feature together, with a status derived from them."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gastown.errors import NotFound
from gastown.town import events, ids, schema
from gastown.town.store import GitStore, Snapshot, Update
from gastown.town.times import iso

CONVOYS_DIR = "convoys"


@dataclass(frozen=True)
class Convoy:
    """A convoy file: its id, title, rig, plan and member beads."""

    id: str
    title: str
    beads: tuple[str, ...] = ()
    rig: str | None = None
    plan: str | None = None
    description: str = ""
    target_branch: str | None = None
    created_at: str = ""
    created_by: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "rig": self.rig,
            "plan": self.plan,
            "target_branch": self.target_branch,
            "beads": list(self.beads),
            "created_at": self.created_at,
        }
        if self.created_by:
            data["created_by"] = self.created_by
        if self.metadata:
            data["metadata"] = dict(self.metadata)
        return data

    def to_json(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n").encode()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Convoy:
        return cls(
            id=data["id"],
            title=data["title"],
            beads=tuple(data.get("beads") or ()),
            rig=data.get("rig"),
            plan=data.get("plan"),
            description=data.get("description") or "",
            target_branch=data.get("target_branch"),
            created_at=data.get("created_at", ""),
            created_by=data.get("created_by"),
            metadata=data.get("metadata") or {},
        )


def path_of(convoy_id: str) -> str:
    return f"{CONVOYS_DIR}/{convoy_id}.json"


def load(snap: Snapshot, convoy_id: str) -> Convoy:
    raw = snap.read(path_of(convoy_id))
    if raw is None:
        raise NotFound(f"no convoy {convoy_id}", "`gt convoy list` shows the convoys")
    data = schema.parse_json(raw, path_of(convoy_id))
    schema.check("convoy", data, f"convoy {convoy_id}")
    return Convoy.from_dict(data)


def list_ids(snap: Snapshot) -> list[str]:
    return sorted(n[: -len(".json")] for n in snap.listdir(CONVOYS_DIR) if n.endswith(".json"))


def progress(snap: Snapshot, convoy: Convoy) -> dict[str, Any]:
    """Counts of the convoy's beads by status, and the status derived from them."""
    counts: dict[str, int] = {}
    for bead_id in convoy.beads:
        entry = snap.index.get(bead_id)
        state = entry.status if entry is not None else "missing"
        counts[state] = counts.get(state, 0) + 1
    total = len(convoy.beads)
    if total and counts.get("done", 0) == total:
        state = "done"
    elif counts.get("failed"):
        state = "failing"
    elif counts.get("claimed") or counts.get("done"):
        state = "rolling"
    else:
        state = "waiting"
    return {"status": state, "beads": total, "counts": counts}


def create(
    store: GitStore,
    title: str,
    rig: str | None = None,
    description: str = "",
    agent: str | None = None,
) -> Convoy:
    """A new, empty convoy file on the tasks branch."""
    made: list[Convoy] = []

    def decide(snap: Snapshot) -> Update:
        prefix = snap.config().prefix
        now = time.time()
        taken = set(list_ids(snap))
        convoy_id = ids.new_id(f"{prefix}-cv", f"{title}\0{now}", lambda c: c in taken)
        convoy = Convoy(
            convoy_id,
            title,
            rig=rig,
            description=description,
            created_at=iso(now),
            created_by=agent,
        )
        schema.check("convoy", convoy.to_dict(), f"convoy {convoy_id}")
        made[:] = [convoy]
        event = events.Event(events.CONVOY, (), agent, f"{convoy_id} {title}", (("Convoy", convoy_id),))
        return Update(event, files={path_of(convoy_id): convoy.to_json()})

    store.update(decide)
    return made[0]
