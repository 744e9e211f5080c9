"""A bead's tries: what a fresh try is told of the best answer, and how runs are ranked."""

from pathlib import Path

from conftest import git

from gastown.agents import prompts
from gastown.agents.suspects import Suspect
from gastown.agents.tries import Tries, same_code, score_of

MODULE = '''"""Words."""

import functools


def keep(word):
    return word


@functools.cache
def shout(word):
    return word
'''


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
    tries.scored(score_of({"passed": passed, "failed": 4 - passed}, 0), "E   AssertionError: assert 'a' == 'A'")
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


def test_every_fresh_try_starts_from_the_beads_files_told_the_best_answers_failure(tmp_path):
    root = words_rig(tmp_path)
    head = [{"role": "system", "content": "You are a Polecat."}, {"role": "user", "content": "# Bead: shout"}]
    tries = Tries(root, head, start=score_of({"failed": 4}, 0))
    near = MODULE.replace("    return word\n\n\n@", "    return word.strip()\n\n\n@")
    _answer(tries, root, near, passed=3)  # a near miss: no repair of it, a fresh try
    messages, why, told = tries.begin_again("")
    assert [m["role"] for m in messages] == ["system", "user"] and messages[0] == head[0]
    assert messages[1]["content"] == head[1]["content"] + told  # the first prompt, the note at its end
    assert "The failure to fix:\n```text\nE   AssertionError: assert 'a' == 'A'" in told
    assert (root / "words.py").read_text() == MODULE  # as the bead found it
    worse = MODULE.replace("    return word\n\n\n@", "    return None\n\n\n@")
    (root / "words.py").write_text(worse)
    tries.scored(score_of({"passed": 1, "failed": 3}, 0), "E   assert None")
    tries.end("the tests fail")
    _, _, told = tries.begin_again("E   assert None")
    assert "assert 'a' == 'A'" in told and "assert None" not in told  # the best answer's failure, not the last's
    assert tries.keep_best() is not None and (root / "words.py").read_text() == near  # the best kept at the end


def test_a_fresh_try_is_told_each_other_test_the_best_answer_failed_not_the_first_alone(tmp_path):
    """The 1.5B's slug answers each failed two to six tests; told only the first, the next
    answer fixed that one and missed another."""
    root = words_rig(tmp_path)
    head = [{"role": "system", "content": "You are a Polecat."}, {"role": "user", "content": "# Bead: shout"}]
    tries = Tries(root, head, start=score_of({"failed": 4}, 0))
    tries.began("E   ImportError: no shout", ["test_loud: ImportError"])
    (root / "words.py").write_text(MODULE.replace("    return word\n\n\n@", "    return word.strip()\n\n\n@"))
    tries.written.add("words.py")
    others = ["test_empty: Failed: DID NOT RAISE <class 'ValueError'>", "test_accents: assert 'cr-me' == 'creme'"]
    tries.scored(score_of({"passed": 2, "failed": 2}, 0), "E   assert 'a_b' == 'a-b'", "", others)
    tries.scored(score_of({"passed": 1, "failed": 3}, 0), "E   assert 0", "", ["test_worse: assert 0"])
    tries.end("the tests fail")
    _, _, told = tries.begin_again("")
    assert "assert 'a_b' == 'a-b'\n```\nIt failed these tests too:\n- test_empty: Failed: DID NOT RAISE" in told, told
    assert (
        "- test_accents: assert 'cr-me' == 'creme'\n" in told and "test_worse" not in told and "test_loud" not in told
    )


def test_a_fresh_try_is_told_what_the_best_answer_left_undone_without_its_reply_with(tmp_path):
    """The check named `summary` as still to change beside the 1.5B's reading_time; a fresh
    try starts from the bead's files, where "reply with only summary" would be wrong."""
    root = words_rig(tmp_path)
    head = [{"role": "system", "content": "You are a Polecat."}, {"role": "user", "content": "# Bead: shout"}]
    tries = Tries(root, head, start=score_of({"failed": 4}, 0))
    tries.began("E   ImportError: cannot import name 'loud' from 'words'")
    (root / "words.py").write_text(MODULE.replace("    return word\n\n\n@", "    return word.strip()\n\n\n@"))
    tries.written.add("words.py")
    still = (
        "\nStill to change: `shout` in words.py. The bead asks for a change to it, the failing test test_shout "
        "calls it, and no change so far touched words.py. Reply with words.py and `shout`, changed."
    )
    tries.scored(score_of({"passed": 3, "failed": 1}, 0), "E   assert 1 == 2", still)
    tries.scored(score_of({"passed": 1, "failed": 3}, 0), "E   assert 0", "")  # worse
    tries.end("the tests fail")
    _, _, told = tries.begin_again("")
    assert "What the best answer so far left undone:\n- Still to change: `shout` in words.py.\n" in told, told
    assert "Reply with" not in told and "assert 1 == 2" in told
    (root / "words.py").write_text(MODULE.replace('"""Words."""', '"""Words, sent back."""'))
    tries.unchanged(["words.py"])  # the next answer sent words.py back as it was
    _, _, told = tries.begin_again("")
    # what was left undone is no line at fault: asked for one, the 1.5B sent its reading_time back again
    assert "left undone" in told and "naming the line" not in told, told
    # and the failure beside it is the best answer's, not the bead's ImportError it had fixed
    assert "assert 1 == 2" in told and "ImportError" not in told, told


