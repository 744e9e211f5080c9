"""`gt metrics` over real result commits: rates stay rates, loops are counted."""

from __future__ import annotations


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
