"""What every command shares: finding the town, ``--json``, rendering."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def town_option(func: F) -> F:
    """``--town DIR`` on a subcommand too (``gt status --town DIR``)."""

    def remember(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        if value:
            ctx.ensure_object(dict)["town"] = value

    return click.option(
        "--town",
        metavar="DIR",
        expose_value=False,
        callback=remember,
        help="The town's repository (default: $GT_TOWN, else the enclosing repository).",
    )(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(func)


def town_path(ctx: click.Context) -> str | None:
    root = ctx.find_root()
    obj = ctx.obj if isinstance(ctx.obj, dict) else {}
    return obj.get("town") or (root.obj or {}).get("town")


def open_store(ctx: click.Context) -> Any:
    """The town's store; a shared town is fetched first unless ``gt --offline``."""
    from gastown.errors import Unavailable
    from gastown.town.store import GitStore
    from gastown.town.town import locate

    store = GitStore(locate(town_path(ctx)))
    ctx.call_on_close(store.close)  # the next command starts warm
    if store.remote is not None and not (ctx.find_root().obj or {}).get("offline"):
        try:
            store.sync()
        except Unavailable as error:
            click.echo(f"gt: warning: showing the last fetched state; {error.message}", err=True)
    return store


def open_queue(ctx: click.Context) -> Any:
    from gastown.town.queue import Queue

    return Queue(open_store(ctx))


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def age(seconds: float) -> str:
    from gastown.town.times import duration

    return duration(seconds)


def now() -> float:
    return time.time()


def bead_line(entry: Any, current: float) -> str:
    """One line for an index entry: id, priority, role, age, title."""
    created = age(current - entry.created) if entry.created else "?"
    state = entry.status
    if entry.status == "claimed" and entry.expires is not None and entry.expires <= current:
        state = "expired"
    return f"{entry.id:<12} P{entry.priority}  {entry.role:<10} {state:<8} {created:>7}  {entry.title}"


class Seconds(click.FloatRange):
    """A number of seconds in a range: ``nan`` and ``inf`` are not numbers of seconds (click's
    FloatRange lets ``nan`` through every bound)."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number of seconds", param, ctx)
        return number


def _named(param: click.Parameter) -> str:
    """How an error names the option or argument: ``--agent``, or ``BEAD_ID``."""
    return param.opts[0] if isinstance(param, click.Option) else (param.human_readable_name or "").upper()


def given_id(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A bead id that is not blank (``gt bead show "$id"`` with ``$id`` unset), else a UsageError."""
    from gastown.errors import UsageError

    if value is not None and not value.strip():
        raise UsageError(f"{_named(param)} is empty: no bead id given", "pass a bead's id; `gt bead list` lists them")
    return value


def role_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A role a bead could have, else a UsageError saying what one is (not the schema's regex)."""
    from gastown.errors import UsageError
    from gastown.town.bead import role_problem

    problem = None if value is None else role_problem(value)
    if problem:
        raise UsageError(f"{_named(param)} {problem}", "`gt status` lists the roles of the town's beads")
    return value


def agent_from_env() -> str | None:
    """``$GT_AGENT`` when it is set (an empty one is unset), else None; a UsageError saying
    what is wrong when it is not a name a claim can record."""
    import os

    from gastown.errors import UsageError
    from gastown.town.bead import name_problem

    value = os.environ.get("GT_AGENT") or None
    problem = None if value is None else name_problem(value)
    if problem:
        raise UsageError(f"$GT_AGENT {problem}", "set GT_AGENT to a name, or unset it for the default")
    return value


def agent_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An agent's name that a claim can record, else a UsageError: an empty one is refused,
    not replaced by the default (``--agent "$AGENT"`` with ``$AGENT`` unset is a mistake)."""
    from gastown.errors import UsageError
    from gastown.town.bead import name_problem

    problem = None if value is None else name_problem(value)
    if problem:
        raise UsageError(
            f"{_named(param)} {problem}", f"name who works it, or leave {_named(param)} out for the default"
        )
    return value
