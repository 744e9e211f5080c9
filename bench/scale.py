"""Claims past this machine, simulated: today's one `tasks` branch (A) against per-bead claim refs (B).

    python bench/scale.py [--hooks 366,78,0] [--rtt MS] [--server-cores N] [--work S] [--seed N] [--one-each]
    python bench/scale.py --check        # the issue's real runs, simulated, beside their figures

A discrete-event simulation fed with measured costs (a push, the pre-receive hook, a fetch, a
claim in process); docs/scale.md says where each default comes from. It prints claims/s, claim
latency and per-clone fairness for 10, 50 and 200 watchers over 5-50 clones. Every figure it
prints is simulated; `--check` sets it up as the issue's real runs were (one 2-core machine)
and prints the simulated figures beside the measured ones.

What it models: every git process as CPU work on the machine that runs it, the cores shared
equally among the work in flight (processor sharing); network round trips as delays; the
remote as `git receive-pack` works: refs advertised first (a push the advertisement already
makes stale is refused there, cheaply), then the pack, the hook, and the ref update, which
fails if the ref moved meanwhile (the hooks of competing pushes run side by side).
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import random
import statistics
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field, replace

# ---- the engine -------------------------------------------------------------------


class Sim:
    """Events in time order; processes are generators that yield what they wait for."""

    def __init__(self) -> None:
        self.now = 0.0
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()  # ties in time run in the order they were planned

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._events, (when, next(self._order), action))

    def start(self, process: Generator[Wait, None, None]) -> None:
        self.at(self.now, lambda: self._resume(process))

    def _resume(self, process: Generator[Wait, None, None]) -> None:
        try:
            wait = next(process)
        except StopIteration:
            return
        wait.begin(self, lambda: self._resume(process))

    def run(self) -> None:
        while self._events:
            self.now, _, action = heapq.heappop(self._events)
            action()


class Wait:
    """Something a process waits for; ``begin`` arranges for ``resume`` to be called."""

    def begin(self, sim: Sim, resume: Callable[[], None]) -> None:
        raise NotImplementedError


@dataclass
class Sleep(Wait):
    """Time that uses no CPU: a network round trip, a bead being worked."""

    seconds: float

    def begin(self, sim: Sim, resume: Callable[[], None]) -> None:
        sim.at(sim.now + self.seconds, resume)


@dataclass
class Cpu(Wait):
    """CPU work (core-seconds) on one machine."""

    host: Host
    work: float

    def begin(self, sim: Sim, resume: Callable[[], None]) -> None:
        self.host.add(self.work, resume)


@dataclass
class Join(Wait):
    """Waiting for something another process is doing, which resumes all who joined."""

    waiting: list[Callable[[], None]]

    def begin(self, sim: Sim, resume: Callable[[], None]) -> None:
        self.waiting.append(resume)


class Host:
    """A machine's cores, shared equally by the work in flight (as the OS shares them).

    A job uses at most one core; ``load`` counts other busy processes (the issue's runs were
    on a loaded machine). Every job in flight advances at the same rate, so a job finishes
    when the work each has received reaches its own mark: the marks are a heap."""

    def __init__(self, sim: Sim, cores: int, load: float = 0.0) -> None:
        self.sim, self.cores, self.load = sim, cores, load
        self.jobs: list[tuple[float, int, Callable[[], None]]] = []  # (finishing mark, order, resume)
        self.received = 0.0  # work each job in flight has received since the start
        self.busy = 0.0  # core-seconds spent on jobs, for the utilisation figure
        self._stamp = 0.0
        self._plan = 0  # only the newest planned finish counts
        self._order = itertools.count()

    def rate(self) -> float:
        return min(1.0, self.cores / (len(self.jobs) + self.load))

    def add(self, work: float, resume: Callable[[], None]) -> None:
        if work <= 0:
            self.sim.at(self.sim.now, resume)
            return
        self._advance()
        heapq.heappush(self.jobs, (self.received + work, next(self._order), resume))
        self._replan()

    def _advance(self) -> None:
        if self.jobs:
            step = (self.sim.now - self._stamp) * self.rate()
            self.received += step
            self.busy += step * len(self.jobs)
        self._stamp = self.sim.now

    def _replan(self) -> None:
        self._plan += 1
        if self.jobs:
            plan, left = self._plan, max(0.0, self.jobs[0][0] - self.received)
            self.sim.at(self.sim.now + left / self.rate(), lambda: self._finish(plan))

    def _finish(self, plan: int) -> None:
        if plan != self._plan:
            return
        self._advance()
        _, _, resume = heapq.heappop(self.jobs)
        self._replan()
        resume()


class Lock:
    """A lock whose waiters are woken in no fixed order, like flock(2)'s."""

    def __init__(self, sim: Sim, rng: random.Random) -> None:
        self.sim, self.rng = sim, rng
        self.held = False
        self.waiting: list[Callable[[], None]] = []

    def release(self) -> None:
        if self.waiting:
            self.sim.at(self.sim.now, self.waiting.pop(self.rng.randrange(len(self.waiting))))
        else:
            self.held = False


