import pytest

from textkit.cli import summary
from textkit.stats import reading_time


def test_minutes_are_rounded_up():
    assert reading_time("word " * 200) == 1
    assert reading_time("word " * 201) == 2


def test_a_short_text_takes_a_minute():
    assert reading_time("just a few words") == 1


def test_no_words_no_time():
    assert reading_time("   ") == 0


def test_the_reading_speed_can_be_chosen():
    assert reading_time("word " * 300, words_per_minute=100) == 3


def test_the_speed_must_be_positive():
    with pytest.raises(ValueError, match="words_per_minute"):
        reading_time("text", words_per_minute=0)


def test_the_summary_shows_the_reading_time():
    assert "reading time: 1 min" in summary("One two. Three four five!").splitlines()
