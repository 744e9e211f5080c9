"""``gt eval --compare``: saved reports side by side, and whether their pass rates differ
by more than sampling alone would give.

A model that passes 7 beads of 12 in one run can pass 10 in the next with nothing changed
(runs S16 and S17 of docs/eval.md), so a pass rate means little without its interval and a
change means little until two rates differ by more than their sampling could. Each column
is a saved report (``gt eval --json``), or several pooled: per model (and runtime), each
bead's passes over its runs, the total over the beads every column ran, its 95 % Wilson
score interval, and the median time per bead; then each later column against the first,
the difference in points with Newcombe's 95 % interval for a difference of two proportions
(his method 10, built from the two Wilson intervals). A verdict is given only where each
bead is as large a share of both columns' runs; else their totals weigh the beads
differently, and none is. The runs are taken as independent draws of one rate: beads
differ in how hard they are, which makes the interval wider than it need be, never
narrower.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gastown.errors import UsageError

Z = 1.959964  # the normal quantile of a two-sided 95 % interval
HINT = "give the file `gt eval --json > FILE` wrote"


def wilson(passed: int, runs: int) -> tuple[float, float] | None:
    """The 95 % Wilson score interval of ``passed`` in ``runs`` (None for no runs)."""
    if runs <= 0:
        return None
    rate = passed / runs
    scale = 1 + Z * Z / runs
    middle = (rate + Z * Z / (2 * runs)) / scale
    half = Z * math.sqrt(rate * (1 - rate) / runs + Z * Z / (4 * runs * runs)) / scale
    return max(0.0, middle - half), min(1.0, middle + half)


def difference(later: tuple[int, int], first: tuple[int, int]) -> tuple[float, tuple[float, float]] | None:
    """``later``'s pass rate less ``first``'s (each ``(passed, runs)``) and its 95 % interval
    (Newcombe's method 10); None when either has no runs."""
    one, two = wilson(*later), wilson(*first)
    if one is None or two is None:
        return None
    p1, p2 = later[0] / later[1], first[0] / first[1]
    (l1, u1), (l2, u2) = one, two
    gap = p1 - p2
    low = gap - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = gap + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return gap, (low, high)


@dataclass
class Saved:
    """One column: a saved report as ``gt eval --json`` wrote it, or several pooled."""

    paths: list[Path]
    label: str
    suite: str
    interrupted: bool
    beads: list[Mapping[str, Any]]  # every bead run: model, runtime, key, verdict, wall_s
    errors: dict[str, str] = field(default_factory=dict)  # a model's label: why it could not be run


@dataclass
class Column:
    """One model's runs in one column."""

    by_bead: dict[str, tuple[int, int]] = field(default_factory=dict)  # key: (passed, runs)
    walls: dict[str, list[float]] = field(default_factory=dict)  # key: its runs' wall seconds


def load(given: Sequence[str]) -> list[Saved]:
    """The columns ``given``, checked: each a ``gt eval --json`` report, all of one suite,
    no file twice. One may name several files, ``A.json,B.json``: runs of one tree pooled
    into one column (a file whose name has a comma in it is read as that file)."""
    groups = [_files(text) for text in given]
    seen: set[Path] = set()
    for path in (Path(p).expanduser().resolve() for group in groups for p in group):
        if path in seen:
            raise UsageError(f"--compare: {path} is given twice", "give each report once: its runs would count twice")
        seen.add(path)
    stems = [Path(path).stem for group in groups for path in group]
    read = [[_read(p, Path(p).stem if stems.count(Path(p).stem) == 1 else p) for p in group] for group in groups]
    suites: dict[str, list[str]] = {}
    for report in (report for group in read for report in group):
        suites.setdefault(report.suite, []).append(report.label)
    if len(suites) > 1:
        named = "; ".join(f"suite {suite!r}: {', '.join(labels)}" for suite, labels in suites.items())
        raise UsageError(f"--compare: the reports are of different suites ({named})", "compare reports of one suite")
    return [_pooled(group) for group in read]


def _files(text: str) -> list[str]:
    if "," not in text or Path(text).expanduser().is_file():
        files = [text] if text.strip() else []
    else:
        files = [part.strip() for part in text.split(",") if part.strip()]
    if not files:
        raise UsageError(f"--compare {text!r}: names no file", HINT)
    return files


def _read(given: str, label: str) -> Saved:
    path = Path(given).expanduser()
    where = f"--compare {given}"
    if path.is_dir():
        raise UsageError(f"{where}: is a folder, not a report", HINT)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{where}: no such file", HINT) from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{where}: cannot be read: {getattr(error, 'strerror', None) or error}", HINT) from None
    try:
        data = json.loads(text)
    except ValueError as error:
        raise UsageError(f"{where}: not JSON ({error})", HINT) from None
    return _report(data, path, label, where)


