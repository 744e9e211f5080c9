"""The merge queue on its own: each outcome of merging one done bead's branch, on real git."""

from __future__ import annotations

import pytest
from conftest import git
from watchers import COMBO_CODE, make_rig, roster_toml, set_config

from gastown.agents import refinery
from gastown.agents import rig as rigmod
from gastown.agents.worktree import branch_for
from gastown.errors import GastownError
from gastown.town.history import read_log


@pytest.fixture
def rigged(town, tmp_path):
    rig_path = make_rig(tmp_path)
    git(rig_path, "checkout", "--quiet", "--detach")  # gastown never moves a checked-out branch
    rigmod.add(town.store(), "example", str(rig_path), template="example")
    return town, rig_path, rigmod.load(town.store(), "example")


def bead_branch(rig_path, bead_id: str, files: dict[str, str], base: str = "main") -> str:
    """A bead branch with one commit writing ``files``; its tip."""
    branch = branch_for(bead_id)
    git(rig_path, "branch", branch, base)
    work = rig_path.parent / f"work-{bead_id}"
    git(rig_path, "worktree", "add", "--quiet", str(work), branch)
    for path, text in files.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(text)
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", f"work on {bead_id}")
    tip = git(work, "rev-parse", "HEAD").strip()
    git(rig_path, "worktree", "remove", "--force", str(work))
    return tip


def merge(town, rig, bead_id, tmp_path):
    bead = town.store().snapshot().bead(bead_id)
    return refinery.merge(town.store(), rig, bead, "refinery-1", tmp_path / "merges")


def main_of(rig_path) -> str:
    return git(rig_path, "rev-parse", "main").strip()


def test_a_passing_branch_is_fast_forwarded_onto_main_and_recorded(rigged, tmp_path):
    town, rig_path, rig = rigged
    bead_id = town.add("combo", rig="example")
    tip = bead_branch(rig_path, bead_id, {"beatscore/combo.py": COMBO_CODE})
    outcome = merge(town, rig, bead_id, tmp_path)
    assert outcome.status == "merged" and outcome.detail == "fast-forwarded main", outcome.detail
    assert main_of(rig_path) == tip == outcome.sha
    entry = read_log(town.store().git, "refs/heads/tasks", limit=1)[0]
    assert entry.event == "merge" and entry.get("Commit") == tip and entry.get("Target") == "main"
    assert town.store().snapshot().bead(bead_id).metadata["merged"]["sha"] == tip
    assert not list((tmp_path / "merges").glob("*"))  # the merge worktree is gone


def test_a_branch_that_changes_the_refinerys_tests_is_refused_and_main_stays(rigged, tmp_path):
    town, rig_path, rig = rigged
    bead_id = town.add("combo", rig="example")
    before = main_of(rig_path)
    bead_branch(rig_path, bead_id, {"beatscore/combo.py": COMBO_CODE, "tests/test_combo.py": "def test_x(): pass\n"})
    outcome = merge(town, rig, bead_id, tmp_path)
    assert outcome.status == "refused" and "tests/test_combo.py" in outcome.detail
    assert main_of(rig_path) == before


def test_a_branch_whose_gates_fail_is_not_merged(rigged, tmp_path):
    town, rig_path, rig = rigged
    bead_id = town.add("combo", rig="example")
    before = main_of(rig_path)
    bead_branch(rig_path, bead_id, {"beatscore/combo.py": "def multiplier(streak):\n    return 0\n"})
    outcome = merge(town, rig, bead_id, tmp_path)
    assert outcome.status == "gates-failed" and "failed (exit 1)" in outcome.detail, outcome.detail
    assert main_of(rig_path) == before


def test_a_branch_that_no_longer_rebases_files_a_conflict_bead_and_main_stays(rigged, tmp_path):
    town, rig_path, rig = rigged
    bead_id = town.add("combo", rig="example")
    bead_branch(rig_path, bead_id, {"README.md": "the bead's readme\n"})
    other = bead_branch(rig_path, "gt-other1", {"README.md": "someone else's readme\n"})
    git(rig_path, "update-ref", "refs/heads/main", other)
    outcome = merge(town, rig, bead_id, tmp_path)
    assert outcome.status == "conflict" and "README.md" in outcome.detail
    assert main_of(rig_path) == other and len(outcome.filed) == 1
    filed = town.store().snapshot().bead(outcome.filed[0])
    assert filed.title.startswith("Resolve conflict") and filed.dependencies[0].id == bead_id


def test_a_branch_with_nothing_new_merges_nothing(rigged, tmp_path):
    town, rig_path, rig = rigged
    empty = town.add("nothing", rig="example")
    git(rig_path, "branch", branch_for(empty), "main")
    assert merge(town, rig, empty, tmp_path).status == "nothing"


def test_a_checked_out_target_is_never_moved_and_the_error_says_how_to_merge(rigged, tmp_path):
    town, rig_path, rig = rigged
    git(rig_path, "checkout", "--quiet", "main")
    bead_id = town.add("combo", rig="example")
    before = main_of(rig_path)
    tip = bead_branch(rig_path, bead_id, {"beatscore/combo.py": COMBO_CODE})
    with pytest.raises(GastownError, match="main is checked out in .*never moves a checked-out branch") as raised:
        merge(town, rig, bead_id, tmp_path)
    assert f"git merge --ff-only {tip[:10]}" in (raised.value.hint or "")
    assert main_of(rig_path) == before


def test_a_bead_never_worked_has_nothing_to_merge(rigged, tmp_path):
    town, _, rig = rigged
    missing = town.add("never worked", rig="example")
    outcome = merge(town, rig, missing, tmp_path)
    assert outcome.status == "nothing" and f"no branch {branch_for(missing)}" in outcome.detail


def test_coverage_is_read_from_coverage_py_and_from_a_percent_line():
    assert refinery.coverage_figure("Name  Stmts  Miss  Cover\nTOTAL  120  6  95%\n") == 95.0
    assert refinery.coverage_figure("87.5% covered") == 87.5
    assert refinery.coverage_figure("no figures here") is None


def test_the_gates_get_no_key_the_roster_names_and_their_output_is_redacted(rigged, tmp_path, monkeypatch):
    town, rig_path, rig = rigged
    secret = "cloud-7f3a9c1e5b2d4"
    monkeypatch.setenv("BEATSCORE_CLOUD", secret)  # a key under a name that says nothing of keys
    monkeypatch.setenv("COPIED_ELSEWHERE", secret)
    set_config(town.path, roster_toml("http://127.0.0.1:9/v1", api_key_env="BEATSCORE_CLOUD"))
    bead_id = town.add("combo", rig="example")
    code = (
        "import os\n\n\ndef multiplier(streak):\n"
        "    print('NAMES', sorted(os.environ))\n"
        "    print('FILE', open('deploy.ini').read())\n"
        "    return -1\n"
    )
    bead_branch(rig_path, bead_id, {"beatscore/combo.py": code, "deploy.ini": f"key = {secret}\n"})
    outcome = merge(town, rig, bead_id, tmp_path)
    assert outcome.status == "gates-failed" and "NAMES" in outcome.detail, outcome.detail
    assert "BEATSCORE_CLOUD" not in outcome.detail and "COPIED_ELSEWHERE" not in outcome.detail
    assert secret not in outcome.detail and "key = [redacted]" in outcome.detail
