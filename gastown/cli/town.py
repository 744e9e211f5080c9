"""``gt init``."""

from __future__ import annotations

from pathlib import Path

import click

from gastown.cli.common import emit_json, json_option
from gastown.town import founding


@click.command()
@click.argument("directory", required=False)
@click.option(
    "--remote",
    "remote_url",
    metavar="URL",
    help="Share the town through this remote (its tasks branch is the source of truth).",
)
@click.option("--name", help="The town's name (default: the directory's name).")
@click.option("--prefix", default="gt", show_default=True, help="Prefix of bead ids.")
@click.option(
    "--hooks/--no-hooks",
    default=True,
    show_default=True,
    help="Install gastown's git hooks in the repository.",
)
@json_option
@click.pass_context
def init(
    ctx: click.Context,
    directory: str | None,
    remote_url: str | None,
    name: str | None,
    prefix: str,
    hooks: bool,
    as_json: bool,
) -> None:
    """Make (or adopt) DIRECTORY as a town: a `tasks` branch with town.toml, beads/, convoys/.

    DIRECTORY defaults to `gt --town DIR`'s, else the current directory (never $GT_TOWN's:
    that names the town other commands use). Never touches the working tree, the
    checked-out branch or the index.
    """
    directory = directory or _town_option(ctx)
    town, what = founding.init(directory, remote_url, name, prefix)
    installed: list[str] = []
    server = None
    if hooks:
        from gastown.errors import UsageError
        from gastown.town.hooks import CLIENT_HOOKS, SERVER_HOOKS, install

        try:
            installed = [p.name for p in install(town.git_dir, SERVER_HOOKS + CLIENT_HOOKS)]
        except UsageError as error:
            click.echo(f"gt: hooks not installed: {error.message}", err=True)
        local = Path(remote_url.removeprefix("file://")) if remote_url else None
        if local is not None and (local / "HEAD").is_file() and (local / "objects").is_dir():
            try:  # a remote on this machine: check its pushes too
                install(local, SERVER_HOOKS)
                server = str(local)
            except UsageError as error:
                click.echo(f"gt: server hooks not installed in {local}: {error.message}", err=True)
    if as_json:
        emit_json(
            {
                "git_dir": str(town.git_dir),
                "remote": town.remote,
                "result": what,
                "hooks": installed,
                "server_hooks": server,
            }
        )
        return
    click.echo(f"town at {town.git_dir}: {what}")
    if installed:
        click.echo(f"hooks installed: {', '.join(installed)}")
    if server:
        click.echo(f"server hooks installed in {server}")
    elif town.remote and remote_url:
        click.echo(f"on the server, check pushes with: gt hooks install --bare <path of {remote_url}>")


def _town_option(ctx: click.Context) -> str | None:
    """``gt --town DIR``'s DIR when given on the command line (not from $GT_TOWN)."""
    parent = ctx.parent
    if parent is None or parent.get_parameter_source("town") != click.core.ParameterSource.COMMANDLINE:
        return None
    town = parent.params.get("town")
    return str(town) if town else None
