from gastown.town import ids


def test_new_ids_are_short_typable_and_sharded():
    made = ids.new_id("gt", "Add beat scoring", lambda _: False)
    assert ids.is_valid_id(made)
    prefix, tail = made.split("-")
    assert prefix == "gt" and len(tail) == ids.MIN_LENGTH
    assert set(tail) <= set(ids.ALPHABET)
    assert not set(tail) & set("ilou")
    assert ids.shard_path(made) == f"beads/{tail[0]}/{tail[1]}/{made}.json"
    assert ids.id_from_path(ids.shard_path(made)) == made


def test_a_taken_short_id_grows_by_one_character():
    first = ids.new_id("gt", "same", lambda _: False)
    taken = {c for c in [first]}
    # Make every five-character id look taken: the generator must lengthen, not loop.
    grown = ids.new_id("gt", "same", lambda c: len(c.split("-")[1]) == 5 or c in taken)
    assert len(grown.split("-")[1]) == 6


def test_person_written_and_child_ids_are_accepted():
    for good in ("gt-abcde", "bd-a3f8", "my-project-x9k2p", "gt-3k9x2.1", "gt-3k9x2.1.12"):
        assert ids.is_valid_id(good), good
    for bad in ("GT-abcde", "gt-", "gt_abcde", "-abcde", "gt-ab", "gt-abcde/../x", 5, None):
        assert not ids.is_valid_id(bad), bad
    assert ids.shard_path("gt-3k9x2.1") == "beads/3/k/gt-3k9x2.1.json"
    assert ids.id_from_path("beads/gt-abcde.json") == "gt-abcde"
    assert ids.id_from_path("convoys/gt-abcde.json") is None
