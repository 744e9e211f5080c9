"""A claiming process for the race tests: waits for the start line, claims until empty.

    python claimer.py TOWN ROLE AGENT OUT GO [LEASE [WORK_MS]]

It writes OUT.ready once its index is warm, then waits for GO to exist. Each claimed id is appended to OUT (one line, flushed) the moment its claim commit won.
With WORK_MS the claimer "works" each bead for up to that many milliseconds before the
next claim, as a watcher does; without it, it claims back to back.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from gastown.errors import NothingReady
from gastown.town import claims
from gastown.town.queue import Queue
from gastown.town.store import GitStore
from gastown.town.town import locate


def main() -> int:
    town, role, agent, out, go = sys.argv[1:6]
    lease = float(sys.argv[6]) if len(sys.argv) > 6 else 600.0
    work_ms = float(sys.argv[7]) if len(sys.argv) > 7 else 0.0
    rng = random.Random(agent)
    queue = Queue(GitStore(locate(town)))
    queue.snapshot()  # warm the index before the start line, like a long-running watcher
    Path(f"{out}.ready").write_text("ready\n")  # the test starts everyone together once all say so
    while not Path(go).exists():
        time.sleep(0.001)
    with open(out, "a", buffering=1) as sink:
        while True:
            try:
                got = queue.claim(role, agent, lease=lease)
            except NothingReady:
                if queue.store.remote is None:
                    return 0
                queue.store.sync()  # a shared town: look once more at the remote
                try:
                    got = queue.claim(role, agent, lease=lease)
                except NothingReady as error:
                    print(
                        f"{agent}: {error.message}; {len(claims.seen(queue.store.git))} proposals seen", file=sys.stderr
                    )
                    return 0
            sink.write(f"{got.bead.id} {got.bead.generation}\n")
            if work_ms:
                time.sleep(rng.uniform(0, work_ms) / 1000)


if __name__ == "__main__":
    sys.exit(main())
