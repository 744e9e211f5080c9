"""``gt status``, ``gt log`` and ``gt validate``."""

from __future__ import annotations

from typing import Any

import click

from gastown.cli.common import emit_json, json_option, open_store, town_option

ORDER = ("ready", "blocked", "claimed", "done", "failed", "invalid")


def _counts(counts: dict[str, int]) -> str:
    keys = [k for k in ORDER if counts.get(k)] + sorted(k for k in counts if k not in ORDER)
    return "  ".join(f"{k} {counts[k]}" for k in keys) or "none"


@click.command()
@town_option
@json_option
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Counts by status and role, and live claims with the lease time left."""
    from gastown.agents import liveness
    from gastown.agents.jail import Jail
    from gastown.machine.governor import governor_for
    from gastown.machine.machine import loaded
    from gastown.machine.runner import Runner
    from gastown.town.queue import Queue
    from gastown.town.times import duration

    store = open_store(ctx)
    report = Queue(store).status()
    report["git_dir"] = str(store.town.git_dir)
    machine = store.snapshot().config().machine
    held = governor_for(machine).held()  # read only: no budget, no write
    servers = loaded(Runner(store.town.state_dir), held, machine.idle_s)
    report["servers"] = [s.to_dict() for s in servers]
    report["watchers"] = [
        {key: beat.get(key) for key in ("agent", "role", "pid", "bead", "model", "since", "waiting")}
        | {"doing": liveness.doing(beat)}
        for beat in liveness.beats(store.town)
    ]
    report["sandbox"] = Jail(store.snapshot().config().sandbox_mode).describe()
    if as_json:
        emit_json(report)
        return
    where = f"shared through {report['remote']}" if report["remote"] else "local"
    tip = (report["tip"] or "none")[:10]
    click.echo(f"town {report['town']} ({where}) at {report['git_dir']}, tasks {tip}")
    click.echo(f"beads {report['beads']}: {_counts(report['totals'])}")
    click.echo(f"sandbox {report['sandbox']}")
    for role, counts in sorted(report["by_role"].items()):
        click.echo(f"  {role:<12} {_counts(counts)}")
    if report["claims"]:
        click.echo("claims:")
        for c in report["claims"]:
            left = c["lease_left_s"] or 0
            lease = f"expired {duration(-left)} ago" if c["expired"] else f"{duration(left)} left"
            click.echo(f"  {c['id']:<12} {c['agent'] or '?':<22} gen {c['generation']:<3} {lease:<18} {c['title']}")
    for proposal in report["proposals"]:
        click.echo(
            f"claim proposal {proposal['id']} by {proposal['agent'] or '?'}: not on tasks yet "
            "(folded, or dropped as void, by the next claim on any clone)"
        )
    for watcher in report["watchers"]:
        click.echo(f"watcher {watcher['agent']} ({watcher['role']}, pid {watcher['pid']}): {watcher['doing']}")
    if not report["watchers"]:
        click.echo("watchers: none running on this machine")
    for server in servers:
        click.echo(f"server {server.model}: {server.describe()}, pid {server.pid}, {server.url}, log {server.log}")
    if not servers:
        click.echo("servers: none started by gastown on this machine")
    for bad in report["invalid"]:
        click.echo(f"invalid, skipped by every claimer: {bad['path']}: {bad['problem']} (fix it with a new commit)")
    for bead_id, paths in report["duplicates"].items():
        click.echo(f"duplicate id {bead_id}: {', '.join(paths)}")


@click.command()
@click.argument("bead_id", required=False)
@click.option("-n", "--max-count", "limit", type=click.IntRange(1, None), help="At most this many commits.")
@click.option("--reverse", is_flag=True, help="Oldest first.")
@town_option
@json_option
@click.pass_context
def log(ctx: click.Context, bead_id: str | None, limit: int | None, reverse: bool, as_json: bool) -> None:
    """The tasks history (one bead's with BEAD_ID), newest first."""
    import time

    from gastown.town.history import read_log

    store = open_store(ctx)
    tip = store.tip()
    if tip is None:
        return
    entries = read_log(store.git, tip, bead_id, limit, reverse)
    if as_json:
        emit_json([e.to_dict() for e in entries])
        return
    for e in entries:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.time))
        click.echo(f"{e.commit[:10]} {stamp}  {e.subject}")


@click.command()
@click.argument("ref", required=False)
@click.option(
    "--since",
    "base",
    metavar="REF",
    help="Check each commit after REF as the server's hook would have (a host that runs none); "
    "all zeros: every commit.",
)
@town_option
@json_option
@click.pass_context
def validate(ctx: click.Context, ref: str | None, base: str | None, as_json: bool) -> None:
    """Check every bead and file on REF (default: the tasks branch); exit 2 if any is wrong.

    With --since, check instead each commit that landed after it, transitions included:
    what should not have landed on a host without gastown's pre-receive hook."""
    from gastown.errors import InvalidBead, NotFound
    from gastown.town.admission import check_tree

    store = open_store(ctx)
    target = store.tip() if ref is None else _resolve(store, ref)
    if target is None:
        raise NotFound(f"no such ref: {ref or 'tasks'}")
    if base is not None:
        _validate_since(store, base, target, ref or "tasks", as_json)
        return
    snap = store.snapshot(target)
    assert snap.tree is not None
    report = check_tree(store.git, snap.tree, snap.index, snap.config().limits)
    if as_json:
        emit_json(
            {
                "ref": ref or "tasks",
                "commit": target,
                "beads": len(snap.index),
                "problems": report.problems,
            }
        )
    elif not report:
        click.echo(f"ok: {len(snap.index)} beads on {ref or 'tasks'} ({target[:10]}) are valid")
    if report:
        raise InvalidBead(report.problems, "fix them with a new commit on tasks (gt bead edit, or git)")


def _validate_since(store: Any, base: str, target: str, name: str, as_json: bool) -> None:
    from gastown.errors import InvalidBead, NotFound
    from gastown.town.hooks import since
    from gastown.town.refs import ZERO

    start = None if base == ZERO else _resolve(store, base)
    if start is None and base != ZERO:
        raise NotFound(
            f"--since {base}: no such commit or ref here",
            "fetch it first; after a force-push the old tip is gone: give the commit where the histories part, "
            f"or {ZERO} to check every commit",
        )
    count, problems = since(store, start, target)
    if as_json:
        emit_json({"ref": name, "commit": target, "since": start or ZERO, "commits": count, "problems": problems})
    elif not problems:
        what = f"{count} commit{'s' if count != 1 else ''}" if count else "no commits"
        where = f"since {base[:10]}" if start else "since the branch began"
        click.echo(f"ok: {what} on {name} {where} would have passed the server's hook")
    if problems:
        raise InvalidBead(
            problems, "each names its commit; fix what landed with a new commit on tasks (gt bead edit, or git)"
        )


def _resolve(store: object, ref: str) -> str | None:
    git = store.git  # type: ignore[attr-defined]
    proc = git.run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    return proc.stdout.decode().strip() or None if proc.returncode == 0 else None
