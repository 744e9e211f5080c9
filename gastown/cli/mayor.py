"""``gt mayor plan|reconcile|watch``, ``gt refinery merge``, ``gt metrics``."""

from __future__ import annotations

import time
from typing import Any

import click

from gastown.cli.common import Seconds, emit_json, json_option, open_store, role_name, town_option


@click.group()
def mayor() -> None:
    """Plan features into convoys; reconcile the town from its history."""


def _client(store: Any, role: str, model: str | None) -> Any:
    from gastown.errors import ConfigError
    from gastown.machine.machine import Machine

    config = store.snapshot().config()
    roster = config.roster
    name = model or roster.model_for(role)
    if name is None:
        raise ConfigError(
            f"no {role} model is configured",
            f"set [roles.{role}] model in town.toml (or pass --model); a convoy can also be written by hand and pushed",
        )
    return Machine(store.town, lambda: config).named(name)


@mayor.command("plan")
@click.argument("feature")
@click.option("--rig", "rig_name", required=True, help="The rig the feature is for.")
@click.option("--model", help="The model to plan with (default: [roles.mayor] in town.toml).")
@click.option("--dry-run", is_flag=True, help="Print the plan; commit nothing.")
@click.option("--agent", default="mayor")
@town_option
@json_option
@click.pass_context
def plan_cmd(
    ctx: click.Context, feature: str, rig_name: str, model: str | None, dry_run: bool, agent: str, as_json: bool
) -> None:
    """Turn FEATURE into a plan document and a convoy of beads (tests first)."""
    from gastown.agents import rig as rigmod
    from gastown.errors import Unavailable
    from gastown.mayor import planner

    store = open_store(ctx)
    rig = rigmod.load(store, rig_name)
    try:
        client = _client(store, "mayor", model)
    except Unavailable as error:  # its server could not be started: nothing was asked yet
        raise Unavailable(
            f"the Mayor's model could not be started: {error.message}",
            error.hint or "nothing was planned; read the server's log above, or pick another model with --model",
        ) from None
    planned = planner.plan(store, feature, rig, client, rig.prompt("mayor").text, dry_run, agent)
    if as_json:
        emit_json(
            {
                "convoy": planned.convoy.to_dict(),
                "plan": planned.document,
                "beads": [b.to_dict() for b in planned.beads],
                "attempts": planned.attempts,
                "committed": planned.commit,
                "usage": planned.usage,
            }
        )
        return
    click.echo(planned.document)
    if planned.commit:
        click.echo(f"convoy {planned.convoy.id}: {len(planned.beads)} beads committed ({planned.commit[:10]})")
    else:
        click.echo(f"dry run: convoy {planned.convoy.id} with {len(planned.beads)} beads, nothing committed")


@mayor.command("reconcile")
@click.option("--dry-run", is_flag=True, help="Report; decide nothing.")
@click.option("--agent", default="mayor")
@town_option
@json_option
@click.pass_context
def reconcile_cmd(ctx: click.Context, dry_run: bool, agent: str, as_json: bool) -> None:
    """Read the new history; release expired leases, retry or escalate failed beads."""
    result = _reconcile(open_store(ctx), not dry_run, agent)
    if as_json:
        emit_json(result.to_dict())
        return
    _render(result, dry_run)


def _reconcile(store: Any, act: bool, agent: str) -> Any:
    from gastown.agents import rig as rigmod
    from gastown.mayor import decisions
    from gastown.mayor import splitter as splittermod

    config = store.snapshot().config()
    roster = config.roster
    splitter = None
    if roster.model_for("mayor"):  # a Mayor model can split beads too large for local models

        def splitter(bead: Any) -> Any:
            rig = rigmod.load(store, bead.rig or "")
            bands = [b.max_tokens for b in roster.rule(bead.role).bands if roster.models[b.model].local]
            return splittermod.ask_split(
                _client(store, "mayor", None), bead, rig, rig.prompt("mayor").text, max(bands, default=6000)
            )

    return decisions.reconcile(store, roster, act, agent, splitter=splitter)


def _render(result: Any, dry_run: bool) -> None:
    verb = "would" if dry_run else "did"
    at = (result.commit or "none")[:10]
    click.echo(
        f"checked {result.beads} beads at {at} (a dry run: nothing changed)"
        if dry_run
        else f"reconciled {result.beads} beads at {at}"
    )
    if not (result.decisions or result.problems):
        click.echo("  nothing to do")
    for d in result.decisions:
        click.echo(f"  {verb} {d.kind:<16} {d.bead}  {d.reason}")
    for problem in result.problems:
        click.echo(f"  inconsistent: {problem}")
    if result.rewritten:
        click.echo(f"  the history was rewritten {result.rewritten} time(s) and read again")


