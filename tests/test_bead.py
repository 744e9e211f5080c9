import json

import pytest

from gastown.town import schema, times
from gastown.town.admission import bead_problems
from gastown.town.bead import (
    NAME_PATTERN,
    ROLE_PATTERN,
    Bead,
    Dependency,
    name_problem,
    new_bead,
    role_problem,
    semantic_problems,
)

NOW = 1_800_000_000.0


def test_codec_round_trips_every_field():
    bead = new_bead(
        "gt-abcde",
        "Add beat scoring",
        NOW,
        role="refinery",
        rig="aerobeat",
        priority=1,
        labels=("gdscript",),
        dependencies=(Dependency("gt-fffff"), Dependency("gt-ggggg", "parent-child")),
        estimated_tokens=5000,
        metadata={"k": 1},
    ).claimed("polecat@h1", "polecat", NOW, 60)
    again = Bead.from_dict(json.loads(bead.to_json()))
    assert again == bead
    assert bead.blockers() == ("gt-fffff",)
    assert bead.parent() == "gt-ggggg"


def test_person_shorthand_dependencies_become_blocks_edges():
    bead = Bead.from_dict({"id": "gt-abcde", "title": "x", "dependencies": ["gt-fffff"]})
    assert bead.dependencies == (Dependency("gt-fffff", "blocks"),)


def test_transitions_are_copies_and_keep_the_fencing_generation():
    bead = new_bead("gt-abcde", "t", NOW)
    first = bead.claimed("a", "polecat", NOW, 60)
    assert bead.status == "open" and bead.generation == 0
    assert first.status == "claimed" and first.generation == 1 and first.claim.generation == 1
    assert first.lease_left(NOW + 10) == pytest.approx(50, abs=0.01)
    released = first.released(NOW + 1)
    assert released.claim is None and released.generation == 1
    second = released.claimed("b", "polecat", NOW + 2, 60)
    assert second.generation == 2
    failed = second.failed(NOW + 3, "tests failed", {"summary": "2 failures"})
    assert failed.attempts == 1 and failed.close_reason == "tests failed" and failed.closed_at
    reopened = failed.reopened(NOW + 4)
    assert reopened.status == "open" and reopened.attempts == 1 and reopened.closed_at is None
    done = reopened.claimed("c", None, NOW + 5, 60).completed(NOW + 6, {"summary": "green"})
    assert done.status == "done" and done.close_reason == "green" and done.generation == 3


def test_edits_cannot_touch_protocol_fields():
    bead = new_bead("gt-abcde", "t", NOW)
    with pytest.raises(ValueError, match="generation"):
        bead.edited(NOW, generation=5)
    assert bead.edited(NOW, priority=0).priority == 0


def test_semantic_problems_name_the_field():
    bead = new_bead("gt-abcde", "t", NOW)
    assert semantic_problems(bead) == []
    bad = Bead.from_dict(
        {
            "id": "gt-abcde",
            "title": "t",
            "status": "claimed",
            "created_at": "yesterday",
            "dependencies": [
                "gt-abcde",
                {"id": "gt-b1111", "type": "parent-child"},
                {"id": "gt-b2222", "type": "parent-child"},
            ],
        }
    )
    found = "\n".join(semantic_problems(bad))
    assert "$.claim: a claimed bead needs a claim" in found
    assert "cannot depend on itself" in found
    assert "at most one parent-child parent" in found
    assert "$.created_at: 'yesterday' is not an RFC 3339 timestamp" in found


def test_timestamps_round_trip_in_utc():
    stamp = times.iso(NOW)
    assert stamp.endswith("Z")
    assert times.epoch(stamp) == pytest.approx(NOW, abs=0.001)
    assert times.epoch("2026-01-01T00:00:00+02:00") == times.epoch("2025-12-31T22:00:00Z")
    with pytest.raises(ValueError):
        times.epoch("2026-01-01T00:00:00")
    assert times.duration(42) == "42s" and times.duration(185) == "3m05s"
    assert times.duration(-7200 - 600) == "-2h10m"


@pytest.mark.parametrize(
    ("test", "says"),
    [
        ("/etc/passwd", "'/etc/passwd' is an absolute path; name a test file inside the rig, like tests/test_x.py"),
        ("./tests/test_x.py", "'./tests/test_x.py' has ./ or // in it; write it as tests/test_x.py"),
        ("tests//test_x.py::test_y", "has ./ or // in it; write it as tests/test_x.py"),
        ("tests/test_x.py::", "'tests/test_x.py::' names no test after '::'; write tests/test_x.py, or"),
        ("tests/test_x.py::TestX::", "names no test after '::'"),
        ("::test_y", "'::test_y' names no test file"),
        ("tests/../../x.py", "climbs out of the rig"),
        ("~/tests/test_x.py", "starts with ~"),
        ("tests/a.py tests/b.py", "holds whitespace; list each test on its own"),
    ],
)
def test_acceptance_test_paths_outside_the_rig_or_oddly_written_say_what_to_write(test, says):
    bead = new_bead("gt-abcde", "t", NOW, acceptance_tests=("tests/test_ok.py::test_a", test))
    found = semantic_problems(bead)
    assert len(found) == 1 and found[0].startswith(f"$.acceptance_tests[1]: {test!r} ") and says in found[0], found


def test_acceptance_tests_written_plainly_pass():
    plain = ("tests/test_x.py", "tests/test_x.py::test_y", "tests/test_x.py::TestX::test_y", "test_top.py")
    assert semantic_problems(new_bead("gt-abcde", "t", NOW, acceptance_tests=plain)) == []


def test_role_and_name_rules_are_the_schemas_said_in_words():
    bead_schema = schema.schema_of("bead")
    assert f"^{ROLE_PATTERN.pattern}$" == bead_schema["properties"]["role"]["pattern"]
    assert f"^{NAME_PATTERN.pattern}$" == bead_schema["$defs"]["name"]["pattern"]
    assert role_problem("polecat") is None and role_problem("code-review_2") is None
    assert role_problem("Bad Role!") == (
        "'Bad Role!' is not a role name: a role is a lowercase letter, then up to 31 lowercase letters, "
        "digits, '_' or '-' (like polecat)"
    )
    assert role_problem(" ").startswith("is empty; a role is a lowercase letter")
    assert name_problem("polecat@host-1:42") is None and name_problem("").startswith("is empty; a name is")
    assert name_problem("a b").startswith("'a b' is not a name: a name is a letter or digit")


def test_a_bad_role_is_said_once_in_words_not_as_the_schemas_regex():
    found = bead_problems(new_bead("gt-abcde", "t", NOW, role="Bad Role!"))
    assert found == [f"bead gt-abcde: $.role: {role_problem('Bad Role!')}"]
