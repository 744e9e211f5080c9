"""A bug fix's suspect lines: found by running the tests under a line tracer, asked about one at a time."""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import PYTEST, git

from gastown.agents import lineask, reports, suspects, sweep
from gastown.agents.tools import Sandbox

SHAPES = '''"""Shapes."""


def clamp(x, low, high):
    """x kept between low and high."""
    if low > high:
        raise ValueError("low above high")
    return max(low, min(x, low))


def area(width, height):
    if width < 0 or height < 0:
        raise ValueError("negative")
    return width * height
'''

SHAPES_TESTS = """import pytest

from shapes import area, clamp


def test_clamp_keeps_below_high():
    assert clamp(5, 0, 3) == 3


def test_clamp_refuses_low_above_high():
    with pytest.raises(ValueError):
        clamp(1, 4, 2)


def test_area():
    assert area(2, 3) == 6
"""


def shapes(tmp_path: Path) -> Sandbox:
    root = tmp_path / "shapes"
    (root / "tests").mkdir(parents=True)
    (root / "shapes.py").write_text(SHAPES)
    (root / "tests" / "test_shapes.py").write_text(SHAPES_TESTS)
    (root / "conftest.py").write_text("")  # the project's root on sys.path
    git(root, "init", "--quiet")
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m", "shapes")
    return Sandbox(root, test_command=PYTEST, test_timeout=60)


def traced(box: Sandbox, acceptance: list[str]) -> suspects.Spectra | None:
    def run(argv: list[str], until: float | None) -> tuple[int, str]:
        ran = box.run_for_tests(argv, until)
        return ran.exit_code, ran.output

    return suspects.spectra(run, box.test_command, "shapes.py", acceptance)


def failing_of(acceptance: list[str]):
    return lambda test: any(test.startswith(a) for a in acceptance)


def test_the_line_only_the_failing_test_runs_is_the_likeliest_and_lines_it_never_runs_are_not_suspects(tmp_path):
    box = shapes(tmp_path)
    acceptance = ["tests/test_shapes.py::test_clamp_keeps_below_high"]
    found = traced(box, acceptance)
    assert found is not None and found[acceptance[0]][1] == "failed"
    assert found["tests/test_shapes.py::test_area"][1] == "passed"
    lines = suspects.ranked(SHAPES, "shapes.py", found, failing_of(acceptance))
    text = SHAPES.splitlines()
    assert [text[s.first - 1].strip() for s in lines] == ["return max(low, min(x, low))", "if low > high:"]
    first, second = lines
    assert (first.score, first.owner, first.header) == (1.0, "clamp", False)
    assert second.header and second.score < 1  # the passing test that refuses low > high runs it too
    # never a def line, a docstring, a line the failing test did not run (the raise), or area's


def test_a_sibling_beads_failing_test_neither_accuses_nor_clears_a_line(tmp_path):
    box = shapes(tmp_path)
    (box.root / "shapes.py").write_text(SHAPES.replace("return width * height", "return width + height"))
    acceptance = ["tests/test_shapes.py::test_clamp_keeps_below_high"]
    found = traced(box, acceptance)
    assert found is not None and found["tests/test_shapes.py::test_area"][1] == "failed"
    lines = suspects.ranked(SHAPES, "shapes.py", found, failing_of(acceptance))
    assert {s.owner for s in lines} == {"clamp"}


def test_the_definitions_the_bead_names_hold_its_suspects_when_the_failing_tests_run_them(tmp_path):
    box = shapes(tmp_path)
    (box.root / "tests" / "test_shapes.py").write_text(
        SHAPES_TESTS + "\n\ndef test_both():\n    assert clamp(area(1, 1), 0, 3) == 1 and clamp(9, 0, 2) == 2\n"
    )
    acceptance = ["tests/test_shapes.py::test_both"]
    found = traced(box, acceptance)
    assert found is not None
    everything = suspects.ranked(SHAPES, "shapes.py", found, failing_of(acceptance))
    assert {s.owner for s in everything} == {"clamp", "area"}
    named = suspects.ranked(SHAPES, "shapes.py", found, failing_of(acceptance), names={"shapes.clamp"})
    assert {s.owner for s in named} == {"clamp"}


