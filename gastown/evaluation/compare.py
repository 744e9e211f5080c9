"""``gt eval --compare``: saved reports side by side, and whether their pass rates differ
by more than sampling alone would give.

A model that passes 7 beads of 12 in one run can pass 10 in the next with nothing changed
(runs S16 and S17 of docs/eval.md), so a pass rate means little without its interval and a
change means little until two rates differ by more than their sampling could. Each report
(``gt eval --json``) is a column: per model (and runtime), each bead's passes over its
runs, the total over the beads every report ran, its 95 % Wilson score interval, and the
median time per bead; then each later report against the first, the difference in points
with Newcombe's interval for a difference of two proportions (his method 10, built from
the two Wilson intervals). The runs are taken as independent. They are not quite: the
same beads are worked in every report, and pairing them would narrow the interval, so a
difference this calls beyond sampling is one.
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
    """One saved report, as ``gt eval --json`` wrote it."""

    path: Path
    label: str
    suite: str
    role: str | None
    repeat: int
    interrupted: bool
    beads: list[Mapping[str, Any]]  # every bead run: model, runtime, key, verdict, wall_s


@dataclass
class Column:
    """One model's runs in one report."""

    by_bead: dict[str, tuple[int, int]] = field(default_factory=dict)  # key: (passed, runs)
    walls: list[float] = field(default_factory=list)


def load(given: Sequence[str]) -> list[Saved]:
    """The reports ``given``, checked: each a ``gt eval --json`` report, all of one suite.
    One of them may name several files, ``A.json,B.json``: runs of one tree pooled into one
    column (a file whose name has a comma in it is read as that file)."""
    groups = [_files(text) for text in given]
    stems = [Path(path).stem for group in groups for path in group]
    read = [
        [_read(path, Path(path).stem if stems.count(Path(path).stem) == 1 else path) for path in group]
        for group in groups
    ]
    suites: dict[str, list[str]] = {}
    for report in (report for group in read for report in group):
        suites.setdefault(report.suite, []).append(report.label)
    if len(suites) > 1:
        named = "; ".join(f"suite {suite!r}: {', '.join(labels)}" for suite, labels in suites.items())
        raise UsageError(f"--compare: the reports are of different suites ({named})", "compare reports of one suite")
    return [_pooled(group, text) for group, text in zip(read, given, strict=True)]


def _files(text: str) -> list[str]:
    if "," not in text or Path(text).expanduser().is_file():
        return [text]
    return [part.strip() for part in text.split(",") if part.strip()]


def _read(given: str, label: str) -> Saved:
    path = Path(given).expanduser()
    where = f"--compare {given}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{where}: no such file", "give the file `gt eval --json > FILE` wrote") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{where}: cannot be read: {getattr(error, 'strerror', None) or error}") from None
    try:
        data = json.loads(text)
    except ValueError as error:
        raise UsageError(f"{where}: not JSON ({error})", "give the file `gt eval --json > FILE` wrote") from None
    return _report(data, path, label, where)


def _pooled(reports: list[Saved], given: str) -> Saved:
    """Several runs as one column: their bead runs together, their repeats added up."""
    if len(reports) == 1:
        return reports[0]
    roles = {report.role for report in reports}
    return Saved(
        Path(given),
        "+".join(report.label for report in reports),
        reports[0].suite,
        roles.pop() if len(roles) == 1 else None,
        sum(report.repeat for report in reports),
        any(report.interrupted for report in reports),
        [bead for report in reports for bead in report.beads],
    )


def _report(data: Any, path: Path, label: str, where: str) -> Saved:
    hint = "give the file `gt eval --json > FILE` wrote (not `--check --json`)"
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
    repeat = data.get("repeat")
    return Saved(
        path,
        label,
        name,
        data.get("role") if isinstance(data.get("role"), str) else None,
        repeat if isinstance(repeat, int) and repeat > 0 else 1,
        bool(data.get("interrupted")),
        beads,
    )


def _label(bead: Mapping[str, Any]) -> str:
    runtime = bead.get("runtime") or "loop"
    return bead["model"] if runtime == "loop" else f"{bead['model']} ({runtime})"


def columns(report: Saved) -> dict[str, Column]:
    """Per model label (``model`` or ``model (plain)``), its beads' passes and times."""
    found: dict[str, Column] = {}
    for bead in report.beads:
        column = found.setdefault(_label(bead), Column())
        passed, runs = column.by_bead.get(bead["key"], (0, 0))
        column.by_bead[bead["key"]] = (passed + (bead["verdict"] == "passed"), runs + 1)
        wall = bead.get("wall_s")
        if isinstance(wall, (int, float)) and not isinstance(wall, bool):
            column.walls.append(float(wall))
    return found


