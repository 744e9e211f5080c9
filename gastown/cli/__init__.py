"""``gt``: the command line around the town's git branch.

The CLI is thin: each command parses its arguments, makes one library call and renders
text or ``--json``. Commands are imported only when run, so ``gt`` in a git hook does
not pay for the model client, NVML or watchdog.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import click

from gastown import __version__
from gastown.errors import EXIT_INTERRUPTED, EXIT_USAGE, STORAGE_ERRNOS, GastownError, storage_error

COMMANDS = {
    "init": ("gastown.cli.town", "init", "make (or adopt) a repository as a town"),
    "bead": ("gastown.cli.beads", "bead", "add, show, list and edit beads"),
    "convoy": ("gastown.cli.convoys", "convoy", "group beads that ship one feature"),
    "ready": ("gastown.cli.queue", "ready", "beads whose blockers are all done, best first"),
    "claim": ("gastown.cli.queue", "claim", "claim the best ready bead for a role"),
    "renew": ("gastown.cli.queue", "renew", "extend the lease of a claim you hold"),
    "release": ("gastown.cli.queue", "release", "hand a claimed bead back to the queue"),
    "complete": ("gastown.cli.queue", "complete", "mark a claimed bead done"),
    "fail": ("gastown.cli.queue", "fail", "mark a claimed bead failed, with a reason"),
    "retry": ("gastown.cli.queue", "retry", "reopen a failed bead"),
    "status": ("gastown.cli.status", "status", "counts by status and role, live claims"),
    "log": ("gastown.cli.status", "log", "the tasks history, readable"),
    "validate": ("gastown.cli.status", "validate", "check every bead and file on a ref"),
    "watch": ("gastown.cli.watch", "watch", "a long-running worker for one role"),
    "rig": ("gastown.cli.rigs", "rig", "the project repositories agents work in"),
    "crew": ("gastown.cli.rigs", "crew", "ask a rig's Crew a question"),
    "models": ("gastown.cli.models", "models", "the model roster and what fits the machine"),
    "up": ("gastown.cli.models", "up", "start local model servers"),
    "down": ("gastown.cli.models", "down", "stop local model servers"),
    "cost": ("gastown.cli.models", "cost", "what the work cost, hybrid against pure cloud"),
    "mayor": ("gastown.cli.mayor", "mayor", "plan features into convoys; reconcile from history"),
    "refinery": ("gastown.cli.mayor", "refinery", "the merge queue"),
    "metrics": ("gastown.cli.mayor", "metrics", "orchestrator, tool-call and model figures"),
    "eval": ("gastown.cli.eval", "eval_", "run a suite of beads per model and judge the work"),
    "serve": ("gastown.cli.serve", "serve", "a live web page of the town, and /metrics"),
    "hooks": ("gastown.cli.hooks", "hooks", "install the git hooks"),
    "hook": ("gastown.cli.hooks", "hook", "run one git hook (called by the installed shims)"),
}
HIDDEN = {"hook"}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if name not in HIDDEN]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module = importlib.import_module(spec[0])
        command: click.Command = getattr(module, spec[1])
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _configure_logging(verbose: int) -> None:
    if not verbose:
        return  # warnings still reach stderr through logging's last-resort handler
    import logging.config

    level = "DEBUG" if verbose > 1 else "INFO"
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"plain": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "formatter": "plain",
                    "stream": "ext://sys.stderr",
                }
            },
            "root": {"level": level, "handlers": ["stderr"]},
        }
    )


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--town",
    envvar="GT_TOWN",
    metavar="DIR",
    help="The town's repository (default: $GT_TOWN, else the enclosing repository).",
)
@click.option("--offline", is_flag=True, help="Do not fetch a shared town's tasks branch first.")
@click.option("-v", "--verbose", count=True, help="Log more (-vv for debug).")
@click.version_option(__version__, prog_name="gt")
@click.pass_context
def cli(ctx: click.Context, town: str | None, offline: bool, verbose: int) -> None:
    """gastown: a team of coding agents driven through git.

    Beads (tasks) live as JSON files on the town's `tasks` branch; watchers claim them
    with compare-and-swap commits; `git log tasks` is the event log.
    """
    ctx.obj = {"town": town, "offline": offline}
    _configure_logging(verbose)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``gt``; returns the exit code (errors documented in gastown.errors)."""
    try:
        code = cli.main(args=list(argv) if argv is not None else None, prog_name="gt", standalone_mode=False)
    except GastownError as error:
        return _report(error)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.ClickException as error:
        error.show()
        return error.exit_code if error.exit_code else EXIT_USAGE
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("gt: interrupted", err=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        sys.stderr.close()  # `gt log | head`: the reader left; nothing to report
        return 0
    except OSError as error:
        if error.errno not in STORAGE_ERRNOS:
            raise  # a bug, not the machine: the traceback is what helps
        return _report(storage_error(error))  # a full disk, a read-only mount, a folder gastown may not write
    return code if isinstance(code, int) else 0


def _report(error: GastownError) -> int:
    click.echo(f"gt: {error.message}", err=True)
    if error.hint:
        click.echo(f"hint: {error.hint}", err=True)
    return error.exit_code


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
