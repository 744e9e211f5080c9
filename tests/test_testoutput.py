"""What a model is shown of a test run (testoutput.py): each different failure once, the rest by name."""

import subprocess
import sys
from pathlib import Path

from conftest import PYTEST

from gastown.agents import checks, testoutput
from gastown.agents.commands import Run

MANY_FAILURES = """import pytest


def test_lists_differ():
    assert [1, 2] == [1, 3]


def test_other_lists_differ():
    assert [5] == [6]


def missing(word):
    raise NotImplementedError


@pytest.mark.parametrize("word", ["a", "b", "c", "d", "e", "f"])
def test_missing(word):
    assert missing(word) == word


@pytest.mark.parametrize("n", range(20))
def test_wrong_values(n):
    assert n * 2 == n + 100


def test_passes():
    assert True
"""


def run_pytest(tmp_path: Path, source: str) -> Run:
    (tmp_path / "test_many.py").write_text(source)
    argv = (
        *PYTEST,
        "-rfE",
        "--tb=short",
        "-l",
        "test_many.py",
    )
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    return Run(argv, proc.returncode, proc.stdout + proc.stderr)


def test_the_same_traceback_for_other_parameters_is_named_not_shown_again(tmp_path):
    found = checks.read_run(run_pytest(tmp_path, MANY_FAILURES))
    assert found.counts["failed"] == 28 and found.counts["passed"] == 1
    shown = found.shown
    assert shown.count("raise NotImplementedError") == 1
    assert "(the same failure in: test_missing[b], test_missing[c]" in shown
    assert "word       = 'a'" in shown  # -l: the first one's values are shown
    assert "FFFF" not in shown  # no progress dots


def test_different_tests_that_reach_one_unfinished_method_are_one_failure(tmp_path):
    source = """class Cache:
    def popitem(self):
        raise NotImplementedError

    def insert(self):
        self.popitem()


def test_insert():
    Cache().insert()


def test_popitem():
    Cache().popitem()


def test_other():
    assert 1 == 2
"""
    shown = checks.read_run(run_pytest(tmp_path, source)).shown
    assert shown.count("raise NotImplementedError") == 1
    checked = """def check(reason):
    raise ValueError(reason)


def test_expired():
    check("expired")


def test_too_big():
    check("too big")


def test_expired_again():
    check("expired")
"""
    shown_two = checks.read_run(run_pytest(tmp_path, checked)).shown
    assert "E   ValueError: expired" in shown_two and "E   ValueError: too big" in shown_two  # two messages
    assert "(the same failure in: test_expired_again)" in shown_two
    assert "(the same failure in: test_popitem)" in shown
    assert "assert 1 == 2" in shown  # a different failure is still shown


def test_past_three_different_failures_the_rest_are_named_and_the_summary_lists_only_them(tmp_path):
    found = checks.read_run(run_pytest(tmp_path, MANY_FAILURES))
    shown = found.shown
    sections = [line for line in shown.splitlines() if line.startswith("___") and line.endswith("___")]
    assert len(sections) == testoutput.DISTINCT_SHOWN == 3
    assert "(more failures: test_wrong_values[" in shown  # two different list failures, then missing
    # pytest's short summary keeps only the failures not shown above: the ones past the three
    listed = [line for line in shown.splitlines() if line.startswith("FAILED ")]
    wrong = [f"FAILED test_many.py::test_wrong_values[{n}] - assert ({n} * 2) == ({n} + 100)" for n in range(12)]
    assert listed == wrong and len(wrong) == testoutput.SUMMARY_SHOWN and "... and 8 more failed" in shown
    assert shown.rstrip().splitlines()[-1].startswith("28 failed, 1 passed in ")
    assert len(found.outcomes) == 28  # every FAILED line is still read, from the whole output


def test_the_first_failure_is_its_own_section():
    found = testoutput.first_failure("head\n____ test_a ____\nE   boom\n____ test_b ____\nE   other\n")
    assert found == "____ test_a ____\nE   boom"


def test_the_gist_of_a_collection_error_is_the_line_that_would_not_import(tmp_path):
    (tmp_path / "ngrams.py").write_text("def ngrams(tokens: Sequence[str]) -> list:\n    return []\n")
    found = checks.read_run(
        run_pytest(tmp_path, "from ngrams import ngrams\n\n\ndef test_x():\n    assert ngrams([])\n")
    )
    gist = testoutput.gist(found.shown)
    assert "ngrams.py:1: in <module>" in gist and "NameError: name 'Sequence' is not defined" in gist, gist
    assert "importlib" not in gist  # not the import machinery's frames