def test_a_fresh_try_of_a_bug_fix_is_told_the_bugs_failure_not_the_new_bugs_of_the_last_answer(tmp_path):
    """The last answer broke a case the bead's code got right; the try starts from that code,
    so "handle that case" would send the model after a bug the code does not have."""
    root = words_rig(tmp_path)
    head = [{"role": "system", "content": "You are a Polecat."}, {"role": "user", "content": "# Bead: fix shout"}]
    tries = Tries(root, head, start=score_of({"passed": 3, "failed": 1}, 0))
    tries.began("E   AssertionError: assert shout('a') == 'A'")
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
    going_on = [*head, {"role": "assistant", "content": "words.py\n```python\n...\n```"}]
    going_on.append({"role": "user", "content": "The tests, run after this change: 3 passed, 1 failed"})
    assert prompts.reply_start(going_on) == ""  # a conversation that goes on is not begun


def test_a_fresh_try_asked_for_the_line_at_fault_is_not_begun_with_code(tmp_path):
    """Begun at toolz's imports, the 1.5B sent `unique` back as it was three tries running;
    unbegun, told to name the line first, it named it and fixed it."""
    root = words_rig(tmp_path)
    opening = "\n## Start your reply like this\nwords.py\n```python\nimport functools\n```\n"
    head = [
        {"role": "system", "content": "You are a Polecat."},
        {"role": "user", "content": f"# Bead: fix shout\n{opening}"},
    ]
    tries = Tries(root, head, start=score_of({"passed": 3, "failed": 1}, 0))
    tries.began("E   AssertionError: assert shout('a') == 'A'")
    (root / "words.py").write_text(MODULE.replace('"""Words."""', '"""Words, sent back."""'))
    tries.written.add("words.py")
    tries.unchanged(["words.py"])
    messages, _, told = tries.begin_again("")
    assert "naming the line that gives this result" in told
    assert messages[-1]["content"].endswith(told) and "## Start your reply" not in messages[-1]["content"]
    assert prompts.reply_start(messages) == ""  # the model may write its sentence first


def test_a_guided_change_that_does_no_better_than_the_one_before_ends_its_try(tmp_path):
    root = words_rig(tmp_path)
    head = [{"role": "system", "content": "You are a Polecat."}, {"role": "user", "content": "# Bead: shout"}]
    tries = Tries(root, head, start=score_of({"failed": 4}, 0))
    for passed in (3, 1):
        tries.scored(score_of({"passed": passed, "failed": 4 - passed}, 0), "E   AssertionError")
        tries.failed_change(guided=True)  # something is named as missing: the try goes on while it improves
        assert tries.start_over == (
            "" if passed == 3 else "the last change got no more tests passing than the one before it"
        )


def test_a_bug_fixs_later_tries_start_from_its_function_with_the_body_left_out(tmp_path):
    """The 1.5B kept toolz's faulty line in its answers, try after try; from the third try
    on it is shown what `shout` must do and not how it did it, for good."""
    root = words_rig(tmp_path)
    head = [{"role": "system", "content": "You are a Polecat."}, {"role": "user", "content": "# Bead: fix shout\nbody"}]
    blind = [head[0], {"role": "user", "content": "# Bead: fix shout\n...  # left out"}]
    tries = Tries(root, head, start=score_of({"passed": 3, "failed": 1}, 0), blind=(blind, "shout"))
    tries.began("E   AssertionError: assert shout('a') == 'A'")
    told = []
    for _ in range(3):
        (root / "words.py").write_text(MODULE.replace('"""Words."""', '"""Words, sent back."""'))
        tries.written.add("words.py")
        tries.unchanged(["words.py"])
        messages, _, note = tries.begin_again("")
        told.append((messages[-1]["content"], note))
    (second, asked), (third, hidden), (fourth, again) = told
    assert second.startswith(head[1]["content"]) and "naming the line" in asked  # the second try: the usual ask
    assert third == blind[1]["content"] + hidden and fourth == blind[1]["content"] + again
    for note in (hidden, again):  # no line to name in a body it cannot see; the failure still told
        assert "so that body is left out above. Write `shout` whole again" in note and "naming the line" not in note
        assert "assert shout('a') == 'A'" in note
    assert tries.head[1] == blind[1] and tries.body_left_out == "shout"  # what the server holds from now on
    plain = Tries(root, head, start=score_of({"passed": 3, "failed": 1}, 0))
    for _ in range(3):
        plain.end("the tests fail")
        messages, _, note = plain.begin_again("E   assert 0")
        assert messages[-1]["content"].startswith(head[1]["content"]) and "left out" not in note


