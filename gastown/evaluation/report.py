"""What ``gt eval`` found: per bead and per model, priced, and rendered as a table, JSON or SVG."""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gastown.evaluation.compare import wilson
from gastown.evaluation.suite import Options, Suite, tagged
from gastown.machine import cost as costmod
from gastown.town import config as configmod
from gastown.town import roster as rostermod


@dataclass
class BeadRun:
    """How one model did on one bead: the eval's verdict and what the work used."""

    model: str
    key: str
    kind: str
    role: str
    verdict: str  # passed | failed
    why: str
    wall_s: float
    bead: str | None = None  # its id in the throwaway town
    reported: str | None = None  # the status the worker left it in
    close_reason: str | None = None
    timed_out: bool = False
    tokens_in: int = 0
    tokens_out: int = 0
    model_s: float = 0.0
    tool_calls: int = 0
    tool_calls_failed: int = 0
    tool_calls_recovered: int = 0
    stuck: bool = False
    tries: int = 0  # the worker's tries: suspect lines' asks and fresh answers (0: not reported)
    prefill_tps: float | None = None
    decode_tps: float | None = None
    cached_tokens: int = 0
    cache_basis: int = 0  # prompt tokens of the calls whose server reported cached tokens
    energy_j: float | None = None
    by_model: dict[str, dict[str, float]] = field(default_factory=dict)
    runtime: str = "loop"  # see ModelRun.runtime
    repeat: int = 1  # which of --repeat's passes over the suite (1-based)

    @property
    def passed(self) -> bool:
        return self.verdict == "passed"

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "by_model"}
        data["wall_s"] = round(self.wall_s, 3)
        return data

    def take(self, result: Mapping[str, Any]) -> None:
        """What the worker's result says it used (tokens, calls, speed, energy)."""
        calls = result.get("tool_calls")
        self.tool_calls = sum(v for v in calls.values() if isinstance(v, int)) if isinstance(calls, Mapping) else 0
        self.tool_calls_failed = int(result.get("tool_calls_failed") or 0)
        self.tool_calls_recovered = int(result.get("tool_calls_recovered") or 0)
        self.tokens_in = int(result.get("tokens_in") or 0)
        self.tokens_out = int(result.get("tokens_out") or 0)
        self.model_s = float(result.get("model_s") or 0.0)
        self.prefill_tps = _number(result.get("prefill_tps"))
        self.decode_tps = _number(result.get("decode_tps"))
        self.energy_j = _number(result.get("energy_j"))
        self.stuck = bool(result.get("stuck")) or (self.close_reason or "").startswith("stuck:")
        self.tries = int(result.get("tries") or 0)
        rows = result.get("by_model")
        if isinstance(rows, Mapping):
            self.by_model = {str(k): dict(v) for k, v in rows.items() if isinstance(v, Mapping)}
        self.cached_tokens, self.cache_basis = _cache_figures(result.get("trace"))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _cache_figures(trace: Any) -> tuple[int, int]:
    """(cached prompt tokens, prompt tokens) over the trace's replies whose server reported a cache."""
    cached = basis = 0
    if not isinstance(trace, str):
        return 0, 0
    try:
        lines = Path(trace).read_text(errors="replace").splitlines()
    except OSError:
        return 0, 0
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        usage = record.get("usage") if record.get("kind") == "reply" else None
        if isinstance(usage, Mapping) and isinstance(usage.get("cached_tokens"), int):
            cached += usage["cached_tokens"]
            basis += int(usage.get("tokens_in") or 0)
    return cached, basis


