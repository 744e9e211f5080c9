"""What the seed's dashboards show, derived from the tasks history alone.

Orchestrator: decisions (plans and Mayor decisions), planned workers, dependency blocks
(beads that had to wait on another), worker failure rate, recoveries. Tool calls: total,
failed, failure rate, distinct tools, per tool. Models: tokens in and out, and decode
tokens/s. Any of it per convoy, role, model and time window.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gastown.town import events
from gastown.town.history import Entry
from gastown.town.index import Entry as IndexEntry


@dataclass(frozen=True)
class Scope:
    convoy: str | None = None
    role: str | None = None
    model: str | None = None
    since: float | None = None


@dataclass
class ModelTally:
    tokens_in: int = 0
    tokens_out: int = 0
    decode_tps: list[float] = field(default_factory=list)


@dataclass
class Metrics:
    decisions: int = 0
    planned_workers: int = 0
    dependency_blocks: int = 0
    claims: int = 0
    completes: int = 0
    fails: int = 0
    recoveries: int = 0
    tool_calls: int = 0
    tool_calls_failed: int = 0
    tool_calls_recovered: int = 0
    loops: int = 0  # repeats the loop pointed out to a model
    stuck: int = 0  # beads ended because the model kept repeating itself
    per_tool: Counter[str] = field(default_factory=Counter)
    tokens: dict[str, ModelTally] = field(default_factory=dict)

    @property
    def worker_failure_rate(self) -> float:
        finished = self.completes + self.fails
        return self.fails / finished if finished else 0.0

    @property
    def tool_failure_rate(self) -> float:
        """Failed calls over attempted calls (each result counts its failures among its calls)."""
        return min(1.0, self.tool_calls_failed / self.tool_calls) if self.tool_calls else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "orchestrator": {
                "decisions": self.decisions,
                "planned_workers": self.planned_workers,
                "dependency_blocks": self.dependency_blocks,
                "worker_failure_rate": round(self.worker_failure_rate, 4),
                "recoveries": self.recoveries,
                "claims": self.claims,
                "completed": self.completes,
                "failed": self.fails,
            },
            "tool_calls": {
                "total": self.tool_calls,
                "failed": self.tool_calls_failed,
                "failure_rate": round(self.tool_failure_rate, 4),
                "recovered_from_text": self.tool_calls_recovered,
                "distinct_tools": len(self.per_tool),
                "per_tool": dict(self.per_tool.most_common()),
            },
            "loops": {"pointed_out": self.loops, "stuck": self.stuck},
            "models": {
                name: {
                    "tokens_in": row.tokens_in,
                    "tokens_out": row.tokens_out,
                    "decode_tps": round(sum(row.decode_tps) / len(row.decode_tps), 2) if row.decode_tps else None,
                }
                for name, row in sorted(self.tokens.items())
            },
        }


def _int(text: str | None) -> int:
    try:
        return int(float(text)) if text else 0
    except ValueError:
        return 0


def of_index(records: Iterable[Entry], index: Iterable[IndexEntry], scope: Scope = Scope()) -> Metrics:
    """The metrics of ``records`` within ``scope``, the beads' convoys, roles and blocks
    read from the branch's index (what ``gt metrics`` and ``gt serve`` show)."""
    beads = list(index)
    convoys = {e.id: e.convoy for e in beads}
    return compute(records, convoys, {e.id: e.role for e in beads}, [e.id for e in beads if e.blocks], scope)


