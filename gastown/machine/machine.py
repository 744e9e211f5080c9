"""The machine's one owner in a process: which model works a bead, whether it fits, and
the clients, servers and energy meters of the models in use.

A watcher, ``gt mayor plan`` and the Crew get their models here. The switcher decides with
the governor's real budget: a model someone else serves (an endpoint in town.toml, or the
cloud) or whose server already runs takes nothing more, and one gastown would start must
fit beside what is reserved — VRAM from NVML, else ``[machine]``; RAM; pinned cores. A
server gastown starts, or restarts after a crash, is admitted by the governor first, and
its reservation is the server process's, so it is freed however the server ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace

from gastown.errors import GastownError, Unavailable
from gastown.machine.governor import Governor, governor_for
from gastown.machine.hardware import EnergyMeter
from gastown.machine.providers import ModelClient
from gastown.machine.runner import Runner
from gastown.machine.switcher import choose
from gastown.town.config import TownConfig
from gastown.town.roster import ModelSpec
from gastown.town.town import Town

log = logging.getLogger(__name__)


class Machine:
    """Models for one process: chosen by the switcher, admitted by the governor, kept."""

    def __init__(self, town: Town, config: Callable[[], TownConfig], env: Mapping[str, str] | None = None) -> None:
        self.runner = Runner(town.state_dir)
        self._config = config  # read at each decision: town.toml may change while a watcher runs
        self.env = env
        self._clients: dict[str, ModelClient] = {}
        self._governor: Governor | None = None  # made when a local model is first needed
        self.meters: dict[str, EnergyMeter] = {}

    @property
    def governor(self) -> Governor:
        if self._governor is None:
            self._governor = governor_for(self._config().machine)
        return self._governor

    def client(self, spec: ModelSpec) -> ModelClient:
        """A client of ``spec``, kept for the process; its server started (and admitted) if gastown runs it."""
        cached = self._clients.get(spec.name)
        if cached is None:
            cached = self._clients[spec.name] = self.runner.client(spec, self.env, governor=self.governor)
        return cached

    def named(self, name: str) -> ModelClient:
        """A client of the roster's model ``name``."""
        return self.client(self._config().roster.model(name))

    def fits(self, spec: ModelSpec, parallel: int) -> bool:
        """Whether ``spec`` may be chosen now (with ``parallel`` slots)."""
        if not spec.local or spec.endpoints or self.runner.endpoint(spec) is not None:
            return True
        verdict = self.governor.check(spec, parallel)
        if not verdict.ok:
            log.info("%s does not fit now: %s", spec.name, verdict.reason)
        return verdict.ok

    def waits(self, role: str, tokens: int | None, attempts: int, model: str | None = None) -> str | None:
        """Why a ``role`` bead of ``tokens`` must wait now (no model fits, and the role does
        not go to the cloud), or None when a model would take it."""
        if model is not None:
            return None
        roster = self._config().roster
        pick = choose(roster, role, tokens, attempts, fits=lambda name, slots: self.fits(roster.model(name), slots))
        return pick.reason if pick.model is None else None

    def for_bead(
        self, role: str, tokens: int | None, attempts: int, model: str | None = None
    ) -> tuple[ModelClient, ModelClient | None, str]:
        """The client for a ``role`` bead, its fallback, and why it was chosen; Unavailable
        (the bead waits) when no model fits now and the role does not go to the cloud."""
        roster = self._config().roster
        why = f"--model {model}"
        slots = 1
        if model is None:
            pick = choose(roster, role, tokens, attempts, fits=lambda name, slots: self.fits(roster.model(name), slots))
            if pick.model is None:
                raise Unavailable(pick.reason)
            model, why, slots = pick.model, pick.reason, pick.parallel
        spec = roster.model(model)
        if slots > spec.parallel:  # the band runs this many at once: its server gets the slots
            spec = replace(spec, parallel=slots)
        client = self.client(spec)
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
