"""Wake-ups: a watchdog observer that sets an event when a commit on ``tasks`` may have landed.

A wake-up is not data: the handler only sets the event, ignores reads (``opened``,
``closed_no_write``) and names other than the branch's; the loop it wakes re-reads the ref.
On one machine it watches the git directory (the branch's loose ref, ``packed-refs``, the
reflog) and the post-receive nudge file in the state folder; for a town shared through a
remote, also the remote's own folder when it is on this machine. A remote elsewhere has no
folder to watch: ``start`` returns None, and the caller fetches on a short interval that
backs off while nothing happens.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from gastown.town.town import Town

if TYPE_CHECKING:
    from watchdog.observers.api import BaseObserver

# What a commit on tasks writes: the loose ref (through its lock), packed refs, the nudge file.
MOVES = ("tasks", "packed-refs", "nudge", "tasks.lock")


def _folders(town: Town, follow_remote: bool = True) -> list[Path] | None:
    """The folders a commit on tasks writes to (None: the remote is elsewhere, poll it)."""
    found = [town.git_dir, town.git_dir / "refs" / "heads", town.state_dir]
    if town.remote is not None and follow_remote:
        local = town.remote_folder()
        if local is None:
            return None
        found += [local, local / "refs" / "heads", local / "gastown"]
    return found


def start(town: Town, wake: threading.Event, follow_remote: bool = True) -> BaseObserver | None:
    """A started observer that sets ``wake`` on commits to tasks (``stop()`` it), or None: poll.

    ``follow_remote=False`` watches this machine's folders only, for a loop that reads the
    local branch and never fetches.
    """
    watched = _folders(town, follow_remote)
    if watched is None:
        return None
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    class Nudged(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            if event.event_type in ("opened", "closed_no_write"):
                return  # a wake-up is a write; reads are noise
            path = str(getattr(event, "dest_path", "") or event.src_path)
            if path.endswith(MOVES):
                wake.set()

    _quiet_stop_race()
    observer = Observer()
    for folder in watched:
        folder.mkdir(parents=True, exist_ok=True)
        observer.schedule(Nudged(), str(folder), recursive=False)
    logs = town.git_dir / "logs" / "refs" / "heads"
    if logs.is_dir():
        observer.schedule(Nudged(), str(logs), recursive=False)
    observer.daemon = True
    observer.start()
    return observer


def _quiet_stop_race() -> None:
    """Drop the one error line watchdog's inotify thread logs when the observer is stopped
    while it reads (``queue_events() called when the thread is inactive``): a race inside
    watchdog that loses nothing, where a person would read it as a fault of the watcher."""
    logger = logging.getLogger("watchdog.observers.inotify")
    if not any(isinstance(f, _StopRace) for f in logger.filters):
        logger.addFilter(_StopRace())


class _StopRace(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "called when the thread is inactive" not in record.getMessage()