def compute(
    records: Iterable[Entry],
    bead_convoy: Mapping[str, str | None],
    bead_role: Mapping[str, str],
    blocked_beads: Iterable[str],
    scope: Scope = Scope(),
) -> Metrics:
    """The metrics of ``records`` within ``scope`` (bead maps come from the current index)."""
    found = Metrics()
    for record in records:
        if scope.since is not None and record.time < scope.since:
            continue
        beads = record.beads
        convoy = record.get("Convoy") or next((bead_convoy.get(b) for b in beads if bead_convoy.get(b)), None)
        role = record.get("Role") or next((bead_role.get(b) for b in beads if b in bead_role), None)
        model = (record.get("Model") or "").split(",")[0].strip() or None
        if scope.convoy is not None and convoy != scope.convoy:
            continue
        if scope.role is not None and role != scope.role and record.event not in ("plan", "decide"):
            continue
        if scope.model is not None and model != scope.model and record.event in (events.COMPLETE, events.FAIL):
            continue
        if scope.model is not None and record.event not in (events.COMPLETE, events.FAIL):
            continue
        _add(found, record, model)
    scoped = [
        b
        for b in blocked_beads
        if (scope.convoy is None or bead_convoy.get(b) == scope.convoy)
        and (scope.role is None or bead_role.get(b) == scope.role)
    ]
    found.dependency_blocks = len(scoped)
    return found


def _add(found: Metrics, record: Entry, model: str | None) -> None:
    kind = record.event
    if kind == "plan":
        found.decisions += 1
        found.planned_workers += _int(record.get("Planned"))
    elif kind == "decide":
        found.decisions += 1
        if record.get("Decision") == "release-expired":
            found.recoveries += 1
    elif kind == events.CLAIM:
        found.claims += 1
        if record.get("Recovery") == "yes":
            found.recoveries += 1
    elif kind in (events.COMPLETE, events.FAIL):
        if kind == events.COMPLETE:
            found.completes += 1
        else:
            found.fails += 1
        failed = _int(record.get("Tool-Calls-Failed"))
        # results written before every attempted call was counted left unusable calls out of the total
        found.tool_calls += max(_int(record.get("Tool-Calls")), failed)
        found.tool_calls_failed += failed
        found.loops += _int(record.get("Loops"))
        found.stuck += 1 if _int(record.get("Stuck")) else 0
        found.tool_calls_recovered += _int(record.get("Tool-Calls-Recovered"))
        for item in events.every(record.trailers, "Tool-Call"):
            name, _, count = item.partition("=")
            found.per_tool[name] += _int(count)
        if model:
            row = found.tokens.setdefault(model, ModelTally())
            row.tokens_in += _int(record.get("Tokens-In"))
            row.tokens_out += _int(record.get("Tokens-Out"))
            tps = record.get("Decode-TPS")
            if tps:
                try:
                    row.decode_tps.append(float(tps))
                except ValueError:
                    pass
    elif kind == "reject":
        found.fails += 1


def render(metrics: Metrics) -> str:
    data = metrics.to_dict()
    o, t = data["orchestrator"], data["tool_calls"]
    lines = [
        "orchestrator",
        f"  decisions            {o['decisions']}",
        f"  planned workers      {o['planned_workers']}",
        f"  dependency blocks    {o['dependency_blocks']}",
        f"  worker failure rate  {100 * o['worker_failure_rate']:.1f}%  "
        f"({o['failed']} failed of {o['completed'] + o['failed']})",
        f"  recoveries           {o['recoveries']}",
        "tool calls",
        f"  total                {t['total']}",
        f"  failed               {t['failed']}",
        f"  failure rate         {100 * t['failure_rate']:.2f}%",
        f"  distinct tools       {t['distinct_tools']}",
        f"  recovered from text  {t['recovered_from_text']}",
    ]
    for name, count in t["per_tool"].items():
        lines.append(f"    {name:<18} {count}")
    loops = data["loops"]
    lines += ["loops", f"  pointed out          {loops['pointed_out']}", f"  stuck beads          {loops['stuck']}"]
    if data["models"]:
        lines.append("models")
        for name, row in data["models"].items():
            tps = f"{row['decode_tps']} tok/s" if row.get("decode_tps") else "-"
            lines.append(f"  {name:<24} in {row['tokens_in']:>8}  out {row['tokens_out']:>8}  decode {tps}")
    return "\n".join(lines)
