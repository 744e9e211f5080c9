"""What the pages and ``/metrics`` show, read from the town: one reader, one lock.

Everything here comes from the tasks branch (beads through the store's index, events from
the history's trailers) or from the local state folder (heartbeats, model servers). The
figures are ``gt metrics``'s and ``gt cost``'s own (``metrics.compute``, ``cost.price``),
computed once per tip of the branch and kept until it moves. The store is not safe for
many threads at once and the web server answers from a pool: every read takes the lock.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gastown.agents import liveness
from gastown.errors import GastownError, NotFound
from gastown.machine import cost as costmod
from gastown.machine.governor import Budget, Reservation, governor_for
from gastown.machine.runner import Runner
from gastown.mayor import metrics as metricsmod
from gastown.mayor.decisions import NEEDS_HUMAN
from gastown.mayor.reconcile import all_records
from gastown.serve.graph import Edge, Node
from gastown.town import convoy as convoymod
from gastown.town import dag
from gastown.town.bead import BLOCKS, CLAIMED, FAILED, OPEN, PARENT_CHILD, Bead
from gastown.town.history import Entry, read
from gastown.town.index import INVALID
from gastown.town.index import Entry as IndexEntry
from gastown.town.store import GitStore, Snapshot

STATES = ("ready", "blocked", "claimed", "done", "failed", "needs-human", "invalid")
RECENT = 25  # events and beads on the town page

T = TypeVar("T")


@dataclass(frozen=True)
class ConvoyView:
    convoy: convoymod.Convoy
    nodes: list[Node]
    edges: list[Edge]
    counts: dict[str, int]
    outside: list[str]  # member ids the branch does not hold


@dataclass(frozen=True)
class MachineView:
    """The machine's budget (VRAM, RAM) and the model runs holding part of it."""

    budget: Budget
    reservations: list[Reservation]

    def bar(self, kind: str) -> list[tuple[str, float, str]]:
        """One resource (``vram`` or ``ram``) as a bar: (label, share of the whole, css class)
        for the desktop's share (VRAM), each reservation, then what is free."""
        whole = self.budget.vram_mib + self.budget.desktop_mib if kind == "vram" else self.budget.ram_mib
        if whole <= 0:
            return []
        parts: list[tuple[str, float, str]] = []
        desktop = self.budget.desktop_mib
        if kind == "vram" and desktop:
            parts.append((f"the desktop's share: {desktop:.0f} MiB", desktop, "desktop"))
        for r in self.reservations:
            mib = r.vram_mib if kind == "vram" else r.ram_mib
            if mib > 0:
                parts.append((f"{r.model} (pid {r.pid}): {mib:.0f} MiB", mib, "held"))
        free = whole - sum(mib for _, mib, _ in parts)
        if free > 0:
            parts.append((f"free: {free:.0f} MiB", free, "free"))
        return [(label, mib / whole, css) for label, mib, css in parts]

    def used(self, kind: str) -> float:
        """MiB of ``kind`` the reservations hold."""
        return sum(r.vram_mib if kind == "vram" else r.ram_mib for r in self.reservations)


@dataclass(frozen=True)
class BeadView:
    bead: Bead
    state: str
    expired: bool
    waiting_on: list[str]
    dependents: list[str]
    timeline: list[Entry]


@dataclass(frozen=True)
class Watcher:
    agent: str
    role: str
    alive: bool
    status: str  # liveness.check's sentence
    bead: str | None
    model: str | None
    since: float | None
    updated: float


@dataclass(frozen=True)
class Panels:
    """The seed's panels: ``gt metrics`` and ``gt cost`` for one scope."""

    metrics: metricsmod.Metrics
    cost: costmod.Report | None


@dataclass
class _Cached:
    tip: str | None = None
    values: dict[Any, Any] = field(default_factory=dict)


def state_of(entry: IndexEntry, snap: Snapshot) -> str:
    """The state a person sees: open splits into ready and blocked; a failed bead the Mayor
    gave up on is ``needs-human``."""
    if entry.status == OPEN:
        return "ready" if dag.is_unblocked(entry, snap.index.entries.get) else "blocked"
    if entry.status == FAILED:
        bead = snap.stored(entry.id)
        return "needs-human" if bead is not None and NEEDS_HUMAN in bead.labels else FAILED
    return entry.status