def _report(data: Any, path: Path, label: str, where: str) -> Saved:
    hint = f"{HINT} (not `--check --json`)"
    if not isinstance(data, Mapping) or not isinstance(data.get("beads"), list):
        raise UsageError(f'{where}: not a `gt eval --json` report (it has no list of "beads")', hint)
    suite = data.get("suite")
    name = suite.get("name") if isinstance(suite, Mapping) else None
    if not isinstance(name, str):
        raise UsageError(f'{where}: not a `gt eval --json` report (it has no "suite" name)', hint)
    beads = []
    for n, bead in enumerate(data["beads"]):
        fields = ("model", "key", "verdict")
        if not isinstance(bead, Mapping) or not all(isinstance(bead.get(f), str) for f in fields):
            raise UsageError(f"{where}: beads[{n}] lacks a model, key or verdict", hint)
        beads.append(bead)
    errors = {}
    for model in data.get("models") or []:
        if isinstance(model, Mapping) and isinstance(model.get("model"), str) and model.get("error"):
            errors[_label(model)] = str(model["error"])
    return Saved([path], label, name, bool(data.get("interrupted")), beads, errors)


def _pooled(reports: list[Saved]) -> Saved:
    """Several runs as one column: their bead runs together (and their models' errors)."""
    if len(reports) == 1:
        return reports[0]
    return Saved(
        [path for report in reports for path in report.paths],
        "+".join(report.label for report in reports),
        reports[0].suite,
        any(report.interrupted for report in reports),
        [bead for report in reports for bead in report.beads],
        {label: error for report in reports for label, error in report.errors.items()},
    )


def _label(run: Mapping[str, Any]) -> str:
    runtime = run.get("runtime") or "loop"
    return str(run["model"]) if runtime == "loop" else f"{run['model']} ({runtime})"


def columns(report: Saved) -> dict[str, Column]:
    """Per model label (``model`` or ``model (plain)``), its beads' passes and times."""
    found: dict[str, Column] = {}
    for bead in report.beads:
        column = found.setdefault(_label(bead), Column())
        key = bead["key"]
        passed, runs = column.by_bead.get(key, (0, 0))
        column.by_bead[key] = (passed + (bead["verdict"] == "passed"), runs + 1)
        wall = bead.get("wall_s")
        if isinstance(wall, (int, float)) and not isinstance(wall, bool):
            column.walls.setdefault(key, []).append(float(wall))
    return found


def runs_a_bead(table: Mapping[str, Column]) -> list[int]:
    """The fewest and most runs any bead of any model had in a report's ``table`` ([] for none)."""
    counts = [runs for column in table.values() for _passed, runs in column.by_bead.values()]
    return [min(counts), max(counts)] if counts else []


def compare(reports: Sequence[Saved]) -> dict[str, Any]:
    """The comparison as data: per model, each column's beads, its totals over the beads
    every column that ran the model ran, and each later column's difference from the first."""
    tables = [columns(report) for report in reports]
    errored = (label for report in reports for label in report.errors)  # a model that never ran has no beads
    models = list(dict.fromkeys([*(label for table in tables for label in table), *errored]))
    return {
        "suite": reports[0].suite if reports else None,
        "reports": [
            {
                "label": report.label,
                "paths": [str(path) for path in report.paths],
                "runs_a_bead": runs_a_bead(table),
                "interrupted": report.interrupted,
            }
            for report, table in zip(reports, tables, strict=True)
        ],
        "models": [_model(label, reports, tables) for label in models],
    }


def _model(label: str, reports: Sequence[Saved], tables: Sequence[dict[str, Column]]) -> dict[str, Any]:
    present = [(report, table[label]) for report, table in zip(reports, tables, strict=True) if label in table]
    keys = list(dict.fromkeys(key for _report, column in present for key in column.by_bead))
    shared = [key for key in keys if all(key in column.by_bead for _report, column in present)]
    counts = [
        (sum(column.by_bead[key][0] for key in shared), sum(column.by_bead[key][1] for key in shared))
        for _report, column in present
    ]
    totals = [
        _total(report.label, passed, runs, [wall for key in shared for wall in column.walls.get(key, [])])
        for (report, column), (passed, runs) in zip(present, counts, strict=True)
    ]
    differences = []
    if present and shared:
        first_report, first = present[0]
        for (report, column), later in zip(present[1:], counts[1:], strict=True):
            # each bead's share of the runs must match, or the totals weigh the beads differently
            uneven = [
                key for key in shared if column.by_bead[key][1] * counts[0][1] != first.by_bead[key][1] * later[1]
            ]
            differences.append(_difference(report.label, first_report.label, later, counts[0], uneven))
    return {
        "model": label,
        "columns": [report.label for report, _column in present],
        "absent": [report.label for report in reports if all(report is not r for r, _c in present)],
        "errors": {report.label: report.errors[label] for report in reports if label in report.errors},
        "beads": {
            key: [list(column.by_bead[key]) if key in column.by_bead else None for _report, column in present]
            for key in keys
        },
        "shared": shared,
        "totals": totals,
        "differences": differences,
    }


