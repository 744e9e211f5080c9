"""``gt watch``: a long-running worker for one role."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from gastown.cli.common import Seconds, agent_from_env, agent_name, role_name, town_option, town_path
from gastown.town.townfile import MAX_LEASE_SECONDS

if TYPE_CHECKING:
    from gastown.town.town import Town


@click.command()
@click.option("--role", required=True, callback=role_name, help="The role this watcher works.")
@click.option("--model", help="Use this model of the roster (default: the switcher's choice).")
@click.option("--agent", callback=agent_name, help="The agent's name (default: $GT_AGENT or ROLE@HOST:PID).")
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
    from_env = agent_from_env() if agent is None else None  # --agent says who: $GT_AGENT is not read
    name = agent or from_env or f"{role}@{agent_host()}:{os.getpid()}"
    if check:
        if agent is None and from_env is None:
            raise click.UsageError("--check needs --agent NAME (the watcher to check)")
        alive, message = liveness.check(town, name)
        click.echo(message)
        raise click.exceptions.Exit(0 if alive else 1)
    _say_if_no_bead_has(town, role)
    options = watchermod.Options(role, name, model, once, max_beads, idle_exit, lease, poll, seed)
    code = watchermod.Watcher(town, options).run()
    if code:
        raise click.exceptions.Exit(code)


def _say_if_no_bead_has(town: Town, role: str) -> None:
    """One line on stderr when no bead of the town has ROLE (a typo, most often), naming the
    roles beads have; the watcher goes on, as a bead of that role may be added later. Said
    on the last fetched state, and not at all in a town with no beads yet (nothing to name)."""
    from gastown.town.queue import Queue
    from gastown.town.store import GitStore

    store = GitStore(town)
    try:
        roles = Queue(store).roles()
    finally:
        store.close()
    if roles and role not in roles:
        click.echo(
            f"gt: warning: no bead has role {role} yet; roles of beads here: {', '.join(roles)} "
            "(watching for one all the same)",
            err=True,
        )
