from textkit.names import initials


def test_one_initial_per_word():
    assert initials("ada lovelace") == "A.L."


def test_hyphenated_parts_count():
    assert initials("Jean-Paul Sartre") == "J.P.S."


def test_extra_whitespace_is_ignored():
    assert initials("  grace   hopper ") == "G.H."


def test_an_empty_name_has_no_initials():
    assert initials("") == ""
