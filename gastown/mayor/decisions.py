"""The Mayor's decisions: the history read, stuck work decided on, every decision a commit.

Reconciling reads the history incrementally (``gastown.mayor.reconcile``) and acts: expired
leases are released (a recovery), a failed bead is retried with the role's fallback
model or, past ``max_attempts``, marked ``needs-human`` with the reason; one too large
for the role's local models is split (``gastown.mayor.splitter`` asks for the children).
Inconsistencies are reported, never silently fixed. Every decision is a commit with
trailers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from gastown.mayor.reconcile import Ledger, bring_up_to_date
from gastown.town import convoy as convoymod
from gastown.town import events, ids
from gastown.town.bead import CLAIMED, FAILED, Bead, Dependency, new_bead
from gastown.town.index import INVALID
from gastown.town.roster import Roster
from gastown.town.store import GitStore, Snapshot, Update
from gastown.town.times import iso

DECIDE = "decide"
NEEDS_HUMAN = "needs-human"
SPLIT = "split"


@dataclass
class Decision:
    bead: str
    kind: str  # "release-expired", "retry", "retry-fallback", "needs-human"
    reason: str


@dataclass
class Reconciled:
    """What a reconcile found and did."""

    commit: str | None
    beads: int
    decisions: list[Decision] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    recoveries: int = 0
    rewritten: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "beads": self.beads,
            "recoveries": self.recoveries,
            "rewritten": self.rewritten,
            "decisions": [d.__dict__ for d in self.decisions],
            "problems": self.problems,
        }


def _too_big(bead: Bead, roster: Roster) -> bool:
    """Whether a failed bead looks too large for the role's local models."""
    rule = roster.rule(bead.role)
    local = [b.max_tokens for b in rule.bands if roster.models.get(b.model) and roster.models[b.model].local]
    if (bead.estimated_tokens or 0) > max(local, default=10**9):
        return True
    return "context" in (bead.close_reason or "").lower()


def reconcile(
    store: GitStore,
    roster: Roster,
    act: bool = True,
    agent: str = "mayor",
    now: float | None = None,
    splitter: Any = None,
) -> Reconciled:
    """Read what is new in the history, report inconsistencies, and decide on stuck work.

    ``splitter(bead) -> Split`` (the Mayor's model) lets a failed bead that is too large
    for the role's local models be split rather than retried as it is.
    """
    now = time.time() if now is None else now
    snap = store.snapshot()
    ledger = bring_up_to_date(store.git, snap.commit, store.town.state_dir)
    result = Reconciled(snap.commit, len(snap.index), rewritten=ledger.rewritten)
    result.problems = _problems(ledger, snap)
    result.recoveries = ledger.recoveries()
    ledger.close()
    max_attempts = snap.config().queue.max_attempts
    for entry in list(snap.index):
        if entry.status == CLAIMED and entry.expires is not None and entry.expires <= now:
            result.decisions.append(Decision(entry.id, "release-expired", f"the lease of {entry.agent} expired"))
        elif entry.status == FAILED:
            bead = snap.bead(entry.id)
            if NEEDS_HUMAN in bead.labels:
                continue
            if SPLIT in bead.labels:
                continue
            rule = roster.rule(bead.role)
            if bead.attempts < (rule.max_attempts or max_attempts):
                if splitter is not None and _too_big(bead, roster):
                    why = f"{bead.estimated_tokens} tokens is too much for a local {bead.role} ({bead.close_reason})"
                    result.decisions.append(Decision(bead.id, SPLIT, why))
                    continue
                kind, model = ("retry-fallback", rule.fallback) if rule.fallback else ("retry", "the same model")
                why = f"attempt {bead.attempts} failed ({bead.close_reason}); retry with {model}"
                result.decisions.append(Decision(bead.id, kind, why))
            else:
                result.decisions.append(
                    Decision(bead.id, NEEDS_HUMAN, f"failed {bead.attempts} times; last: {bead.close_reason}")
                )
    if act:
        for decision in result.decisions:
            if decision.kind == SPLIT:
                _split(store, decision, splitter, agent)
            else:
                _act(store, decision, agent)
    return result


def _problems(ledger: Ledger, snap: Snapshot) -> list[str]:
    found = []
    for line in ledger.timelines(only_with_problems=True):
        found += [f"{line.bead}: {p}" for p in line.problems]
    for entry in snap.index:
        if entry.status == CLAIMED and entry.expires is None:
            found.append(f"{entry.id}: claimed with no lease expiry")
        elif entry.status == INVALID:
            found.append(f"{entry.id}: skipped, not a bead ({entry.path}: {entry.problem}); fix it with a new commit")
    return found


