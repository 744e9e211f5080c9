"""The machine's one owner in a process: which model works a bead, whether it fits, and
the clients, servers and energy meters of the models in use.

A watcher, ``gt mayor plan`` and the Crew get their models here. The switcher decides with
the governor's real budget: a model someone else serves (an endpoint in town.toml, or the
cloud) or whose server already runs takes nothing more, and one gastown would start must
fit beside what is reserved — VRAM from NVML, else ``[machine]``; RAM; pinned cores. A
server gastown starts, or restarts after a crash, is admitted by the governor first, and
its reservation is the server process's, so it is freed however the server ends.

When the chosen model does not fit beside the servers already running, the idle ones
(no request in flight, none for ``[machine] idle_s``, least recently used first) are
stopped to make room; a server in use is never stopped. ``idle_s`` is the hysteresis: a
model brought in keeps its place at least that long, so two roles wanting different
models take turns at most once per bead plus ``idle_s``, and never stop each other's
server before it has answered. A bead that must wait sleeps on ``watch_budget``'s event.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, replace

from gastown.errors import GastownError, Unavailable
from gastown.machine.changes import BudgetWatch
from gastown.machine.governor import Governor, Reservation, governor_for
from gastown.machine.hardware import EnergyMeter
from gastown.machine.providers import ModelClient
from gastown.machine.runner import Runner, Server
from gastown.machine.switcher import Choice, choose
from gastown.town.config import TownConfig
from gastown.town.roster import ModelSpec
from gastown.town.times import duration
from gastown.town.town import Town

log = logging.getLogger(__name__)


class Machine:
    """Models for one process: chosen by the switcher, admitted by the governor, kept."""

    def __init__(
        self,
        town: Town,
        config: Callable[[], TownConfig],
        env: Mapping[str, str] | None = None,
        seed: int | None = None,
    ) -> None:
        self.runner = Runner(town.state_dir)
        self._config = config  # read at each decision: town.toml may change while a watcher runs
        self.env = env
        self.seed = seed  # every model's sampling seed in this process (gt watch --seed), over town.toml's
        self._clients: dict[str, ModelClient] = {}
        self._governor: Governor | None = None  # made when a local model is first needed
        self._watch: BudgetWatch | None = None
        self.meters: dict[str, EnergyMeter] = {}

    @property
    def governor(self) -> Governor:
        if self._governor is None:
            self._governor = governor_for(self._config().machine)
        return self._governor

    def client(self, spec: ModelSpec) -> ModelClient:
        """A client of ``spec``, kept for the process; its server started (and admitted) if
        gastown runs it, and started again if it was stopped since (to make room, or gt down)."""
        if self.seed is not None:
            spec = replace(spec, sampling={**spec.sampling, "seed": self.seed})
        cached = self._clients.get(spec.name)
        if cached is not None and not spec.endpoints:
            server = self.runner.get(spec.name)
            if server is None or not server.alive() or server.url not in cached.spec.endpoints:
                cached = None
        if cached is None:
            cached = self._clients[spec.name] = self.runner.client(spec, self.env, governor=self.governor)
        return cached

    def named(self, name: str, evict: bool = True) -> ModelClient:
        """A client of the roster's model ``name``; idle servers are stopped if it needs their
        room, unless not ``evict`` (a warm-up before any bead must not take another's place)."""
        spec = self._config().roster.model(name)
        return self.start(spec, spec.parallel)[0] if evict else self.client(spec)

    def hold(self, client: ModelClient) -> AbstractContextManager[None]:
        """Hold ``client``'s server in use for a whole bead — its tool runs between calls too —
        so no process stops it for room meanwhile (a cloud model or a server someone else
        runs: nothing to hold)."""
        return client.hold() if client.hold is not None else nullcontext()

    def room_for(self, spec: ModelSpec, parallel: int) -> list[Server] | None:
        """What must stop for ``spec`` to run now: nothing (``[]``) when it fits or takes no
        room, the idle servers to stop first, or None when it cannot fit now."""
        if not spec.local or spec.endpoints or self.runner.endpoint(spec) is not None:
            return []
        held = self.governor.held()  # only looks: admitting is what takes the lock
        if self.governor.check(spec, parallel, held).ok:
            return []
        plan: list[Server] = []
        for server in self._idle(spec.name):  # the longest idle first, until it fits
            plan.append(server)
            if self._fits_without(spec, parallel, held, plan):
                break
        else:
            return None
        for server in sorted(plan, key=lambda s: s.started, reverse=True):  # keep what need not go
            fewer = [s for s in plan if s is not server]
            if self._fits_without(spec, parallel, held, fewer):
                plan = fewer
        return plan

    def _fits_without(self, spec: ModelSpec, parallel: int, held: list[Reservation], gone: list[Server]) -> bool:
        pids = {s.pid for s in gone}
        return self.governor.check(spec, parallel, [r for r in held if r.pid not in pids]).ok

    def _idle(self, keep: str) -> list[Server]:
        """The servers (other than ``keep``'s) that may be stopped for room, the longest idle first."""
        idle_s = self._config().machine.idle_s
        found = []
        for server in self.runner.servers():
            if server.name == keep or not server.alive():
                continue
            quiet = self.runner.idle_for(server)
            if quiet is not None and quiet >= idle_s:
                found.append((quiet, server))
        return [server for _, server in sorted(found, key=lambda pair: -pair[0])]

    def start(self, spec: ModelSpec, parallel: int) -> tuple[ModelClient, list[str]]:
        """A client of ``spec`` whose server runs, and the idle servers stopped first for its
        room — one process at a time, from the plan to the new server's admission."""
        if not spec.local or not self.room_for(spec, parallel):
            return self.client(spec), []
        with self.runner.swapping():
            plan = self.room_for(spec, parallel)  # again, now that no other process swaps
            if plan is None:
                raise Unavailable(f"model {spec.name} does not fit now: {self._blockers(spec, parallel)}")
            idle_s = self._config().machine.idle_s
            for server in plan:
                if not self.runner.stop_idle(server.name, idle_s):
                    raise Unavailable(f"model {spec.name} does not fit now: {server.name} is in use again")
                self._clients.pop(server.name, None)
            return self.client(spec), [server.name for server in plan]

    def next_room_in(self) -> float | None:
        """Seconds until a running server has been idle long enough to be stopped for room
        (None: none will be without a use ending first, which the budget watch sees)."""
        idle_s = self._config().machine.idle_s
        waits = []
        for server in self.runner.servers():
            quiet = self.runner.idle_for(server) if server.alive() else None
            if quiet is not None and quiet < idle_s:
                waits.append(idle_s - quiet)
        return min(waits, default=None)

    def watch_budget(self, event: threading.Event) -> None:
        """Set ``event`` whenever the budget may have changed, until ``unwatch_budget``."""
        if self._watch is None:
            self._watch = BudgetWatch(self.governor, self.runner).start()
        self._watch.arm(event)

    def unwatch_budget(self) -> None:
        if self._watch is not None:
            self._watch.disarm()

    def close(self) -> None:
        if self._watch is not None:
            self._watch.stop()
            self._watch = None

    def _pick(self, role: str, tokens: int | None, attempts: int) -> Choice:
        """The switcher's choice: a model that fits as things are, if any takes the bead
        (no swap: a running larger model takes a small bead), else one idle servers can make
        room for, else the cloud or a wait."""
        roster = self._config().roster

        def as_is(name: str, slots: int) -> bool:
            return self.room_for(roster.model(name), slots) == []

        def after_swap(name: str, slots: int) -> bool:
            return self.room_for(roster.model(name), slots) is not None

        pick = choose(roster, role, tokens, attempts, fits=as_is)
        if pick.model is not None and roster.model(pick.model).local:
            return pick
        return choose(roster, role, tokens, attempts, fits=after_swap)

    def _blockers(self, spec: ModelSpec, parallel: int) -> str:
        """Why ``spec`` cannot run now: the governor's verdict, and what holds the room."""
        verdict = self.governor.check(spec, parallel, self.governor.held())
        idle_s = self._config().machine.idle_s
        holders = []
        for server in self.runner.servers():
            if server.name == spec.name or not server.alive():
                continue
            quiet = self.runner.idle_for(server)
            if quiet is None:
                holders.append(f"{server.name} in use")
            elif quiet < idle_s:
                holders.append(f"{server.name} idle {quiet:.0f}s of {idle_s:.0f}s")
        return verdict.reason + (f"; {', '.join(holders)}" if holders else "")

    def waits(self, role: str, tokens: int | None, attempts: int, model: str | None = None) -> str | None:
        """Why a ``role`` bead of ``tokens`` must wait now (no model fits, and the role does
        not go to the cloud), or None when a model would take it."""
        if model is not None:
            return None
        pick = self._pick(role, tokens, attempts)
        return None if pick.model is not None else self._wait_reason(pick, role, tokens)

    def _wait_reason(self, pick: Choice, role: str, tokens: int | None) -> str:
        """The switcher's reason to wait, with the model waited for and what holds its room."""
        wanted = self._wanted(role, tokens)
        return pick.reason if wanted is None else f"{pick.reason} ({wanted.name}: {self._blockers(wanted, 1)})"

    def _wanted(self, role: str, tokens: int | None) -> ModelSpec | None:
        """The first local model whose band takes ``tokens`` (the one a wait is for)."""
        roster = self._config().roster
        rule = roster.rule(role)
        need = tokens or 0
        for band in rule.bands:
            spec = roster.model(band.model)
            if spec.local and need <= min(band.max_tokens, spec.context):
                return spec
        return roster.model(rule.model) if rule.model and roster.model(rule.model).local else None

    def for_bead(
        self, role: str, tokens: int | None, attempts: int, model: str | None = None
    ) -> tuple[ModelClient, ModelClient | None, str]:
        """The client for a ``role`` bead, its fallback, and why it was chosen; Unavailable
        (the bead waits) when no model fits now and the role does not go to the cloud."""
        roster = self._config().roster
        why = f"--model {model}"
        slots = 1
        if model is None:
            pick = self._pick(role, tokens, attempts)
            if pick.model is None:
                raise Unavailable(self._wait_reason(pick, role, tokens))
            model, why, slots = pick.model, pick.reason, pick.parallel
        spec = roster.model(model)
        if slots > spec.parallel:  # the band runs this many at once: its server gets the slots
            spec = replace(spec, parallel=slots)
        client, stopped = self.start(spec, slots)
        if stopped:
            why += f"; stopped idle {', '.join(stopped)} to make room"
        fallback_name = spec.fallback or roster.rule(role).fallback
        fallback = None
        if fallback_name and fallback_name != model:
            try:
                fallback = self.client(roster.model(fallback_name))
            except GastownError as error:
                log.info("fallback %s not available: %s", fallback_name, error.message)
        return client, fallback, why

    def meter(self, client: ModelClient) -> EnergyMeter | None:
        """What measures a call's energy: one meter per local model (None for cloud)."""
        spec = client.spec
        if not spec.local:
            return None
        if spec.name not in self.meters:
            machine = self._config().machine
            fallback = spec.power_watts or machine.watts_for(spec.device)
            gpu = machine.gpu_index if spec.device == "gpu" else None
            self.meters[spec.name] = EnergyMeter(gpu, fallback or None)
        return self.meters[spec.name]


@dataclass(frozen=True)
class Loaded:
    """A server gastown started, as ``gt status`` and ``gt models`` show it."""

    model: str
    pid: int
    url: str
    log: str
    alive: bool
    in_use: bool  # a request or a bead holds it
    idle_s: float | None  # how long it has been idle (None: in use, or dead)
    stoppable_in: float | None  # seconds until it may be stopped for another model's room
    vram_mib: float  # what its reservation holds
    ram_mib: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def describe(self) -> str:
        """``running, in use, holds 4138 MiB VRAM``, ``running, idle 12s (may be stopped for
        another model in 18s)`` or ``dead``."""
        if not self.alive:
            return "dead"
        use = "in use"
        if self.idle_s is not None:
            use = f"idle {duration(self.idle_s)}"
            if self.stoppable_in:
                use += f" (may be stopped for another model in {duration(self.stoppable_in)})"
        holds = [f"{mib:.0f} MiB {what}" for mib, what in ((self.vram_mib, "VRAM"), (self.ram_mib, "RAM")) if mib]
        return f"running, {use}" + (f", holds {' + '.join(holds)}" if holds else "")


def loaded(runner: Runner, held: list[Reservation], idle_s: float) -> list[Loaded]:
    """The servers gastown started, whether each is in use, and the share it holds of ``held``."""
    found = []
    for server in runner.servers():
        alive = server.alive()
        quiet = runner.idle_for(server) if alive else None
        mine = [r for r in held if r.pid == server.pid]
        found.append(
            Loaded(
                server.name,
                server.pid,
                server.url,
                server.log,
                alive,
                alive and quiet is None,
                quiet,
                None if quiet is None else max(0.0, idle_s - quiet),
                sum(r.vram_mib for r in mine),
                sum(r.ram_mib for r in mine),
            )
        )
    return found
