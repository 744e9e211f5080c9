"""Which sets of files two tries wrote are worth one test run before a fresh try."""

from gastown.agents.pairs import MOST, pairs

FOUND = {"a.py": b"a0", "b.py": b"b0"}


def found(path: str) -> bytes | None:
    return FOUND.get(path)


def test_the_best_files_get_a_file_they_left_as_found_first_then_one_in_place_of_their_own():
    runs = [{"a.py": b"a1", "b.py": b"b1"}, {"a.py": b"a2", "b.py": b"b0"}]
    assert pairs(runs, runs[1], found) == [{"a.py": b"a2", "b.py": b"b1"}, {"a.py": b"a1"}]


def test_a_bead_of_one_file_gets_no_pair_every_set_being_a_run_it_had():
    runs = [{"a.py": b"a1"}, {"a.py": b"a2"}, {"a.py": b"a3"}]
    assert pairs(runs, runs[1], found) == []


def test_a_file_as_the_bead_found_it_or_a_set_tested_before_is_not_made_again():
    runs = [{"a.py": b"a1", "b.py": b"b0"}, {"a.py": b"a0", "b.py": b"b2"}]
    made = pairs(runs, runs[1], found)
    assert made == [{"a.py": b"a1", "b.py": b"b2"}]
    assert pairs([*runs, made[0]], runs[1], found) == []  # tested, it is a run


def test_the_newest_runs_files_come_first_and_at_most_a_few_sets():
    runs = [{"a.py": b"a1"}, {"a.py": b"a2"}, {"a.py": b"a3"}, {"b.py": b"b4"}]
    made = pairs(runs, runs[3], found)
    assert made == [{"b.py": b"b4", "a.py": b"a3"}, {"b.py": b"b4", "a.py": b"a2"}][:MOST]


def test_a_file_an_earlier_run_deleted_is_a_file_too():
    runs = [{"a.py": None, "b.py": b"b0"}, {"a.py": b"a0", "b.py": b"b2"}]
    assert pairs(runs, runs[1], found) == [{"a.py": None, "b.py": b"b2"}]
