"""Budget changes: an event set when what the machine can admit may have changed.

A watcher whose bead waits for room sleeps until then, not on a timer. The budget moves
when the governor's state file is written (a reservation made, handed over or released),
when a server gastown runs starts or stops (its record in the runner's folder), when a
request to one starts or ends (its ``.busy`` marker), and when a process holding a
reservation or a request exits — seen through a pidfd per process, so a ``kill -9``'d
server or watcher wakes the waiter at once. Where pidfds do not exist (not Linux, or a
kernel before 5.3) the processes are re-read every ``REFRESH_S`` and a changed set counts
as a change.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from gastown.machine.governor import Governor
from gastown.machine.runner import Runner

if TYPE_CHECKING:
    from watchdog.observers.api import BaseObserver

log = logging.getLogger(__name__)

REFRESH_S = 5.0  # how often the set of holders is re-read (and, without pidfds, compared)
MOVES = (".json", ".busy")  # a reservation or a server's record written; a request started or ended


class BudgetWatch:
    """Sets ``event`` whenever the machine's budget may have changed, until ``stop()``."""

    def __init__(self, governor: Governor, runner: Runner, event: threading.Event) -> None:
        self.governor = governor
        self.runner = runner
        self.folders: list[Path] = [governor.path.parent, runner.folder]
        self.event = event
        self._stop = threading.Event()
        self._poke_r, self._poke_w = os.pipe()  # wakes the holders' thread to re-read them, or to end
        self._observer: BaseObserver | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> BudgetWatch:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        watch = self

        class Moved(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return
                path = str(getattr(event, "dest_path", "") or event.src_path)
                if path.endswith(MOVES):
                    watch.event.set()
                    with suppress(OSError):  # stopped meanwhile
                        os.write(watch._poke_w, b"r")  # new processes to follow

        observer = Observer()
        for folder in self.folders:
            folder.mkdir(parents=True, exist_ok=True)
            observer.schedule(Moved(), str(folder), recursive=False)
        observer.daemon = True
        observer.start()
        self._observer = observer
        self._thread = threading.Thread(target=self._follow_holders, name="budget-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        os.write(self._poke_w, b"x")
        if self._observer is not None:
            self._observer.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for fd in (self._poke_r, self._poke_w):
            os.close(fd)

    def _follow_holders(self) -> None:
        """Wait on the exits of the processes holding reservations or requests (or, without
        pidfds, on their set changing)."""
        before: set[int] | None = None
        while not self._stop.is_set():
            holders = {r.pid for r in self.governor.held()} | self.runner.users()
            if before is not None and holders != before and not hasattr(os, "pidfd_open"):
                self.event.set()
            before = holders
            handles = []
            for pid in holders:
                try:
                    handles.append(os.pidfd_open(pid))
                except ProcessLookupError:
                    self.event.set()  # gone already: its share comes back
                except (AttributeError, OSError):
                    break  # no pidfds here: compare the holders at each refresh instead
            try:
                ready, _, _ = select.select([self._poke_r, *handles], [], [], REFRESH_S)
            finally:
                for fd in handles:
                    os.close(fd)
            if self._poke_r in ready:
                os.read(self._poke_r, 64)
            if any(fd != self._poke_r for fd in ready):
                self.event.set()
