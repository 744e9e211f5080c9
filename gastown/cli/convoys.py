"""``gt convoy create|show|list``."""

from __future__ import annotations

import click

from gastown.cli.common import bead_line, emit_json, json_option, now, open_store, town_option


@click.group()
def convoy() -> None:
    """Group beads that ship one feature."""


@convoy.command("create")
@click.argument("title")
@click.option("--rig")
@click.option("--desc", "description", default="")
@click.option("--agent")
@town_option
@json_option
@click.pass_context
def create(
    ctx: click.Context,
    title: str,
    rig: str | None,
    description: str,
    agent: str | None,
    as_json: bool,
) -> None:
    """Create an empty convoy; prints its id (add beads with gt bead add --convoy ID)."""
    from gastown.town import convoy as convoymod

    made = convoymod.create(open_store(ctx), title, rig, description, agent)
    if as_json:
        emit_json(made.to_dict())
    else:
        click.echo(made.id)


@convoy.command("show")
@click.argument("convoy_id")
@town_option
@json_option
@click.pass_context
def show(ctx: click.Context, convoy_id: str, as_json: bool) -> None:
    """A convoy, its derived status and its beads."""
    from gastown.town import convoy as convoymod

    snap = open_store(ctx).snapshot()
    found = convoymod.load(snap, convoy_id)
    progress = convoymod.progress(snap, found)
    if as_json:
        emit_json({**found.to_dict(), "progress": progress})
        return
    counts = ", ".join(f"{k} {v}" for k, v in sorted(progress["counts"].items()))
    click.echo(f"{found.id}  {found.title}  [{progress['status']}: {counts or 'no beads'}]")
    current = now()
    for bead_id in found.beads:
        entry = snap.index.get(bead_id)
        click.echo("  " + (bead_line(entry, current) if entry else f"{bead_id} (missing)"))


@convoy.command("list")
@town_option
@json_option
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """Every convoy with its derived status."""
    from gastown.town import convoy as convoymod

    snap = open_store(ctx).snapshot()
    rows = []
    for convoy_id in convoymod.list_ids(snap):
        found = convoymod.load(snap, convoy_id)
        rows.append({"id": convoy_id, "title": found.title, **convoymod.progress(snap, found)})
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        click.echo(f"{row['id']:<16} {row['status']:<8} {row['beads']:>3} beads  {row['title']}")
