"""``gt hooks install`` and ``gt hook NAME`` (what the installed shims run)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gastown.cli.common import town_path


@click.group()
def hooks() -> None:
    """Install gastown's git hooks."""


@hooks.command("install")
@click.option(
    "--bare",
    "bare",
    metavar="PATH",
    help="Install the server hooks (pre-receive, post-receive) into this bare repository.",
)
@click.option("--force", is_flag=True, help="Replace hooks that are not gastown's.")
@click.pass_context
def install_cmd(ctx: click.Context, bare: str | None, force: bool) -> None:
    """Install the hooks: server hooks into --bare PATH, else all of them into the town."""
    from gastown.errors import NotFound
    from gastown.town import git
    from gastown.town.hooks import CLIENT_HOOKS, SERVER_HOOKS, install
    from gastown.town.town import locate

    if bare is not None:
        found = git.discover(bare)
        if found is None:
            raise NotFound(f"no git repository at {bare}")
        written = install(found, SERVER_HOOKS, force)
    else:
        written = install(locate(town_path(ctx)).git_dir, SERVER_HOOKS + CLIENT_HOOKS, force)
    for path in written:
        click.echo(f"installed {path}")


@hooks.command("ci")
@click.option(
    "--install",
    required=True,
    metavar="SPEC",
    help="What the workflow pip-installs to get gt: the gastown you run, as a version, a git URL or a wheel URL.",
)
@click.option("--print", "show", is_flag=True, help="Print the workflow instead of committing it.")
@click.pass_context
def ci_cmd(ctx: click.Context, install: str, show: bool) -> None:
    """Commit a GitHub Actions workflow onto tasks that checks every push to it as the
    server's hook would: for a town whose host runs no server hooks (GitHub, GitLab.com)."""
    from gastown.cli.common import open_store
    from gastown.town import events
    from gastown.town.hooks import WORKFLOW, workflow
    from gastown.town.store import Update

    text = workflow(install)
    if show:
        click.echo(text.decode(), nl=False)
        return
    store = open_store(ctx)
    if store.snapshot().read(WORKFLOW) == text:
        click.echo(f"{WORKFLOW} is on tasks already, installing {install}: nothing to commit")
        return
    event = events.Event(events.CONFIG, (), "gt", f"the CI check for a host without server hooks ({install})")
    store.update(lambda _snap: Update(event, files={WORKFLOW: text}))
    click.echo(f"committed {WORKFLOW} on tasks: the host runs `gt validate --since` on every push to it")
    click.echo("(GitHub takes a push that adds a workflow only from a token with the `workflow` scope)")


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("name", type=click.Choice(["pre-receive", "post-receive", "pre-commit", "pre-push"]))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hook(name: str, args: tuple[str, ...]) -> None:
    """Run one git hook; git calls this through the installed shims."""
    from gastown.town import git
    from gastown.town.hooks import run_hook

    git_dir = git.discover(Path.cwd())
    if git_dir is None:
        raise click.ClickException("gt hook must run inside a git repository")
    code, lines = run_hook(name, git_dir, sys.stdin)
    for line in lines:
        click.echo(line, err=bool(code))
    if code:
        raise click.exceptions.Exit(code)
