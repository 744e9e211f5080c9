"""``gt serve``: the town as a live web page, and its Prometheus ``/metrics``."""

from __future__ import annotations

from typing import Any

import click

from gastown.cli.common import open_store, town_option


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8700, show_default=True, help="0 picks a free port.")
@click.option(
    "--host",
    metavar="H",
    help="Listen on this address instead of 127.0.0.1; every request must then carry the token printed at start.",
)
@town_option
@click.pass_context
def serve(ctx: click.Context, port: int, host: str | None) -> None:
    """A read-only web page of the town (convoys, beads, agents, the seed's panels), live
    as the tasks branch moves, with Prometheus metrics at /metrics. Ctrl-C stops it."""
    from gastown.serve.server import serve as run

    def announce(address: Any) -> None:
        click.echo(f"gt serve: {address.url}  (read-only; Ctrl-C stops)")
        if address.token:
            click.echo(f"token: {address.token}  (send it as ?token=, which sets a cookie, or Authorization: Bearer)")

    run(open_store(ctx), host, port, announce)
