import contextlib
import json
import random
import re
import sqlite3
import subprocess
import sys
import time

import pytest
from conftest import REPO_ROOT, git

from gastown.town import index as indexmod
from gastown.town.index import INVALID, Index, summarize
from gastown.town.queue import NewBead, Queue
from gastown.town.store import GitStore
from gastown.town.town import locate

GT = f"PYTHONPATH={REPO_ROOT} {sys.executable} -m gastown"


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
    store.index_path.write_bytes(b"not a database")
    assert Index.load(store.index_path) is None
    assert len(GitStore(locate(town.path)).snapshot().index) == 1


@pytest.mark.parametrize("damage", ["garbage", "truncated", "format", "meta"])
def test_a_damaged_cache_is_rebuilt_not_fatal_and_written_anew(town, damage):
    town.add("one")
    store = town.store()
    store.snapshot()
    store.save_index()
    path = store.index_path
    if damage == "garbage":
        path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 64)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:5000])
    else:
        update = {
            "format": "UPDATE index_meta SET value = '1' WHERE key = 'format'",
            "meta": "UPDATE index_meta SET value = 'not json' WHERE key = 'root'",  # a value no gastown wrote
        }[damage]
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute(update)
            db.commit()
    if damage == "meta":  # read by a command first: no traceback, and the cache made anew
        ready = town.gt_process("ready", "--json")
        assert ready.code == 0 and "Traceback" not in ready.err, ready.err
    else:
        assert Index.load(path) is None
    assert len(GitStore(locate(town.path)).snapshot().index) == 1  # rebuilt from the branch, then saved
    again = Index.load(path)
    assert again is not None and again.commit == town.tip() and len(again) == 1


