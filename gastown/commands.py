"""Commands a bead runs: each in its own process group, timed, its group killed on timeout,
and every group a stopping watcher must end kept in ``CHILDREN``; and the test counts read
from what a test runner printed.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

OUTPUT_LIMIT = 12000


def tail(text: str, limit: int = OUTPUT_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return f"[... {len(text) - limit} characters cut ...]\n" + text[-limit:]


class Children:
    """Process groups started by tools, so a stopping watcher can end them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pids: set[int] = set()

    def add(self, pid: int) -> None:
        with self._lock:
            self._pids.add(pid)

    def discard(self, pid: int) -> None:
        with self._lock:
            self._pids.discard(pid)

    def kill_all(self) -> None:
        with self._lock:
            pids = list(self._pids)
        for pid in pids:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


CHILDREN = Children()


@dataclass(frozen=True)
class Run:
    """A finished command."""

    argv: tuple[str, ...]
    exit_code: int
    output: str
    timed_out: bool = False


def run_command(argv: Sequence[str], cwd: Path, timeout: float, env: Mapping[str, str]) -> Run:
    """Run ``argv`` in its own process group; kill the whole group on timeout."""
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
        )
    except FileNotFoundError:
        return Run(tuple(argv), 127, f"{argv[0]}: command not found")
    except OSError as error:
        return Run(tuple(argv), 126, f"{argv[0]}: {error.strerror}")
    CHILDREN.add(proc.pid)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return Run(tuple(argv), proc.returncode, out.decode(errors="replace"))
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, _ = proc.communicate()
        return Run(tuple(argv), -9, out.decode(errors="replace"), timed_out=True)
    finally:
        CHILDREN.discard(proc.pid)


_COUNT_RE = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)\b")
_GUT_RE = re.compile(r"^\s*(Passing|Failing|Pending|Errors?)(?: Tests)?\s*[:=]?\s*(\d+)", re.MULTILINE)


def count_tests(output: str) -> dict[str, int]:
    """passed / failed / errors / skipped counted from pytest's or GUT's summary."""
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    found = False
    for number, word in _COUNT_RE.findall(output):
        key = {
            "error": "errors",
            "xfailed": "skipped",
            "xpassed": "passed",
            "deselected": "skipped",
        }.get(word, word)
        if key in counts:
            counts[key] = int(number)  # the last summary line wins
            found = True
    if not found:
        for word, number in _GUT_RE.findall(output):
            key = {"Passing": "passed", "Failing": "failed", "Pending": "skipped"}.get(word, "errors")
            counts[key] = int(number)
    return counts