def _act(store: GitStore, decision: Decision, agent: str) -> None:
    def decide(snap: Snapshot) -> Update:
        bead = snap.bead(decision.bead)
        now = time.time()
        trailers: list[tuple[str, object]] = [
            ("Decision", decision.kind),
            ("Reason", decision.reason),
            ("Role", "mayor"),
        ]
        if decision.kind == "release-expired":
            if bead.status != CLAIMED or bead.claim is None or bead.claim.expires() > now:
                raise _Moot()
            new = bead.released(now)
            trailers += [("Generation", bead.generation), ("Previous-Agent", bead.claim.agent), ("Recovery", "yes")]
        elif decision.kind in ("retry", "retry-fallback"):
            if bead.status != FAILED:
                raise _Moot()
            new = bead.reopened(now)
            trailers.append(("Attempts", bead.attempts))
        else:
            if bead.status != FAILED:
                raise _Moot()
            note = f"needs a person: {decision.reason}"
            new = replace(
                bead,
                labels=tuple(sorted({*bead.labels, NEEDS_HUMAN})),
                notes=(bead.notes + "\n" + note).strip(),
                updated_at=iso(now),
            )
        event = events.Event(
            DECIDE, (bead.id,), agent, f"{decision.kind}: {bead.title}", events.trailer_pairs(trailers)
        )
        return Update(event, [new])

    try:
        store.update(decide)
    except _Moot:
        pass  # someone acted first; the next reconcile sees the new state


def _split(store: GitStore, decision: Decision, splitter: Any, agent: str) -> None:
    """Children replace the failed bead: they inherit its place in the convoy and its dependents."""
    snap = store.snapshot()
    bead = snap.bead(decision.bead)
    if bead.status != FAILED or SPLIT in bead.labels:
        return
    data = splitter(bead)

    def decide(snap: Snapshot) -> Update:
        current = snap.bead(bead.id)
        if current.status != FAILED or SPLIT in current.labels:
            raise _Moot()
        now = time.time()
        prefix = snap.config().prefix
        keys: dict[str, str] = {}
        taken: set[str] = set()
        for item in data["beads"]:
            keys[item["key"]] = ids.new_id(
                prefix, f"{bead.id}\0{item['title']}\0{now}", lambda c: snap.has(c) or c in taken
            )
            taken.add(keys[item["key"]])
        children = [
            new_bead(
                keys[item["key"]],
                item["title"],
                now,
                role=bead.role,
                rig=bead.rig,
                convoy=bead.convoy,
                priority=bead.priority,
                description=(
                    item.get("description", "")
                    + (f"\n\nFiles: {', '.join(item['files'])}" if item.get("files") else "")
                ).strip(),
                acceptance_criteria=item.get("acceptance_criteria", ""),
                acceptance_tests=tuple(item.get("acceptance_tests", ())),
                estimated_tokens=item["estimated_tokens"],
                labels=tuple(label for label in bead.labels if label != NEEDS_HUMAN),
                dependencies=(
                    *bead.dependencies,
                    *(Dependency(keys[d]) for d in item.get("depends_on", ())),
                    Dependency(bead.id, "discovered-from"),
                ),
            )
            for item in data["beads"]
        ]
        note = f"split into {', '.join(c.id for c in children)}: {decision.reason}"
        changed = [
            *children,
            replace(
                current,
                labels=tuple(sorted({*current.labels, SPLIT})),
                notes=(current.notes + "\n" + note).strip(),
                updated_at=iso(now),
            ),
        ]
        for entry in snap.index:  # what waited on the failed bead now waits on its children
            if bead.id in entry.blocks:
                other = snap.bead(entry.id)
                deps = [d for d in other.dependencies if not (d.id == bead.id and d.type == "blocks")]
                deps += [Dependency(c.id) for c in children]
                changed.append(replace(other, dependencies=tuple(deps), updated_at=iso(now)))
        files = {}
        if bead.convoy and snap.read(convoymod.path_of(bead.convoy)) is not None:
            found = convoymod.load(snap, bead.convoy)
            files[convoymod.path_of(bead.convoy)] = replace(
                found, beads=found.beads + tuple(c.id for c in children)
            ).to_json()
        trailers = events.trailer_pairs(
            [("Decision", SPLIT), ("Reason", decision.reason), ("Planned", len(children)), ("Role", "mayor")]
        )
        event = events.Event(DECIDE, (bead.id, *(c.id for c in children)), agent, f"split: {bead.title}", trailers)
        return Update(event, changed, files)

    try:
        store.update(decide)
    except _Moot:
        pass


class _Moot(Exception):
    """The bead changed since the decision was made."""
