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

REFRESH_S = 5.0  # how often the followed processes are re-read (and, without pidfds, compared)


class BudgetWatch:
    """Sets the armed event whenever the machine's budget may have changed, until ``stop()``.

    A request starting takes no room back, so it only adds a process to follow; a request
    ending, a record or reservation written, and a followed process exiting set the event.
    """

    def __init__(self, governor: Governor, runner: Runner) -> None:
        self.governor = governor
        self.runner = runner
        self.folders: list[Path] = [governor.path.parent, runner.folder]
        self._armed: threading.Event | None = None
        self._stop = threading.Event()
        self._poke_r, self._poke_w = os.pipe()  # wakes the follower to re-read, or to end
        os.set_blocking(self._poke_w, False)  # a full pipe already says "re-read"
        self._observer: BaseObserver | None = None
        self._thread: threading.Thread | None = None

    def arm(self, event: threading.Event) -> None:
        self._armed = event

    def disarm(self) -> None:
        self._armed = None

    def _fire(self) -> None:
        armed = self._armed
        if armed is not None:
            armed.set()

    def _poke(self) -> None:
        with suppress(OSError):  # full (a re-read is pending anyway), or closed by stop()
            os.write(self._poke_w, b"r")

    def start(self) -> BudgetWatch:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        watch = self

        class Moved(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                path = str(getattr(event, "dest_path", "") or event.src_path)
                if path.endswith(".busy"):
                    if event.event_type == "deleted":  # a use ended
                        watch._fire()
                    if event.event_type in ("created", "deleted"):
                        watch._poke()  # a process to follow, or one fewer
                elif path.endswith(".json") and event.event_type not in ("opened", "closed_no_write"):
                    watch._fire()  # a reservation, or a server's record, written
                    watch._poke()

        try:
            observer = Observer()
            for folder in self.folders:
                folder.mkdir(parents=True, exist_ok=True)
                observer.schedule(Moved(), str(folder), recursive=False)
            observer.daemon = True
            observer.start()
        except BaseException:
            self._close_pipe()
            raise
        self._observer = observer
        self._thread = threading.Thread(target=self._follow, name="budget-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._poke()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._close_pipe()

    def _close_pipe(self) -> None:
        for fd in (self._poke_r, self._poke_w):
            with suppress(OSError):
                os.close(fd)

    def _follow(self) -> None:
        """Wait on the exits of the processes holding reservations or using servers (or,
        without pidfds, on their set changing). A process is followed until it exits once."""
        before: set[int] | None = None
        exited: set[int] = set()
        while not self._stop.is_set():
            try:
                followed = {r.pid for r in self.governor.held()} | self.runner.users()
            except OSError as error:
                log.debug("budget watch: %s", error)
                followed = set()
            exited &= followed  # a pid no longer listed may come back as another process
            pids = followed - exited
            if before is not None and pids != before and not hasattr(os, "pidfd_open"):
                self._fire()
            before = pids
            handles: dict[int, int] = {}
            for pid in pids:
                try:
                    handles[os.pidfd_open(pid)] = pid
                except ProcessLookupError:
                    exited.add(pid)
                    self._fire()  # gone already: its share comes back
                except (AttributeError, OSError):
                    break  # no pidfds here: compare the processes at each refresh instead
            poller = select.poll()
            poller.register(self._poke_r, select.POLLIN)
            for fd in handles:
                poller.register(fd, select.POLLIN)
            try:
                ready = [fd for fd, _ in poller.poll(REFRESH_S * 1000)]
            finally:
                for fd in handles:
                    os.close(fd)
            if self._poke_r in ready:
                with suppress(OSError):
                    os.read(self._poke_r, 4096)
            gone = [handles[fd] for fd in ready if fd in handles]
            if gone:
                exited.update(gone)
                self._fire()
