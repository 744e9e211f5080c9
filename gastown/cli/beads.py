"""``gt bead add|show|list|edit``."""

from __future__ import annotations

import click

from gastown.cli.common import bead_line, emit_json, given_id, json_option, now, open_queue, role_name, town_option
from gastown.town.bead import DONE, FAILED, Bead


@click.group()
def bead() -> None:
    """Add, show, list and edit beads."""


@bead.command("add")
@click.option("--title", required=True, help="What the bead is, in a line.")
@click.option("--role", default="polecat", show_default=True, help="Which role works it.")
@click.option("--rig", help="The rig (project) it belongs to.")
@click.option("--desc", "--description", "description", default="", help="The details.")
@click.option("--acceptance", default="", help="Acceptance criteria.")
@click.option(
    "--test",
    "tests",
    multiple=True,
    metavar="PATH[::TEST]",
    help="An acceptance test: a test file of the rig or a pytest node id (repeatable).",
)
@click.option(
    "--dep",
    "deps",
    multiple=True,
    metavar="ID[:TYPE]",
    help="A bead this one depends on (blocks by default; repeatable).",
)
@click.option("--priority", type=click.IntRange(0, 4), default=2, show_default=True, help="0 is highest.")
@click.option("--tokens", type=click.IntRange(0, None), help="Estimated tokens to work it.")
@click.option("--convoy", help="Add it to this convoy.")
@click.option(
    "--type",
    "issue_type",
    type=click.Choice(["task", "bug", "feature", "epic", "chore", "question"]),
    default="task",
    show_default=True,
)
@click.option("--label", "labels", multiple=True, help="A label (repeatable).")
@click.option("--agent", help="Who is adding it (recorded in the commit).")
@town_option
@json_option
@click.pass_context
def add(
    ctx: click.Context,
    title: str,
    role: str,
    rig: str | None,
    description: str,
    acceptance: str,
    tests: tuple[str, ...],
    deps: tuple[str, ...],
    priority: int,
    tokens: int | None,
    convoy: str | None,
    issue_type: str,
    labels: tuple[str, ...],
    agent: str | None,
    as_json: bool,
) -> None:
    """Add a bead; prints its id."""
    from gastown.town.beadtext import parse_dependency
    from gastown.town.queue import NewBead

    spec = NewBead(
        title=title,
        role=role,
        rig=rig,
        description=description,
        acceptance_criteria=acceptance,
        acceptance_tests=tuple(tests),
        priority=priority,
        issue_type=issue_type,
        estimated_tokens=tokens,
        convoy=convoy,
        labels=tuple(labels),
        dependencies=tuple(parse_dependency(d) for d in deps),
    )
    made = open_queue(ctx).add(spec, agent)
    if as_json:
        emit_json(made.to_dict())
    else:
        click.echo(made.id)


