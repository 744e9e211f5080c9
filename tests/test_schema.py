import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gastown.errors import InvalidBead
from gastown.town import schema

GOOD = {"id": "gt-abcde", "title": "Add beat scoring", "priority": 1, "dependencies": ["gt-fffff"]}


def test_a_minimal_person_written_bead_is_valid():
    bead = schema.load_bead(json.dumps(GOOD), "beads/gt-abcde.json", expected_id="gt-abcde")
    assert bead.title == "Add beat scoring" and bead.status == "open" and bead.role == "polecat"


def test_errors_name_the_bead_the_path_and_the_reason():
    bad = dict(GOOD, priority=9, titel="typo", labels=["x", "x"])
    with pytest.raises(InvalidBead) as caught:
        schema.load_bead(json.dumps(bad), "beads/gt-abcde.json")
    problems = caught.value.problems
    assert "beads/gt-abcde.json: $.priority: 9 is greater than the maximum of 4" in problems
    assert any("$: Additional properties are not allowed ('titel' was unexpected)" in p for p in problems)
    assert any("$.labels" in p and "non-unique" in p for p in problems)


def test_the_file_name_must_match_the_id_and_json_errors_say_where():
    with pytest.raises(InvalidBead, match="does not match the file name"):
        schema.load_bead(json.dumps(GOOD), "beads/gt-zzzzz.json", expected_id="gt-zzzzz")
    with pytest.raises(InvalidBead, match=r"not valid JSON \(Expecting .* line 1 column"):
        schema.load_bead(b'{"id": ', "beads/gt-abcde.json")
    with pytest.raises(InvalidBead, match="not UTF-8"):
        schema.load_bead(b'{"id": "\xff"}', "beads/gt-abcde.json")


def test_long_values_are_cut_in_messages():
    bad = dict(GOOD, title="x" * 5000)
    with pytest.raises(InvalidBead) as caught:
        schema.load_bead(json.dumps(bad), "beads/gt-abcde.json")
    assert all(len(p) < 400 for p in caught.value.problems)


def test_the_result_is_checked_against_its_own_schema():
    bad = dict(GOOD, status="done", result={"tests": {"passed": -1}, "tokens_in": "many"})
    with pytest.raises(InvalidBead) as caught:
        schema.load_bead(json.dumps(bad), "beads/gt-abcde.json")
    text = "\n".join(caught.value.problems)
    assert "$.result.tests.passed" in text and "$.result.tokens_in" in text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
BEAD_SCHEMA = json.loads((schema.data_dir("schemas") / "bead.schema.json").read_text())
bead_keys = st.sampled_from(sorted(BEAD_SCHEMA["properties"]))
beadish = st.dictionaries(bead_keys | st.text(max_size=8), json_values, max_size=12).map(
    lambda d: {"id": "gt-abcde", "title": "t", **d}
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(beadish, json_values))
def test_malformed_beads_never_escape_as_anything_but_invalid_bead(value):
    try:
        schema.load_bead(json.dumps(value), "beads/gt-abcde.json", expected_id="gt-abcde")
    except InvalidBead as error:
        assert error.problems and all(isinstance(p, str) for p in error.problems)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_escape_as_anything_but_invalid_bead(raw):
    try:
        schema.load_bead(raw, "beads/gt-abcde.json")
    except InvalidBead:
        pass


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["bead", "convoy", "result", "rig", "town"]), st.one_of(beadish, json_values))
def test_the_fast_and_the_reporting_validators_agree(kind, value):
    import jsonschema

    full = jsonschema.validators.validator_for(schema.schema_of(kind))(schema.schema_of(kind))
    assert schema.is_valid(kind, value) == full.is_valid(value)


def test_the_compiled_validator_cache_is_used_only_when_it_is_ours_and_sound(tmp_path, monkeypatch):
    """The cache holds code the hook runs: a corrupt file is compiled again, and a file in a
    folder others may write (someone could have put a validator that accepts anything
    there) is never loaded."""
    import marshal
    import os

    from gastown.town import schema

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    bad = {"id": 3}
    try:
        schema._fast.cache_clear()
        assert not schema.is_valid("bead", bad)  # compiled, and kept
        (cached,) = (tmp_path / "gastown" / "schemas").glob("bead-*.marshal")
        cached.write_bytes(marshal.dumps(None))  # corrupt: not code
        schema._fast.cache_clear()
        assert not schema.is_valid("bead", bad)
        accepts_all = compile("def validate_anything(data):\n    return data\n", "<planted>", "exec")
        cached.write_bytes(marshal.dumps(accepts_all))
        os.chmod(cached.parent, 0o777)
        schema._fast.cache_clear()
        assert not schema.is_valid("bead", bad)  # the planted validator was not run
        os.chmod(cached.parent, 0o700)
        cached.write_bytes(marshal.dumps(accepts_all))  # (the refused one was compiled again over it)
        schema._fast.cache_clear()
        assert schema.is_valid("bead", bad)  # ...and it would have been, from a private folder
    finally:
        schema._fast.cache_clear()