def test_a_blind_try_that_does_worse_than_the_beads_own_code_sends_the_tries_back_to_the_first_prompt(tmp_path):
    """Rewritten from its docstring, the starter suite's `wrap` lost what it did besides its
    bug: 13 blind answers of 13 passed 14 or 15 of 22 tests where its own code passed 21.
    A blind try whose best run scores below the code as the bead found it ends the blind
    tries for good; one that does as well or better keeps them."""
    root = words_rig(tmp_path)
    head = [{"role": "system", "content": "You are a Polecat."}, {"role": "user", "content": "# Bead: fix shout\nbody"}]
    blind = [head[0], {"role": "user", "content": "# Bead: fix shout\n...  # left out"}]
    found = {"passed": 21, "failed": 1}
    cases = (
        ({"passed": 15, "failed": 7}, True),
        ({"passed": 21, "failed": 1}, False),
        ({"passed": 0, "failed": 0, "errors": 1}, False),  # an answer that did not import: no evidence
    )
    for blind_run, back in cases:
        tries = Tries(root, list(head), start=score_of(found, 0), blind=(blind, "shout"))
        tries.began("E   AssertionError: assert shout('a') == 'A'")
        for _ in range(2):  # sighted tries that do worse change nothing: the third is blind
            tries.scored(score_of({"passed": 10, "failed": 12}, 0), "E   AssertionError")
            tries.end("the tests fail")
            tries.begin_again("")
        assert tries.number == 3 and tries.body_left_out == "shout"  # the third try is blind
        for run in ({"passed": 0, "failed": 0, "errors": 1}, blind_run):  # its best run is the last
            tries.scored(score_of(run, 0), "E   AssertionError")
        tries.end("the tests fail")
        messages, _, note = tries.begin_again("")
        if back:
            assert messages[-1]["content"].startswith(head[1]["content"]) and tries.head == head
            assert tries.body_left_out == "" and "left out above" not in note
            tries.end("the tests fail")
            messages, _, _ = tries.begin_again("")  # for good: the fifth try too
            assert tries.head == head
        else:
            assert messages[-1]["content"].startswith(blind[1]["content"]) and tries.body_left_out == "shout"


def _near_miss(tries: Tries, root: Path, code: str, tally: tuple[int, int], broken: int = 0) -> None:
    """An answer written to words.py and scored: ``tally`` is its tests passed and failed."""
    (root / "words.py").write_text(code)
    tries.written.add("words.py")
    counts = {"passed": tally[0], "failed": tally[1]}
    failure = "_____ test_empty _____\nE   Failed: DID NOT RAISE <class 'ValueError'>"
    tries.scored(score_of(counts, broken), failure, "", (), counts)
    tries.end("the tests fail")


def test_a_fresh_try_after_a_near_miss_is_shown_the_definitions_it_changed_and_the_one_test_it_failed(tmp_path):
    """Asked the first prompt again with only the failure, the 1.5B wrote `slugify` anew and
    lost what its 5-of-6 answer got right (0 of 12 answers passed); shown that answer's code,
    6 of 12 passed."""
    root = words_rig(tmp_path)
    head = [{"role": "system", "content": "You are a Polecat."}, {"role": "user", "content": "# Bead: loud words"}]
    tries = Tries(root, head, start=score_of({"failed": 6}, 0))
    near = MODULE.replace("def keep(word):\n    return word\n", 'def keep(word):\n    return word.upper() or "-"\n')
    _near_miss(tries, root, "import re\n" + near, (5, 1))
    messages, _, told = tries.begin_again("")
    assert "An earlier answer to this bead passed 5 of the 6 tests run. It was:\nwords.py\n```python\n" in told, told
    shown = told.split("```python\n", 1)[1].split("```", 1)[0]
    assert shown == 'import re\n\n\ndef keep(word):\n    return word.upper() or "-"\n'  # not shout, kept as it was
    assert "The test it failed:\n```text\n" in told and "DID NOT RAISE" in told
    assert told.endswith("keep what that answer got right, and handle that case too.\n")
    assert messages[-1]["content"] == head[1]["content"] + told  # in the first prompt, not a reply of its own
    assert (root / "words.py").read_text() == MODULE  # the fresh try starts from the files as the bead found them