@dataclass
class Acquire(Wait):
    """Taking a lock."""

    lock: Lock

    def begin(self, sim: Sim, resume: Callable[[], None]) -> None:
        if self.lock.held:
            self.lock.waiting.append(resume)
        else:
            self.lock.held = True
            sim.at(sim.now, resume)


# ---- the inputs ----------------------------------------------------------------------


@dataclass(frozen=True)
class Costs:
    """What each step costs, in seconds of one process on an otherwise idle core."""

    commit: float  # a claim's own work on the clone before its push (decide, write the commit)
    push: float  # `git push` of a claim commit to `tasks`, no hooks
    ref_push: float  # `git push` creating one claim ref that must not exist, no hooks
    reject: float  # a push refused on the ref advertisement
    fetch: float  # the fetch (and fast-forward) a refused claimer does
    push_share: float  # the remote's part of a push (receive-pack)
    fetch_share: float  # the remote's part of a fetch (upload-pack)
    jitter: float  # spread of every cost (lognormal sigma)
    rtt: float = 0.0  # network round trip; a push or a fetch waits two, a refusal one


# docs/scale.md says where each number comes from.
QUIET = Costs(  # measured for this simulation: 2 cores, a 10k-bead town, file://, nothing else running
    commit=0.002, push=0.019, ref_push=0.018, reject=0.004, fetch=0.017, push_share=0.75, fetch_share=0.35, jitter=0.1
)
LOADED = Costs(  # the runs, on a loaded machine: its own figures, the rest scaled by its push (119 / 21 ms)
    commit=0.031, push=0.119, ref_push=0.080, reject=0.022, fetch=0.097, push_share=0.75, fetch_share=0.35, jitter=0.22
)
FOLD_WAITS = (0.02, 0.04, 0.08, 0.16)  # gastown.town.claims.FOLD_WAITS
SHIM = 0.002  # the pre-receive shim on a push of claim refs only: sh and cat, no Python
HOOKS = "366,78,0"  # the full hook in the runs; the quick path (docs/benchmarks.md); a host without hooks


@dataclass(frozen=True)
class Scenario:
    """One simulated run: who claims, how, on which machines."""

    design: str  # "A": claims are commits on `tasks`; "B": a claim ref per bead; "F": B folded into tasks
    watchers: int
    clones: int
    hook: float  # pre-receive hook, seconds of CPU per push
    pick: str = "top-k"  # design B: "best" ready bead, or a random one of the top k
    top_k: int = 0  # 0: four times the watchers (fewer collide)
    server_cores: int = 4
    clone_cores: int = 2
    one_machine: bool = False  # clones and remote on one machine (the runs)
    machine_cores: int = 2
    load: float = 0.0  # other busy processes on a one-machine run
    serial: bool = False  # design A: the remote takes one push at a time (receive-pack does not)
    duration: float = 20.0  # watchers start claims this long, then finish the one in hand
    work: float = 0.0  # mean seconds a watcher works a bead between claims (0: a burst)
    seed: int = 1


