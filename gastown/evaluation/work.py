"""The work of ``gt eval``: for each model a throwaway town, its server, one watcher per bead.

For each model, ``evaluate`` prepares a town whose roster gives every role under test to
that model, starts the model's server if it is local (through the runner and the governor,
as ``gt up`` does; stopped after), and works the beads one at a time: a bead is added to
the tasks branch and worked by a real ``gt watch --once`` process under a wall-clock
budget, then judged (``judge``). With ``--runtime plain`` the same beads are also (or only)
asked once each with no loop at all (``plain``): the control the loop has to beat.

One watcher process per bead, not one for the suite: the budget is enforced by ending a
process (its signal handling hands the bead back; a hung model call cannot hold it), a
crash stays inside its bead, every bead starts from the rig's main branch, and the
process is the one users run.

SIGTERM or SIGINT (``stop_on_signals``) only sets a flag; the eval then stops the bead's
watcher, judges nothing more, and its ``finally`` stops the servers of the throwaway
town and removes it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from gastown.agents.jail import Jail
from gastown.agents.worktree import branch_for
from gastown.errors import GastownError, UsageError
from gastown.evaluation import plain
from gastown.evaluation.judge import judge_answer, judge_plan, verify_tests, verify_written_tests
from gastown.evaluation.report import BeadRun, ModelRun, Report, priced
from gastown.evaluation.suite import (
    AGENT,
    GRACE_SECONDS,
    ROLES,
    Options,
    Suite,
    SuiteBead,
    Workspace,
    check_models,
    prepare,
    repeat_label,
    select,
    tagged,
)
from gastown.machine.governor import governor_for
from gastown.machine.runner import Runner
from gastown.town import config as configmod
from gastown.town import roster as rostermod
from gastown.town.bead import CLAIMED, CLOSED, DONE, OPEN, Bead
from gastown.town.queue import NewBead, Queue

log = logging.getLogger(__name__)

POLL = 0.1  # how often a wait looks at the stop flag
STOP_GRACE = 1.0  # after each signal to a watcher when the eval itself is stopped

Progress = Callable[[str], None]


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event that SIGTERM and SIGINT set while inside (the handlers do nothing else); main thread only."""
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, lambda _signum, _frame: stop.set())
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# ---- processes under a budget ----------------------------------------------------------


def supervise(
    argv: Sequence[str],
    budget: float,
    log_path: Path,
    out: Path | None = None,
    grace: float = GRACE_SECONDS,
    stop: threading.Event | None = None,
) -> tuple[int | None, bool, float]:
    """Run ``argv`` for at most ``budget`` seconds (or until ``stop``): (exit code, timed out, wall s)."""
    started = time.monotonic()
    deadline = started + budget
    with ExitStack() as files:
        sink = files.enter_context(open(log_path, "ab"))
        stdout = files.enter_context(open(out, "wb")) if out is not None else sink
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=stdout, stderr=sink, start_new_session=True
        )
        timed_out = False
        try:
            while proc.poll() is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    _stop(proc, grace)
                elif stop is not None and stop.is_set():
                    _stop(proc, STOP_GRACE)
                else:
                    try:
                        proc.wait(timeout=min(left, POLL))
                    except subprocess.TimeoutExpired:
                        pass
        except BaseException:  # the child is in its own session and must not outlive us
            _stop(proc, STOP_GRACE)
            raise
    return proc.returncode, timed_out, time.monotonic() - started


