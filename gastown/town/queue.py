"""The bead queue's operations: add, edit, ready, claim, renew, release, complete, fail.

Each write is one ``store.update`` whose decision function re-reads the bead every
time it runs: after a lost race the decision is made again on the new tip, never
replayed (re-applying a claim without re-reading double-claims beads).
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gastown.errors import InvalidBead, NotFound, NothingReady, Refused, UsageError
from gastown.town import claims, dag, events, ids, schema
from gastown.town import convoy as convoymod
from gastown.town.bead import CLAIMED, DONE, OPEN, Bead, Dependency, new_bead, role_problem
from gastown.town.beadtext import parse_assignments
from gastown.town.index import INVALID, Entry
from gastown.town.store import GitStore, Snapshot, Update
from gastown.town.times import iso


@dataclass(frozen=True)
class Claimed:
    """A successful claim: the bead as claimed, and whether it was taken from a dead owner."""

    bead: Bead
    recovery: bool = False
    previous_agent: str | None = None


@dataclass(frozen=True)
class NewBead:
    """What ``add`` needs to make a bead."""

    title: str
    role: str = "polecat"
    rig: str | None = None
    description: str = ""
    acceptance_criteria: str = ""
    acceptance_tests: tuple[str, ...] = ()
    design: str = ""
    priority: int = 2
    issue_type: str = "task"
    estimated_tokens: int | None = None
    convoy: str | None = None
    labels: tuple[str, ...] = ()
    dependencies: tuple[Dependency, ...] = ()
    external_ref: str | None = None


class Queue:
    """The queue over one store; every method is one read or one commit."""

    def __init__(self, store: GitStore) -> None:
        self.store = store

    # ---- reading ---------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        return self.store.snapshot()

    def show(self, bead_id: str) -> Bead:
        return self.store.snapshot().bead(bead_id)

    def ready(self, role: str | None = None, now: float | None = None, limit: int | None = None) -> list[Entry]:
        """Ready beads best first (at most ``limit``)."""
        return self.store.snapshot().index.ready(role, time.time() if now is None else now, limit)

    def waiting_on(self, snap: Snapshot, entry: Entry) -> list[str]:
        return dag.waiting_on(entry, snap.index.entries.get)

    # ---- adding and editing ----------------------------------------------------

    def add(self, spec: NewBead, agent: str | None = None) -> Bead:
        return self.add_many([spec], agent)[0]

    def add_many(self, specs: Sequence[NewBead], agent: str | None = None) -> list[Bead]:
        """Add beads in one commit (deps may name each other in list order)."""
        made: list[Bead] = []

        def decide(snap: Snapshot) -> Update:
            made.clear()
            now = time.time()
            prefix = snap.config().prefix
            fresh: set[str] = set()
            for spec in specs:
                if not spec.title.strip():  # before an id is made: the error would name one never added
                    raise InvalidBead(["new bead: $.title: is empty"], "give it a title: gt bead add --title '…'")
                role = role_problem(spec.role)
                if role:  # before an id is made, as the title: the schema's own message would be its regex
                    raise InvalidBead(
                        [f"new bead {spec.title!r}: $.role: {role}"], "`gt status` lists the roles of the town's beads"
                    )
                bead_id = ids.new_id(prefix, f"{spec.title}\0{now}", lambda c: snap.has(c) or c in fresh)
                fresh.add(bead_id)
                bead = new_bead(
                    bead_id,
                    spec.title,
                    now,
                    role=spec.role,
                    rig=spec.rig,
                    description=spec.description,
                    acceptance_criteria=spec.acceptance_criteria,
                    acceptance_tests=spec.acceptance_tests,
                    design=spec.design,
                    priority=spec.priority,
                    issue_type=spec.issue_type,
                    estimated_tokens=spec.estimated_tokens,
                    convoy=spec.convoy,
                    labels=spec.labels,
                    dependencies=spec.dependencies,
                    external_ref=spec.external_ref,
                )
                for dep in bead.dependencies:
                    if not snap.has(dep.id) and dep.id not in fresh - {bead_id}:
                        raise InvalidBead(
                            [f"new bead {spec.title!r}: $.dependencies: {dep.id} does not exist"],
                            "`gt ready` and `gt status` list existing beads",
                        )
                made.append(bead)
            files = _convoy_additions(snap, made)
            event = events.Event(
                events.ADD,
                tuple(b.id for b in made),
                agent,
                made[0].title if len(made) == 1 else f"{len(made)} beads",
                events.trailer_pairs([("Role", made[0].role), ("Convoy", made[0].convoy)] if len(made) == 1 else []),
            )
            return Update(event, made, files)

        self.store.update(decide)
        return list(made)

    def edit(self, bead_id: str, assignments: Sequence[str], agent: str | None = None) -> Bead:
        """Change non-protocol fields from ``field=value`` strings."""
        changes = parse_assignments(assignments)
        edited: list[Bead] = []

        def decide(snap: Snapshot) -> Update:
            bead = snap.bead(bead_id)
            try:
                new = bead.edited(time.time(), **changes)
            except (ValueError, TypeError) as error:
                raise UsageError(f"bead {bead_id}: {error}") from None
            _check_references(snap, new)
            edited[:] = [new]
            event = events.Event(
                events.EDIT,
                (bead_id,),
                agent,
                ", ".join(sorted(changes)),
            )
            return Update(event, [new])

        self.store.update(decide)
        return edited[0]

    # ---- the claim protocol ----------------------------------------------------

    def claim(
        self,
        role: str,
        agent: str,
        lease: float | None = None,
        bead_id: str | None = None,
        extra: Sequence[tuple[str, object]] = (),
    ) -> Claimed:
        """Claim the best ready bead of ``role`` (or ``bead_id``); NothingReady if none.

        With a remote (and ``[queue] claim_refs``, the default) the claim is proposed on its
        own ref and folded into tasks (``gastown.town.claims``): claims on different beads
        do not wait for each other, and a claimer picks among the best few so that claimers
        on other machines seldom meet on one bead."""
        if self.store.remote is not None and self.store.snapshot().config().queue.claim_refs:
            return claims.claim(
                self.store,
                lambda snap, now, skip, spread: self._pick(snap, role, bead_id, now, skip, spread),
                lambda snap, bead, now: _claim_change(snap, bead, role, agent, lease, extra, now),
                bead_id,
            )
        outcome: list[Claimed] = []
        unclaimable: set[str] = set()  # beads whose claim the rules refuse: passed over, said once

        def decide(snap: Snapshot) -> Update:
            outcome.clear()
            now = time.time()
            bead = self._pick(snap, role, bead_id, now, frozenset(unclaimable))
            change, claimed = _claim_change(snap, bead, role, agent, lease, extra, now)
            outcome[:] = [claimed]
            return change

        while True:
            try:
                self.store.update(decide)
                return outcome[0]
            except InvalidBead as error:
                if bead_id is not None or not outcome:
                    raise
                claims.pass_over(outcome[0].bead.id, error, unclaimable)

    def _pick(
        self,
        snap: Snapshot,
        role: str,
        bead_id: str | None,
        now: float,
        skip: frozenset[str] = frozenset(),
        spread: int = 1,
    ) -> Bead:
        """The bead to claim: ``bead_id``, or the best ready one of ``role`` — with ``spread``,
        one of the ``spread`` best of the best priority, at random."""
        if bead_id is not None:
            entry = snap.index.get(bead_id)
            if entry is None:
                raise NotFound(f"no bead {bead_id} on the tasks branch")
            if entry.status != INVALID and entry.role != role:  # first: whether it is ready is no matter to this role
                raise NothingReady(
                    f"bead {bead_id} is for role {entry.role}, not {role}",
                    f"claim it as that role (--role {entry.role}), or `gt ready --role {role}` lists this role's beads",
                )
            if not snap.index.is_ready(entry, now) or bead_id in skip:
                why = dag.waiting_on(entry, snap.index.entries.get)
                state = f"waiting on {', '.join(why)}" if why else entry.status
                state = f"claimed by {entry.agent}" if entry.status == CLAIMED and entry.agent else state
                state = "being claimed by another agent" if bead_id in skip else state
                raise NothingReady(f"bead {bead_id} is not ready ({state})")
            return snap.bead(bead_id)
        passed = set(skip)
        while True:
            if spread > 1:
                best = [e for e in snap.index.ready(role, now, len(passed) + spread) if e.id not in passed]
                entry = random.choice([e for e in best[:spread] if e.priority == best[0].priority]) if best else None
            else:
                entry = snap.index.best_ready(role, now, frozenset(passed))
            if entry is None:
                raise NothingReady(f"nothing is ready for role {role}")
            try:
                return snap.bead(entry.id)
            except InvalidBead:
                passed.add(entry.id)  # a bead pushed past the hooks must not stall the queue

    def roles(self) -> list[str]:
        """The roles the town's beads have, sorted."""
        return sorted({entry.role for entry in self.store.snapshot().index})

    def renew(self, bead_id: str, agent: str, generation: int | None = None, lease: float | None = None) -> Bead:
        """Push the lease out; refused unless ``agent`` still holds this generation."""

        def change(snap: Snapshot, bead: Bead, now: float) -> tuple[Bead, list[tuple[str, object]]]:
            seconds = lease if lease is not None else snap.config().queue.lease_seconds
            new = bead.renewed(now, seconds)
            return new, [("Lease-Expires", new.claim.expires_at if new.claim else None)]

        return self._owned_change(events.RENEW, bead_id, agent, generation, change)

    def release(
        self,
        bead_id: str,
        agent: str | None = None,
        generation: int | None = None,
        reason: str | None = None,
        force: bool = False,
    ) -> Bead:
        """Hand a claimed bead back to the queue (no attempt counted). Without ``agent``, a
        live claim is someone else's: refused unless ``force`` (then recorded as forced)."""

        def change(snap: Snapshot, bead: Bead, now: float) -> tuple[Bead, list[tuple[str, object]]]:
            claim, left = bead.claim, bead.lease_left(now)
            if agent is None and claim is not None and not force and left is not None and left > 0:
                raise Refused(
                    f"bead {bead.id} is claimed by {claim.agent} "
                    f"(generation {bead.generation}, lease {left:.0f}s left)",
                    f"pass --agent {claim.agent} if you are that agent, or --force to take it from them (recorded)",
                )
            return bead.released(now), [("Reason", reason), ("Forced", "yes" if force and agent is None else None)]

        return self._owned_change(events.RELEASE, bead_id, agent, generation, change)

    def complete(
        self,
        bead_id: str,
        agent: str,
        generation: int | None = None,
        result: Mapping[str, Any] | None = None,
    ) -> Bead:
        """Mark done with the worker's result."""
        if result is not None:
            schema.check("result", dict(result), f"bead {bead_id}: result")

        def change(snap: Snapshot, bead: Bead, now: float) -> tuple[Bead, list[tuple[str, object]]]:
            return bead.completed(now, result), [("Status", "done"), *events.result_trailers(result)]

        return self._owned_change(events.COMPLETE, bead_id, agent, generation, change)

    def fail(
        self,
        bead_id: str,
        agent: str,
        reason: str,
        generation: int | None = None,
        result: Mapping[str, Any] | None = None,
    ) -> Bead:
        """Mark failed with a reason; the attempt is counted."""
        if not reason.strip():
            raise UsageError(f"bead {bead_id}: --reason is required and must say why it failed")
        if result is not None:
            schema.check("result", dict(result), f"bead {bead_id}: result")

        def change(snap: Snapshot, bead: Bead, now: float) -> tuple[Bead, list[tuple[str, object]]]:
            new = bead.failed(now, reason.strip(), result)
            trailers: list[tuple[str, object]] = [
                ("Status", "failed"),
                ("Reason", reason),
                ("Attempts", new.attempts),
            ]
            return new, trailers + events.result_trailers(result)

        return self._owned_change(events.FAIL, bead_id, agent, generation, change)

    def reject(self, bead_id: str, agent: str | None, reason: str, result: Mapping[str, Any]) -> Bead:
        """Send a done bead back as failed (its merge failed): the reason attached, the attempt counted."""
        done: list[Bead] = []

        def decide(snap: Snapshot) -> Update:
            bead = snap.bead(bead_id)
            if bead.status != "done":
                raise Refused(f"bead {bead_id} is {bead.status}; only a done bead is sent back")
            merged = {**(bead.result or {}), **result}
            new = bead.failed(time.time(), reason, merged)
            done[:] = [new]
            trailers = events.trailer_pairs([("Reason", reason), ("Attempts", new.attempts), ("Status", "failed")])
            return Update(events.Event("reject", (bead_id,), agent, bead.title, trailers), [new])

        self.store.update(decide)
        return done[0]

    def retry(
        self, bead_id: str, agent: str | None = None, reason: str | None = None, reopen_done: bool = False
    ) -> Bead:
        """Reopen a failed bead for another attempt; a done one only with ``reopen_done``:
        what it did stays (its branch, and main if it was merged), and another attempt
        starts on top of it."""
        done: list[Bead] = []

        def decide(snap: Snapshot) -> Update:
            bead = snap.bead(bead_id)
            if bead.status in (OPEN, CLAIMED):
                raise Refused(f"bead {bead_id} is {bead.status}; only failed or done beads reopen")
            if bead.status == DONE and not reopen_done:
                raise Refused(
                    f"bead {bead_id} is done; gt retry reopens failed beads. To work on it again anyway "
                    "(what it did stays: its branch, and main if it was merged), pass --done "
                    f"(gt retry {bead_id} --done)"
                )
            new = bead.reopened(time.time())
            done[:] = [new]
            trailers = events.trailer_pairs([("Reason", reason), ("Attempts", new.attempts)])
            return Update(events.Event(events.RETRY, (bead_id,), agent, bead.title, trailers), [new])

        self.store.update(decide)
        return done[0]

    def _owned_change(self, kind: str, bead_id: str, agent: str | None, generation: int | None, change: Any) -> Bead:
        done: list[Bead] = []

        def decide(snap: Snapshot) -> Update:
            now = time.time()
            bead = snap.bead(bead_id)
            _check_owner(bead, agent, generation, kind)
            new, trailers = change(snap, bead, now)
            done[:] = [new]
            pairs = [
                ("Role", bead.claim.role if bead.claim else None),
                ("Generation", bead.generation),
            ]
            event = events.Event(kind, (bead_id,), agent, bead.title, events.trailer_pairs(pairs + trailers))
            return Update(event, [new])

        self.store.update(decide)
        return done[0]

    # ---- status ----------------------------------------------------------------

    def status(self, now: float | None = None) -> dict[str, Any]:
        """Counts by status and role, live and expired claims, beads that need a person."""
        now = time.time() if now is None else now
        snap = self.store.snapshot()
        index = snap.index
        counts: dict[str, dict[str, int]] = {}
        for entry in index:
            state = entry.status
            if state == OPEN:
                state = "ready" if index.is_ready(entry, now) else "blocked"
            role = counts.setdefault(entry.role, {})
            role[state] = role.get(state, 0) + 1
        totals: dict[str, int] = {}
        for role_counts in counts.values():
            for state, n in role_counts.items():
                totals[state] = totals.get(state, 0) + n
        live = [
            {
                "id": e.id,
                "agent": e.agent,
                "role": e.role,
                "generation": e.generation,
                "expires_at": iso(e.expires) if e.expires else None,
                "lease_left_s": round(e.expires - now, 1) if e.expires else None,
                "expired": bool(e.expires is not None and e.expires <= now),
                "title": e.title,
            }
            for e in index.live_claims()
        ]
        return {
            "town": snap.config().name,
            "tip": snap.commit,
            "beads": len(index),
            "totals": totals,
            "by_role": counts,
            "claims": live,
            "invalid": [{"id": e.id, "path": e.path, "problem": e.problem} for e in index if e.status == INVALID],
            "duplicates": {k: sorted(v) for k, v in index.duplicates.items()},
            "remote": self.store.remote,
            "proposals": [
                {"id": p.bead_id, "commit": p.commit, "agent": self.store.git.author_of(p.commit)}
                for p in (claims.seen(self.store.git) if self.store.remote is not None else [])
            ],
        }


