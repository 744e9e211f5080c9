"""What the work cost: cloud dollars, local energy, and the same work priced as pure cloud.

Read from the tasks history: every complete/fail commit carries the tokens, model time
and energy of its bead (``Model-Usage:`` per model, else ``Model``/``Tokens-In``/
``Tokens-Out``/``Model-Seconds``/``Energy-Joules``). Cloud models cost their roster
price per million tokens; local models cost their energy (measured through NVML, else
their configured watts × model time) × the price per kWh. The comparison prices every
token at one cloud model, so the table answers the AeroBeat plan's question: what did
hybrid save, or cost, against pure cloud.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gastown.town import events
from gastown.town.config import MachineConfig
from gastown.town.history import Entry
from gastown.town.roster import Roster

JOULES_PER_KWH = 3.6e6


@dataclass
class Usage:
    """One bead's use of one model."""

    role: str
    model: str
    tokens_in: int
    tokens_out: int
    seconds: float
    energy_j: float | None  # None: not measured (priced from configured watts)
    bead: str = ""
    time: int = 0


@dataclass
class Line:
    role: str
    model: str
    beads: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
    cloud_dollars: float = 0.0
    kwh: float = 0.0
    energy_dollars: float = 0.0
    as_cloud_dollars: float = 0.0
    estimated_energy: bool = False

    @property
    def dollars(self) -> float:
        return self.cloud_dollars + self.energy_dollars


@dataclass
class Report:
    lines: list[Line] = field(default_factory=list)
    compare_to: str = ""
    price_per_kwh: float = 0.0

    def total(self) -> Line:
        total = Line("all", "all")
        for line in self.lines:
            for key in (
                "beads",
                "tokens_in",
                "tokens_out",
                "seconds",
                "cloud_dollars",
                "kwh",
                "energy_dollars",
                "as_cloud_dollars",
            ):
                setattr(total, key, getattr(total, key) + getattr(line, key))
            total.estimated_energy |= line.estimated_energy
        return total

    def to_dict(self) -> dict[str, Any]:
        total = self.total()
        return {
            "compare_to": self.compare_to,
            "price_per_kwh": self.price_per_kwh,
            "lines": [_line_dict(line) for line in self.lines],
            "total": _line_dict(total),
            "hybrid_dollars": round(total.dollars, 6),
            "pure_cloud_dollars": round(total.as_cloud_dollars, 6),
            "saved_dollars": round(total.as_cloud_dollars - total.dollars, 6),
        }


def _line_dict(line: Line) -> dict[str, Any]:
    return {
        "role": line.role,
        "model": line.model,
        "beads": line.beads,
        "tokens_in": line.tokens_in,
        "tokens_out": line.tokens_out,
        "seconds": round(line.seconds, 3),
        "cloud_dollars": round(line.cloud_dollars, 6),
        "kwh": round(line.kwh, 6),
        "energy_dollars": round(line.energy_dollars, 6),
        "dollars": round(line.dollars, 6),
        "as_cloud_dollars": round(line.as_cloud_dollars, 6),
        "estimated_energy": line.estimated_energy,
    }


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def usages(entries: Iterable[Entry], roles: Mapping[str, str] | None = None) -> list[Usage]:
    """Model use per bead from complete/fail commits (``roles`` maps bead -> role as fallback)."""
    found = []
    for entry in entries:
        if entry.event not in (events.COMPLETE, events.FAIL):
            continue
        pairs = entry.trailers
        bead = (entry.beads or [""])[0]
        role = events.first(pairs, "Role") or (roles or {}).get(bead, "?")
        per_model = events.every(pairs, "Model-Usage")
        if per_model:
            for text in per_model:
                name, _, rest = text.partition(" ")
                values = dict(part.split("=", 1) for part in rest.split() if "=" in part)
                found.append(
                    Usage(
                        role,
                        name,
                        int(float(values.get("tokens_in", 0))),
                        int(float(values.get("tokens_out", 0))),
                        float(values.get("model_s", 0)),
                        _number(values.get("energy_j")),
                        bead,
                        entry.time,
                    )
                )
            continue
        model = events.first(pairs, "Model")
        if not model:
            continue
        found.append(
            Usage(
                role,
                model.split(",")[0].strip(),
                int(_number(events.first(pairs, "Tokens-In")) or 0),
                int(_number(events.first(pairs, "Tokens-Out")) or 0),
                _number(events.first(pairs, "Model-Seconds")) or 0.0,
                _number(events.first(pairs, "Energy-Joules")),
                bead,
                entry.time,
            )
        )
    return found