@dataclass
class Result:
    """What one simulated burst did (or several, pooled)."""

    claims: int = 0
    elapsed: float = 0.0  # until the last claim landed
    latencies: list[float] = field(default_factory=list)
    per_clone: list[int] = field(default_factory=list)
    fairness: float = 0.0  # the least-served clone's claims over a fair share (1.0: even)
    refused: int = 0  # pushes refused (a stale tip, a taken bead): each costs the claimer a fetch
    server_busy: float = 0.0  # share of the remote's cores in use
    wasted: float = 0.0  # share of the remote's work spent on pushes refused after their pack

    @property
    def rate(self) -> float:
        return self.claims / self.elapsed if self.elapsed else 0.0


# ---- the town ---------------------------------------------------------------------------


class Remote:
    """The bare repository every clone pushes to."""

    def __init__(self, host: Host, gate: Lock | None) -> None:
        self.host, self.gate = host, gate
        self.tip = 0  # design A: how many times `tasks` moved
        self.claimed: set[int] = set()  # design B: beads with a claim ref
        self.log: list[int] = []  # design B: claim refs in the order they were made
        self.pending: set[int] = set()  # design F: proposals not yet folded into `tasks`
        self.proposed: dict[int, float] = {}  # design F: when each proposal was made
        self.useful = 0.0  # remote CPU spent on pushes that landed
        self.wasted = 0.0  # ... and on pushes refused after their pack was sent


class Clone:
    """One machine's clone of the town and what it knows of the remote."""

    def __init__(self, sim: Sim, host: Host, rng: random.Random) -> None:
        self.host = host
        self.lock = Lock(sim, rng)  # design A: the store's write lock (one writer per clone)
        self.base = 0  # design A: the tip of `tasks` this clone last saw
        self.view: set[int] = set()  # design B: beads it knows are claimed
        self.seen = 0  # design B: how much of the remote's claim log it has fetched
        self.floor = 0  # design B: no bead below this is ready in its view
        self.picked: set[int] = set()  # design B: beads its own watchers are pushing for
        self.fetching: list[Callable[[], None]] | None = None  # design B: waiting on the fetch in flight
        self.claims = 0


