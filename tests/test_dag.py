from typing import NamedTuple

from gastown.town import dag


class N(NamedTuple):
    status: str
    blocks: tuple = ()
    parent: str | None = None


def test_ready_needs_every_blocker_done_and_an_unblocked_parent():
    beads = {
        "a": N("done"),
        "b": N("open"),
        "epic": N("open", ("b",)),
        "x": N("open", ("a",)),
        "y": N("open", ("a", "b")),
        "child": N("open", (), "epic"),
        "free-child": N("open", (), "x"),
    }
    get = beads.get
    assert dag.is_unblocked(beads["x"], get)
    assert not dag.is_unblocked(beads["y"], get)
    assert dag.waiting_on(beads["y"], get) == ["b (open)"]
    assert not dag.is_unblocked(beads["child"], get)
    assert dag.waiting_on(beads["child"], get) == ["b (open) via parent epic"]
    assert dag.is_unblocked(beads["free-child"], get)
    assert dag.waiting_on(N("open", ("ghost",)), get) == ["ghost (unknown bead)"]


def test_find_cycle_returns_the_loop():
    edges = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"], "e": []}
    cycle = dag.find_cycle(["d"], lambda n: edges.get(n, []))
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}
    assert dag.find_cycle(["e"], lambda n: edges.get(n, [])) is None
    deep = {str(i): [str(i + 1)] for i in range(5000)}
    assert dag.find_cycle(["0"], lambda n: deep.get(n, [])) is None  # no recursion limit
