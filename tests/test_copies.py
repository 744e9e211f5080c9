"""A reply's lines that copy what the prompt listed of a module, left out of its code."""

from test_focus import long_module

from gastown.agents import focus
from gastown.agents.copies import listed, uncopied
from gastown.agents.excerpt import ALSO_IN_IT, excerpt, split_header


def prompt_of(*shown: str) -> str:
    """Excerpts as the prompt shows them: each header as prose above its code."""
    return "\n\n".join("\n".join(["## words.py", *split_header(text)[0]]) for text in shown)


def test_every_listed_entry_is_read_and_nothing_after_the_list():
    short = excerpt(long_module(4), {"word_1"}, "words.py")
    long = dict(focus.focus([("words.py", long_module())], (), (), {"word_7"}))["words.py"]
    assert short is not None and ALSO_IN_IT in short
    entries = listed(prompt_of(short, long) + "\n\n## Acceptance tests\n- tests/test_words.py (line 3)\n")
    assert "word_0(text) (lines 8-14): Word number 0." in entries and "LIMIT = 3 (line 5)" in entries
    assert "LIMIT = 3 (5), word_0 (8-14), word_1 (17-23), word_2 (26-32), word_3 (35-41), word_4 (44-50)" in entries
    assert not any("tests/" in entry for entry in entries)


def test_a_copied_entry_goes_with_its_comment_mark_or_a_def_before_it_and_the_models_code_stays():
    entries = listed(prompt_of(excerpt(long_module(4), {"word_1"}, "words.py") or ""))
    copied = (
        "def word_9(text):\n    return text\n\n\n"
        "def LIMIT = 3  # (line 5)\n"
        "word_0(text)  # (lines 8-14): Word number 0.\n"
        "x = word_0(5)\n"
    )
    assert uncopied(copied, entries) == "def word_9(text):\n    return text\n\n\nx = word_0(5)\n"
    assert uncopied(copied, ()) == copied


def test_a_line_of_code_with_an_entry_as_its_comment_stays():
    entries = listed(prompt_of(excerpt(long_module(4), {"word_1"}, "words.py") or ""))
    rewritten = "def word_0(text):  # word_0(text)  (lines 8-14): Word number 0.\n    return text.upper()\n"
    assert uncopied(rewritten, entries) == rewritten
    assigned = "def word_9(text):\n    n = 1  # word_0(text)  (lines 8-14): Word number 0.\n    return n\n"
    assert uncopied(assigned, entries) == assigned


def test_code_made_only_of_copies_is_left_as_it_is_not_emptied():
    entries = listed(prompt_of(excerpt(long_module(4), {"word_1"}, "words.py") or ""))
    only = "LIMIT = 3  # (line 5)\nword_0(text)  # (lines 8-14): Word number 0.\n"
    assert uncopied(only, entries) == only