class Town:
    """One scenario's machines, remote and watchers, run for one burst."""

    def __init__(self, scenario: Scenario, costs: Costs) -> None:
        self.s, self.c = scenario, costs
        self.rng = random.Random(f"{scenario}")  # the same scenario always draws the same numbers
        self.sim = Sim()
        shared = Host(self.sim, scenario.machine_cores, scenario.load) if scenario.one_machine else None
        server = shared or Host(self.sim, scenario.server_cores)
        gate = Lock(self.sim, self.rng) if scenario.serial and scenario.design == "A" else None
        self.remote = Remote(server, gate)
        self.clones = [
            Clone(self.sim, shared or Host(self.sim, scenario.clone_cores), self.rng) for _ in range(scenario.clones)
        ]
        self.result = Result()

    def run(self) -> Result:
        claimer = {"A": self.claimer_a, "B": self.claimer_b, "F": self.claimer_f}[self.s.design]
        for n in range(self.s.watchers):
            self.sim.start(claimer(self.clones[n % self.s.clones]))
        self.sim.run()  # after the burst every watcher finishes the claim in hand, however long it waits
        r = self.result
        r.per_clone = [clone.claims for clone in self.clones]
        r.fairness = min(r.per_clone) / (r.claims / len(r.per_clone)) if r.claims else 0.0
        r.server_busy = self.remote.host.busy / (self.remote.host.cores * r.elapsed) if r.elapsed else 0.0
        spent = self.remote.useful + self.remote.wasted
        r.wasted = self.remote.wasted / spent if spent else 0.0
        return r

    def cost(self, seconds: float) -> float:
        return seconds * self.rng.lognormvariate(0.0, self.c.jitter) if seconds > 0 else 0.0

    def landed(self, clone: Clone, asked: float) -> None:
        clone.claims += 1
        self.result.claims += 1
        self.result.elapsed = self.sim.now
        self.result.latencies.append(self.sim.now - asked)

    # ---- git, as the clones run it

    def push(
        self, clone: Clone, work: float, stale: Callable[[], bool], land: Callable[[], None], hook: float | None = None
    ) -> Generator[Wait, None, str]:
        """One `git push` of one ref: "ok", "early" (refused on the advertisement) or "late"
        (refused at the ref update, after the pack and the hook: someone moved the ref)."""
        c, remote = self.c, self.remote
        half = c.reject / 2
        yield Cpu(clone.host, self.cost(half))  # git push starts and connects
        yield Sleep(c.rtt / 2)
        if remote.gate:
            yield Acquire(remote.gate)
        yield Cpu(remote.host, self.cost(half))  # receive-pack starts and advertises the refs
        if stale():  # the client sees it in the advertisement and sends nothing
            if remote.gate:
                remote.gate.release()
            yield Sleep(c.rtt / 2)
            return "early"
        yield Sleep(c.rtt / 2)
        yield Cpu(clone.host, self.cost((work - c.reject) * (1 - c.push_share)))  # pack-objects
        yield Sleep(c.rtt / 2)
        on_server = self.cost((work - c.reject) * c.push_share) + self.cost(self.s.hook if hook is None else hook)
        yield Cpu(remote.host, on_server)  # unpack, connectivity check, pre-receive hook
        ok = not stale()  # the ref update checks the old value the client sent
        if ok:
            land()
            remote.useful += on_server
        else:
            remote.wasted += on_server
        if remote.gate:
            remote.gate.release()
        yield Sleep(c.rtt / 2)
        return "ok" if ok else "late"

    def fetch(self, clone: Clone) -> Generator[Wait, None, tuple[int, int, frozenset[int]]]:
        """`git fetch`: the tip, the claim log and the proposals not yet folded, as the remote had them."""
        c, remote = self.c, self.remote
        yield Sleep(c.rtt / 2)
        yield Cpu(remote.host, self.cost(c.fetch * c.fetch_share))  # upload-pack
        state = (remote.tip, len(remote.log), frozenset(remote.pending))
        yield Sleep(c.rtt * 1.5)  # the advertisement back, the wants, the pack back
        yield Cpu(clone.host, self.cost(c.fetch * (1 - c.fetch_share)))
        return state

    def work(self) -> Generator[Wait, None, None]:
        """A bead's work between claims (none in a burst); also how a watcher starts, so that
        with work the watchers do not all start at once."""
        if self.s.work:
            yield Sleep(self.rng.expovariate(1 / self.s.work))

    # ---- the two designs

    def claimer_a(self, clone: Clone) -> Generator[Wait, None, None]:
        """Today's `GitStore.update`: under the clone's write lock, commit on the tip it knows,
        push to `tasks`; refused, fetch and do it again."""
        remote = self.remote
        yield from self.work()
        while self.sim.now < self.s.duration:
            asked = self.sim.now
            yield Acquire(clone.lock)
            while True:
                yield Cpu(clone.host, self.cost(self.c.commit))

                def moved(base: int = clone.base) -> bool:
                    return remote.tip != base

                def land() -> None:
                    remote.tip += 1
                    clone.base = remote.tip  # its own push: it knows the new tip

                outcome = yield from self.push(clone, self.c.push, moved, land)
                if outcome == "ok":
                    break
                self.result.refused += 1
                clone.base, _, _ = yield from self.fetch(clone)
            clone.lock.release()
            self.landed(clone, asked)
            yield from self.work()

    def claimer_b(self, clone: Clone) -> Generator[Wait, None, None]:
        """A claim ref per bead: pick a bead not claimed as far as this clone knows, push
        `refs/claims/<id>` that must not exist; refused, fetch the claim refs and pick again."""
        yield from self.work()
        while self.sim.now < self.s.duration:
            asked = self.sim.now
            yield from self.claim_ref(clone, folded=False)
            self.landed(clone, asked)
            yield from self.work()

    def claim_ref(self, clone: Clone, folded: bool) -> Generator[Wait, None, int]:
        """Push a claim ref for a bead this clone picks until one lands; the bead. ``folded``:
        the ref is F's proposal (no hook but the shim; pending until a fold carries it)."""
        remote = self.remote
        while True:
            bead = self.pick(clone)
            clone.picked.add(bead)
            yield Cpu(clone.host, self.cost(self.c.commit))

            def taken(b: int = bead) -> bool:
                return b in remote.claimed

            def make(b: int = bead) -> None:
                remote.claimed.add(b)
                remote.log.append(b)
                if folded:
                    remote.pending.add(b)
                    remote.proposed[b] = self.sim.now

            outcome = yield from self.push(clone, self.c.ref_push, taken, make, hook=SHIM if folded else None)
            clone.picked.discard(bead)
            clone.view.add(bead)  # won or lost, it is claimed now
            if outcome == "ok":
                return bead
            self.result.refused += 1
            yield from self.refresh(clone)

    def claimer_f(self, clone: Clone) -> Generator[Wait, None, None]:
        """What gastown does (`Queue.claim` with a remote): a proposal on the bead's claim ref
        as in B (the hook's shim lets it through without Python), then the fold, under the
        clone's write lock: fetch; if another clone's fold carried ours, done; if ours is not
        the first pending, leave the fold to its owner a while (`FOLD_WAITS`, lock released);
        else push one commit per pending proposal to `tasks` (through the hook); refused,
        do it again."""
        remote = self.remote
        yield from self.work()
        while self.sim.now < self.s.duration:
            asked = self.sim.now
            bead = yield from self.claim_ref(clone, folded=True)
            waits = iter(FOLD_WAITS)
            yield Acquire(clone.lock)
            while True:
                tip, _, pending = yield from self.fetch(clone)
                if bead not in pending:
                    break  # folded by another clone's fold
                wait = next(waits, None) if min(pending, key=remote.proposed.__getitem__) != bead else None
                if wait is not None:  # the first pending proposal's owner is folding: let it
                    clone.lock.release()
                    yield Sleep(wait)
                    yield Acquire(clone.lock)
                    continue

                def moved(base: int = tip) -> bool:
                    return remote.tip != base

                def fold(batch: frozenset[int] = pending) -> None:
                    remote.tip += 1
                    remote.pending -= batch

                outcome = yield from self.push(clone, self.c.push, moved, fold)
                if outcome == "ok":
                    break
                self.result.refused += 1
            clone.lock.release()
            self.landed(clone, asked)
            yield from self.work()

    def refresh(self, clone: Clone) -> Generator[Wait, None, None]:
        """Fetch the claim refs; a watcher refused while its clone is fetching waits for that fetch."""
        if clone.fetching is not None:
            yield Join(clone.fetching)
            return
        clone.fetching = []
        _, known, _ = yield from self.fetch(clone)
        clone.view.update(self.remote.log[clone.seen : known])
        clone.seen = known
        for resume in clone.fetching:
            self.sim.at(self.sim.now, resume)
        clone.fetching = None

    def pick(self, clone: Clone) -> int:
        """The ready bead a watcher goes for. Beads rank 0, 1, 2, ...; the best is the lowest
        this clone does not know to be claimed; top-k draws among the k ranks from there,
        drawing again on one it knows is claimed or its own watchers are claiming."""
        while clone.floor in clone.view:
            clone.floor += 1
        if self.s.pick == "best":
            bead = clone.floor
            while bead in clone.view or bead in clone.picked:
                bead += 1
            return bead
        width = self.s.top_k or 4 * self.s.watchers
        while True:
            bead = clone.floor + self.rng.randrange(width)
            if bead not in clone.view and bead not in clone.picked:
                return bead
            width += 1  # a crowded window widens, so the draw always ends