def test_a_new_file_of_a_near_miss_is_shown_whole_without_its_long_docstrings(tmp_path):
    root = words_rig(tmp_path)
    head = [{"role": "system", "content": "You are a Polecat."}, {"role": "user", "content": "# Bead: slugs"}]
    tries = Tries(root, head, start=score_of({"errors": 1}, 0))
    slug = 'import re\n\n\ndef slugify(text):\n    """Slugs.\n\n    A long docstring.\n    """\n    return re.sub("x", "-", text)\n'
    (root / "slug.py").write_text(slug)
    tries.written.add("slug.py")
    tries.scored(
        score_of({"passed": 5, "failed": 1}, 0), "E   Failed: DID NOT RAISE", "", (), {"passed": 5, "failed": 1}
    )
    tries.end("the tests fail")
    _, _, told = tries.begin_again("")
    assert 'slug.py\n```python\nimport re\n\n\ndef slugify(text):\n    return re.sub("x", "-", text)\n```\n' in told
    assert not (root / "slug.py").exists()


def test_only_a_near_miss_is_shown_not_an_answer_that_failed_two_tests_broke_one_or_did_no_better(tmp_path):
    root = words_rig(tmp_path)
    head = [{"role": "system", "content": "You are a Polecat."}, {"role": "user", "content": "# Bead: loud words"}]
    changed = MODULE.replace("def keep(word):\n    return word\n", "def keep(word):\n    return word.upper()\n")
    cases = (
        (score_of({"failed": 6}, 0), (4, 2), 0),  # two tests failed: the fresh try writes anew
        (score_of({"failed": 6}, 0), (5, 1), 1),  # it broke a test that passed before the bead
        (score_of({"passed": 5, "failed": 1}, 0), (5, 1), 0),  # no better than the bead's own code
    )
    for start, tally, broken in cases:
        tries = Tries(root, list(head), start=start)
        tries.began("E   Failed: DID NOT RAISE")
        _near_miss(tries, root, changed, tally, broken)
        _, _, told = tries.begin_again("")
        assert "It was:" not in told and "The failure to fix" in told, (tally, broken, told)
    tries = Tries(root, list(head), start=score_of({"failed": 6}, 0))
    _near_miss(tries, root, MODULE.replace('"""Words."""', '"""Other words."""'), (5, 1))  # no code changed
    assert tries.near_miss() == ""


def test_a_near_miss_sent_back_as_it_was_is_not_shown_again_and_one_that_errored_is_none(tmp_path):
    """Shown again after a try that copied it back, the same note would get the same copy
    (and a third identical change ends the bead as stuck)."""
    root = words_rig(tmp_path)
    head = [{"role": "system", "content": "You are a Polecat."}, {"role": "user", "content": "# Bead: loud words"}]
    tries = Tries(root, head, start=score_of({"failed": 6}, 0))
    near = MODULE.replace("def keep(word):\n    return word\n", "def keep(word):\n    return word.upper()\n")
    _near_miss(tries, root, near, (5, 1))
    _, _, told = tries.begin_again("")
    assert "It was:" in told
    _near_miss(tries, root, near, (5, 1))  # the near miss's try sends it back: no better, the best stays
    _, _, told = tries.begin_again("")
    assert "It was:" not in told and "The failure to fix" in told, told
    errored = Tries(root, list(head), start=score_of({"failed": 6}, 0))
    (root / "words.py").write_text(near)
    errored.written.add("words.py")
    counts = {"passed": 5, "failed": 0, "errors": 1}  # a test module that did not import: its tests never ran
    errored.scored(score_of(counts, 0), "E   ImportError: no loud", "", (), counts)
    assert errored.near_miss() == ""