def price(
    runs: Iterable[Usage],
    roster: Roster,
    machine: MachineConfig,
    price_per_kwh: float,
    compare_to: str,
) -> Report:
    """The report: per role and model, and the same tokens priced at ``compare_to``."""
    compare = roster.model(compare_to)
    lines: dict[tuple[str, str], Line] = {}
    beads: dict[tuple[str, str], set[str]] = {}
    for run in runs:
        key = (run.role, run.model)
        line = lines.setdefault(key, Line(run.role, run.model))
        beads.setdefault(key, set()).add(run.bead)
        line.tokens_in += run.tokens_in
        line.tokens_out += run.tokens_out
        line.seconds += run.seconds
        line.as_cloud_dollars += compare.price(run.tokens_in, run.tokens_out)
        spec = roster.models.get(run.model)
        if spec is None or not spec.local:
            prices = spec or compare
            line.cloud_dollars += prices.price(run.tokens_in, run.tokens_out)
            continue
        joules = run.energy_j
        if joules is None:
            watts = spec.power_watts or machine.watts_for(spec.device) or 0.0
            joules = watts * run.seconds
            line.estimated_energy = True
        kwh = joules / JOULES_PER_KWH
        line.kwh += kwh
        line.energy_dollars += kwh * price_per_kwh
    for key, line in lines.items():
        line.beads = len(beads[key])
    ordered = sorted(lines.values(), key=lambda line: (line.role, line.model))
    return Report(ordered, compare_to, price_per_kwh)


def render(report: Report) -> str:
    header = (
        f"{'role':<10} {'model':<24} {'beads':>5} {'tokens in':>10} {'tokens out':>10} {'time':>8} "
        f"{'cloud $':>9} {'kWh':>9} {'energy $':>9} {'total $':>9} {'as ' + report.compare_to + ' $':>16}"
    )
    rows = [header, "-" * len(header)]
    for line in [*report.lines, report.total()]:
        mark = "*" if line.estimated_energy else " "
        rows.append(
            f"{line.role:<10} {line.model:<24} {line.beads:>5} {line.tokens_in:>10} {line.tokens_out:>10} "
            f"{line.seconds:>7.1f}s {line.cloud_dollars:>9.4f} {line.kwh:>8.5f}{mark} {line.energy_dollars:>9.4f} "
            f"{line.dollars:>9.4f} {line.as_cloud_dollars:>16.4f}"
        )
    data = report.to_dict()
    saved = data["saved_dollars"]
    verdict = "saved" if saved >= 0 else "cost"
    rows.append("")
    rows.append(
        f"hybrid ${data['hybrid_dollars']:.4f} vs pure cloud ({report.compare_to}) ${data['pure_cloud_dollars']:.4f}: "
        f"hybrid {verdict} ${abs(saved):.4f}  (energy at ${report.price_per_kwh}/kWh"
        + ("; * = estimated from configured watts" if report.total().estimated_energy else "")
        + ")"
    )
    return "\n".join(rows)


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(_line_dict(report.total())))
    writer.writeheader()
    for line in [*report.lines, report.total()]:
        writer.writerow(_line_dict(line))
    return out.getvalue()


def dearest_cloud(roster: Roster) -> str | None:
    """The default model to price the work at: the roster's dearest cloud model (None without one)."""
    clouds = sorted(
        (s for s in roster.models.values() if not s.local),
        key=lambda s: -(s.price_in_per_mtok + s.price_out_per_mtok),
    )
    return clouds[0].name if clouds else None