def _stop(proc: subprocess.Popen[bytes], grace: float) -> None:
    # The first TERM lets a watcher hand its bead back at its next step; the second ends
    # it at once (a model call that hangs holds the first); KILL is for anything left.
    for sig in (signal.SIGTERM, signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.wait()


def _log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    # gastown's own lines start at the margin; quoted server logs are indented under them
    kept = [line.strip() for line in text.splitlines() if line.strip() and not line[:1].isspace()]
    return " | ".join(kept[-lines:])[-400:]


# ---- one bead, one model ---------------------------------------------------------------


def work_bead(
    ws: Workspace,
    bead: SuiteBead,
    model: str,
    budget: float,
    grace: float = GRACE_SECONDS,
    stop: threading.Event | None = None,
    repeat: int = 1,
    seed: int | None = None,
) -> BeadRun:
    """Add ``bead`` to the town, let a real watcher work it within ``budget``, judge the branch.
    ``repeat`` names its files (a bead worked again is a new bead of the town); ``seed``
    goes to the watcher (``gt watch --seed``)."""
    if bead.judge == "plan":
        return _plan_bead(ws, bead, model, budget, grace, stop, repeat)
    queue = Queue(ws.store)
    added = queue.add(
        NewBead(
            title=bead.title,
            role=bead.role,
            rig=ws.rig.name,
            description=bead.description,
            acceptance_criteria=bead.acceptance_criteria,
            issue_type=bead.issue_type,
            acceptance_tests=bead.acceptance_tests,
            labels=("eval",),
        ),
        agent=AGENT,
    )
    agent = f"{AGENT}-{bead.role}"
    log_path = ws.logs / f"{tagged(bead.key, repeat)}.log"
    argv = [sys.executable, "-m", "gastown", "--town", str(ws.town_dir), "watch", "--role", bead.role]
    argv += ["--agent", agent, "--model", model, "--once"]
    argv += ["--seed", str(seed)] if seed is not None else []
    code, timed_out, wall = supervise(argv, budget, log_path, grace=grace, stop=stop)
    final = queue.show(added.id)
    run = BeadRun(model, bead.key, bead.kind, bead.role, "failed", "", wall, added.id, final.status, repeat=repeat)
    run.close_reason, run.timed_out = final.close_reason, timed_out
    run.take(final.result or {})
    if stop is not None and stop.is_set():
        if final.status not in CLOSED:
            _close(queue, final, "eval: interrupted")
        run.why = "interrupted: not judged"
        return run
    if final.status not in CLOSED:
        _close(queue, final, f"eval: the watcher ended without closing it (exit {code})")
    scratch = ws.root / "verify" / tagged(bead.key, repeat)
    jail = Jail(ws.store.snapshot().config().sandbox_mode, ws.rig.sandbox, (ws.town.git_dir,))  # as the town's watchers
    if bead.judge == "tests":
        ok, why = verify_tests(ws.rig, ws.base, branch_for(added.id), bead.acceptance_tests, scratch, jail)
    elif bead.judge == "tests-written":
        assert bead.stub is not None and bead.reference is not None
        ok, why = verify_written_tests(
            ws.rig, ws.base, branch_for(added.id), bead.stub, bead.reference, bead.tests, scratch, jail
        )
    elif final.status != DONE:
        ok, why = False, f"not answered ({final.status}: {final.close_reason or 'no reason given'})"
    else:
        ok, why = judge_answer(str((final.result or {}).get("summary", "")), bead.facts, bead.sources)
    if timed_out:
        why = f"timed out after {budget:.0f}s; {why}"
    elif final.status not in CLOSED:
        why = f"{why}; the watcher left it {final.status} (exit {code}): {_log_tail(log_path) or 'no log'}"
    run.verdict, run.why = ("passed" if ok else "failed"), why
    return run


def _close(queue: Queue, bead: Bead, reason: str) -> None:
    """Fail a bead the watcher left open or claimed, so the town tells the truth."""
    try:
        if bead.status == CLAIMED and bead.claim is not None:
            queue.fail(bead.id, bead.claim.agent, reason, bead.generation)
        elif bead.status == OPEN:
            claimed = queue.claim(bead.role, AGENT, bead_id=bead.id)
            queue.fail(bead.id, AGENT, reason, claimed.bead.generation)
    except GastownError as error:
        log.warning("could not close %s: %s", bead.id, error.message)


def _plan_bead(
    ws: Workspace, bead: SuiteBead, model: str, budget: float, grace: float, stop: threading.Event | None, repeat: int
) -> BeadRun:
    """A Mayor bead: ``gt mayor plan --dry-run --json`` in its own process, then the plan judged."""
    feature = f"{bead.title}\n\n{bead.description}".strip()
    out = ws.logs / f"{tagged(bead.key, repeat)}.json"
    log_path = ws.logs / f"{tagged(bead.key, repeat)}.log"
    argv = [sys.executable, "-m", "gastown", "--town", str(ws.town_dir), "mayor", "plan", feature]
    argv += ["--rig", ws.rig.name, "--model", model, "--dry-run", "--json"]
    code, timed_out, wall = supervise(argv, budget, log_path, out, grace, stop)
    run = BeadRun(model, bead.key, bead.kind, bead.role, "failed", "", wall, timed_out=timed_out, repeat=repeat)
    output: Any = None
    try:
        output = json.loads(out.read_text())
    except (OSError, ValueError):
        output = None
    if stop is not None and stop.is_set():
        ok, why = False, "interrupted: not judged"
    elif timed_out:
        ok, why = False, f"timed out after {budget:.0f}s"
    elif code != 0 or not isinstance(output, Mapping):
        ok, why = False, f"gt mayor plan exited {code}: {_log_tail(log_path, 2) or 'no output'}"
    else:
        usage = output.get("usage")
        usage = usage if isinstance(usage, Mapping) else {}
        run.tokens_in, run.tokens_out = int(usage.get("tokens_in") or 0), int(usage.get("tokens_out") or 0)
        ok, why = judge_plan(output)
    run.reported = "planned" if code == 0 else "refused"
    run.verdict, run.why = ("passed" if ok else "failed"), why
    return run


# ---- a whole evaluation ----------------------------------------------------------------


def evaluate(
    suite: Suite,
    config: configmod.TownConfig,
    options: Options,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> Report:
    """Run the chosen beads of ``suite`` for each model, one model at a time, and judge them.

    Once ``stop`` is set (see ``stop_on_signals``) the eval ends what it started and returns
    the report so far, marked interrupted."""
    say = progress or (lambda _text: None)
    stop = stop or threading.Event()
    chosen = select(suite, options.role, options.beads)
    if plain.RUNTIME in options.runtimes and not any(plain.runs_plain(b) for b in chosen):
        raise UsageError(
            "--runtime plain: none of the chosen beads has its work in files (a Polecat's or a Refinery's)",
            "choose such beads (--role polecat), or leave plain out of --runtime",
        )
    roster = check_models(options.models, config)
    roles = sorted({*ROLES, *(b.role for b in chosen)})
    runs: list[ModelRun] = []
    for name in options.models:
        if stop.is_set():
            break
        runs += _run_model(suite, chosen, config, roster, name, roles, options, say, stop)
    if stop.is_set():
        runs = [r for r in runs if r.beads or r.error]  # a runtime the signal came before is no row
        say("interrupted: its watcher and servers are stopped")
    return Report(suite, options, runs, interrupted=stop.is_set())


def _run_model(
    suite: Suite,
    chosen: Sequence[SuiteBead],
    config: configmod.TownConfig,
    roster: rostermod.Roster,
    name: str,
    roles: Sequence[str],
    options: Options,
    say: Progress,
    stop: threading.Event,
) -> list[ModelRun]:
    """The model's runs, one a runtime (``options.runtimes``), in one throwaway town."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
    root = Path(tempfile.mkdtemp(prefix=f"gt-eval-{safe}-"))
    town = str(root) if options.keep else None
    runs = [ModelRun(name, runtime=runtime, town=town) for runtime in options.runtimes]
    runner: Runner | None = None
    try:
        shortest = min((options.timeout or b.timeout or suite.bead_timeout for b in chosen), default=None)
        ws = prepare(suite, root, config, name, roles, shortest)
        runner = Runner(ws.town.state_dir)
        spec = roster.model(name)
        if spec.local and not spec.endpoints:
            say(f"{name}: starting its server")
            try:
                _start_server(runner, spec, config, stop)
            except GastownError as error:
                if stop.is_set():
                    return runs
                error_text = f"could not start: {error.message}" + (f" ({error.hint})" if error.hint else "")
                say(f"{name}: {error_text}")
                for run in runs:
                    run.error = error_text
                return runs

        def budget_of(bead: SuiteBead) -> float:
            return options.timeout or bead.timeout or suite.bead_timeout

        for run in runs:
            if run.runtime == plain.RUNTIME:
                _run_plain(ws, run, chosen, runner, spec, config, budget_of, options, say, stop)
            else:
                _run_loop(ws, run, chosen, budget_of, options, say, stop, spec.sampling.get("seed"))
            run.dollars, run.kwh, run.estimated_energy = priced(run, roster, config)
        return runs
    finally:
        if runner is not None:
            for server in runner.servers():  # everything this throwaway town started
                runner.stop(server.name)
        if not options.keep:
            shutil.rmtree(root, ignore_errors=True)


def _run_loop(
    ws: Workspace,
    run: ModelRun,
    chosen: Sequence[SuiteBead],
    budget_of: Callable[[SuiteBead], float],
    options: Options,
    say: Progress,
    stop: threading.Event,
    model_seed: float | None = None,
) -> None:
    """Each bead worked by a real watcher: gastown's loop, ``options.repeat`` times over."""
    for repeat in range(1, options.repeat + 1):
        for n, bead in enumerate(chosen, 1):
            if stop.is_set():
                return
            budget = budget_of(bead)
            where = repeat_label(repeat, options.repeat)
            say(f"{run.model}: {where}bead {n}/{len(chosen)} {bead.key} ({bead.role}, {budget:.0f}s budget)")
            seed = options.seed_of(repeat, model_seed)
            done = work_bead(ws, bead, run.model, budget, options.grace, stop, repeat, seed)
            if stop.is_set():
                return  # the bead was cut short: not judged, not counted
            run.beads.append(done)
            say(f"{run.model}: {where}{bead.key} {done.verdict} in {done.wall_s:.1f}s: {done.why}")


def _run_plain(
    ws: Workspace,
    run: ModelRun,
    chosen: Sequence[SuiteBead],
    runner: Runner,
    spec: rostermod.ModelSpec,
    config: configmod.TownConfig,
    budget_of: Callable[[SuiteBead], float],
    options: Options,
    say: Progress,
    stop: threading.Event,
) -> None:
    """The control (see plain.py), on the server the loop used, ``options.repeat`` times over."""
    jail = Jail(ws.store.snapshot().config().sandbox_mode, ws.rig.sandbox, (ws.town.git_dir,))
    for repeat in range(1, options.repeat + 1):
        seed = options.seed_of(repeat, spec.sampling.get("seed"))
        seeded = spec if seed is None else replace(spec, sampling={**spec.sampling, "seed": seed})
        try:
            client = runner.client(seeded, governor=governor_for(config.machine))
        except GastownError as error:
            run.error = f"could not reach it: {error.message}"
            say(f"{run.label}: {run.error}")
            return
        plain.run_plain(ws, run, chosen, client, budget_of, jail, say, stop, repeat, options.repeat)
        if stop.is_set():
            return


def _start_server(
    runner: Runner, spec: rostermod.ModelSpec, config: configmod.TownConfig, stop: threading.Event
) -> None:
    """``runner.ensure`` in a thread, so that a stop need not wait out a slow start."""
    failed: list[BaseException] = []

    def start() -> None:
        try:
            runner.ensure(spec, governor=governor_for(config.machine))
        except BaseException as error:  # handed to the eval's thread
            failed.append(error)

    thread = threading.Thread(target=start, name=f"start-{spec.name}", daemon=True)
    thread.start()
    while thread.is_alive() and not stop.is_set():
        thread.join(POLL)
    while thread.is_alive():
        # Stopped mid-start: end the server so that the start gives up (and frees its lock
        # for the runner.stop that follows); ensure's own wait bounds this loop.
        for server in runner.servers():
            try:
                os.killpg(server.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        thread.join(POLL)
    if failed:
        raise failed[0]