def test_a_near_miss_puts_off_a_bug_fixs_blind_tries(tmp_path):
    """Its note shows the body the blind prompt leaves out: the two would contradict."""
    root = words_rig(tmp_path)
    head = [{"role": "system", "content": "You are a Polecat."}, {"role": "user", "content": "# Bead: fix shout\nbody"}]
    blind = [head[0], {"role": "user", "content": "# Bead: fix shout\n...  # left out"}]
    tries = Tries(root, list(head), start=score_of({"passed": 4, "failed": 2}, 0), blind=(blind, "shout"))
    tries.began("E   AssertionError")
    tries.scored(score_of({"passed": 3, "failed": 3}, 0), "E   AssertionError")
    tries.end("the tests fail")
    tries.begin_again("")
    near = MODULE.replace("def shout(word):\n    return word\n", "def shout(word):\n    return word.upper()\n")
    _near_miss(tries, root, near, (5, 1))
    messages, _, told = tries.begin_again("")
    assert tries.number == 3 and tries.body_left_out == "" and tries.head == head  # not blind yet
    assert "It was:" in told and "left out above" not in told
    assert messages[-1]["content"].startswith(head[1]["content"])


def test_what_an_answer_changed_of_a_module_is_each_statement_it_added_or_changed():
    from gastown.agents.changes import changed

    old = 'import re\n\nA, B = 1, 2\n\n\ndef f(x):\n    """Doc."""\n    return x\n'
    assert changed(old, old.replace('"""Doc."""', '"""Other doc."""')) is None  # docstrings aside
    assert changed(old, "import os\n" + old) == "import os\n"  # an import alone is a change
    assert changed(old, old.replace("A, B = 1, 2", "A, B = 1, 3")) == "A, B = 1, 3\n"
    assert changed(old, old.replace("return x", "return -x")) == 'def f(x):\n    """Doc."""\n    return -x\n'
    assert changed(None, "LIMIT = 3\n") == "LIMIT = 3\n"  # a new file without a function is shown too
    assert changed(old, "def broken(:\n") is None


def test_a_run_cut_for_looping_is_not_kept_for_pairing(tmp_path):
    """pairs.py makes sets from the runs' files: a set with a looping file would loop again."""
    root = words_rig(tmp_path)
    tries = Tries(root, [{"role": "user", "content": "the bead"}])
    (root / "words.py").write_text(MODULE.replace("return word\n", "while True:\n        pass\n", 1))
    tries.written.add("words.py")
    tries.scored(score_of({}, 0), "", timed_out=True)
    (root / "words.py").write_text(MODULE.replace("return word\n", "return word.upper()\n", 1))
    tries.scored(score_of({"passed": 1, "failed": 3}, 0), "E   AssertionError")
    assert [files["words.py"] for files in tries.runs] == [(root / "words.py").read_bytes()]


def test_a_near_miss_sweep_tries_an_answer_the_bug_fixs_sweep_tried_on_other_code(tmp_path):
    """An answer is known to fail on the code its sweep started from; on a near miss's code,
    where another fault is mended, it may pass."""
    root = words_rig(tmp_path)
    tries = Tries(root, [{"role": "user", "content": "the bead"}])
    line = Suspect("words.py", 7, 7, "keep", False, 1.0)
    tries.sweep, tries.line = [], line
    assert tries.line_answer("words.py", "    return word\n", "    return word.upper()\n") == ""
    again = tries.line_answer("words.py", "    return word\n", "    return word.upper()\n")
    assert again == "an answer this line was given before, tried then" and tries.sweep == [line]
    _answer(tries, root, MODULE.replace("return word\n", "return word.title()\n", 1), 3)
    tries.sweep_near("words.py\n```python\n...```", [line])
    tries.line = tries.sweep.pop(0)
    assert tries.line_answer("words.py", "    return word\n", "    return word.upper()\n") == ""


def test_a_bug_fix_that_asks_about_its_lines_first_counts_its_own_answers_from_one(tmp_path):
    """The sweep before any answer (sweep.begin): try 1 is the first line's ask, and the
    tries that reach the blind prompt (BLIND_FROM) are still the bead's own answers."""
    root = words_rig(tmp_path)
    blind = ([{"role": "user", "content": "the bead, keep's body left out"}], "keep")
    tries = Tries(root, [{"role": "user", "content": "the bead"}], blind=blind)
    line = Suspect("words.py", 7, 7, "keep", False, 1.0)
    tries.sweep = [line, line]
    tries.lines_first()
    heads = []
    for _ in range(5):
        head, _why, _hint = tries.begin_again("E   AssertionError")
        heads.append((tries.number, tries.line is not None, head[-1]["content"].startswith("the bead, keep's")))
        tries.end("the corrected line did not make the tests pass")
    # two asks, then the bead's own answers 1 and 2 on the first prompt, its 3rd on the blind one
    assert heads == [(1, True, False), (2, True, False), (3, False, False), (4, False, False), (5, False, True)]
