"""Liveness: a watcher's heartbeat, a file that expires, and ``check`` for ``gt watch --check``.

A running watcher rewrites ``<state>/watchers/<agent>.json`` between beads (as often as it
polls) and every HEARTBEAT_SECONDS while it works a bead (from its main thread, which waits
on the bead's worker: a model call of many minutes is busy, not dead or idle): its pid,
role, current bead, the model working it and since when, the beads it handed back because
no model fits them now (and why), and the time the beat expires. A watcher is
alive while its process runs and its last beat has not expired; the file is removed when
it exits.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gastown.machine.runner import pid_alive
from gastown.town.times import duration
from gastown.town.town import Town

HEARTBEAT_SECONDS = 5.0  # a busy watcher beats this often; the shortest interval an expiry allows for


def heartbeat_path(town: Town, agent: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in agent)
    return town.state_dir / "watchers" / f"{safe}.json"


def beat(
    town: Town,
    agent: str,
    role: str,
    bead: str | None,
    every: float,
    model: str | None = None,
    since: float | None = None,
    waiting: Mapping[str, str] | None = None,
) -> None:
    """Say that ``agent`` is alive (working ``bead`` with ``model`` since ``since``; ``waiting``:
    the beads it waits to fit, and why) and will beat again within ``every`` seconds."""
    path = heartbeat_path(town, agent)
    path.parent.mkdir(parents=True, exist_ok=True)
    heartbeat = {
        "pid": os.getpid(),
        "agent": agent,
        "role": role,
        "bead": bead,
        "model": model,
        "since": since,
        "waiting": dict(waiting or {}),
        "updated": time.time(),
        "expires": time.time() + max(every, HEARTBEAT_SECONDS) * 2 + 5,
    }
    tmp = path.with_suffix(f".{threading.get_ident()}.tmp")  # one writer's partial file per thread
    tmp.write_text(json.dumps(heartbeat))
    os.replace(tmp, path)


def clear(town: Town, agent: str) -> None:
    """The watcher ``agent`` has exited: remove its heartbeat."""
    heartbeat_path(town, agent).unlink(missing_ok=True)


def check(town: Town, agent: str) -> tuple[bool, str]:
    """Is the watcher ``agent`` alive? (``gt watch --check``)"""
    path = heartbeat_path(town, agent)
    try:
        heartbeat = json.loads(path.read_text())
    except (OSError, ValueError):
        return False, f"no heartbeat for {agent} at {path}"
    if not pid_alive(int(heartbeat.get("pid", 0))):
        return False, f"{agent}: its process {heartbeat.get('pid')} is gone"
    late = time.time() - float(heartbeat.get("expires", 0))
    if late > 0:
        return False, f"{agent}: heartbeat {late:.0f}s overdue"
    return True, f"{agent} alive (pid {heartbeat['pid']}): {doing(heartbeat)}"


def doing(heartbeat: Mapping[str, Any]) -> str:
    """What a heartbeat says its watcher does: ``working gt-x (model m, 3m12s)``, ``waiting
    for room: gt-y (why)``, ``idle``, or that its heartbeat is overdue (stuck)."""
    late = time.time() - float(heartbeat.get("expires", 0))
    if late > 0:
        return f"heartbeat {duration(late)} overdue: stuck? (gt watch --check says the same)"
    if heartbeat.get("bead"):
        details = [f"model {heartbeat['model']}"] if heartbeat.get("model") else []
        if heartbeat.get("since"):
            details.append(duration(time.time() - float(heartbeat["since"])))
        return f"working {heartbeat['bead']}" + (f" ({', '.join(details)})" if details else "")
    waiting = heartbeat.get("waiting") or {}
    if waiting:
        return "waiting for room: " + "; ".join(f"{bead} ({why})" for bead, why in sorted(waiting.items()))
    return "idle"


def beats(town: Town) -> list[dict[str, Any]]:
    """The heartbeats of this machine's live watchers (for ``gt status``)."""
    found = []
    for path in sorted((town.state_dir / "watchers").glob("*.json")):
        try:
            heartbeat = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(heartbeat, dict) and pid_alive(int(heartbeat.get("pid", 0))):
            found.append(heartbeat)
    return found