def _total(label: str, passed: int, runs: int, walls: Sequence[float]) -> dict[str, Any]:
    interval = wilson(passed, runs)
    return {
        "report": label,
        "passed": passed,
        "runs": runs,
        "rate": round(passed / runs, 4) if runs else None,
        "interval": [round(x, 4) for x in interval] if interval else None,
        "median_wall_s": round(statistics.median(walls), 3) if walls else None,
    }


def _difference(
    label: str, against: str, later: tuple[int, int], first: tuple[int, int], uneven: list[str]
) -> dict[str, Any]:
    """One later column against the first: the points, and the interval and verdict where
    each shared bead is as large a share of both columns' runs (``uneven`` names the beads
    where it is not)."""
    found = difference(later, first)
    gap = found[0] if found else None
    interval = found[1] if found and not uneven else None
    return {
        "report": label,
        "against": against,
        "points": None if gap is None else round(100 * gap, 1),
        "interval": None if interval is None else [round(100 * interval[0], 1), round(100 * interval[1], 1)],
        "beyond_sampling": None if interval is None else interval[0] > 0 or interval[1] < 0,
        "uneven": uneven,
    }


def render(data: Mapping[str, Any]) -> str:
    """The comparison as text: a table per model, then each difference in a sentence."""
    rows = [f"suite {data['suite']}: " + ", ".join(_described(r) for r in data["reports"])]
    for model in data["models"]:
        rows += ["", model["model"]]
        rows += [f"  {label}: error: {error}" for label, error in model["errors"].items()]
        labels, keys = model["columns"], list(model["beads"])
        if not labels:
            continue
        width = max(12, *(len(label) for label in labels))
        first = max(18, *(len(key) for key in keys)) if keys else 18
        rows.append(f"  {'bead':<{first}} " + " ".join(f"{label:>{width}}" for label in labels))
        for key, cells in model["beads"].items():
            shown = [f"{cell[0]}/{cell[1]}" if cell else "-" for cell in cells]
            left_out = "" if key in model["shared"] else "  (not in every column: left out of the totals)"
            rows.append(f"  {key:<{first}} " + " ".join(f"{cell:>{width}}" for cell in shown) + left_out)
        totals = model["totals"] if model["shared"] else []
        for name, cells in (
            ("passed", [f"{t['passed']}/{t['runs']}" for t in totals]),
            ("rate", [_percent(t["rate"]) for t in totals]),
            ("95% interval", [_span(t["interval"]) for t in totals]),
            ("median s", ["-" if t["median_wall_s"] is None else f"{t['median_wall_s']:.1f}" for t in totals]),
        ):
            if cells:
                rows.append(f"  {name:<{first}} " + " ".join(f"{cell:>{width}}" for cell in cells))
        rows += [f"  not in {label}" for label in model["absent"] if label not in model["errors"]]
        if not model["shared"]:
            rows.append("  no bead is in every column: no totals to compare")
        rows += [f"  {_sentence(d)}" for d in model["differences"]]
    return "\n".join(rows)


def _sentence(d: Mapping[str, Any]) -> str:
    said = f"{d['report']} against {d['against']}: {d['points']:+.1f} points"
    if d["uneven"]:
        return (
            f"{said}; no verdict: {', '.join(d['uneven'])} take a different share of the two columns' runs, so "
            "their totals weigh the beads differently (compare columns that ran their beads equally often)"
        )
    low, high = d["interval"]
    verdict = (
        "unlikely from sampling alone (95%)"
        if d["beyond_sampling"]
        else "within what sampling alone gives: run more repeats to tell"
    )
    return f"{said} (95% interval {low:+.1f} to {high:+.1f}), {verdict}"


def _described(report: Mapping[str, Any]) -> str:
    extra = []
    low_high = report["runs_a_bead"]
    if not low_high:
        extra.append("no bead runs")
    elif low_high[1] > 1:
        extra.append(
            f"{low_high[0]} runs a bead" if low_high[0] == low_high[1] else f"{low_high[0]}-{low_high[1]} runs a bead"
        )
    if report["interrupted"]:
        extra.append("interrupted")
    return str(report["label"]) + (f" ({', '.join(extra)})" if extra else "")


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def _span(interval: Sequence[float] | None) -> str:
    return "-" if not interval else f"{interval[0]:.0%}-{interval[1]:.0%}"
