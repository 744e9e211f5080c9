"""``gt ready|claim|renew|release|complete|fail|retry``: the claim protocol."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from gastown.cli.common import (
    Seconds,
    agent_from_env,
    agent_name,
    bead_line,
    emit_json,
    given_id,
    json_option,
    now,
    open_queue,
    role_name,
    town_option,
)
from gastown.errors import NothingReady
from gastown.town.townfile import MAX_LEASE_SECONDS


def _default_agent(role: str | None) -> str:
    from gastown.town.town import agent_host

    return agent_from_env() or f"{role or 'agent'}@{agent_host()}"


@click.command()
@click.option("--role", callback=role_name, help="Only beads of this role.")
@click.option("--limit", type=click.IntRange(1, None), help="At most this many.")
@town_option
@json_option
@click.pass_context
def ready(ctx: click.Context, role: str | None, limit: int | None, as_json: bool) -> None:
    """Beads whose blockers are all done, best first (priority, then age)."""
    current = now()
    found = open_queue(ctx).ready(role, current, limit)
    if as_json:
        emit_json([e._asdict() for e in found])
        return
    for entry in found:
        click.echo(bead_line(entry, current))


@click.command()
@click.option("--role", required=True, callback=role_name, help="The role claiming.")
@click.option("--agent", callback=agent_name, help="Who claims (default: $GT_AGENT or ROLE@HOST).")
@click.option(
    "--lease",
    type=Seconds(min=0.1, max=MAX_LEASE_SECONDS),
    help="Lease in seconds (default: town.toml queue.lease_seconds).",
)
@click.option("--bead", "bead_id", callback=given_id, help="Claim this bead rather than the best ready one.")
@town_option
@json_option
@click.pass_context
def claim(
    ctx: click.Context,
    role: str,
    agent: str | None,
    lease: float | None,
    bead_id: str | None,
    as_json: bool,
) -> None:
    """Claim the best ready bead for ROLE; exit 3 when nothing is ready."""
    queue = open_queue(ctx)
    try:
        got = queue.claim(role, _default_agent(role) if agent is None else agent, lease, bead_id)
    except NothingReady as error:
        roles = queue.roles()  # only here, where it is read: a watcher's idle polls skip it
        if bead_id is None and role not in roles:  # a typo, most often
            known = f"roles of beads here: {', '.join(roles)}" if roles else "there are no beads"
            raise NothingReady(f"{error.message} (no bead has that role; {known})", error.hint) from None
        raise
    if as_json:
        data = got.bead.to_dict()
        data["recovery"] = got.recovery
        emit_json(data)
        return
    from gastown.town.times import duration

    taken = f" (recovered from {got.previous_agent})" if got.recovery else ""
    left = got.bead.lease_left(now()) or 0
    holder = got.bead.claim.agent if got.bead.claim else "?"
    click.echo(
        f"{got.bead.id}  claimed by {holder}, generation {got.bead.generation}, lease {duration(left)}{taken}  "
        f"{got.bead.title}"
    )


def _owner_options(func: Any) -> Any:
    func = click.option("--generation", type=int, help="The claim's generation (refused if stale).")(func)
    return func


@click.command()
@click.argument("bead_id", callback=given_id)
@click.option("--agent", required=True)
@click.option("--lease", type=Seconds(min=0.1, max=MAX_LEASE_SECONDS), help="New lease in seconds from now.")
@_owner_options
@town_option
@json_option
@click.pass_context
def renew(
    ctx: click.Context,
    bead_id: str,
    agent: str,
    lease: float | None,
    generation: int | None,
    as_json: bool,
) -> None:
    """Extend the lease of a claim AGENT holds."""
    done = open_queue(ctx).renew(bead_id, agent, generation, lease)
    _report(done, as_json, f"lease until {done.claim.expires_at if done.claim else '?'}")


@click.command()
@click.argument("bead_id", callback=given_id)
@click.option("--agent", help="Refuse unless AGENT holds the claim.")
@click.option("--reason", help="Why it is handed back.")
@click.option("--force", is_flag=True, help="Hand back another agent's live claim (recorded as forced).")
@_owner_options
@town_option
@json_option
@click.pass_context
def release(
    ctx: click.Context,
    bead_id: str,
    agent: str | None,
    reason: str | None,
    force: bool,
    generation: int | None,
    as_json: bool,
) -> None:
    """Hand a claimed bead back to the queue (no attempt counted). Another agent's live
    claim needs --force."""
    done = open_queue(ctx).release(bead_id, agent, generation, reason, force)
    _report(done, as_json, "released")


def _read_result(source: str | None) -> dict[str, Any] | None:
    from gastown.errors import UsageError

    if source is None:
        return None
    try:
        text = sys.stdin.read() if source == "-" else open(source, encoding="utf-8").read()
    except OSError as error:
        raise UsageError(f"--result {source}: {error.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"--result {source}: not JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(data, dict):
        raise UsageError(f"--result {source}: must be a JSON object")
    return data


@click.command()
@click.argument("bead_id", callback=given_id)
@click.option("--agent", required=True)
@click.option("--result", "result_file", metavar="FILE", help="The result as JSON (- for stdin).")
@click.option("--summary", help="A one-line summary (added to the result).")
@_owner_options
@town_option
@json_option
@click.pass_context
def complete(
    ctx: click.Context,
    bead_id: str,
    agent: str,
    result_file: str | None,
    summary: str | None,
    generation: int | None,
    as_json: bool,
) -> None:
    """Mark a bead AGENT holds as done."""
    result = _read_result(result_file)
    if summary:
        result = {**(result or {}), "summary": summary}
    done = open_queue(ctx).complete(bead_id, agent, generation, result)
    _report(done, as_json, "done")


@click.command()
@click.argument("bead_id", callback=given_id)
@click.option("--agent", required=True)
@click.option("--reason", required=True, help="Why it failed.")
@click.option("--result", "result_file", metavar="FILE", help="The result as JSON (- for stdin).")
@_owner_options
@town_option
@json_option
@click.pass_context
def fail(
    ctx: click.Context,
    bead_id: str,
    agent: str,
    reason: str,
    result_file: str | None,
    generation: int | None,
    as_json: bool,
) -> None:
    """Mark a bead AGENT holds as failed, with the reason."""
    done = open_queue(ctx).fail(bead_id, agent, reason, generation, _read_result(result_file))
    _report(done, as_json, f"failed (attempt {done.attempts})")


@click.command()
@click.argument("bead_id", callback=given_id)
@click.option("--reason", help="Why it is retried.")
@click.option("--agent", help="Who reopens it (recorded in the event's trailers).")
@click.option("--done", "reopen_done", is_flag=True, help="Reopen a done bead too (what it did stays).")
@town_option
@json_option
@click.pass_context
def retry(
    ctx: click.Context, bead_id: str, reason: str | None, agent: str | None, reopen_done: bool, as_json: bool
) -> None:
    """Reopen a failed bead for another attempt (a done one with --done)."""
    done = open_queue(ctx).retry(bead_id, agent, reason, reopen_done)
    _report(done, as_json, "open again")


def _report(bead: Any, as_json: bool, what: str) -> None:
    if as_json:
        emit_json(bead.to_dict())
    else:
        click.echo(f"{bead.id} {what}")