# ---- helpers ------------------------------------------------------------------


def _claim_change(
    snap: Snapshot,
    bead: Bead,
    role: str,
    agent: str,
    lease: float | None,
    extra: Sequence[tuple[str, object]],
    now: float,
) -> tuple[Update, Claimed]:
    """The commit that claims ``bead`` for ``agent``, and what the claimer is told."""
    seconds = lease if lease is not None else snap.config().queue.lease_seconds
    recovery = bead.status == CLAIMED
    previous = bead.claim.agent if bead.claim else None
    new = bead.claimed(agent, role, now, seconds)
    trailers = [
        ("Role", role),
        ("Generation", new.generation),
        ("Lease-Expires", new.claim.expires_at if new.claim else None),
        ("Rig", new.rig),
        ("Convoy", new.convoy),
        ("Recovery", "yes" if recovery else None),
        ("Previous-Agent", previous if recovery else None),
        *extra,
    ]
    event = events.Event(events.CLAIM, (new.id,), agent, new.title, events.trailer_pairs(trailers))
    return Update(event, [new]), Claimed(new, recovery, previous)


def _check_owner(bead: Bead, agent: str | None, generation: int | None, verb: str) -> None:
    if bead.status != CLAIMED or bead.claim is None:
        raise Refused(f"bead {bead.id} is {bead.status}, not claimed; cannot {verb} it")
    if (
        generation is not None
        and generation != bead.generation
        and (generation > bead.generation or bead.claim.agent == agent)
    ):
        raise Refused(
            f"bead {bead.id}: generation {generation} is not its claim's: the bead is at generation "
            f"{bead.generation}, claimed by {bead.claim.agent}",
            f"pass --generation {bead.generation} if that claim is yours",
        )
    if generation is not None and generation != bead.generation:
        raise Refused(
            f"bead {bead.id}: stale generation {generation}: the bead is at generation "
            f"{bead.generation}, claimed by {bead.claim.agent}; your claim was taken over "
            "after its lease expired",
            "drop this work; the new owner finishes the bead",
        )
    if agent is not None and bead.claim.agent != agent:
        also = "; `gt release --force` takes it from them (recorded)" if verb == events.RELEASE else ""
        raise Refused(
            f"bead {bead.id} is claimed by {bead.claim.agent} (generation {bead.generation}), not by {agent}",
            f"only the owner may {verb} this claim{also}",
        )