def simulate(scenario: Scenario, costs: Costs, runs: int) -> list[Result]:
    """Several bursts of one scenario, seeds seed, seed + 1, ..."""
    return [Town(replace(scenario, seed=scenario.seed + n), costs).run() for n in range(runs)]


def pool(results: list[Result]) -> Result:
    """Bursts taken together: their claims and latencies pooled, fairness and shares averaged."""
    return Result(
        claims=sum(r.claims for r in results),
        elapsed=sum(r.elapsed for r in results),
        latencies=[x for r in results for x in r.latencies],
        per_clone=[sum(counts) for counts in zip(*(r.per_clone for r in results), strict=True)],
        fairness=statistics.fmean(r.fairness for r in results),
        refused=sum(r.refused for r in results),
        server_busy=statistics.fmean(r.server_busy for r in results),
        wasted=statistics.fmean(r.wasted for r in results),
    )


# ---- the report ---------------------------------------------------------------------------


def quantile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def span(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


GRID = [(w, c) for w in (10, 50, 200) for c in (5, 10, 25, 50) if c <= w]
ONE_EACH = [(n, n) for n in (1, 2, 4, 8)]  # one watcher a clone, each on a machine of its own


def table(title: str, base: Scenario, costs: Costs, runs: int, grid: Iterable[tuple[int, int]] = GRID) -> None:
    print(f"\n{title} (simulated)")
    print("watchers  clones  claims/s     p50       p90    least clone / fair  refused/claim  remote busy  wasted")
    for watchers, clones in grid:
        r = pool(simulate(replace(base, watchers=watchers, clones=clones), costs, runs))
        print(
            f"{watchers:>8}  {clones:>6}  {r.rate:>8.2f}  {span(quantile(r.latencies, 0.5)):>8}  "
            f"{span(quantile(r.latencies, 0.9)):>8}  {r.fairness:>18.2f}  "
            f"{r.refused / max(r.claims, 1):>13.2f}  {r.server_busy:>10.0%}  {r.wasted:>6.0%}"
        )


def predictions(args: argparse.Namespace, costs: Costs) -> None:
    base = Scenario(
        design="A",
        watchers=0,
        clones=0,
        hook=0.0,
        top_k=args.top_k,
        server_cores=args.server_cores,
        clone_cores=args.clone_cores,
        serial=args.serial,
        duration=args.duration,
        work=args.work,
        seed=args.seed,
    )
    where = f"remote {args.server_cores} cores, clones {args.clone_cores} cores, rtt {costs.rtt * 1000:g} ms"
    if args.work:
        where += f", {args.work:g} s of work a bead"
    k = f"{args.top_k}" if args.top_k else "4 x watchers"
    grid = ONE_EACH if args.one_each else GRID
    for hook in [float(h) / 1000 for h in args.hooks.split(",")]:
        table(
            f"A: one tasks branch, hook {hook * 1000:.0f} ms, {where}", replace(base, hook=hook), costs, args.runs, grid
        )
        design_b = replace(base, design="B", hook=hook)
        table(
            f"B: claim refs alone, hook {hook * 1000:.0f} ms, picking one of the top {k}, {where}",
            design_b,
            costs,
            args.runs,
            grid,
        )
        design_f = replace(base, design="F", hook=hook, top_k=args.spread)
        spread = args.spread or "4 x watchers"
        title = f"F: proposals folded into tasks (what gastown does), hook {hook * 1000:.0f} ms, top {spread}, {where}"
        table(title, design_f, costs, args.runs, grid)


# The real runs: one 2-core machine, a bare remote over file://, 20 s per run.
MEASURED_A = {1: (2.0, 0.496, 0.612, 1.0), 2: (1.25, 0.827, 4.99, 13 / 13.5), 4: (0.65, 1.67, 20.6, 1 / 4.25)}
MEASURED_B = {1: 12.5, 2: 18.4}
MEASURED_F = {1: (8.47, 1.0), 2: (10.35, 0.99), 4: (12.45, 0.96)}  # bench/claims.py, docs/benchmarks.md


def check(args: argparse.Namespace, costs: Costs) -> None:
    """The issue's setup, simulated, beside what was measured."""
    one = Scenario(
        design="A",
        watchers=0,
        clones=0,
        hook=0.366,
        one_machine=True,
        load=args.load,
        serial=args.serial,
        seed=args.seed,
    )
    runs = max(args.runs, 10)  # the measured runs were single and noisy; ours are averaged
    print(f"one machine, 2 cores, background load {args.load:g}, 1 claimer a clone, 20 s bursts, {runs} runs each")
    print("design  clones  figure                 measured   simulated   error   single runs")

    def row(
        design: str, clones: int, name: str, measured: float, each: list[float], shown: Callable[[float], str]
    ) -> None:
        simulated = statistics.fmean(each)
        error = (simulated - measured) / measured
        spread = f"{shown(min(each))} - {shown(max(each))}"
        print(
            f"{design:>6}  {clones:>6}  {name:<20}  {shown(measured):>9}  {shown(simulated):>10}  {error:>+6.0%}   {spread}"
        )

    for clones, (rate, p50, p90, fair) in MEASURED_A.items():
        rs = simulate(replace(one, watchers=clones, clones=clones), costs, runs)
        row("A", clones, "claims/s", rate, [r.rate for r in rs], "{:.2f}".format)
        row("A", clones, "latency p50", p50, [quantile(r.latencies, 0.5) for r in rs], span)
        row("A", clones, "latency p90", p90, [quantile(r.latencies, 0.9) for r in rs], span)
        if clones > 1:
            row("A", clones, "least clone / fair", fair, [r.fairness for r in rs], "{:.2f}".format)
    # The plain-git experiment's 80 ms is its whole claim; it spread its picks (no collisions to speak of).
    plain = replace(costs, commit=0.0)
    for clones, rate in MEASURED_B.items():
        b = replace(one, design="B", hook=0.0, watchers=clones, clones=clones, top_k=1000)
        row("B", clones, "claims/s", rate, [r.rate for r in simulate(b, plain, runs)], "{:.1f}".format)
    # What gastown does, measured by bench/claims.py on a quiet 2-core machine (hook 48 ms,
    # the quick path there): the quiet costs, no other load.
    for clones, (rate, fair) in MEASURED_F.items():
        f = replace(one, design="F", hook=0.048, load=0.0, watchers=clones, clones=clones)
        rs = simulate(f, QUIET, runs)
        row("F", clones, "claims/s", rate, [r.rate for r in rs], "{:.2f}".format)
        if clones > 1:
            row("F", clones, "least clone / fair", fair, [r.fairness for r in rs], "{:.2f}".format)
    print(
        "(simulated: the mean of the runs, and their range; measured: one real run each, issue 12 and bench/claims.py)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="the issue's real runs, simulated, beside their figures")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=2, help="bursts a scenario, pooled")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds watchers start claims (a burst)")
    parser.add_argument("--work", type=float, default=0.0, help="mean seconds of work a bead (0: claim back to back)")
    parser.add_argument("--hooks", default=HOOKS, help="pre-receive hook costs to tabulate, ms")
    parser.add_argument("--costs", choices=("quiet", "loaded"), help="cost set (default: quiet; loaded for --check)")
    for name, what in (
        ("commit", "a claim's work before its push"),
        ("push", "push of a claim commit, no hooks"),
        ("ref-push", "push creating one claim ref, no hooks"),
        ("reject", "a push refused on the advertisement"),
        ("fetch", "the fetch after a refusal"),
        ("rtt", "network round trip (default 0: one machine, or a LAN)"),
    ):
        parser.add_argument(f"--{name}", type=float, help=f"{what}, ms")
    parser.add_argument("--push-share", type=float, help="the remote's part of a push")
    parser.add_argument("--fetch-share", type=float, help="the remote's part of a fetch")
    parser.add_argument("--jitter", type=float, help="lognormal sigma of every cost")
    parser.add_argument("--server-cores", type=int, default=4, help="the remote's cores (its receive-packs share them)")
    parser.add_argument("--clone-cores", type=int, default=2, help="each clone's machine's cores")
    parser.add_argument("--top-k", type=int, default=0, help="design B: pick one of the top k (0: 4 x watchers)")
    parser.add_argument(
        "--spread", type=int, default=0, help="design F: pick one of the top k (0: 4 x watchers, as gastown does)"
    )
    parser.add_argument("--load", type=float, default=1.0, help="--check: other busy processes on the machine")
    parser.add_argument("--serial", action="store_true", help="design A: the remote takes one push at a time")
    parser.add_argument(
        "--one-each",
        action="store_true",
        help="one watcher a clone, 1 to 8 clones (bench/claims.py's runs, spread out)",
    )
    args = parser.parse_args()
    costs = LOADED if (args.costs or ("loaded" if args.check else "quiet")) == "loaded" else QUIET
    given = {f: getattr(args, f) for f in ("commit", "push", "ref_push", "reject", "fetch", "rtt")}
    costs = replace(costs, **{f: v / 1000 for f, v in given.items() if v is not None})
    given = {f: getattr(args, f) for f in ("push_share", "fetch_share", "jitter")}
    costs = replace(costs, **{f: v for f, v in given.items() if v is not None})
    started = time.perf_counter()
    (check if args.check else predictions)(args, costs)
    print(f"\n({time.perf_counter() - started:.1f} s of simulation, seed {args.seed})")


if __name__ == "__main__":
    main()
