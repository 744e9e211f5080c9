"""``gt eval --compare``: saved reports side by side, each pass rate with its interval, and
whether a later report differs from the first by more than sampling alone gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import gt_inprocess

from gastown.evaluation import compare


def report(suite: str, beads: dict[str, tuple[int, int]], model: str = "m", **extra: Any) -> dict[str, Any]:
    """A report as `gt eval --json` writes it, with ``passed`` of ``runs`` runs of each bead."""
    runs = [
        {
            "model": model,
            "runtime": "loop",
            "key": key,
            "verdict": "passed" if n < passed else "failed",
            "wall_s": 10.0 + n,
        }
        for key, (passed, total) in beads.items()
        for n in range(total)
    ]
    return {"suite": {"name": suite, "path": "/x", "rig": "r"}, "role": "polecat", "repeat": 1, "beads": runs} | extra


def saved(tmp_path: Path, name: str, data: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def test_the_intervals_are_the_published_ones():
    """Newcombe (1998), "Interval estimation for the difference between independent
    proportions", example (a): 56/70 against 48/80 gives 0.0524 to 0.3339 by method 10."""
    assert [round(x, 4) for x in compare.wilson(56, 70) or ()] == [0.6918, 0.877]
    assert [round(x, 4) for x in compare.wilson(48, 80) or ()] == [0.4905, 0.7004]
    gap, (low, high) = compare.difference((56, 70), (48, 80)) or (0, (0, 0))
    assert (round(gap, 4), round(low, 4), round(high, 4)) == (0.2, 0.0524, 0.3339)
    assert compare.wilson(0, 0) is None and compare.difference((1, 2), (0, 0)) is None
    assert compare.wilson(5, 5) == (pytest.approx(0.5655, abs=1e-4), 1.0)


def test_two_runs_of_one_tree_differ_within_sampling_and_a_real_change_does_not(tmp_path):
    first = saved(
        tmp_path,
        "s16.json",
        report(
            "starter",
            {
                "slugify": (0, 2),
                "ngrams": (2, 2),
                "truncate": (0, 2),
                "wrap": (2, 2),
                "case": (2, 2),
                "reading": (1, 2),
            },
        ),
    )
    later = saved(
        tmp_path,
        "s17.json",
        report(
            "starter",
            {
                "slugify": (2, 2),
                "ngrams": (2, 2),
                "truncate": (0, 2),
                "wrap": (2, 2),
                "case": (2, 2),
                "reading": (2, 2),
            },
        ),
    )
    shown = gt_inprocess("eval", "--compare", first, "--compare", later)
    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    assert lines[0] == "suite starter: s16 (2 runs a bead), s17 (2 runs a bead)"
    assert [line.split() for line in lines if line.strip().startswith(("slugify", "passed", "rate", "95%"))] == [
        ["slugify", "0/2", "2/2"],
        ["passed", "7/12", "10/12"],
        ["rate", "58%", "83%"],
        ["95%", "interval", "32%-81%", "55%-95%"],
    ]
    assert "s17 against s16: +25.0 points (95% interval -10.9 to +54.0), within what sampling alone gives" in shown.out
    none = saved(tmp_path, "before.json", report("starter", {"a": (0, 6), "b": (1, 6)}))
    most = saved(tmp_path, "after.json", report("starter", {"a": (6, 6), "b": (5, 6)}))
    data = gt_inprocess("eval", "--compare", none, "--compare", most, "--json").json()
    (difference,) = data["models"][0]["differences"]
    assert difference["beyond_sampling"] and difference["points"] == pytest.approx(83.3, abs=0.1)
    assert "unlikely from sampling alone (95%)" in gt_inprocess("eval", "--compare", none, "--compare", most).out


def test_a_bead_one_report_lacks_is_shown_but_left_out_of_the_totals(tmp_path):
    first = saved(tmp_path, "a.json", report("s", {"x": (1, 1), "y": (0, 1)}))
    slow_z = report("s", {"x": (1, 1), "y": (1, 1), "z": (1, 1)})
    slow_z["beads"][2]["wall_s"] = 500.0  # z's run: left out of the median too
    later = saved(tmp_path, "b.json", slow_z)
    data = gt_inprocess("eval", "--compare", first, "--compare", later, "--json").json()
    (model,) = data["models"]
    assert [t["median_wall_s"] for t in model["totals"]] == [10.0, 10.0]
    assert model["beads"] == {"x": [[1, 1], [1, 1]], "y": [[0, 1], [1, 1]], "z": [None, [1, 1]]}
    assert model["shared"] == ["x", "y"]
    assert [(t["passed"], t["runs"]) for t in model["totals"]] == [(1, 2), (2, 2)]
    text = gt_inprocess("eval", "--compare", first, "--compare", later).out
    assert "z" in text and "(not in every column: left out of the totals)" in text


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (None, "no such file"),
        ("", "is a folder, not a report"),
        ("{not json", "not JSON"),
        (json.dumps([{"bead": "x", "fair": True, "why": ""}]), "not a `gt eval --json` report"),
        (json.dumps({"beads": [], "suite": {}}), 'no "suite" name'),
        (json.dumps({"suite": {"name": "s"}, "beads": [{"key": "x"}]}), "beads[0] lacks a model, key or verdict"),
    ],
)
def test_a_file_that_is_not_a_report_is_a_clear_error(tmp_path, content, said):
    path = str(tmp_path / "r.json") if content is None else saved(tmp_path, "r.json", content)
    if content == "":
        path = str(tmp_path)
    refused = gt_inprocess("eval", "--compare", path)
    assert refused.code == 2 and said in refused.err and "hint:" in refused.err, refused.err
    assert "Traceback" not in refused.err and refused.out == ""


