"""Live pages: tell every open page when the tasks branch moves.

The watchers' own wake-up (``wakeup.start``: watchdog on the branch's ref, ``packed-refs``
and the nudge file) sets an event; one thread waits on it — a blocking wait, not a polling
loop — re-reads the ref (a wake-up is not data), and when the tip changed hands it to the
event loop, which puts it on every subscriber's queue. Only a town whose remote is on
another machine has no folder to watch: then the thread fetches on an interval that backs
off while nothing moves, as a watcher does.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator

from gastown.agents import wakeup
from gastown.errors import GastownError
from gastown.serve.reading import Reader

log = logging.getLogger(__name__)

FETCH_START, FETCH_MAX = 0.5, 15.0  # a remote elsewhere: seconds between fetches
QUEUE_SIZE = 16  # tips a slow page may fall behind by; it only needs the newest


class TipWatch:
    """Watches the tasks branch and fans its new tips out to async subscribers."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.tip = reader.tip()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._subscribers: set[asyncio.Queue[str | None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._observer: object | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        observer = wakeup.start(self.reader.town, self._wake)
        self._observer = observer
        self._thread = threading.Thread(target=self._run, args=(observer is None,), name="gt-serve-tip", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and the observer, and end every subscriber's stream."""
        self._stop.set()
        self._wake.set()
        if self._observer is not None:
            self._observer.stop()  # type: ignore[attr-defined]
        if self._thread is not None:
            self._thread.join(timeout=5)
        for queue in list(self._subscribers):
            _offer(queue, None)

    def _run(self, fetch: bool) -> None:
        pause = FETCH_START
        while not self._stop.is_set():
            woke = self._wake.wait(pause if fetch else None)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                if self.reader.store.remote is not None:
                    self.reader.sync()
                tip = self.reader.tip()
            except GastownError as error:  # the remote is unreachable for now: the page keeps its state
                log.warning("gt serve: %s", error.message)
                continue
            if tip != self.tip:
                self.tip = tip
                pause = FETCH_START
                if tip is not None and self._loop is not None:
                    self._loop.call_soon_threadsafe(self._publish, tip)
            elif fetch and not woke:
                pause = min(FETCH_MAX, pause * 2)

    def _publish(self, tip: str) -> None:
        for queue in list(self._subscribers):
            _offer(queue, tip)

    async def tips(self) -> AsyncIterator[str]:
        """The tip now, then each new tip as it lands, until the watch stops (subscribed
        before the first is given: no move between the two is missed)."""
        queue: asyncio.Queue[str | None] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers.add(queue)
        try:
            yield self.tip or ""
            while True:
                tip = await queue.get()
                if tip is None:
                    return
                yield tip
        finally:
            self._subscribers.discard(queue)


def _offer(queue: asyncio.Queue[str | None], tip: str | None) -> None:
    """Put ``tip`` on ``queue``; a full queue drops its oldest (a page needs only the newest)."""
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(tip)
