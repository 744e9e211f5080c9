import pytest

from textkit.slug import slugify


def test_lowercase_words_joined_by_dashes():
    assert slugify("Hello, World!") == "hello-world"


def test_accents_are_folded_to_ascii():
    assert slugify("  Crème brûlée à la carte ") == "creme-brulee-a-la-carte"


def test_runs_of_other_characters_become_one_separator():
    assert slugify("a -- b__c   d") == "a-b-c-d"


def test_the_separator_can_be_chosen():
    assert slugify("Hello World 2024", separator="_") == "hello_world_2024"


def test_nothing_left_gives_an_empty_slug():
    assert slugify("--- !!! ---") == ""


def test_the_separator_must_not_be_empty():
    with pytest.raises(ValueError, match="separator"):
        slugify("x", separator="")