def test_reports_of_two_suites_or_options_that_run_a_model_are_refused(tmp_path):
    one = saved(tmp_path, "one.json", report("starter", {"x": (1, 1)}))
    other = saved(tmp_path, "other.json", report("toolz-bugs", {"tail": (1, 1)}))
    refused = gt_inprocess("eval", "--compare", one, "--compare", other)
    assert refused.code == 2, refused.err
    assert "different suites (suite 'starter': one; suite 'toolz-bugs': other)" in refused.err
    for given in (("--models", "fake"), ("--check",), ("--repeat", "2"), ("--runtime", "plain"), ("-v",)):
        refused = gt_inprocess("eval", "--compare", one, *given)
        assert refused.code == 2 and f"{given[0]} does not apply" in refused.err and "hint:" in refused.err, given


def test_runs_of_one_tree_pool_into_one_column(tmp_path):
    """`--compare A.json,B.json`: both runs' beads in one column, their repeats added up; a
    file whose own name has a comma is that file."""
    one = saved(tmp_path, "s15.json", report("starter", {"x": (1, 2), "y": (2, 2)}, repeat=2))
    two = saved(tmp_path, "s16.json", report("starter", {"x": (0, 2), "y": (2, 2)}, repeat=2))
    odd = saved(tmp_path, "s17,final.json", report("starter", {"x": (2, 2), "y": (2, 2)}, repeat=2))
    data = gt_inprocess("eval", "--compare", f"{one},{two}", "--compare", odd, "--json").json()
    assert [(r["label"], r["runs_a_bead"]) for r in data["reports"]] == [("s15+s16", [4, 4]), ("s17,final", [2, 2])]
    (model,) = data["models"]
    assert model["beads"] == {"x": [[1, 4], [2, 2]], "y": [[4, 4], [2, 2]]}
    assert [(t["passed"], t["runs"]) for t in model["totals"]] == [(5, 8), (4, 4)]
    text = gt_inprocess("eval", "--compare", f"{one},{two}", "--compare", odd).out
    assert text.splitlines()[0] == "suite starter: s15+s16 (4 runs a bead), s17,final (2 runs a bead)"
    missing = gt_inprocess("eval", "--compare", f"{one},{tmp_path / 'nope.json'}")
    assert missing.code == 2 and "nope.json: no such file" in missing.err


def test_columns_that_ran_the_beads_unevenly_get_no_verdict(tmp_path):
    """A column that ran the hard bead five times as often as the other does weighs it five
    times as much: the same model, bead for bead, would look worse. No verdict is given."""
    more_hard = saved(tmp_path, "a.json", report("s", {"hard": (0, 10), "easy": (2, 2)}))
    more_easy = saved(tmp_path, "b.json", report("s", {"hard": (0, 2), "easy": (10, 10)}))
    data = gt_inprocess("eval", "--compare", more_hard, "--compare", more_easy, "--json").json()
    (difference,) = data["models"][0]["differences"]
    assert difference["uneven"] == ["hard", "easy"] and difference["beyond_sampling"] is None
    assert difference["interval"] is None and difference["points"] == pytest.approx(66.7, abs=0.1)
    text = gt_inprocess("eval", "--compare", more_hard, "--compare", more_easy).out
    assert "no verdict: hard, easy take a different share of the two columns' runs" in text
    assert "unlikely" not in text and "within" not in text


def test_columns_that_ran_every_bead_equally_often_get_a_verdict_whatever_their_repeats(tmp_path):
    """Four runs a bead against two weigh the beads alike: the intervals allow for the counts."""
    four = saved(tmp_path, "four.json", report("s", {"hard": (0, 4), "easy": (4, 4)}))
    two = saved(tmp_path, "two.json", report("s", {"hard": (0, 2), "easy": (2, 2)}))
    data = gt_inprocess("eval", "--compare", four, "--compare", two, "--json").json()
    (difference,) = data["models"][0]["differences"]
    assert difference["uneven"] == [] and difference["beyond_sampling"] is False and difference["points"] == 0.0


def test_a_model_one_report_lacks_or_could_not_run_is_said(tmp_path):
    both = report("s", {"x": (1, 1)}) | {
        "beads": report("s", {"x": (1, 1)})["beads"] + report("s", {"x": (0, 1)}, model="n")["beads"]
    }
    broken = report("s", {"x": (1, 1)}) | {
        "models": [{"model": "n", "runtime": "loop", "error": "its server did not start"}]
    }
    first, later = saved(tmp_path, "both.json", both), saved(tmp_path, "broken.json", broken)
    text = gt_inprocess("eval", "--compare", first, "--compare", later).out
    assert "n\n  broken: error: its server did not start\n" in text
    data = gt_inprocess("eval", "--compare", first, "--compare", later, "--json").json()
    (n,) = [model for model in data["models"] if model["model"] == "n"]
    assert n["columns"] == ["both"] and n["absent"] == ["broken"] and n["differences"] == []
    lone = saved(tmp_path, "lone.json", report("s", {"y": (1, 1)}))
    text = gt_inprocess("eval", "--compare", first, "--compare", lone).out
    assert "no bead is in every column: no totals to compare" in text


def test_a_report_given_twice_or_no_file_at_all_is_refused(tmp_path):
    one = saved(tmp_path, "one.json", report("s", {"x": (1, 1)}))
    for given in (("--compare", one, "--compare", one), ("--compare", f"{one},{one}")):
        refused = gt_inprocess("eval", *given)
        assert refused.code == 2 and "is given twice" in refused.err and "hint:" in refused.err, given
    for empty in (",", ""):
        refused = gt_inprocess("eval", "--compare", one, "--compare", empty)
        assert refused.code == 2 and "names no file" in refused.err and "Traceback" not in refused.err
