import pytest

from textkit.wrap import fill, wrap


def test_short_text_is_one_line():
    assert wrap("hello world", 20) == ["hello world"]


def test_words_move_to_the_next_line():
    assert wrap("the quick brown fox", 10) == ["the quick", "brown fox"]


def test_whitespace_is_collapsed():
    assert wrap("  a \n b\t\tc  ", 20) == ["a b c"]


def test_a_long_word_gets_its_own_line():
    assert wrap("a supercalifragilistic b", 5) == ["a", "supercalifragilistic", "b"]


def test_blank_text_gives_no_lines():
    assert wrap("", 10) == []
    assert wrap("   ", 10) == []


def test_the_default_width_is_70():
    text = " ".join(["word"] * 40)
    assert all(len(line) <= 70 for line in wrap(text))
    assert len(wrap(text)[0]) == 69


def test_width_must_be_positive():
    with pytest.raises(ValueError, match="width"):
        wrap("text", 0)


def test_fill_joins_the_lines():
    assert fill("the quick brown fox", 10) == "the quick\nbrown fox"


def test_a_line_may_be_exactly_the_width():
    assert wrap("abcd efghi", 10) == ["abcd efghi"]
    assert wrap("The quick brown fox jumps over the lazy dog", 15) == [
        "The quick brown",
        "fox jumps over",
        "the lazy dog",
    ]
