"""`gt metrics` over real result commits: rates stay rates, loops are counted."""

from __future__ import annotations

import contextlib
import json
import sqlite3

from gastown.town import cache
from gastown.town.town import locate


def work(town, bead_id: str, result: dict, ok: bool = True) -> None:
    queue = town.queue()
    claimed = queue.claim("polecat", "p1", bead_id=bead_id)
    if ok:
        queue.complete(bead_id, "p1", claimed.bead.generation, result)
    else:
        queue.fail(bead_id, "p1", "stuck: read_file(path='x') repeated 3 times", claimed.bead.generation, result)


def test_the_tool_call_failure_rate_never_passes_100_percent(town):
    # an older result counted unusable replies as failures but not among its calls
    work(town, town.add("old"), {"tool_calls": {"finish": 1}, "tool_calls_failed": 5})
    work(town, town.add("new"), {"tool_calls": {"read_file": 3, "invalid": 1}, "tool_calls_failed": 2})
    calls = town.gt("metrics", "--json").json()["tool_calls"]
    assert calls["total"] == 9 and calls["failed"] == 7
    assert 0 < calls["failure_rate"] <= 1


def test_loops_and_stuck_beads_are_counted(town):
    work(
        town,
        town.add("looped"),
        {"tool_calls": {"read_file": 3}, "tool_calls_failed": 3, "loops": 1, "stuck": 1},
        ok=False,
    )
    work(town, town.add("fine"), {"tool_calls": {"run_tests": 2}, "tool_calls_failed": 0, "loops": 1})
    found = town.gt("metrics", "--json").json()
    assert found["loops"] == {"pointed_out": 2, "stuck": 1}
    assert "stuck beads          1" in town.gt("metrics").out


def test_the_ledger_keeps_its_records_as_json_rows_in_the_towns_one_cache(town):
    work(town, town.add("one"), {"tool_calls": {"read_file": 2}, "tool_calls_failed": 0})
    assert town.gt("metrics", "--json").code == 0
    state = locate(town.path).state_dir
    assert not (state / "mayor" / "ledger.sqlite").exists()
    with contextlib.closing(sqlite3.connect(cache.path_in(state))) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        records = [json.loads(data) for (data,) in db.execute("SELECT data FROM ledger_records ORDER BY seq")]
    assert {"index_beads", "index_meta", "ledger_meta", "ledger_timeline", "ledger_records"} <= tables
    assert [commit for commit, *_ in records] == town.git("rev-list", "--reverse", "tasks").split()
    assert ["Event", "complete"] in records[-1][4]


def test_metrics_are_the_same_from_a_damaged_or_a_locked_cache(town, monkeypatch):
    work(town, town.add("one"), {"tool_calls": {"read_file": 3, "invalid": 1}, "tool_calls_failed": 2})
    work(town, town.add("two"), {"tool_calls": {"finish": 1}, "tool_calls_failed": 0}, ok=False)
    expected = town.gt("metrics", "--json").json()
    path = cache.path_in(locate(town.path).state_dir)

    path.write_bytes(b"not a database" * 100)
    assert town.gt("metrics", "--json").json() == expected
    assert town.gt_process("metrics", "--json").json() == expected  # the cache is written anew, then read

    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute('UPDATE ledger_records SET data = \'{"not": "a record"}\' WHERE seq = 2')
        db.commit()
    assert town.gt("metrics", "--json").json() == expected  # records that are not records: read again
    assert town.gt("metrics", "--json").json() == expected

    for damage in (
        "UPDATE ledger_meta SET value = 'x' WHERE key IN ('frames', 'rewritten')",
        "UPDATE ledger_meta SET value = 'not-a-commit' WHERE key = 'last'",
        "UPDATE ledger_timeline SET data = 'not json'",
    ):
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute(damage)
            db.commit()
        shown = town.gt_process("metrics", "--json")
        assert shown.code == 0 and "Traceback" not in shown.err, (damage, shown.err)

    monkeypatch.setattr(cache, "BUSY_S", 0.2)
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock for longer than BUSY_S
        work(town, town.add("three"), {"tool_calls": {"finish": 1}, "tool_calls_failed": 0})
        during = town.gt("metrics", "--json").json()  # the ledger is behind and cannot be written
        holder.execute("ROLLBACK")
    assert during == town.gt("metrics", "--json").json()
    assert during["orchestrator"]["completed"] == expected["orchestrator"]["completed"] + 1
