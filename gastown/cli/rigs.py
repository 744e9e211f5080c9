"""``gt rig add|list|show`` and ``gt crew ask``."""

from __future__ import annotations

import click

from gastown.cli.common import emit_json, json_option, open_store, town_option


@click.group()
def rig() -> None:
    """The project repositories agents work in."""


@rig.command("add")
@click.argument("name")
@click.argument("location", metavar="PATH|URL")
@click.option("--test", "test_command", help="The test command (e.g. 'python -m pytest -q').")
@click.option("--branch", help="The target branch (default: main).")
@click.option(
    "--from",
    "template",
    help="Start from a rig definition shipped with gastown (example, aerobeat).",
)
@click.option("--agent")
@town_option
@json_option
@click.pass_context
def add(
    ctx: click.Context,
    name: str,
    location: str,
    test_command: str | None,
    branch: str | None,
    template: str | None,
    agent: str | None,
    as_json: bool,
) -> None:
    """Record rig NAME (a local clone or a git URL) on the tasks branch."""
    import shlex

    from gastown.agents import rig as rigmod

    data = rigmod.add(
        open_store(ctx),
        name,
        location,
        shlex.split(test_command) if test_command else None,
        branch,
        template,
        agent,
    )
    if as_json:
        emit_json(data)
    else:
        click.echo(f"rig {name} added ({data.get('path') or data.get('url')})")


@rig.command("list")
@town_option
@json_option
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """The town's rigs."""
    from gastown.agents import rig as rigmod

    names = rigmod.list_rigs(open_store(ctx).snapshot())
    if as_json:
        emit_json(names)
    else:
        for name in names:
            click.echo(name)


@rig.command("show")
@click.argument("name")
@town_option
@json_option
@click.pass_context
def show(ctx: click.Context, name: str, as_json: bool) -> None:
    """A rig as the agents see it."""
    from gastown.agents import rig as rigmod

    found = rigmod.load(open_store(ctx), name)
    data = {
        "name": found.name,
        "path": str(found.path),
        "branch": found.branch,
        "test_command": list(found.test_command),
        "test_paths": list(found.test_paths),
        "allowed_commands": [list(c) for c in found.allowed_commands],
        "docs": list(found.docs),
        "coverage_threshold": found.coverage_threshold,
        "prompts": {role: p.source for role, p in found.prompts.items()},
    }
    if as_json:
        emit_json(data)
        return
    for key, value in data.items():
        click.echo(f"{key:<18} {value}")


@click.group()
def crew() -> None:
    """Ask a rig's Crew."""


@crew.command("ask")
@click.argument("rig_name", metavar="RIG")
@click.argument("question")
@town_option
@json_option
@click.pass_context
def ask(ctx: click.Context, rig_name: str, question: str, as_json: bool) -> None:
    """Answer QUESTION from RIG's own files, citing them (or say it is not there)."""
    from gastown.agents import crew as crewmod
    from gastown.agents import rig as rigmod
    from gastown.cli.models import crew_client

    store = open_store(ctx)
    found = rigmod.load(store, rig_name)
    answer = crewmod.answer(found.path, question, crew_client(store))
    if as_json:
        emit_json(
            {
                "answer": answer.text,
                "sources": list(answer.sources),
                "found": answer.found,
                "model": answer.model,
            }
        )
    else:
        click.echo(answer.render())
    if not answer.found:
        raise click.exceptions.Exit(1)
