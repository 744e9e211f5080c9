"""Commit messages on the tasks branch: the event log.

A subject a person reads in ``git log --oneline``::

    claim gt-3k9x2 polecat@host-1: Add beat scoring

and git trailers a program reads (``git log --format='%(trailers)'``)::

    Bead: gt-3k9x2
    Event: claim
    Agent: polecat@host-1
    Role: polecat
    Generation: 3
    Lease-Expires: 2026-11-23T07:05:00.000Z

The trailer keys are the names metrics and cost observe; README.md lists them all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

INIT = "init"
ADD = "add"
EDIT = "edit"
CLAIM = "claim"
RENEW = "renew"
RELEASE = "release"
COMPLETE = "complete"
FAIL = "fail"
RETRY = "retry"
CONFIG = "config"
CONVOY = "convoy"
MANUAL = "manual"  # a commit pushed by a person, with no Event trailer

# Result fields that become trailers of complete/fail commits (metrics read these).
RESULT_TRAILERS = {
    "outcome": "Outcome",
    "model": "Model",
    "model_choice": "Model-Choice",
    "tokens_in": "Tokens-In",
    "tokens_out": "Tokens-Out",
    "prefill_tps": "Prefill-TPS",
    "decode_tps": "Decode-TPS",
    "wall_s": "Wall-Seconds",
    "model_s": "Model-Seconds",
    "tool_calls_failed": "Tool-Calls-Failed",
    "tool_calls_recovered": "Tool-Calls-Recovered",
    "branch": "Branch",
    "trace": "Trace",
    "energy_j": "Energy-Joules",
    "energy_source": "Energy-Source",
    "tools_s": "Tools-Seconds",
    "tests_s": "Tests-Seconds",
    "loops": "Loops",
    "stuck": "Stuck",
}

SUBJECT_LIMIT = 100
_TRAILER_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*): ?(.*)$")


@dataclass(frozen=True)
class Event:
    """One change to the tasks branch, rendered as a commit message."""

    kind: str
    beads: tuple[str, ...] = ()
    agent: str | None = None
    summary: str = ""
    trailers: tuple[tuple[str, str], ...] = ()

    def subject(self) -> str:
        if len(self.beads) == 1:
            head = f"{self.kind} {self.beads[0]}"
        elif self.beads:
            head = f"{self.kind} {len(self.beads)} beads"
        else:
            head = self.kind
        if self.agent:
            head += f" {self.agent}"
        text = f"{head}: {self.summary}" if self.summary else head
        text = " ".join(text.split())
        return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 3] + "..."

    def all_trailers(self) -> list[tuple[str, str]]:
        pairs = [("Bead", b) for b in self.beads]
        pairs.append(("Event", self.kind))
        if self.agent:
            pairs.append(("Agent", self.agent))
        pairs.extend(self.trailers)
        return pairs

    def message(self, body: str = "") -> str:
        lines = [self.subject(), ""]
        if body.strip():
            lines += [body.strip(), ""]
        lines += [f"{key}: {_one_line(value)}" for key, value in self.all_trailers()]
        return "\n".join(lines) + "\n"


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def trailer_pairs(items: Iterable[tuple[str, object]]) -> tuple[tuple[str, str], ...]:
    """Trailers from ``(key, value)`` pairs, dropping the ones whose value is None."""
    return tuple((key, _one_line(value)) for key, value in items if value is not None)


def result_trailers(result: Mapping[str, Any] | None) -> list[tuple[str, object]]:
    """The trailers a result contributes (tokens, tests, tools ...): what metrics read."""
    if not result:
        return []
    pairs: list[tuple[str, object]] = []
    for key, trailer in RESULT_TRAILERS.items():
        value = result.get(key)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            pairs.append((trailer, value))
    tests = result.get("tests")
    if isinstance(tests, Mapping):
        for key in ("passed", "failed", "errors"):
            if isinstance(tests.get(key), int):
                pairs.append((f"Tests-{key.capitalize()}", tests[key]))
    calls = result.get("tool_calls")
    if isinstance(calls, Mapping):
        total = sum(v for v in calls.values() if isinstance(v, int))
        pairs.append(("Tool-Calls", total))
        for name, count in sorted(calls.items()):
            pairs.append(("Tool-Call", f"{name}={count}"))
    for commit in result.get("commits") or ():
        pairs.append(("Commit", commit))
    by_model = result.get("by_model")
    if isinstance(by_model, Mapping):
        for name, row in sorted(by_model.items()):
            if isinstance(row, Mapping):
                fields = " ".join(
                    f"{k}={row[k]}" for k in ("tokens_in", "tokens_out", "model_s", "energy_j") if k in row
                )
                pairs.append(("Model-Usage", f"{name} {fields}"))
    return pairs


def parse_trailers(message: str) -> list[tuple[str, str]]:
    """The ``Key: value`` lines of a message's last paragraph, in order."""
    paragraphs = [p for p in message.strip().split("\n\n") if p.strip()]
    if len(paragraphs) < 2:
        return []
    pairs = []
    for line in paragraphs[-1].splitlines():
        match = _TRAILER_RE.match(line.strip())
        if match is None:
            return []  # git only treats an all-trailer paragraph as trailers
        pairs.append((match.group(1), match.group(2).strip()))
    return pairs


def first(pairs: Sequence[tuple[str, str]], key: str) -> str | None:
    """The first value of trailer ``key``."""
    for name, value in pairs:
        if name.lower() == key.lower():
            return value
    return None


def every(pairs: Sequence[tuple[str, str]], key: str) -> list[str]:
    """All values of trailer ``key``, in order."""
    return [value for name, value in pairs if name.lower() == key.lower()]
