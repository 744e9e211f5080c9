"""A bead's tries: what a repair is shown of the best answer, and how runs are ranked."""

from gastown.tries import _changed_definitions, same_code, score_of

MODULE = '''"""Words."""

import functools


def keep(word):
    return word


@functools.cache
def shout(word):
    return word
'''


def test_a_repair_is_shown_the_definitions_the_answer_changed_with_their_decorators():
    answer = MODULE.replace("    return word\n", "    return word.upper()\n").replace(
        "def keep(word):\n    return word.upper()", "def keep(word):\n    return word"
    )
    answer += "\n\ndef whisper(word):\n    return word.lower()\n"
    shown = _changed_definitions(MODULE, answer)
    assert shown.startswith("@functools.cache\ndef shout(word):\n    return word.upper()"), shown
    assert "def whisper(word)" in shown and "def keep" not in shown  # new and changed, not the rest
    assert _changed_definitions(MODULE, MODULE.replace("import functools", "import functools, re")) == ""


def test_the_same_code_is_the_same_tree_whatever_its_docstrings_and_comments():
    redone = MODULE.replace('"""Words."""', '"""Other words."""') + "\n# a comment\n"
    assert same_code("words.py", MODULE.encode(), redone.encode())
    assert not same_code("words.py", MODULE.encode(), MODULE.replace("word\n", "word * 2\n", 1).encode())
    assert not same_code("words.txt", b"a", b"a ")  # other files: byte for byte


def test_code_that_runs_its_tests_ranks_above_code_that_cannot_be_collected():
    collection_error = score_of({"errors": 1}, 0)
    all_six_fail = score_of({"failed": 6}, 0)
    one_passes = score_of({"passed": 1, "failed": 5}, 0)
    breaks_one = score_of({"passed": 6}, 1)
    assert collection_error < all_six_fail < breaks_one < one_passes