def test_what_one_process_saved_is_what_the_next_process_reads(town):
    for n in range(6):
        town.add(f"bead {n}", priority=n % 3)
    queue = town.queue()
    queue.claim("polecat", "polecat@h1", lease=600)
    store = queue.store
    live = store.snapshot().index
    store.save_index()
    probe = (
        "import json, sys, pathlib\n"
        "from gastown.town.index import Index\n"
        "index = Index.load(pathlib.Path(sys.argv[1]))\n"
        "print(json.dumps([index.commit, index.tree, sorted(index), [e.id for e in index.ready('polecat', 0)],"
        " [e.id for e in index.live_claims()]]))"
    )
    out = subprocess.run([sys.executable, "-c", probe, str(store.index_path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    commit, tree, entries, ready, claims = json.loads(out.stdout)
    assert (commit, tree) == (town.tip(), live.tree)
    assert entries == json.loads(json.dumps(sorted(live)))
    assert ready == [e.id for e in live.ready("polecat", 0)] and len(ready) == 5
    assert claims == [e.id for e in live.live_claims()] and len(claims) == 1


def test_a_save_writes_only_the_files_that_changed(town, monkeypatch):
    for n in range(5):
        town.add(f"bead {n}")
    store = town.store()
    store.snapshot()
    store.save_index()
    written: list[int] = []
    real = indexmod._insert
    monkeypatch.setattr(indexmod, "_insert", lambda db, entries: (written.append(len(entries)), real(db, entries)))
    queue = Queue(store)
    got = queue.claim("polecat", "polecat@h1", lease=600)
    queue.complete(got.bead.id, "polecat@h1")
    store.save_index()
    assert written == [1]  # one bead changed, twice: one row
    loaded = Index.load(store.index_path)
    assert loaded is not None and loaded.entries == store.snapshot().index.entries
    assert loaded.entries == fresh_index(store).entries


def test_values_sqlite_cannot_hold_come_back_from_the_cache_as_they_went(town, clone):
    person = clone(town.path, "person")
    (person / "beads").mkdir(exist_ok=True)
    (person / "beads" / "gt-huge1.json").write_text(json.dumps({"id": "gt-huge1", "title": "big", "priority": 2**70}))
    (person / "beads" / "gt-tab01.json").write_text(json.dumps({"id": "gt-tab01", "title": "a\tb \u00e9"}))
    # a file name that is not UTF-8: its path reaches the index with a lone surrogate in it
    with open(bytes(person / "beads") + b"/gt-\xff.json", "w") as odd:
        odd.write('{"id": "gt-odd01", "title": "odd name"}')
    git(person, "add", "-A")
    git(person, "commit", "--quiet", "--no-verify", "-m", "past the hooks")
    git(town.path, "fetch", "--quiet", str(person), "+tasks:tasks")  # a fetch runs no hook
    store = town.store()
    live = store.snapshot().index
    store.save_index()
    loaded = Index.load(store.index_path)
    assert loaded is not None and loaded.entries == live.entries
    assert loaded.get("gt-huge1").priority == 2**70 and loaded.get("gt-huge1").status == INVALID
    assert loaded.get("gt-tab01").title == "a\tb \u00e9"
    assert [e.path for e in loaded if "\udcff" in e.path] == ["beads/gt-\udcff.json"]
    assert loaded.by_path == live.by_path and loaded.duplicates == live.duplicates


def test_files_sharing_an_id_come_back_from_the_cache_as_they_were(town, clone):
    person = clone(town.path, "person")
    for path in ("beads/gt-dup01.json", "beads/d/u/gt-dup01.json"):
        (person / path).parent.mkdir(parents=True, exist_ok=True)
        (person / path).write_text(json.dumps({"id": "gt-dup01", "title": path}))
    git(person, "add", "-A")
    git(person, "commit", "--quiet", "--no-verify", "-m", "one id, two files")
    git(town.path, "fetch", "--quiet", str(person), "+tasks:tasks")
    store = town.store()
    live = store.snapshot().index
    store.save_index()
    loaded = Index.load(store.index_path)
    assert loaded is not None and loaded.duplicates == live.duplicates == {"gt-dup01": set(live.by_path)}
    assert loaded.entries == live.entries and loaded.get("gt-dup01").path == "beads/d/u/gt-dup01.json"


SAVER = """
import sys, time
from gastown.town.store import GitStore
from gastown.town.town import locate
town, commit, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
while time.time() < start:
    time.sleep(0.001)
for _ in range(12):
    store = GitStore(locate(town))
    store.snapshot(commit)  # loads what the other saved, moves it to this commit
    store.save_index()
"""


def test_processes_saving_at_once_leave_a_readable_cache(town):
    for n in range(40):
        town.add(f"early {n}")
    early = town.tip()
    queue = town.queue()
    for n in range(40):
        queue.add(NewBead(title=f"late {n}"))
    for _ in range(10):
        queue.claim("polecat", "polecat@h1", lease=600)
    late = town.tip()
    start = time.time() + 1.0
    savers = [
        subprocess.Popen([sys.executable, "-c", SAVER, str(town.path), commit, str(start)], stderr=subprocess.PIPE)
        for commit in (early, late, early, late)
    ]
    for saver in savers:
        _, err = saver.communicate(timeout=120)
        assert saver.returncode == 0, err
    saved = Index.load(town.store().index_path)
    assert saved is not None and saved.commit in (early, late)
    cold = GitStore(town.store().town)
    cold.index_path.unlink()
    rebuilt = cold.snapshot(saved.commit).index
    assert saved.tree == rebuilt.tree and saved.entries == rebuilt.entries
    assert [e.id for e in saved.ready("polecat", 0)] == [e.id for e in rebuilt.ready("polecat", 0)]


def test_a_read_only_town_reads_its_beads_with_or_without_a_cache(town, tmp_path):
    first = town.add("one")
    store = town.store()
    store.snapshot()
    store.save_index()
    second = town.add("two")  # the saved index is a commit behind: reading moves it, saving fails
    cache_file = store.index_path

    def ready_read_only(name: str) -> list[str]:
        """`gt ready` with the town mounted read-only: the ids it lists, after checking it said nothing else."""
        script = (
            f'{GT} --town {town.path} ready --json > {tmp_path}/{name} 2> {tmp_path}/{name}-err; echo "{name} $?" >&2'
        )
        run = subprocess.run(
            ["bwrap", "--dev-bind", "/", "/", "--ro-bind", str(town.path), str(town.path), "sh", "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert f"{name} 0" in run.stderr, run.stderr + (tmp_path / f"{name}-err").read_text()
        assert (tmp_path / f"{name}-err").read_text() == ""
        return [b["id"] for b in json.loads((tmp_path / name).read_text())]

    assert ready_read_only("with") == [first, second]
    for name in ("cache.sqlite", "cache.sqlite-wal", "cache.sqlite-shm"):
        (cache_file.parent / name).unlink(missing_ok=True)
    assert ready_read_only("without") == [first, second]
    assert not cache_file.exists()


def test_an_index_pickle_left_by_an_older_gastown_is_never_run_and_is_removed(town, tmp_path):
    town.add("one")
    state = locate(town.path).state_dir
    marker = tmp_path / "the pickle ran"
    # What an older gastown's file could hold: unpickling it would call open(marker, "w").
    (state / "index.pickle").write_bytes(b"cbuiltins\nopen\n(V%s\nVw\ntR." % str(marker).encode())
    (state / "mayor").mkdir(exist_ok=True)
    (state / "mayor" / "ledger.sqlite").write_bytes(b"an older ledger")
    (state / "cache.sqlite").unlink()
    assert len(GitStore(locate(town.path)).snapshot().index) == 1
    assert not marker.exists()
    assert not (state / "index.pickle").exists() and not (state / "mayor" / "ledger.sqlite").exists()
    assert town.gt("metrics", "--json").code == 0


def test_no_pickle_is_left_in_the_package():
    users = [
        str(path.relative_to(REPO_ROOT))
        for path in (REPO_ROOT / "gastown").rglob("*.py")
        if re.search(r"^\s*(import|from)\s+(c?pickle|shelve|dill)\b", path.read_text(), re.MULTILINE)
    ]
    assert users == []


def test_malformed_files_are_listed_as_invalid_not_dropped():
    entry = summarize("beads/gt-abcde.json", "0" * 40, b"{not json")
    assert entry.status == INVALID and entry.problem.startswith("not valid JSON (Expecting property name")
    entry = summarize("beads/gt-abcde.json", "0" * 40, b'{"id": "gt-zzzzz", "title": "x"}')
    assert entry.status == INVALID and "does not match" in entry.problem
    entry = summarize("beads/gt-abcde.json", "0" * 40, b'{"id": "gt-abcde", "title": "x", "status": "claimed"}')
    assert entry.status == INVALID and entry.problem == "claimed without a claim"