@mayor.command("watch")
@click.option(
    "--interval", type=Seconds(min=0.1), default=30.0, show_default=True, help="Reconcile at least this often."
)
@click.option("--once", is_flag=True, help="Reconcile once and exit.")
@click.option("--idle-exit", type=Seconds(min=0), help="Exit after this many seconds.")
@click.option("--agent", default="mayor")
@town_option
@click.pass_context
def watch_cmd(ctx: click.Context, interval: float, once: bool, idle_exit: float | None, agent: str) -> None:
    """Reconcile whenever the tasks branch moves (and at least every --interval seconds)."""
    import signal
    import threading

    from gastown.agents import wakeup

    store = open_store(ctx)
    stop = threading.Event()
    wake = threading.Event()

    def handler(_signum: int, _frame: object) -> None:  # flags only: the loop ends at its next turn
        stop.set()
        wake.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
    observer = wakeup.start(store.town, wake, follow_remote=False)  # it reconciles the local branch
    started = time.monotonic()
    try:
        while not stop.is_set():
            result = _reconcile(store, True, agent)
            if result.decisions or result.problems:
                _render(result, False)
            if once or (idle_exit is not None and time.monotonic() - started >= idle_exit):
                break
            wake.wait(
                interval if idle_exit is None else min(interval, max(0.05, idle_exit - (time.monotonic() - started)))
            )
            wake.clear()
    finally:
        if observer is not None:
            observer.stop()


@click.group()
def refinery() -> None:
    """The merge queue."""


@refinery.command("merge")
@click.argument("beads", nargs=-1)
@click.option("--convoy", help="Every done, unmerged bead of this convoy.")
@click.option("--agent", default="refinery")
@town_option
@json_option
@click.pass_context
def merge_cmd(ctx: click.Context, beads: tuple[str, ...], convoy: str | None, agent: str, as_json: bool) -> None:
    """Rebase, gate and fast-forward done beads' branches onto their target."""
    from gastown.agents import refinery as refinerymod
    from gastown.agents import rig as rigmod
    from gastown.errors import UsageError
    from gastown.town import convoy as convoymod

    store = open_store(ctx)
    snap = store.snapshot()
    chosen = list(beads)
    if convoy:
        chosen += [b for b in convoymod.load(snap, convoy).beads if b not in chosen]
    if not chosen:
        raise UsageError("name beads to merge, or --convoy ID")
    rows: list[dict[str, Any]] = []
    for bead_id in chosen:
        bead = snap.bead(bead_id)
        if bead.status != "done" or "merged" in bead.metadata or "review" in bead.labels:
            rows.append(
                {
                    "bead": bead_id,
                    "status": "skipped",
                    "detail": f"{bead.status}{', merged' if 'merged' in bead.metadata else ''}",
                }
            )
            continue
        rig = rigmod.load(store, bead.rig or "")
        outcome = refinerymod.merge(store, rig, bead, agent, store.town.state_dir / "worktrees" / rig.name)
        if outcome.status in ("gates-failed", "refused"):
            refinerymod.send_back(store, bead, agent, outcome)
        rows.append(
            {
                "bead": bead_id,
                "status": outcome.status,
                "detail": outcome.detail,
                "sha": outcome.sha,
                "filed": outcome.filed,
            }
        )
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        click.echo(
            f"{row['bead']:<12} {row['status']:<13} {str(row['detail']).splitlines()[0] if row['detail'] else ''}"
        )


@click.command()
@click.option("--convoy")
@click.option("--role", callback=role_name)
@click.option("--model")
@click.option("--since", "since_text", metavar="WHEN", help="Only since WHEN (2026-11-01, or 7d).")
@town_option
@json_option
@click.pass_context
def metrics(
    ctx: click.Context, convoy: str | None, role: str | None, model: str | None, since_text: str | None, as_json: bool
) -> None:
    """Orchestrator, tool-call and model figures, from the tasks history."""
    from gastown.cli.models import since_option
    from gastown.mayor import metrics as metricsmod
    from gastown.mayor.reconcile import all_records

    store = open_store(ctx)
    snap = store.snapshot()
    records = all_records(store.git, snap.commit, store.town.state_dir)
    scope = metricsmod.Scope(convoy, role, model, since_option(since_text))
    found = metricsmod.of_index(records, snap.index, scope)
    if as_json:
        emit_json(found.to_dict())
    else:
        click.echo(metricsmod.render(found))
