"""A bead's tries: what a repair is shown of the best answer, and how runs are ranked."""

from pathlib import Path

from conftest import git

from gastown.agents import prompts
from gastown.agents.tries import REPAIRS, Tries, _changed_definitions, same_code, score_of

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


def _answer(tries: Tries, root: Path, code: str, passed: int) -> None:
    """A try's answer written to words.py and scored: ``passed`` of 4 tests pass."""
    (root / "words.py").write_text(code)
    tries.written.add("words.py")
    tries.scored(
        score_of({"passed": passed, "failed": 4 - passed}, 0),
        {"passed": passed, "failed": 4 - passed},
        "E   AssertionError: assert 'a' == 'A'",
    )
    tries.end("the tests fail")


def words_rig(tmp_path: Path) -> Path:
    """A git repository holding words.py (MODULE), committed."""
    root = tmp_path / "rig"
    root.mkdir()
    git(root, "init", "--quiet")
    (root / "words.py").write_text(MODULE)
    git(root, "add", ".")
    git(root, "commit", "--quiet", "-m", "the rig")
    return root


def test_the_best_answer_is_repaired_in_a_conversation_once_then_tries_start_from_the_beads_files(tmp_path):
    root = words_rig(tmp_path)
    head = [{"role": "system", "content": "You are a Polecat."}, {"role": "user", "content": "# Bead: shout"}]
    tries = Tries(root, head, start=score_of({"failed": 4}, 0))
    near = MODULE.replace("    return word\n\n\n@", "    return word.strip()\n\n\n@")
    _answer(tries, root, near, passed=2)
    messages, why, told = tries.begin_again("")
    assert REPAIRS == 1 and [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[:2] == head  # the first prompt as it was: the server still holds it
    assert messages[2]["content"] == "words.py\n```python\ndef keep(word):\n    return word.strip()\n```"
    assert messages[3]["content"] == told and "2 of 4 pass" in told and "assert 'a' == 'A'" in told
    # the failure is fenced as text: after a bare fence a 1.5B answered with `obj['code']`
    assert "```text\nE   AssertionError" in told
    assert (root / "words.py").read_text() == near  # the files are the near miss's
    nearer = near.replace("    return word\n", "    return word.upper()\n")
    _answer(tries, root, nearer, passed=3)  # a better answer: not repaired again, a fresh try
    messages, why, told = tries.begin_again("E   AssertionError")
    assert [m["role"] for m in messages] == ["system", "user"] and "## An earlier try" in messages[1]["content"]
    assert "The failure to fix:\n```text\nE   AssertionError" in told
    assert (root / "words.py").read_text() == MODULE  # as the bead found it
    assert tries.keep_best() is not None and (root / "words.py").read_text() == nearer  # the best kept at the end


def test_a_repair_is_told_what_the_check_named_as_still_to_change_not_asked_for_the_line_at_fault(tmp_path):
    """Asked which line of its code was at fault, the 1.5B sent reading_time back again: the
    fault was summary() in another file, which no change had touched."""
    root = words_rig(tmp_path)
    head = [{"role": "system", "content": "You are a Polecat."}, {"role": "user", "content": "# Bead: shout"}]
    tries = Tries(root, head, start=score_of({"failed": 4}, 0))
    (root / "words.py").write_text(MODULE.replace("    return word\n\n\n@", "    return word.strip()\n\n\n@"))
    tries.written.add("words.py")
    still = "\nStill to change: `shout` in words.py. Reply with words.py and `shout`, changed."
    tries.scored(score_of({"passed": 3, "failed": 1}, 0), {"passed": 3, "failed": 1}, "E   assert 1 == 2", still)
    tries.scored(score_of({"passed": 1, "failed": 3}, 0), {"passed": 1, "failed": 3}, "E   assert 0", "")  # worse
    tries.end("the tests fail")
    _, _, told = tries.begin_again("")
    assert told.endswith(still.strip()) and "3 of 4 pass" in told and "which line" not in told
    plain = Tries(root, head, start=score_of({"failed": 4}, 0))
    _answer(plain, root, MODULE.replace("    return word\n\n\n@", "    return word.strip()\n\n\n@"), passed=2)
    assert "which line of your code" in plain.begin_again("")[2]  # nothing named: the line at fault


def test_a_fresh_try_of_a_bug_fix_is_told_the_bugs_failure_not_the_new_bugs_of_the_last_answer(tmp_path):
    """The last answer broke a case the bead's code got right; the try starts from that code,
    so "handle that case" would send the model after a bug the code does not have."""
    root = words_rig(tmp_path)
    head = [{"role": "system", "content": "You are a Polecat."}, {"role": "user", "content": "# Bead: fix shout"}]
    tries = Tries(root, head, start=score_of({"passed": 3, "failed": 1}, 0))
    tries.began({"passed": 3, "failed": 1}, "E   AssertionError: assert shout('a') == 'A'")
    _answer(tries, root, MODULE.replace("return word\n\n\n@", "return None\n\n\n@"), passed=2)  # a new bug
    messages, _, told = tries.begin_again("E   AssertionError: assert keep('a') == 'a'")
    assert "shout('a') == 'A'" in told and "keep(" not in told
    assert messages[-1]["content"].endswith(told) and (root / "words.py").read_text() == MODULE


def test_a_fresh_tries_note_goes_above_the_start_of_the_reply_and_never_into_the_beads_text(tmp_path):
    root = words_rig(tmp_path)
    opening = "\n## Start your reply like this\nwords.py\n```python\ndef shout(word):\n```\n"
    quoted = (
        "# Bead: shout\nIts text quotes a prompt:\n## Start your reply like this\nwords.py\n\n## How this ends\nx\n"
    )
    for task, ends in ((f"# Bead: shout\n{opening}", opening), (quoted, None)):
        head = [{"role": "system", "content": "You are a Polecat."}, {"role": "user", "content": task}]
        tries = Tries(root, head, start=score_of({"failed": 4}, 0))
        tries.end("the tests fail")
        messages, _, told = tries.begin_again("E   AssertionError: assert 'a' == 'A'")
        prompt = messages[-1]["content"]
        assert prompt.endswith(ends or told) and told in prompt, prompt
        # the reply is begun with the start where the server lets gastown: first try and fresh ones
        begun = "words.py\n```python\ndef shout(word):\n" if ends else ""
        assert prompts.reply_start(head) == prompts.reply_start(messages) == begun
    repair = [*head, {"role": "assistant", "content": "words.py\n```python\n...\n```"}]
    repair.append({"role": "user", "content": "The tests ran after that change: 3 of 4 pass."})
    assert prompts.reply_start(repair) == ""  # a conversation that goes on is not begun


def test_a_repair_that_does_worse_than_the_answer_it_repairs_ends_its_try(tmp_path):
    root = words_rig(tmp_path)
    head = [{"role": "system", "content": "You are a Polecat."}, {"role": "user", "content": "# Bead: shout"}]
    tries = Tries(root, head, start=score_of({"failed": 4}, 0))
    _answer(tries, root, MODULE.replace("    return word\n\n\n@", "    return word.strip()\n\n\n@"), passed=3)
    tries.begin_again("")  # the repair of the near miss
    worse = score_of({"passed": 1, "failed": 3}, 0)
    tries.scored(worse, {"passed": 1, "failed": 3}, "E   AssertionError")
    tries.failed_change(guided=True)  # something is named as missing, but the change did worse
    assert tries.start_over == "the last change got no more tests passing than the one before it"