def _check_references(snap: Snapshot, bead: Bead) -> None:
    for dep in bead.dependencies:
        if not snap.has(dep.id):
            raise InvalidBead([f"bead {bead.id}: $.dependencies: {dep.id} does not exist"])

    def edges(node: str) -> tuple[str, ...]:
        if node == bead.id:
            return bead.blockers() + ((bead.parent(),) if bead.parent() else ())  # type: ignore[operator]
        entry = snap.index.get(node)
        if entry is None:
            return ()
        return entry.blocks + ((entry.parent,) if entry.parent else ())

    cycle = dag.find_cycle([bead.id], edges)
    if cycle:
        raise InvalidBead([f"bead {bead.id}: dependency cycle {' -> '.join(cycle)}"])


def _convoy_additions(snap: Snapshot, beads: Sequence[Bead]) -> dict[str, bytes | None]:
    """Convoy files that gain the new beads (a bead may only join an existing convoy)."""
    files: dict[str, bytes | None] = {}
    grouped: dict[str, list[str]] = {}
    for bead in beads:
        if bead.convoy:
            grouped.setdefault(bead.convoy, []).append(bead.id)
    for convoy_id, members in grouped.items():
        current = convoymod.load(snap, convoy_id)
        grown = replace(current, beads=current.beads + tuple(members))
        files[convoymod.path_of(convoy_id)] = grown.to_json()
    return files