@dataclass
class ModelRun:
    """One model's pass over the suite."""

    model: str
    beads: list[BeadRun] = field(default_factory=list)
    runtime: str = "loop"  # gastown's loop, or "plain": one prompt a bead (the control)
    error: str | None = None  # why the model could not be run at all
    town: str | None = None  # the kept town's folder (--keep)
    dollars: float = 0.0
    kwh: float = 0.0
    estimated_energy: bool = False

    @property
    def label(self) -> str:
        """The model, and the runtime when it is not the loop."""
        return self.model if self.runtime == "loop" else f"{self.model} ({self.runtime})"

    def summary(self) -> dict[str, Any]:
        beads = self.beads
        walls = [b.wall_s for b in beads]
        basis = sum(b.cache_basis for b in beads)
        prefill = [b.prefill_tps for b in beads if b.prefill_tps]
        decode = [b.decode_tps for b in beads if b.decode_tps]
        measured = [b.energy_j for b in beads if b.energy_j is not None]
        passed = sum(b.passed for b in beads)
        interval = wilson(passed, len(beads))
        repeats = max((b.repeat for b in beads), default=0)
        by_bead: dict[str, dict[str, int]] = {}  # a bead's runs can be fewer: an eval stopped mid-repeat
        for bead in beads:
            tally = by_bead.setdefault(bead.key, {"passed": 0, "runs": 0})
            tally["passed"] += bead.passed
            tally["runs"] += 1
        return {
            "model": self.model,
            "runtime": self.runtime,
            "beads": len(beads),
            "passed": passed,
            "pass_rate": round(passed / len(beads), 4) if beads else None,
            # the pass rate's 95 % Wilson interval: one run of six beads says little (compare.py)
            "pass_rate_interval": [round(x, 4) for x in interval] if interval else None,
            "repeats": repeats,
            # how many beads each repeat passed, and how many of its runs each bead passed
            "passed_per_repeat": [sum(b.passed for b in beads if b.repeat == r) for r in range(1, repeats + 1)],
            "by_bead": by_bead,
            "median_wall_s": round(statistics.median(walls), 3) if walls else None,
            "tool_calls": {
                "total": sum(b.tool_calls for b in beads),
                "failed": sum(b.tool_calls_failed for b in beads),
                "recovered": sum(b.tool_calls_recovered for b in beads),
            },
            "stuck": sum(b.stuck for b in beads),
            "timed_out": sum(b.timed_out for b in beads),
            "tokens_in": sum(b.tokens_in for b in beads),
            "tokens_out": sum(b.tokens_out for b in beads),
            "prefill_tps": round(statistics.mean(prefill), 2) if prefill else None,
            "decode_tps": round(statistics.mean(decode), 2) if decode else None,
            "cache_reuse": round(sum(b.cached_tokens for b in beads) / basis, 4) if basis else None,
            "energy_wh": round(self.kwh * 1000, 4),
            "energy_measured_j": round(sum(measured), 3) if measured else None,
            "estimated_energy": self.estimated_energy,
            "dollars": round(self.dollars, 6),
            "error": self.error,
            "town": self.town,
        }


@dataclass
class Report:
    """Every model's runs over one suite."""

    suite: Suite
    options: Options
    runs: list[ModelRun]
    interrupted: bool = False  # stopped by SIGTERM/SIGINT: the runs hold the beads judged before

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": {"name": self.suite.name, "path": str(self.suite.path), "rig": self.suite.rig_name},
            "role": self.options.role,
            "timeout_s": self.options.timeout,
            "repeat": self.options.repeat,
            "seed": self.options.seed,
            "models": [run.summary() for run in self.runs],
            "beads": [bead.to_dict() for run in self.runs for bead in run.beads],
            "interrupted": self.interrupted,
        }


def priced(run: ModelRun, roster: rostermod.Roster, config: configmod.TownConfig) -> tuple[float, float, bool]:
    """(dollars, kWh, energy estimated) for the run, priced as ``gt cost`` prices work."""
    usages = []
    for bead in run.beads:
        rows = bead.by_model or {
            run.model: {"tokens_in": bead.tokens_in, "tokens_out": bead.tokens_out, "model_s": bead.model_s}
        }
        for name, row in rows.items():
            energy = row.get("energy_j") if bead.energy_j is not None else None
            usages.append(
                costmod.Usage(
                    bead.role,
                    name,
                    int(row.get("tokens_in", 0)),
                    int(row.get("tokens_out", 0)),
                    float(row.get("model_s", 0.0)),
                    float(energy) if energy is not None else None,
                    bead.bead or bead.key,
                )
            )
    compare = config.cost.compare_to
    if compare is None or compare not in roster.models:
        compare = run.model  # no cloud model to compare with: price the model as itself
    total = costmod.price(usages, roster, config.machine, config.cost.price_per_kwh, compare).total()
    return total.dollars, total.kwh, total.estimated_energy


# ---- rendering ---------------------------------------------------------------------------


def _cell(value: Any, spec: str = "", none: str = "-") -> str:
    return none if value is None else format(value, spec)