@bead.command("show")
@click.argument("bead_id", callback=given_id)
@town_option
@json_option
@click.pass_context
def show(ctx: click.Context, bead_id: str, as_json: bool) -> None:
    """Show a bead, with why it is not ready and how long its lease has left."""
    queue = open_queue(ctx)
    snap = queue.snapshot()
    found = snap.bead(bead_id)
    entry = snap.index.get(bead_id)
    current = now()
    waiting = queue.waiting_on(snap, entry) if found.status == "open" else []
    if as_json:
        data = found.to_dict()
        data["ready"] = snap.index.is_ready(entry, current)
        data["waiting_on"] = waiting
        data["path"] = entry.path
        emit_json(data)
        return
    from gastown.town.times import duration

    click.echo(f"{found.id}  {found.title}")
    state = found.status
    if found.status == "open":
        state = "ready" if not waiting else "blocked"
    failures = f", {found.attempts} failed attempt{'s' if found.attempts > 1 else ''}" if found.attempts else ""
    click.echo(
        f"  status    {state}  (P{found.priority}, {found.issue_type}, role {found.role}, "
        f"generation {found.generation}{failures})"
    )
    estimate = None if found.estimated_tokens is None else f"{found.estimated_tokens} tokens"
    for label, value in (("rig", found.rig), ("convoy", found.convoy), ("estimate", estimate)):
        if value is not None:
            click.echo(f"  {label:<9} {value}")
    if found.claim is not None:
        left = found.claim.expires() - current
        lease = f"{duration(left)} left" if left > 0 else f"expired {duration(-left)} ago"
        click.echo(f"  claim     {found.claim.agent} since {found.claim.claimed_at}, lease {lease}")
    for why in waiting:
        click.echo(f"  waiting   on {why}")
    for dep in found.dependencies:
        click.echo(f"  depends   {dep.id} ({dep.type})")
    if found.labels:
        click.echo(f"  labels    {', '.join(found.labels)}")
    for test in found.acceptance_tests:
        click.echo(f"  test      {test}")
    if found.close_reason:  # a reopened bead keeps how its last attempt ended
        label = {DONE: "closed", FAILED: "failed"}.get(found.status, "last try")
        click.echo(f"  {label:<9} {_how_it_ended(found)}{found.close_reason}")
    click.echo(f"  file      {entry.path}")
    for title, text in (
        ("description", found.description),
        ("acceptance", found.acceptance_criteria),
        ("notes", found.notes),
    ):
        if text:
            click.echo(f"\n{title}:\n{text}")


def _how_it_ended(found: Bead) -> str:
    """Which failed attempt the close reason is from, and who made it, as far as the bead
    keeps them: ``attempts`` counts failures; the assignee stays on a failed bead and is
    dropped when it is reopened (the attempt's commit in `gt log ID` names it)."""
    if found.status == DONE or not found.attempts:
        return ""
    if found.status == FAILED:
        return f"attempt {found.attempts}{f' by {found.assignee}' if found.assignee else ''}: "
    return "" if _ended_done(found) else f"attempt {found.attempts}: "


def _ended_done(found: Bead) -> bool:
    """A bead reopened after it was done (gt retry --done): its close reason is the summary
    (or "done"), not a failure's, whatever ``attempts`` counted before."""
    summary = (found.result or {}).get("summary")
    return found.close_reason == "done" or (isinstance(summary, str) and found.close_reason == summary)


@bead.command("list")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    help="Only these statuses (open, claimed, done, failed, invalid).",
)
@click.option("--role", callback=role_name, help="Only beads of this role.")
@click.option("--convoy")
@town_option
@json_option
@click.pass_context
def list_(
    ctx: click.Context,
    statuses: tuple[str, ...],
    role: str | None,
    convoy: str | None,
    as_json: bool,
) -> None:
    """List beads, best first."""
    snap = open_queue(ctx).snapshot()
    entries = [
        e
        for e in snap.index
        if (not statuses or e.status in statuses)
        and (role is None or e.role == role)
        and (convoy is None or e.convoy == convoy)
    ]
    entries.sort(key=lambda e: (e.priority, e.created, e.id))
    if as_json:
        emit_json([e._asdict() for e in entries])
        return
    current = now()
    for entry in entries:
        click.echo(bead_line(entry, current))


@bead.command("edit")
@click.argument("bead_id", callback=given_id)
@click.option(
    "--set",
    "assignments",
    multiple=True,
    required=True,
    metavar="FIELD=VALUE",
    help="A field to change (repeatable).",
)
@click.option("--agent")
@town_option
@json_option
@click.pass_context
def edit(ctx: click.Context, bead_id: str, assignments: tuple[str, ...], agent: str | None, as_json: bool) -> None:
    """Change fields of a bead (not the claim protocol's)."""
    edited = open_queue(ctx).edit(bead_id, assignments, agent)
    if as_json:
        emit_json(edited.to_dict())
    else:
        click.echo(f"{edited.id} edited")
