"""``/metrics``: the town in the Prometheus text format, through ``prometheus_client``.

A custom collector answers each scrape from the reader: the bead counts of the tip, and
``gt metrics``'s and ``gt cost``'s figures over the whole history (counters, since the
history only grows; a rewritten history restarts them, as a process restart would). The
names, documented in docs/serve.md, are what the Grafana dashboard in docs/ plots.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from gastown.machine.cost import JOULES_PER_KWH, Report
from gastown.serve.reading import STATES, Reader

CONTENT_TYPE = CONTENT_TYPE_LATEST


class TownCollector(Collector):
    """Every gastown series, read fresh (or from the per-tip cache) at each scrape."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def collect(self) -> Iterator[Metric]:
        yield from self._beads()
        yield from self._agents()
        yield from self._history()

    def _beads(self) -> Iterator[Metric]:
        beads = GaugeMetricFamily(
            "gastown_beads", "Beads on the tasks branch by state and role.", labels=["state", "role"]
        )
        counts = self.reader.states()
        roles = sorted({role for _, role in counts})
        for role in roles:
            for state in STATES:  # every state of a role, zeros too, so a panel's series never vanish
                beads.add_metric([state, role], counts.get((state, role), 0))
        yield beads

    def _agents(self) -> Iterator[Metric]:
        now = time.time()
        claims = self.reader.claims(now)
        live = GaugeMetricFamily("gastown_claims_live", "Claimed beads whose lease has not expired.", labels=["role"])
        expired = GaugeMetricFamily(
            "gastown_claims_expired", "Claimed beads whose lease has expired (reclaimable).", labels=["role"]
        )
        by_role: dict[tuple[str, bool], int] = {}
        for claim in claims:
            key = (claim["role"], claim["left"] is not None and claim["left"] <= 0)
            by_role[key] = by_role.get(key, 0) + 1
        for (role, gone), n in sorted(by_role.items()):
            (expired if gone else live).add_metric([role], n)
        yield live
        yield expired
        watchers = GaugeMetricFamily(
            "gastown_watchers", "Watchers with a heartbeat on this machine.", labels=["role", "alive"]
        )
        seen: dict[tuple[str, str], int] = {}
        for watcher in self.reader.watchers():
            key = (watcher.role, "true" if watcher.alive else "false")
            seen[key] = seen.get(key, 0) + 1
        for (role, alive), n in sorted(seen.items()):
            watchers.add_metric([role, alive], n)
        yield watchers

    def _history(self) -> Iterator[Metric]:
        panels = self.reader.panels()
        found = panels.metrics

        def counter(name: str, text: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(name, text, value=value)

        yield counter("gastown_decisions", "Orchestrator decisions: plans and Mayor decisions.", found.decisions)
        yield counter("gastown_planned_workers", "Beads the Mayor's plans asked for.", found.planned_workers)
        yield GaugeMetricFamily(
            "gastown_dependency_blocks", "Beads that wait on another bead.", value=found.dependency_blocks
        )
        yield counter("gastown_claims", "Claims of beads by watchers.", found.claims)
        yield counter("gastown_recoveries", "Beads taken back from a dead worker (expired leases).", found.recoveries)
        results = CounterMetricFamily("gastown_bead_results", "Finished attempts by outcome.", labels=["outcome"])
        results.add_metric(["done"], found.completes)
        results.add_metric(["failed"], found.fails)
        yield results
        yield GaugeMetricFamily(
            "gastown_worker_failure_ratio", "Failed attempts over finished attempts.", value=found.worker_failure_rate
        )
        per_tool = CounterMetricFamily("gastown_tool_calls", "Attempted tool calls by tool.", labels=["tool"])
        for tool, n in sorted(found.per_tool.items()):
            per_tool.add_metric([tool], n)
        yield per_tool
        outcomes = CounterMetricFamily(
            "gastown_tool_call_outcomes",
            "Attempted tool calls by outcome (the history counts failures per bead, not per tool).",
            labels=["outcome"],
        )
        outcomes.add_metric(["ok"], max(0, found.tool_calls - found.tool_calls_failed))
        outcomes.add_metric(["failed"], found.tool_calls_failed)
        yield outcomes
        yield counter(
            "gastown_tool_calls_recovered", "Tool calls recovered from a model's text.", found.tool_calls_recovered
        )
        yield counter("gastown_loops_pointed_out", "Repeats the loop pointed out to a model.", found.loops)
        yield counter("gastown_stuck_beads", "Beads ended because the model kept repeating itself.", found.stuck)
        tokens = CounterMetricFamily(
            "gastown_model_tokens", "Tokens by model and direction.", labels=["model", "direction"]
        )
        speed = GaugeMetricFamily(
            "gastown_model_decode_tokens_per_second", "Mean decode speed of a model's beads.", labels=["model"]
        )
        for model, row in sorted(found.tokens.items()):
            tokens.add_metric([model, "in"], row.tokens_in)
            tokens.add_metric([model, "out"], row.tokens_out)
            if row.decode_tps:
                speed.add_metric([model], sum(row.decode_tps) / len(row.decode_tps))
        yield tokens
        yield speed
        yield from self._cost(panels.cost)

    def _cost(self, report: Report | None) -> Iterator[Metric]:
        labels = ["role", "model"]
        seconds = CounterMetricFamily("gastown_model_seconds", "Time spent in model calls.", labels=labels)
        energy = CounterMetricFamily(
            "gastown_energy_joules", "Energy of local models (measured, else configured watts x time).", labels=labels
        )
        dollars = CounterMetricFamily("gastown_cost_dollars", "What the work cost.", labels=[*labels, "kind"])
        as_cloud = CounterMetricFamily(
            "gastown_pure_cloud_cost_dollars",
            "The same tokens priced at the comparison cloud model (label compare_to).",
            labels=[*labels, "compare_to"],
        )
        for line in report.lines if report is not None else []:
            key = [line.role, line.model]
            seconds.add_metric(key, line.seconds)
            energy.add_metric(key, line.kwh * JOULES_PER_KWH)
            dollars.add_metric([*key, "cloud"], line.cloud_dollars)
            dollars.add_metric([*key, "energy"], line.energy_dollars)
            as_cloud.add_metric([*key, report.compare_to if report else ""], line.as_cloud_dollars)
        yield from (seconds, energy, dollars, as_cloud)


def registry_for(reader: Reader) -> CollectorRegistry:
    """A registry holding only the town's series (no process or platform collectors: the
    figures are the town's, whichever process serves them)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TownCollector(reader))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
