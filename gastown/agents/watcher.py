"""A watcher: one long-running process per role (and model) that claims and works beads.

``Watcher.step()`` is one iteration: claim the best ready bead of the role, work it with
the model, record the outcome as a commit (one the town cannot take yet, on a full disk,
is kept and recorded first at the next step). ``run()`` repeats it, sleeping between beads
until a commit on ``tasks`` wakes it (``wakeup``), or until the next poll of a remote
elsewhere — or, while no model fits the bead it would claim, until the machine's budget
changes — and beating its heartbeat (``liveness``) as it goes.

The models are the ``Machine``'s (``gastown.machine.machine``: the clients kept for the
process, their servers started and admitted); a bead's ``ask_crew`` is ``askcrew``'s.

Signals only set flags. The first SIGTERM/SIGINT lets the current bead end at its next
step (it is handed back if unfinished) and the watcher exits 0; a second one kills the
tools' process groups, hands the bead back at once and exits 130. The lease renewer is
the last thing stopped, after the outcome is recorded.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gastown.agents import askcrew, crew, liveness, refinery, wakeup
from gastown.agents import rig as rigmod
from gastown.agents.agent import Agent, Limits, Outcome
from gastown.agents.calls import Crew
from gastown.agents.commands import CHILDREN
from gastown.agents.jail import Jail
from gastown.agents.tally import Trace
from gastown.agents.worktree import prepare, remove
from gastown.errors import (
    EXIT_INTERRUPTED,
    STORAGE_ERRNOS,
    GastownError,
    InvalidBead,
    NotFound,
    NothingReady,
    Refused,
    StorageError,
    Unavailable,
    storage_error,
)
from gastown.machine.machine import Machine
from gastown.machine.switcher import choose
from gastown.town import convoy as convoymod
from gastown.town.bead import Bead
from gastown.town.queue import Claimed, Queue
from gastown.town.secrets import Secrets
from gastown.town.store import GitStore
from gastown.town.town import Town

log = logging.getLogger(__name__)

POLL_START, POLL_MAX = 1.0, 30.0


@dataclass
class Options:
    role: str
    agent: str
    model: str | None = None
    once: bool = False
    max_beads: int | None = None
    idle_exit: float | None = None  # stop after this long with nothing to do
    lease: float | None = None
    poll: float | None = None  # check every this many seconds instead of watching files
    seed: int | None = None  # sample reproducibly: every model's seed (see ModelClient.chat)


class Watcher:
    """Claims and works the beads of one role until told to stop."""

    def __init__(self, town: Town, options: Options, env: Mapping[str, str] | None = None) -> None:
        self.town = town
        self.options = options
        self.env = dict(os.environ if env is None else env)
        self.store = GitStore(town)
        self.queue = Queue(self.store)
        self.machine = Machine(town, lambda: self.store.snapshot().config(), self.env, options.seed)
        self.stop = threading.Event()
        self.hard_stop = threading.Event()
        self.wake = threading.Event()
        self.interrupt = threading.Event()
        self.current: Claimed | None = None
        self.current_since = 0.0  # when the current bead was claimed
        self.current_model: str | None = None  # the model working it
        self._waiting: dict[str, str] = {}  # beads handed back because no model fits: why
        self.worked = 0
        self._lost = threading.Event()
        self._unrecorded: tuple[Bead, Outcome] | None = None  # an outcome the town could not take yet
        self._beat_failed = False  # said once, until a heartbeat is written again

    # ---- one iteration ---------------------------------------------------------

    def step(self) -> str:
        """Claim and work one bead: ``worked``, ``released``, ``waiting`` (no model fits it now), ``idle``."""
        if self.store.remote is not None:
            self._sync_quietly()
        if self._unrecorded is not None:  # a full disk refused it: record it before claiming more
            return self._settle(*self._unrecorded)
        lease = self.options.lease
        if self._waiting and self._still_waits():
            return "waiting"  # claiming it again would only hand it back again: one commit said why
        try:
            claimed = self.queue.claim(self.options.role, self.options.agent, lease)
        except NothingReady:
            return "idle"
        self._waiting.pop(claimed.bead.id, None)
        self.current = claimed
        self.current_since = time.time()
        self._lost.clear()
        stop_renewing = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(claimed, stop_renewing), daemon=True, name="lease-renewer")
        renewer.start()
        try:
            outcome = self._work(claimed.bead)
            self._unrecorded = (claimed.bead, outcome)
            return self._settle(claimed.bead, outcome)
        finally:
            stop_renewing.set()  # the renewer is the last thing stopped
            renewer.join(timeout=5)
            self.current = None
            self.current_model = None

    def _settle(self, bead: Bead, outcome: Outcome) -> str:
        """Record ``outcome`` (merging done work): ``worked``, ``released`` or ``waiting``. While the town
        cannot take it (a full disk) the error is raised and the outcome kept for the next step,
        so the bead is handed back or finished once there is room, not left to its lease."""
        try:
            self._record(bead, outcome)
        except (StorageError, Unavailable):
            raise  # kept: recorded first at the next step, once there is room (or the remote answers)
        except GastownError:
            self._unrecorded = None  # a fault that waiting will not mend: said once, not every step
            raise
        self._unrecorded = None
        if outcome.status == "done":
            self._merge(bead)
        if outcome.status != "released":
            self.worked += 1
            return "worked"
        why = self.machine.waits(self.options.role, bead.estimated_tokens, bead.attempts, self.options.model)
        if why is None:
            return "released"
        self._waiting[bead.id] = why
        return "waiting"

    def _still_waits(self) -> bool:
        """Whether the best ready bead is one handed back for want of a model, and no model
        fits it yet (a reservation released, a server stopped, town.toml changed: it is tried)."""
        ahead = self.queue.ready(self.options.role)
        ready = {entry.id for entry in ahead}
        for bead_id in list(self._waiting):  # taken by another watcher, or gone: no longer waited for
            if bead_id not in ready:
                del self._waiting[bead_id]
        if not ahead or ahead[0].id not in self._waiting:
            return False
        entry = ahead[0]
        why = self.machine.waits(self.options.role, entry.estimated_tokens, entry.attempts, self.options.model)
        if why is not None:
            self._waiting[entry.id] = why  # the reason as it is now, for gt status
        return why is not None

    def _work(self, bead: Bead) -> Outcome:
        self.machine.meters.clear()  # energy is counted per bead
        worktree = None
        trace = None
        try:
            rig = self._rig(bead)
            if bead.issue_type == "question":
                return self._answer(rig, bead)
            if "review" in bead.labels and self.options.role == "refinery":
                return self._review(rig, bead)
            trace_path = self.town.state_dir / "traces" / bead.id / f"generation-{bead.generation}.jsonl"
            secrets = self._secrets()
            trace = Trace(trace_path, secrets)
            trace.write(
                "claim",
                bead=bead.id,
                generation=bead.generation,
                agent=self.options.agent,
                role=self.options.role,
            )
            client, fallback, why = self.machine.for_bead(
                self.options.role, bead.estimated_tokens, bead.attempts, self.options.model
            )
            trace.write("model", name=client.spec.name, why=why)
            self.current_model = client.spec.name
            prompt = rig.prompt(self.options.role)
            base = refinery.target_for(self.store.snapshot(), rig, bead)  # a convoy's beads see its tests
            worktree = prepare(rig.path, bead.id, base, self.town.state_dir / "worktrees" / rig.name)
            stop = _AnyEvent(self.stop, self._lost)
            ask_crew = self._crew(worktree.path)
            agent = Agent(
                self.options.role,
                prompt,
                rig,
                client,
                fallback,
                stop,
                ask_crew,
                limits=self._limits(),
                env=self.env,
                meter=self.machine.meter,
                secrets=secrets,
                jail=self._jail(rig),
            )
            with self.machine.hold(client):  # its tool runs between calls too: not idle, not for room
                outcome = agent.work(bead, worktree, trace)
            outcome.result["model_choice"] = why
            if outcome.result.get("commits"):
                refinery.publish_branch(rig, worktree.branch)  # other machines' merge queues see it
            return outcome
        except Unavailable as error:
            return Outcome("released", error.message)
        except StorageError as error:  # git in the worktree on a full disk: the machine's trouble
            log.warning("%s: %s", bead.id, error.line())
            return Outcome("released", error.message)
        except GastownError as error:
            return Outcome("failed", error.message)
        except Exception as error:  # a bug must not lose the bead: hand it back, say why
            if isinstance(error, OSError) and error.errno in STORAGE_ERRNOS:
                # The machine's trouble (a full disk under the trace or the worktree), not the
                # bead's and not a bug: say so in one line and hand it back, no attempt counted.
                trouble = storage_error(error, self.town.state_dir)
                log.warning("%s: %s", bead.id, trouble.line())
                return Outcome("released", trouble.message)
            log.error("working %s failed:\n%s", bead.id, traceback.format_exc())
            return Outcome("released", f"internal error: {type(error).__name__}: {error}")
        finally:
            if trace is not None:
                try:
                    trace.close()
                except OSError as error:  # the write that failed first is the outcome; this repeats it
                    log.debug("could not close the trace of %s: %s", bead.id, error)
            if worktree is not None:
                remove(worktree)

    def _jail(self, rig: rigmod.Rig) -> Jail:
        """How this rig's model commands run: the town's mode, the rig's limits, the town hidden."""
        return Jail(self.store.snapshot().config().sandbox_mode, rig.sandbox, (self.town.git_dir,))

    def _answer(self, rig: rigmod.Rig, bead: Bead) -> Outcome:
        """A question bead: the Crew answers from the rig's files."""
        question = f"{bead.title}\n\n{bead.description}".strip()
        text, _model = self._crew(rig.path)(question)
        found = not text.startswith(crew.NOT_FOUND)
        return Outcome("done", "", {"summary": text[:8000], "outcome": "answered" if found else "not-found"})

    def _review(self, rig: rigmod.Rig, bead: Bead) -> Outcome:
        """The convoy's review bead: coverage, then the convoy onto the rig's branch."""
        folder = self.town.state_dir / "worktrees" / rig.name
        folder.mkdir(parents=True, exist_ok=True)
        result = refinery.review(self.store, rig, bead, self.options.agent, folder)
        data = refinery.summary(result)
        if result.filed:  # the review waits for the missing tests
            blockers = [d.id for d in bead.dependencies if d.type == "blocks"] + result.filed
            self.queue.edit(bead.id, [f"dependencies={','.join(blockers)}"], self.options.agent)
            return Outcome("released", data["summary"])
        if not result.ok:
            return Outcome("failed", data["summary"], data)
        return Outcome("done", "", data)

    def _merge(self, bead: Bead) -> None:
        """Hand a done bead of a planned convoy to the merge queue."""
        if bead.issue_type == "question" or "review" in bead.labels or not bead.convoy:
            return
        try:
            snap = self.store.snapshot()
            found = convoymod.load(snap, bead.convoy)
            if not found.target_branch:
                return  # a hand-made convoy: `gt refinery merge` when you are ready
            done = snap.bead(bead.id)
            rig = self._rig(done)
            folder = self.town.state_dir / "worktrees" / rig.name
            folder.mkdir(parents=True, exist_ok=True)
            outcome = refinery.merge(self.store, rig, done, self.options.agent, folder)
            log.info(
                "merge of %s: %s %s", bead.id, outcome.status, outcome.detail.splitlines()[0] if outcome.detail else ""
            )
            if outcome.status in ("gates-failed", "refused"):
                refinery.send_back(self.store, done, self.options.agent, outcome)
        except GastownError as error:
            log.warning("could not merge %s: %s", bead.id, error.message)

    def _record(self, bead: Bead, outcome: Outcome) -> None:
        agent, generation = self.options.agent, bead.generation
        try:
            if self._lost.is_set():
                log.warning("%s: the claim was taken over; dropping the outcome", bead.id)
                return
            if outcome.status == "done":
                self.queue.complete(bead.id, agent, generation, outcome.result)
            elif outcome.status == "failed":
                self.queue.fail(bead.id, agent, outcome.reason or "failed", generation, outcome.result)
            else:
                self.queue.release(bead.id, agent, generation, outcome.reason)
        except Refused as error:  # taken over while we worked: the new owner finishes it
            log.warning("%s: outcome refused: %s", bead.id, error.message)
        except (NotFound, InvalidBead) as error:  # gone from the branch, or rewritten, while we worked
            log.warning("%s: outcome dropped: %s", bead.id, error.message)

    def _renew(self, claimed: Claimed, stop: threading.Event) -> None:
        """Renew the bead's lease every third of it until ``stop``; a refusal means the bead
        was taken over: the worker is told (``_lost``) and stops."""
        assert claimed.bead.claim is not None
        lease = claimed.bead.claim.expires() - time.time()
        every = max(0.2, lease / 3)
        queue = Queue(GitStore(self.town))  # its own index: the worker's snapshots must not move under it
        while not stop.wait(every):
            try:
                queue.renew(claimed.bead.id, self.options.agent, claimed.bead.generation, self.options.lease)
            except Refused as error:
                log.warning("lost the claim on %s: %s", claimed.bead.id, error.message)
                self._lost.set()
                return
            except GastownError as error:
                log.warning("could not renew %s: %s", claimed.bead.id, error.message)

    # ---- models and rigs -------------------------------------------------------

    def _rig(self, bead: Bead) -> rigmod.Rig:
        snap = self.store.snapshot()
        name = bead.rig
        if name is None:
            known = rigmod.list_rigs(snap)
            if len(known) != 1:
                raise GastownError(f"bead {bead.id} names no rig and the town has {len(known)} rigs")
            name = known[0]
        return rigmod.load(self.store, name, snap)

    def _crew(self, root: Path) -> Crew:
        """``ask_crew`` for the files under ``root`` (the rig, or the bead's worktree)."""
        return askcrew.asker(root, self.machine, lambda: self.store.snapshot().config())

    def _secrets(self) -> Secrets:
        """What this watcher must never show: every key the roster names, and variables named like keys."""
        config = self.store.snapshot().config()
        return Secrets.of(self.env, config.roster.key_variables())

    def _limits(self) -> Limits:
        """The role's per-bead budgets from town.toml (turns, tokens, seconds)."""
        config = self.store.snapshot().config()
        rule = config.roster.rule(self.options.role)
        base = Limits()
        return replace(
            base,
            max_turns=rule.max_turns or base.max_turns,
            max_tokens=rule.bead_tokens,
            max_wall_s=rule.bead_seconds,
        )

    # ---- the loop --------------------------------------------------------------

    def run(self) -> int:
        """Work beads until stopped (or ``--once``/``--max-beads``/idle); the exit code."""
        if self.options.role not in ("mayor", "crew"):  # their work runs the model's code: fail now, not per bead
            Jail(self.store.snapshot().config().sandbox_mode).check()
        self._install_signals()
        # Asked to poll (e.g. a network filesystem without inotify), or a remote elsewhere: no wake-ups.
        observer = None if self.options.poll is not None else wakeup.start(self.town, self.wake)
        self._warm()
        idle_since = time.monotonic()
        poll = POLL_START
        result: dict[str, Any] = {}
        try:
            while not self.stop.is_set():
                self._heartbeat()
                worker = threading.Thread(target=self._step_into, args=(result,), name="bead-worker", daemon=True)
                worker.start()
                beaten: tuple[object, str | None, float] = (None, None, time.monotonic())
                while worker.is_alive():
                    worker.join(0.1)
                    # Busy: beat every few seconds (a model call may take minutes; the watcher is
                    # working, not dead or idle), and at once when it starts on a bead or picks its model.
                    changed = self.current is not beaten[0] or self.current_model != beaten[1]
                    if changed or time.monotonic() - beaten[2] >= liveness.HEARTBEAT_SECONDS:
                        self._heartbeat(liveness.HEARTBEAT_SECONDS)
                        beaten = (self.current, self.current_model, time.monotonic())
                    if self.interrupt.is_set():
                        self.interrupt.clear()
                        CHILDREN.kill_all()  # a running command would hold the bead for minutes
                    if self.hard_stop.is_set():
                        return self._abort()
                if "error" in result:
                    error = result.pop("error")
                    if not isinstance(error, GastownError) or isinstance(error, NothingReady) or self.options.once:
                        raise error
                    # The town or the remote is unreachable for now (or its disk is full): say so,
                    # wait, try again.
                    log.warning("%s", error.line())
                    state = "trouble"
                else:
                    state = result.pop("state")
                if state != "waiting":
                    self.machine.unwatch_budget()  # a use ending elsewhere wakes only a waiting watcher
                if state == "idle" and self.options.once:
                    raise NothingReady(f"nothing is ready for role {self.options.role}")
                done = self.options.once or (self.options.max_beads and self.worked >= self.options.max_beads)
                if state in ("released", "waiting") and done:
                    break
                if state not in ("idle", "trouble", "released", "waiting"):
                    idle_since = time.monotonic()
                    poll = POLL_START
                    if done:
                        break
                    continue
                if self.options.idle_exit is not None and time.monotonic() - idle_since >= self.options.idle_exit:
                    break
                if state == "waiting":
                    # No model fits the bead now: it is claimable by others, and this watcher
                    # sleeps until the budget changes (a reservation released, a server stopped
                    # or idle long enough to make room) or the tasks branch moves — re-checking
                    # is cheap, and it claims again only once a model fits.
                    timeout = self._budget_watched()
                elif state == "released":
                    # Its model's server is down (or the town's disk is full): claiming it again at
                    # once would hand it back again, and the hand-back itself wakes this watcher.
                    # Back off, woken only by a stop (or the idle limit).
                    pause = poll
                    if self.options.idle_exit is not None:
                        pause = min(pause, max(0.05, self.options.idle_exit - (time.monotonic() - idle_since)))
                    self.stop.wait(pause)
                    self.wake.clear()
                    poll = min(POLL_MAX, poll * 2)
                    if self.options.idle_exit is not None and time.monotonic() - idle_since >= self.options.idle_exit:
                        break  # the pause ran out the idle limit: no claim (and hand-back) past it
                    continue
                elif self.options.poll is not None:
                    timeout = self.options.poll
                elif state == "trouble" or (self.store.remote is not None and observer is None):
                    timeout = poll
                else:
                    timeout = POLL_MAX
                if self.options.idle_exit is not None:
                    timeout = min(timeout, max(0.05, self.options.idle_exit - (time.monotonic() - idle_since)))
                woke = self.wake.wait(timeout)
                self.wake.clear()
                poll = POLL_START if woke else min(POLL_MAX, poll * 2)
            return 0
        finally:
            if self._unrecorded is not None:  # stopped while the town could not take it
                bead, outcome = self._unrecorded
                log.warning(
                    "%s: its outcome (%s) was never recorded; the claim ends when its lease runs out",
                    bead.id,
                    outcome.status,
                )
            if observer is not None:
                observer.stop()
            self.machine.close()
            liveness.clear(self.town, self.options.agent)
            self.store.close()

    def _budget_watched(self) -> float:
        """Arm the budget watch on the wake event; how long to sleep at most (until an idle
        server may be stopped for room). Without a watch (no inotify left, say): a timer."""
        try:
            self.machine.watch_budget(self.wake)
            return min(POLL_MAX, self.machine.next_room_in() or POLL_MAX)
        except (GastownError, OSError) as error:
            message = error.message if isinstance(error, GastownError) else str(error)
            log.warning("cannot watch the machine's budget (%s); looking again every %.0fs", message, POLL_MAX)
            return POLL_MAX

    def _warm(self) -> None:
        """Load the model client (and start a local server) before the first bead arrives,
        so a claimed bead does not wait for imports and health checks."""
        try:
            config = self.store.snapshot().config()
            roster = config.roster
            name = self.options.model or choose(roster, self.options.role, None).model
            if name:
                self.machine.named(name, evict=False)
        except GastownError as error:
            log.info("not warmed up: %s", error.message)

    def _step_into(self, result: dict[str, Any]) -> None:
        try:
            result["state"] = self.step()
        except BaseException as error:  # handed to the main thread
            result["error"] = error

    def _abort(self) -> int:
        """The second signal: end the tools, hand the bead back now, exit 130."""
        CHILDREN.kill_all()
        held = self.current.bead if self.current is not None else None
        if held is None and self._unrecorded is not None:
            held = self._unrecorded[0]
        if held is not None:
            try:
                queue = Queue(GitStore(self.town))
                queue.release(held.id, self.options.agent, held.generation, "the watcher was killed")
            except GastownError as error:
                log.warning("could not release %s: %s", held.id, error.message)
        liveness.clear(self.town, self.options.agent)
        return EXIT_INTERRUPTED

    def _install_signals(self) -> None:
        def handler(signum: int, _frame: object) -> None:
            if self.stop.is_set():
                self.hard_stop.set()
            self.stop.set()
            self.wake.set()
            self.interrupt.set()  # the bead worker ends running tools (not in a handler)

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, handler)

    def _heartbeat(self, every: float | None = None) -> None:
        """Beat, promising the next beat within ``every`` seconds (idle: as often as it polls)."""
        claimed = self.current
        if every is None:
            every = max(POLL_MAX, self.options.poll or 0)  # a slow poller beats as rarely as it polls
        try:
            liveness.beat(
                self.town,
                self.options.agent,
                self.options.role,
                claimed.bead.id if claimed is not None else None,
                every,
                model=self.current_model if claimed is not None else None,
                since=self.current_since if claimed is not None else None,
                waiting=self._waiting,
            )
            self._beat_failed = False
        except OSError as error:  # a full disk must not stop the work; --check will say it is overdue
            if not self._beat_failed:  # once, not every few seconds
                path = liveness.heartbeat_path(self.town, self.options.agent)
                trouble = storage_error(error, path).line()
                log.warning(
                    "could not write the heartbeat: %s; the watcher works on and beats again once it can", trouble
                )
            self._beat_failed = True

    def _sync_quietly(self) -> None:
        try:
            self.store.sync()
        except GastownError as error:
            log.warning("could not fetch the tasks branch: %s", error.message)


class _AnyEvent(threading.Event):
    """Set when any of the given events is set (the agent's stop flag)."""

    def __init__(self, *events: threading.Event) -> None:
        super().__init__()
        self._events = events

    def is_set(self) -> bool:
        return any(e.is_set() for e in self._events)