def render(report: Report, verbose: bool = False) -> str:
    """The table (and with ``verbose`` every bead's verdict and why)."""
    header = (
        f"{'model':<26} {'pass':>6} {'rate':>5} {'median s':>9} {'calls t/f/r':>12} {'stuck':>5} "
        f"{'tok in':>8} {'tok out':>8} {'prefill':>8} {'decode':>7} {'cache':>6} {'energy Wh':>10} {'cost $':>9}"
    )
    rows = [f"suite {report.suite.name} ({report.suite.path})", header, "-" * len(header)]
    for run in report.runs:
        s = run.summary()
        if run.error:
            rows.append(f"{run.label:<26} error: {run.error}")
            continue
        calls = s["tool_calls"]
        mark = "*" if s["estimated_energy"] else " "
        rows.append(
            f"{run.label:<26} {s['passed']:>2}/{s['beads']:<3} {_cell(s['pass_rate'], '.0%'):>5} "
            f"{_cell(s['median_wall_s'], '.1f'):>9} {calls['total']:>5}/{calls['failed']}/{calls['recovered']:<4} "
            f"{s['stuck']:>5} {s['tokens_in']:>8} {s['tokens_out']:>8} {_cell(s['prefill_tps'], '.0f'):>8} "
            f"{_cell(s['decode_tps'], '.1f'):>7} {_cell(s['cache_reuse'], '.0%'):>6} "
            f"{s['energy_wh']:>9.3f}{mark} {s['dollars']:>9.4f}"
        )
    if any(run.estimated_energy for run in report.runs):
        rows.append("* energy estimated from configured watts × model time (no meter)")
    judged = [(run, s) for run in report.runs if not run.error and (s := run.summary())["pass_rate_interval"]]
    if judged:
        rows.append("")
    for run, s in judged:
        low, high = s["pass_rate_interval"]
        rate = f"pass rate {s['pass_rate']:.0%}, 95% interval {low:.0%}-{high:.0%}"
        if s["repeats"] <= 1:
            rows.append(f"{run.label}: {rate}")
            continue
        each = ", ".join(str(n) for n in s["passed_per_repeat"])
        tally = ", ".join(f"{key} {t['passed']}/{t['runs']}" for key, t in s["by_bead"].items())
        rows.append(f"{run.label}: passed {each} of {len(s['by_bead'])} in its {s['repeats']} repeats; {tally}; {rate}")
    if verbose:
        rows.append("")
        for run in report.runs:
            for bead in run.beads:
                name = tagged(bead.key, bead.repeat)  # as its files and branches name it
                tries = bead.tries or "-"  # a line's ask is a try (sweep.py); "-": none reported
                rows.append(
                    f"{run.label:<26} {name:<18} {bead.verdict:<6} {bead.wall_s:>7.1f}s "
                    f"in {bead.tokens_in:>7} out {bead.tokens_out:>6} tries {tries:>2}  {bead.why}"
                )
    for run in report.runs:
        if run.town:
            rows.append(f"{run.label}: town kept at {run.town}")
    if report.interrupted:
        rows.append("interrupted: only the beads judged before the signal are counted")
    return "\n".join(rows)


def _nice_step(top: float) -> float:
    raw = max(top, 1e-9) / 5
    power = 10.0 ** int(f"{raw:e}".split("e")[1])
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def svg_chart(report: Report) -> str:
    """Pass rate against median wall time per bead, one labelled point per model (SVG text)."""
    width, height, left, right, top, bottom = 640, 420, 64, 24, 48, 56
    plotted = [(r.label, r.summary()) for r in report.runs if r.beads]
    slowest = max((s["median_wall_s"] or 0.0 for _, s in plotted), default=0.0)
    step = _nice_step(slowest * 1.1 or 10.0)
    x_max = step * max(1, -(-slowest * 1.1 // step))
    inner_w, inner_h = width - left - right, height - top - bottom

    def x(seconds: float) -> float:
        return left + inner_w * seconds / x_max

    def y(rate: float) -> float:
        return top + inner_h * (1 - rate)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f"<title>gt eval: suite {_xml(report.suite.name)}</title>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="15">'
        f"gt eval — suite {_xml(report.suite.name)}: pass rate against time per bead</text>",
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{left}" y1="{y(tick):.1f}" x2="{width - right}" y2="{y(tick):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:.0%}</text>')
    seconds = 0.0
    while seconds <= x_max + 1e-9:
        at = f"{x(seconds):.1f}"
        parts.append(f'<line x1="{at}" y1="{top}" x2="{at}" y2="{top + inner_h}" stroke="#eee"/>')
        parts.append(f'<text x="{at}" y="{top + inner_h + 16}" text-anchor="middle">{seconds:g}</text>')
        seconds += step
    parts += [
        f'<line x1="{left}" y1="{top + inner_h}" x2="{width - right}" y2="{top + inner_h}" stroke="black"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + inner_h}" stroke="black"/>',
        f'<text x="{left + inner_w / 2}" y="{height - 12}" text-anchor="middle">median wall time per bead (s)</text>',
        f'<text x="16" y="{top + inner_h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 16 {top + inner_h / 2})">pass rate</text>',
    ]
    colours = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
    for n, (model, s) in enumerate(plotted):
        cx, cy = x(s["median_wall_s"] or 0.0), y(s["pass_rate"] or 0.0)
        tip = f"{model}: {s['passed']}/{s['beads']} passed, median {s['median_wall_s']} s per bead"
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="6" fill="{colours[n % len(colours)]}">'
            f"<title>{_xml(tip)}</title></circle>"
        )
        parts.append(f'<text x="{cx + 9:.1f}" y="{cy - 8:.1f}">{_xml(model)}</text>')
    failed = [r.label for r in report.runs if not r.beads]
    if failed:
        parts.append(f'<text x="{left}" y="{top - 8}" fill="#a00">not run: {_xml(", ".join(failed))}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
