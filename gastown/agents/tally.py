"""What one bead's loop used, and its trace.

The tally counts tokens, model and tool time, decode and prefill speeds, every attempted
tool call (failed ones included, so a failure rate stays a rate), repeats and energy; it
renders them as the result fields a worker reports. The trace is every request, reply,
tool call and timing as JSON lines outside the tasks branch, secrets redacted.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gastown.machine.providers import Reply
from gastown.town.secrets import Secrets


class Trace:
    """The bead's full trace as JSON lines, outside the tasks branch."""

    def __init__(self, path: Path, secrets: Secrets) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._secrets = secrets
        self._file = path.open("a", encoding="utf-8")
        self._started = time.monotonic()

    def write(self, kind: str, **data: Any) -> None:
        record = {"t": round(time.monotonic() - self._started, 4), "kind": kind, **data}
        line = self._secrets.redact(json.dumps(record, ensure_ascii=False, default=str))
        self._file.write(line + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


@dataclass
class Tally:
    """What the loop used: tokens, time, tool calls (every attempted call, failed ones included)."""

    tokens_in: int = 0
    tokens_out: int = 0
    model_s: float = 0.0
    prefill: list[float] = field(default_factory=list)  # the server's own prefill figures
    prefill_guessed: list[float] = field(default_factory=list)  # tokens in over the time to the first token
    decode: list[float] = field(default_factory=list)
    cached: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    recovered: int = 0
    models: list[str] = field(default_factory=list)
    tools_s: float = 0.0
    tests_s: float = 0.0
    meters: set[Any] = field(default_factory=set)
    loops: int = 0  # repeats pointed out to the model
    refused: int = 0  # finish calls refused because the done condition did not hold
    stuck: str = ""  # what the model kept repeating, when that ended the loop
    tries: int = 1  # the bead's tries: a line's ask, or a fresh start of the conversation (see tries)

    by_model: dict[str, dict[str, float]] = field(default_factory=dict)

    def add(self, reply: Reply, joules: float = 0.0) -> None:
        usage = reply.usage
        row = self.by_model.setdefault(reply.model, {"tokens_in": 0, "tokens_out": 0, "model_s": 0.0, "energy_j": 0.0})
        row["tokens_in"] += usage.tokens_in
        row["tokens_out"] += usage.tokens_out
        row["model_s"] += usage.seconds
        row["energy_j"] += joules
        self.tokens_in += usage.tokens_in
        self.tokens_out += usage.tokens_out
        self.model_s += usage.seconds
        self.cached += usage.cached_tokens or 0
        if usage.prefill_tps and usage.prefill_timed:
            self.prefill.append(usage.prefill_tps)
        elif usage.prefill_tps:
            self.prefill_guessed.append(usage.prefill_tps)
        if usage.decode_rate:
            self.decode.append(usage.decode_rate)
        if reply.model not in self.models:
            self.models.append(reply.model)

    def prefill_tps(self) -> float | None:
        """The bead's prompt speed: the mean of the server's own figures; without them, the
        slowest call's tokens over its time to the first token — the call that paid the most
        of its prompt (a fresh try's prompt, cached but for its note, came out at 11,000
        tokens a second on two cores)."""
        if self.prefill:
            return round(sum(self.prefill) / len(self.prefill), 2)
        return round(min(self.prefill_guessed), 2) if self.prefill_guessed else None

    def attempt(self, name: str, ok: bool = True) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if not ok:
            self.failed += 1

    def result(self, started: float, trace: Trace, model: str) -> dict[str, Any]:
        """The result fields a worker reports: tokens, speeds, time, tool calls, energy."""

        def mean(values: list[float]) -> float | None:
            return round(sum(values) / len(values), 2) if values else None

        data: dict[str, Any] = {
            "model": ", ".join(self.models) or model,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "wall_s": round(time.monotonic() - started, 3),
            "model_s": round(self.model_s, 3),
            "tools_s": round(self.tools_s, 3),
            "tests_s": round(self.tests_s, 3),
            "tool_calls": dict(self.calls),
            "tool_calls_failed": self.failed,
            "tool_calls_recovered": self.recovered,
            "loops": self.loops,
            "tries": self.tries,
            "trace": str(trace.path),
        }
        if self.cached:
            data["cached_tokens"] = self.cached
        for key, value in (
            ("prefill_tps", self.prefill_tps()),
            ("decode_tps", mean(self.decode)),
        ):
            if value is not None:
                data[key] = value
        data["by_model"] = {
            name: {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}
            for name, row in self.by_model.items()
        }
        joules = sum(m.joules for m in self.meters)
        sources = {m.source for m in self.meters if m.source}
        if sources:
            data["energy_j"] = round(joules, 3)
            data["energy_source"] = sources.pop() if len(sources) == 1 else "mixed"
        return data