def test_only_a_python_dash_m_pytest_command_is_traced():
    assert suspects.traced_command(PYTEST) == ([sys.executable], list(PYTEST[3:]))
    assert suspects.traced_command(["pytest", "-q"]) is None
    assert suspects.traced_command(["make", "test"]) is None
    never = suspects.spectra(lambda argv, until: (0, ""), ["make", "test"], "shapes.py", ["tests/test_shapes.py"])
    assert never is None


CACHE = """class Cache:
    def __contains__(self, key):
        return key in self.data

    def pop(self, key):
        if key in self:
            value = self.data[key]
        return value

    class Link:
        def unlink(self):
            self.prev = None
"""


def test_the_most_closely_named_definition_holds_the_suspects_and_one_nested_in_it_counts():
    ran = frozenset(range(1, 13))
    found: suspects.Spectra = {"t::test_pop": (ran, "failed"), "t::test_other": (frozenset({3}), "passed")}
    failing = failing_of(["t::test_pop"])

    def owners(names: set[str]) -> list[str]:
        return sorted({s.owner for s in suspects.ranked(CACHE, "cache.py", found, failing, names)})

    assert owners({"Cache", "cachetools.Cache.pop", "c.pop"}) == ["Cache.pop"]  # not all of Cache
    assert owners({"Cache", "pop", "len"}) == ["Cache.pop"]  # its parts named apart
    assert owners({"Cache.Link"}) == ["Cache.Link.unlink"]
    assert owners({"Cache"}) == ["Cache.Link.unlink", "Cache.__contains__", "Cache.pop"]
    assert owners({"nothing.here"}) == ["Cache.Link.unlink", "Cache.__contains__", "Cache.pop"]
    first = suspects.ranked(CACHE, "cache.py", found, failing, {"Cache"})[0]
    assert (first.owner, first.first, first.score) == ("Cache.pop", 6, 1.0)  # line 3 ran in a passing test too


def test_a_header_is_the_lines_up_to_its_body_and_one_written_with_its_body_is_a_statement():
    source = (
        "def f(a, b):\n"
        "    if (\n"
        "        a\n"
        "        and b\n"
        "    ):\n"
        "        return 1\n"
        "    elif a: return 2\n"
        "    try:\n"
        "        pass\n"
        "    except (KeyError,\n"
        "            IndexError):\n"
        "        return 3\n"
    )
    ran = frozenset(range(1, 13))
    found: suspects.Spectra = {"t::test": (ran, "failed")}
    lines = suspects.ranked(source, "m.py", found, failing_of(["t::test"]))
    expected = [(2, 5, True), (6, 6, False), (7, 7, False), (10, 11, True), (12, 12, False)]
    assert [(s.first, s.last, s.header) for s in lines] == expected
    fixed = lineask.as_edit(lines[0], "```python\nif a or b:\n    return 1\n```", source)
    assert fixed is not None
    assert source.replace(fixed.arguments["old"], fixed.arguments["new"]).startswith(
        "def f(a, b):\n    if a or b:\n        return 1\n    elif a: return 2\n"
    )


def test_a_tracer_line_that_is_not_the_tracers_gives_no_lines_and_never_an_error():
    command = [sys.executable, "-m", "pytest"]
    for said in ("[1, 2]", '{"t": 3}', "{not json", ""):
        output = f"1 passed\n{suspects.MARK} {said}\n"
        assert suspects.spectra(lambda argv, until, out=output: (0, out), command, "m.py", ["t.py"]) is None
    fine = f'{suspects.MARK} {{"t.py::test": [[3, 4], "failed"]}}\n'
    assert suspects.spectra(lambda argv, until: (1, fine), command, "m.py", ["t.py"]) == {
        "t.py::test": (frozenset({3, 4}), "failed")
    }


def test_the_more_suspect_half_is_asked_about_twice_before_the_rest_once():
    """Told its faulty line, the 1.5B corrects it about two times in three: the fifth of
    twelve gets its second ask before the seventh its first."""
    lines = [suspects.Suspect("m.py", n, n, "f", False, 1 / n) for n in range(1, 13)]
    asks = [s.first for s in sweep.order(lines)]
    assert asks == [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 7, 8, 9, 10, 11, 12]
    assert [s.first for s in sweep.order(lines[:3])] == [1, 2, 1, 2, 3, 3]
    assert sweep.order([]) == []