class Reader:
    """The town as the web pages read it (thread-safe; answers cached per tip)."""

    def __init__(self, store: GitStore) -> None:
        self.store = store
        self.town = store.town
        self._lock = threading.Lock()
        self._cache = _Cached()

    @contextmanager
    def _snapshot(self) -> Iterator[Snapshot]:
        with self._lock:
            snap = self.store.snapshot()
            if snap.commit != self._cache.tip:
                self._cache = _Cached(snap.commit)
            yield snap

    def _memo(self, key: Any, make: Callable[[], T]) -> T:
        """``make()`` once per tip (the caller holds the lock)."""
        if key not in self._cache.values:
            self._cache.values[key] = make()
        value: T = self._cache.values[key]
        return value

    def tip(self) -> str | None:
        with self._lock:
            return self.store.tip()

    def sync(self) -> None:
        """Fetch a shared town's branch (the web page shows the remote's truth)."""
        with self._lock:
            self.store.sync()

    def close(self) -> None:
        with self._lock:
            self.store.close()

    # ---- the town ------------------------------------------------------------------

    def states(self) -> dict[tuple[str, str], int]:
        """Bead counts by (state, role)."""
        with self._snapshot() as snap:
            return self._memo("states", lambda: self._states(snap))

    def _states(self, snap: Snapshot) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for entry in snap.index:
            key = (state_of(entry, snap), entry.role)
            counts[key] = counts.get(key, 0) + 1
        return counts

    def overview(self, now: float) -> dict[str, Any]:
        """The town page: counts, convoys with progress, live claims, recent events and beads."""
        totals: dict[str, int] = {}
        by_role: dict[str, dict[str, int]] = {}
        for (state, role), n in self.states().items():
            totals[state] = totals.get(state, 0) + n
            by_role.setdefault(role, {})[state] = n
        with self._snapshot() as snap:
            convoys = self._memo("convoys", lambda: self._convoys(snap))
            newest = sorted(snap.index, key=lambda e: (e.created, e.id), reverse=True)[:RECENT]
            recent = [(e, state_of(e, snap)) for e in newest]
            history = read(self.store.git, snap.commit, limit=RECENT) if snap.commit else []
            return {
                "name": snap.config().name,
                "tip": snap.commit,
                "remote": self.store.remote,
                "beads": len(snap.index),
                "totals": totals,
                "by_role": dict(sorted(by_role.items())),
                "convoys": convoys,
                "claims": self._claims(snap, now),
                "recent": recent,
                "history": history,
            }

    def _convoys(self, snap: Snapshot) -> list[dict[str, Any]]:
        found = []
        for convoy_id in convoymod.list_ids(snap):
            try:
                convoy = convoymod.load(snap, convoy_id)
            except GastownError as error:  # a convoy file pushed past the hooks
                found.append({"id": convoy_id, "title": f"(unreadable: {error.message})", "beads": 0, "counts": {}})
                continue
            progress = convoymod.progress(snap, convoy)
            found.append({"id": convoy.id, "title": convoy.title, "rig": convoy.rig, **progress})
        return found

    def _claims(self, snap: Snapshot, now: float) -> list[dict[str, Any]]:
        return [
            {
                "id": e.id,
                "title": e.title,
                "agent": e.agent,
                "role": e.role,
                "generation": e.generation,
                "expires": e.expires,
                "left": None if e.expires is None else e.expires - now,
            }
            for e in snap.index.live_claims()
        ]

    # ---- a convoy and a bead -------------------------------------------------------

    def convoy(self, convoy_id: str) -> ConvoyView:
        """A convoy's beads as DAG nodes and edges (NotFound when there is no such convoy)."""
        with self._snapshot() as snap:
            return self._memo(("convoy", convoy_id), lambda: self._convoy(snap, convoy_id))

    def _convoy(self, snap: Snapshot, convoy_id: str) -> ConvoyView:
        convoy = convoymod.load(snap, convoy_id)
        members = list(dict.fromkeys([*convoy.beads, *(e.id for e in snap.index if e.convoy == convoy_id)]))
        now = time.time()
        nodes, edges, outside = [], [], []
        counts: dict[str, int] = {}
        for bead_id in members:
            entry = snap.index.get(bead_id)
            if entry is None:
                outside.append(bead_id)
                continue
            state = state_of(entry, snap)
            counts[state] = counts.get(state, 0) + 1
            expired = entry.status == CLAIMED and entry.expires is not None and entry.expires <= now
            nodes.append(Node(entry.id, entry.title, state, entry.role, expired))
            edges += [Edge(dep, entry.id, BLOCKS) for dep in entry.blocks]
            if entry.parent is not None:
                edges.append(Edge(entry.parent, entry.id, PARENT_CHILD))
        return ConvoyView(convoy, nodes, edges, counts, outside)

    def bead(self, bead_id: str, now: float) -> BeadView:
        """A bead with its state, what it waits on, what waits on it, and its history."""
        with self._snapshot() as snap:
            entry = snap.index.get(bead_id)
            if entry is None:
                raise NotFound(f"no bead {bead_id} on the tasks branch")
            bead = snap.bead(bead_id)  # InvalidBead for a file pushed past the hooks
            timeline = self._memo(
                ("timeline", bead_id), lambda: read(self.store.git, snap.commit or "", bead=bead_id, oldest_first=True)
            )
            dependents = sorted(e.id for e in snap.index if bead_id in e.blocks or e.parent == bead_id)
            expired = entry.status == CLAIMED and entry.expires is not None and entry.expires <= now
            waiting = dag.waiting_on(entry, snap.index.entries.get) if entry.status == OPEN else []
            return BeadView(bead, state_of(entry, snap), expired, waiting, dependents, timeline)

    def invalid(self, bead_id: str) -> str | None:
        """Why the bead's file is not a bead, or None when it is one."""
        with self._snapshot() as snap:
            entry = snap.index.get(bead_id)
            return entry.problem if entry is not None and entry.status == INVALID else None

    # ---- agents and the machine ----------------------------------------------------

    def watchers(self) -> list[Watcher]:
        """Every watcher that left a heartbeat on this machine, alive or not."""
        found = []
        for path in sorted((self.town.state_dir / "watchers").glob("*.json")):
            try:
                beat = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # being replaced, or removed as its watcher exits
            agent = str(beat.get("agent") or path.stem)
            alive, status = liveness.check(self.town, agent)
            found.append(
                Watcher(
                    agent,
                    str(beat.get("role") or "?"),
                    alive,
                    status,
                    beat.get("bead"),
                    beat.get("model"),
                    beat.get("since"),
                    float(beat.get("updated") or 0.0),
                )
            )
        return found

    def claims(self, now: float) -> list[dict[str, Any]]:
        with self._snapshot() as snap:
            return self._claims(snap, now)

    def machine(self) -> MachineView:
        """What the governor lets gastown use of this machine, and who holds it now."""
        with self._snapshot() as snap:
            governor = governor_for(snap.config().machine)
        return MachineView(governor.budget(), governor.held())

    def servers(self) -> list[dict[str, Any]]:
        return [
            {"model": s.name, "pid": s.pid, "url": s.url, "alive": s.alive(), "log": s.log}
            for s in Runner(self.town.state_dir).servers()
        ]

    # ---- the seed's panels ---------------------------------------------------------

    def panels(self, scope: metricsmod.Scope | None = None) -> Panels:
        """``gt metrics`` and ``gt cost`` for ``scope``, from the history up to the tip."""
        scope = scope or metricsmod.Scope()
        with self._snapshot() as snap:
            if scope.since is not None:  # a moving cut-off: kept, every request would add an entry
                return self._panels(snap, scope)
            return self._memo(("panels", scope), lambda: self._panels(snap, scope))

    def _panels(self, snap: Snapshot, scope: metricsmod.Scope) -> Panels:
        records = self._memo("records", lambda: all_records(self.store.git, snap.commit, self.town.state_dir))
        return Panels(metricsmod.of_index(records, snap.index, scope), self._cost(snap, scope))

    def _cost(self, snap: Snapshot, scope: metricsmod.Scope) -> costmod.Report | None:
        config = snap.config()
        compare = config.cost.compare_to or costmod.dearest_cloud(config.roster) or config.roster.default
        if compare not in config.roster.models:
            return None  # nothing to price the work at: the panels show tokens, not dollars
        tip = snap.commit
        history = self._memo("history", lambda: read(self.store.git, tip, oldest_first=True) if tip else [])
        entries = history if scope.since is None else [e for e in history if e.time >= scope.since]
        runs = costmod.usages(entries, {e.id: e.role for e in snap.index})
        if scope.convoy is not None:
            members = {e.id for e in snap.index if e.convoy == scope.convoy}
            runs = [r for r in runs if r.bead in members]
        if scope.role is not None:
            runs = [r for r in runs if r.role == scope.role]
        if scope.model is not None:
            runs = [r for r in runs if r.model == scope.model]
        return costmod.price(runs, config.roster, config.machine, config.cost.price_per_kwh, compare)