def compare(reports: Sequence[Saved]) -> dict[str, Any]:
    """The comparison as data: per model, each report's beads and totals over the beads every
    report that ran the model ran, and each later report's difference from the first."""
    tables = [columns(report) for report in reports]
    models = list(dict.fromkeys(label for table in tables for label in table))
    out = []
    for label in models:
        present = [(report, table[label]) for report, table in zip(reports, tables, strict=True) if label in table]
        keys = list(dict.fromkeys(key for _report, column in present for key in column.by_bead))
        shared = [key for key in keys if all(key in column.by_bead for _report, column in present)]
        counts = [
            (sum(column.by_bead[key][0] for key in shared), sum(column.by_bead[key][1] for key in shared))
            for _report, column in present
        ]
        totals = [
            _total(report.label, passed, runs, column.walls)
            for (report, column), (passed, runs) in zip(present, counts, strict=True)
        ]
        differences = []
        for (report, _column), later in zip(present[1:], counts[1:], strict=True):
            found = difference(later, counts[0])
            if found is None:
                continue
            gap, (low, high) = found
            differences.append(
                {
                    "report": report.label,
                    "against": present[0][0].label,
                    "points": round(100 * gap, 1),
                    "interval": [round(100 * low, 1), round(100 * high, 1)],
                    "beyond_sampling": low > 0 or high < 0,
                }
            )
        out.append(
            {
                "model": label,
                "reports": [report.label for report, _column in present],
                "beads": {
                    key: [list(column.by_bead[key]) if key in column.by_bead else None for _report, column in present]
                    for key in keys
                },
                "shared": shared,
                "totals": totals,
                "differences": differences,
            }
        )
    return {
        "suite": reports[0].suite if reports else None,
        "reports": [
            {"label": r.label, "path": str(r.path), "role": r.role, "repeat": r.repeat, "interrupted": r.interrupted}
            for r in reports
        ],
        "models": out,
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


def render(data: Mapping[str, Any]) -> str:
    """The comparison as text: a table per model, then each difference in a sentence."""
    rows = [f"suite {data['suite']}: " + ", ".join(_described(r) for r in data["reports"])]
    for model in data["models"]:
        labels = model["reports"]
        width = max(12, *(len(label) for label in labels))
        keys = list(model["beads"])
        first = max(18, *(len(key) for key in keys)) if keys else 18
        rows += ["", model["model"], f"  {'bead':<{first}} " + " ".join(f"{label:>{width}}" for label in labels)]
        for key, cells in model["beads"].items():
            shown = [f"{cell[0]}/{cell[1]}" if cell else "-" for cell in cells]
            left_out = "" if key in model["shared"] else "  (not in every report: left out of the totals)"
            rows.append(f"  {key:<{first}} " + " ".join(f"{cell:>{width}}" for cell in shown) + left_out)
        totals = model["totals"]
        for name, cells in (
            ("passed", [f"{t['passed']}/{t['runs']}" for t in totals]),
            ("rate", [_percent(t["rate"]) for t in totals]),
            ("95% interval", [_span(t["interval"]) for t in totals]),
            ("median s", ["-" if t["median_wall_s"] is None else f"{t['median_wall_s']:.1f}" for t in totals]),
        ):
            rows.append(f"  {name:<{first}} " + " ".join(f"{cell:>{width}}" for cell in cells))
        for d in model["differences"]:
            low, high = d["interval"]
            verdict = (
                "more than sampling alone gives"
                if d["beyond_sampling"]
                else "within what sampling alone gives: run more repeats to tell"
            )
            rows.append(
                f"  {d['report']} against {d['against']}: {d['points']:+.1f} points "
                f"(95% interval {low:+.1f} to {high:+.1f}), {verdict}"
            )
    return "\n".join(rows)


def _described(report: Mapping[str, Any]) -> str:
    extra = [f"{report['repeat']} repeats"] if report["repeat"] > 1 else []
    if report["interrupted"]:
        extra.append("interrupted")
    return str(report["label"]) + (f" ({', '.join(extra)})" if extra else "")


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def _span(interval: Sequence[float] | None) -> str:
    return "-" if not interval else f"{interval[0]:.0%}-{interval[1]:.0%}"