UPDATE = """def update(d, k, func, default):
    inner = dict(d)
    if k in d and update:
        inner[k] = func(d[k])  # not default
    else:
        inner[k] = default
    return update_all(inner, func, default)
"""


def test_lines_equally_suspect_are_ordered_by_the_names_the_report_writes_as_code():
    report = [
        "update stores the default without applying func",
        "It should store `func(default)`: `update({}, 'z', str, None)` gives `{'z': None}`.",
        "```\nTraceback: inner = dict(d)\n```",  # a fenced block names every line it passes
    ]
    reported = reports.names_reported(report)
    assert reported == {"func", "default", "update"}  # strings, keywords, builtins (str), prose, fences aside
    wrapped = ["`chunks(offset=10, size=5,\noverlap=1)` gives `[(10, 15)]`", "not `a\n\nb`", "nor `c\r\n \r\nd`"]
    assert reports.names_reported(wrapped) == {"chunks", "offset", "size", "overlap"}  # no "gives", a, b, c, d
    ran = frozenset(range(1, 8))
    found: suspects.Spectra = {"t::test_missing": (ran, "failed"), "t::test_present": (ran - {6}, "passed")}
    failing = failing_of(["t::test_missing"])

    def firsts(found: suspects.Spectra, reported: frozenset[str]) -> list[int]:
        return [s.first for s in suspects.ranked(UPDATE, "m.py", found, failing, reported=reported)]

    assert firsts(found, frozenset()) == [6, 2, 3, 4, 7]  # only the failing test ran line 6
    assert firsts(found, reported) == [6, 7, 4, 2, 3]  # the more suspect first whatever it holds
    tied: suspects.Spectra = {"t::test_missing": (ran, "failed"), "t::test_present": (ran, "passed")}
    # all equal: line 7 holds func and default, 4 and 6 one each (4's comment aside), 3 only
    # the name of its own definition, which counts for nothing; then the file's order
    assert firsts(tied, reported) == [7, 4, 6, 2, 3]


def test_a_missing_check_goes_first_in_its_definitions_body_and_its_line_stays():
    assert reports.not_raised("E   Failed: DID NOT RAISE ValueError") == "ValueError"
    assert reports.not_raised("Failed: DID NOT RAISE <class 'KeyError'>") == "KeyError"
    assert reports.not_raised("AssertionError: assert 0 == 3") == ""
    source = (
        "class Box:\n"
        '    """A box."""\n'
        "\n"
        "    def put(self, item):\n"
        '        """Put it in."""\n'
        "        self.items.append(item)\n"
        "\n"
        "    def empty(self):\n"
        '        """Nothing but a docstring."""\n'
    )
    check = suspects.missing_check(source, "box.py", "Box.put", "ValueError")
    assert check is not None and (check.first, check.owner, check.raises) == (6, "Box.put", "ValueError")
    assert suspects.missing_check(source, "box.py", "Box.empty", "ValueError") is None  # no statement to go before
    assert suspects.missing_check(source, "box.py", "Box.take", "ValueError") is None
    assert "## A check is missing\n`Box.put` never raises ValueError" in lineask.ask(check, source)
    reply = "```python\nif item is None:\n    raise ValueError('item')\n```"
    edit = lineask.as_edit(check, reply, source)
    assert edit is not None
    assert source.replace(edit.arguments["old"], edit.arguments["new"]) == source.replace(
        "        self.items", "        if item is None:\n            raise ValueError('item')\n        self.items"
    )
    assert lineask.as_edit(check, "```python\nself.items.append(item)\n```", source) is None  # no check in it
    for not_a_check in ("raised = True\nif item:\n    pass", "raise ValueError('item')"):
        assert lineask.as_edit(check, f"```python\n{not_a_check}\n```", source) is None
    sent_back = "```python\nif item is None:\n    raise ValueError('item')\nself.items.append(item)\n```"
    again = lineask.as_edit(check, sent_back, source)  # the check, its line not twice
    assert again is not None and again.arguments["new"] == edit.arguments["new"]
    assert suspects.missing_check("def f(sep): return sep\n", "f.py", "f", "ValueError") is None  # no line of its own
    assert reports.not_raised("DID NOT RAISE <class 'beatscore.grades.GradeError'>") == "GradeError"
    assert reports.not_raised("DID NOT RAISE (<class 'KeyError'>, <class 'IndexError'>)") == "KeyError"
