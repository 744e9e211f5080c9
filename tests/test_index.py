import pickle
import random
import time

from gastown.town.index import INVALID, Index, summarize
from gastown.town.queue import NewBead
from gastown.town.store import GitStore
from gastown.town.town import locate


def fresh_index(store: GitStore) -> Index:
    """The index built from nothing for the current tip (what a cold process sees)."""
    cold = GitStore(store.town)
    cold.index_path.unlink(missing_ok=True)
    return cold.snapshot().index


def test_the_incremental_index_equals_a_rebuild_after_random_work(town):
    store = town.store()
    queue = town.queue()
    rng = random.Random(7)
    made = []
    for step in range(120):
        action = rng.random()
        if action < 0.45 or not made:
            deps = tuple(rng.sample(made, k=min(len(made), rng.randint(0, 2))))
            from gastown.town.beadtext import parse_dependency

            made.append(
                queue.add(
                    NewBead(
                        title=f"bead {step}",
                        priority=rng.randint(0, 4),
                        role=rng.choice(["polecat", "refinery"]),
                        dependencies=tuple(parse_dependency(d) for d in deps),
                    )
                ).id
            )
        elif action < 0.75:
            role = rng.choice(["polecat", "refinery"])
            ready = queue.ready(role)
            if ready:
                got = queue.claim(role, f"{role}@t", lease=60)
                if rng.random() < 0.7:
                    queue.complete(got.bead.id, f"{role}@t")
                else:
                    queue.fail(got.bead.id, f"{role}@t", "no luck")
        else:
            queue.edit(rng.choice(made), [f"priority={rng.randint(0, 4)}"])
    live = queue.store.snapshot().index
    rebuilt = fresh_index(store)
    assert live.commit == rebuilt.commit
    assert live.entries == rebuilt.entries
    now = time.time()
    for role in ("polecat", "refinery"):
        assert [e.id for e in live.ready(role, now)] == [e.id for e in rebuilt.ready(role, now)]
        best = live.best_ready(role, now)
        assert (best.id if best else None) == (rebuilt.ready(role, now)[0].id if rebuilt.ready(role, now) else None)


def test_a_saved_index_is_reused_and_a_corrupt_one_is_rebuilt(town):
    town.add("one")
    store = town.store()
    store.snapshot()
    store.save_index()
    reloaded = Index.load(store.index_path)
    assert reloaded is not None and len(reloaded) == 1
    store.index_path.write_bytes(b"not a pickle")
    assert Index.load(store.index_path) is None
    assert len(GitStore(locate(town.path)).snapshot().index) == 1


def test_an_index_saved_before_the_modules_moved_is_rebuilt_not_a_crash(town):
    town.add("one")
    store = town.store()
    store.snapshot()
    store.save_index()
    saved = pickle.dumps(pickle.loads(store.index_path.read_bytes()), protocol=0)
    assert b"gastown.town.index" in saved
    # as an older gastown wrote it, when the index module was gastown/index.py
    store.index_path.write_bytes(saved.replace(b"gastown.town.index", b"gastown.index"))
    assert Index.load(store.index_path) is None
    assert len(GitStore(locate(town.path)).snapshot().index) == 1


def test_malformed_files_are_listed_as_invalid_not_dropped():
    entry = summarize("beads/gt-abcde.json", "0" * 40, b"{not json")
    assert entry.status == INVALID and entry.problem.startswith("not valid JSON (Expecting property name")
    entry = summarize("beads/gt-abcde.json", "0" * 40, b'{"id": "gt-zzzzz", "title": "x"}')
    assert entry.status == INVALID and "does not match" in entry.problem
    entry = summarize("beads/gt-abcde.json", "0" * 40, b'{"id": "gt-abcde", "title": "x", "status": "claimed"}')
    assert entry.status == INVALID and entry.problem == "claimed without a claim"
