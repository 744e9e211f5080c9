"""``gt eval``: run a suite of beads per model in throwaway towns and judge the work."""

from __future__ import annotations

from pathlib import Path

import click

from gastown.cli.common import Seconds, emit_json, json_option


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


@click.command("eval")
@click.option("--models", "models_text", metavar="A,B,...", help="The models to evaluate, one after another.")
@click.option(
    "--suite",
    "suite_dir",
    metavar="DIR|NAME",
    help="The suite's folder, or a shipped suite's name: starter (the default), inflection.",
)
@click.option("--role", help="Only the suite's beads of this role.")
@click.option(
    "--runtime",
    "runtimes_text",
    metavar="loop,plain",
    default="loop",
    show_default=True,
    help="loop: gastown's agents work each bead. plain: the control, each bead asked in one prompt with no "
    "loop (beads whose work is files). Both: one row each, side by side.",
)
@click.option("--beads", "beads_text", metavar="KEY,...", help="Only these beads of the suite.")
@click.option("--config", "config_file", metavar="TOWN_TOML", help="Models, [machine] and [cost] from this file.")
@click.option("--timeout", type=Seconds(min=1), help="Seconds of wall time per bead (default: the suite's).")
@click.option(
    "--repeat",
    type=click.IntRange(1, 100),
    metavar="N",
    help="Work every bead this many times per model and runtime (default 1): one run's pass rate is within a "
    "bead or two of the next; the report gives each repeat's passes and each bead's.",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**32 - 1),
    metavar="SEED",
    help="Sample reproducibly: repeat R's watchers (gt watch --seed) and plain prompts are seeded from "
    "SEED + 1000 × (R - 1), a plain prompt one more for each bead, modulo 2**32 (default: the model's own seed "
    "in --config's town.toml, if any). Not with --check.",
)
@click.option("--svg", "svg_file", metavar="FILE", help="Also write the chart: pass rate against time per bead.")
@click.option("--keep", is_flag=True, help="Keep each model's throwaway town and rig (their paths are printed).")
@click.option("--check", is_flag=True, help="Check the chosen beads are fair with their solutions; runs no model.")
@click.option(
    "--compare",
    "compare_files",
    multiple=True,
    metavar="REPORT",
    help="Run no model: put saved reports (gt eval --json > REPORT) side by side; give it once per column "
    "(A.json,B.json pools runs of one tree into one column): each bead's passes, each pass rate's 95% interval "
    "and whether a later column differs from the first by more than sampling alone gives.",
)
@click.option("-v", "--verbose", is_flag=True, help="Every bead's verdict and why.")
@json_option
@click.pass_context
def eval_(
    ctx: click.Context,
    models_text: str | None,
    suite_dir: str | None,
    role: str | None,
    runtimes_text: str,
    beads_text: str | None,
    config_file: str | None,
    timeout: float | None,
    repeat: int | None,
    seed: int | None,
    svg_file: str | None,
    keep: bool,
    check: bool,
    compare_files: tuple[str, ...],
    verbose: bool,
    as_json: bool,
) -> None:
    """Run every bead of a suite for each model and judge the results by their own tests.

    Each model gets a throwaway town and rig; a real `gt watch` works each bead within the
    budget; the eval then runs the bead's acceptance tests itself on its branch (the original
    test files restored), never trusting the worker's report. SIGTERM or SIGINT stops the
    bead's watcher and the model's server, prints the beads judged so far and exits 130.
    """
    from gastown import evaluation
    from gastown.errors import EXIT_INTERRUPTED, UsageError

    if compare_files:
        _compare(ctx, compare_files, as_json)
        return
    suite = evaluation.load_suite(suite_dir)
    runtimes = _names(runtimes_text)
    unknown = [r for r in runtimes if r not in evaluation.RUNTIMES]
    if unknown or not runtimes:
        raise UsageError(
            f"--runtime {runtimes_text}: {'unknown runtime ' + repr(unknown[0]) if unknown else 'names none'}",
            "use loop, plain, or loop,plain",
        )
    if check:
        given = [name for name, value in (("--repeat", repeat), ("--seed", seed)) if value is not None]
        if given:
            raise UsageError(f"--check runs no model: {' and '.join(given)} does not apply", "leave it out of --check")
        rows = evaluation.check_suite(suite, role, _names(beads_text))
        if as_json:
            emit_json([{"bead": key, "fair": ok, "why": why} for key, ok, why in rows])
        else:
            for key, ok, why in rows:
                click.echo(f"{key:<20} {'fair' if ok else 'UNFAIR':<6} {why}")
        if not all(ok for _key, ok, _why in rows):
            raise click.exceptions.Exit(1)
        return
    if not _names(models_text):
        raise UsageError("name the models to evaluate: --models a,b", "`gt models pull --list` lists the known ones")
    if svg_file and not Path(svg_file).expanduser().resolve().parent.is_dir():
        raise UsageError(f"--svg {svg_file}: its folder does not exist")
    options = evaluation.Options(
        _names(models_text),
        role,
        _names(beads_text),
        timeout,
        keep,
        runtimes=tuple(dict.fromkeys(runtimes)),
        repeat=repeat or 1,
        seed=seed,
    )
    config = evaluation.load_config(config_file)
    with evaluation.stop_on_signals() as stop:
        report = evaluation.evaluate(suite, config, options, lambda line: click.echo(f"eval: {line}", err=True), stop)
    if svg_file:
        try:
            with open(svg_file, "w", encoding="utf-8") as handle:
                handle.write(evaluation.svg_chart(report))
        except OSError as error:
            raise UsageError(f"--svg {svg_file}: {error.strerror or error}") from None
        click.echo(f"eval: chart written to {svg_file}", err=True)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(evaluation.render(report, verbose))
    if report.interrupted:
        click.echo("gt: interrupted: the eval stopped its watcher and model servers", err=True)
        raise click.exceptions.Exit(EXIT_INTERRUPTED)
    broken = list(dict.fromkeys(run.model for run in report.runs if run.error))
    if broken:
        from gastown.errors import Unavailable

        raise Unavailable(f"could not run {', '.join(broken)}; see the report", "check the model's server and its log")


def _compare(ctx: click.Context, files: tuple[str, ...], as_json: bool) -> None:
    """``--compare``: the saved reports side by side; no suite is read and no model run."""
    from click.core import ParameterSource

    from gastown.errors import UsageError
    from gastown.evaluation import compare

    running = [
        param.opts[0]
        for param in ctx.command.params
        if param.name not in ("compare_files", "as_json")
        and ctx.get_parameter_source(param.name or "") is ParameterSource.COMMANDLINE
    ]
    if running:
        raise UsageError(
            f"--compare reads saved reports: {running[0]} does not apply",
            f"leave {running[0]} out; to run the eval, leave --compare out and save its --json report",
        )
    data = compare.compare(compare.load(files))
    if as_json:
        emit_json(data)
    else:
        click.echo(compare.render(data))