def test_a_test_module_that_does_not_import_is_shown_without_the_import_machinery(tmp_path):
    (tmp_path / "stats.py").write_text("def word_count(text):\n    return len(text.split())\n")
    run = run_pytest(tmp_path, "from stats import reading_time\n\n\ndef test_x():\n    assert reading_time('a')\n")
    assert "importlib/__init__.py" in run.output and "valid Python names" in run.output  # pytest's own words
    shown = checks.read_run(run).shown
    assert "importlib" not in shown and "^^^^" not in shown and "valid Python names" not in shown, shown
    assert "test_many.py:1: in <module>" in shown and "from stats import reading_time" in shown
    assert "E   ImportError: cannot import name 'reading_time' from 'stats'" in shown


def test_the_gist_of_a_failed_assertion_keeps_where_the_values_and_what_differs(tmp_path):
    found = checks.read_run(run_pytest(tmp_path, MANY_FAILURES))
    gist = testoutput.gist(testoutput.first_failure(found.shown, 6000))
    lines = gist.splitlines()
    assert lines[0].strip("_ ") == "test_lists_differ"
    assert "test_many.py:5: in test_lists_differ" in gist and "assert [1, 2] == [1, 3]" in gist
    assert all(line.startswith("E ") for line in lines[3:]), gist


def test_a_project_whose_pytest_forces_colour_is_read_as_any_other(tmp_path: Path):
    """``addopts = --color=yes`` puts escape codes around PASSED/FAILED: they are taken out of
    what the command printed, so the outcomes are read and the model sees none of them."""
    from gastown.agents.commands import run_command
    from gastown.agents.jail import Jail

    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --color=yes\n")
    (tmp_path / "test_it.py").write_text("def test_ok():\n    pass\n\n\ndef test_bad():\n    assert 1 == 2\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    run = run_command([*PYTEST, "-rA"], tmp_path, 60, env, Jail())
    assert "\x1b" not in run.output
    found = checks.read_run(run)
    assert found.outcomes == {"test_it.py::test_ok": "PASSED", "test_it.py::test_bad": "FAILED"}
    assert found.counts["failed"] == 1 and found.counts["passed"] == 1
    tput = run_command(
        [sys.executable, "-c", r"print('\x1b(B\x1b[mPASSED\x1b=\x1b]0;title\x07 ok')"], tmp_path, 60, env, Jail()
    )
    assert tput.output.strip() == "PASSED ok"  # tput sgr0's charset choice and the rest go too


def test_the_other_failing_tests_are_a_line_each_with_what_was_raised(tmp_path):
    shown = checks.read_run(run_pytest(tmp_path, MANY_FAILURES)).shown
    others = testoutput.other_failures(shown)
    # the first failure is told whole elsewhere; then the two shown whole, then the summary's
    assert others[:2] == ["test_other_lists_differ: assert [5] == [6]", "test_missing[a]: NotImplementedError"]
    assert others[2] == "test_wrong_values[0]: assert (0 * 2) == (0 + 100)" and len(others) == 4
    assert testoutput.other_failures(shown, count=1, width=20) == ["test_other_lists_..."]
    one = checks.read_run(run_pytest(tmp_path, "def test_one():\n    assert 1 == 2\n")).shown
    assert testoutput.other_failures(one) == []  # one failure: nothing more to tell


def test_the_other_failing_tests_leave_out_only_the_one_told_whole(tmp_path):
    shown = checks.read_run(run_pytest(tmp_path, MANY_FAILURES)).shown
    assert "test_lists_differ" in testoutput.failures(shown)
    assert not any(line.startswith("test_lists_differ:") for line in testoutput.other_failures(shown))
    summary_only = "FAILED t.py::test_a - assert 1 == 2\nFAILED t.py::test_b - KeyError: 'x'\n2 failed in 0.1s\n"
    # no section shown whole: first_failure tells the output's end, so every summary line is named
    assert testoutput.other_failures(summary_only) == ["test_a: assert 1 == 2", "test_b: KeyError: 'x'"]
