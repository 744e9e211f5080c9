"""``gt watch``: a long-running worker for one role."""

from __future__ import annotations

import click

from gastown.cli.common import Seconds, town_option, town_path
from gastown.town.townfile import MAX_LEASE_SECONDS


@click.command()
@click.option("--role", required=True, help="The role this watcher works.")
@click.option("--model", help="Use this model of the roster (default: the switcher's choice).")
@click.option("--agent", help="The agent's name (default: $GT_AGENT or ROLE@HOST:PID).")
@click.option("--once", is_flag=True, help="Work one bead and exit (exit 3 if none is ready).")
@click.option("--max-beads", type=click.IntRange(1, None), help="Exit after this many beads.")
@click.option(
    "--idle-exit",
    type=Seconds(min=0),
    help="Exit after this many seconds with nothing to do.",
)
@click.option("--lease", type=Seconds(min=0.5, max=MAX_LEASE_SECONDS), help="Lease in seconds (default: town.toml).")
@click.option(
    "--poll",
    type=Seconds(min=0.05),
    help="Check for new beads every POLL seconds instead of watching the git directory (network filesystems).",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**32 - 1),  # roster.SEEDS: the CLI imports it lazily
    metavar="SEED",
    help="Sample reproducibly: the watcher's n-th request to a model is seeded SEED + n - 1 (over town.toml's "
    "seed; the count starts again when the model's server is restarted or swapped).",
)
@click.option("--check", is_flag=True, help="Only say whether watcher AGENT is alive: exit 0 or 1.")
@town_option
@click.pass_context
def watch(
    ctx: click.Context,
    role: str,
    model: str | None,
    agent: str | None,
    once: bool,
    max_beads: int | None,
    idle_exit: float | None,
    lease: float | None,
    poll: float | None,
    seed: int | None,
    check: bool,
) -> None:
    """Claim ready beads of ROLE, work them with the role's model, record the outcome.

    Wakes on new commits of the tasks branch (watchdog on the git directory; a fetch on a
    backed-off interval for a remote elsewhere). SIGTERM/SIGINT: finish or hand back the
    current bead and exit 0; a second signal hands it back at once and exits 130.
    """
    import os

    from gastown.agents import liveness
    from gastown.agents import watcher as watchermod
    from gastown.town.town import agent_host, locate

    town = locate(town_path(ctx))
    name = agent or os.environ.get("GT_AGENT") or f"{role}@{agent_host()}:{os.getpid()}"
    if check:
        if agent is None and not os.environ.get("GT_AGENT"):
            raise click.UsageError("--check needs --agent NAME (the watcher to check)")
        alive, message = liveness.check(town, name)
        click.echo(message)
        raise click.exceptions.Exit(0 if alive else 1)
    options = watchermod.Options(role, name, model, once, max_beads, idle_exit, lease, poll, seed)
    code = watchermod.Watcher(town, options).run()
    if code:
        raise click.exceptions.Exit(code)
