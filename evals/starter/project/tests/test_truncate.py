import pytest

from textkit.wrap import truncate


def test_text_that_fits_is_returned_with_whitespace_collapsed():
    assert truncate("hello   world", 20) == "hello world"


def test_whole_words_then_the_placeholder():
    assert truncate("The quick brown fox jumps", 15) == "The quick [...]"


def test_the_placeholder_can_be_chosen():
    assert truncate("one two three four", 12, placeholder="...") == "one two..."


def test_no_whole_word_fits():
    assert truncate("incomprehensibilities", 10) == "[...]"


def test_a_placeholder_longer_than_the_width_is_refused():
    with pytest.raises(ValueError, match="placeholder"):
        truncate("some text here", 3)
