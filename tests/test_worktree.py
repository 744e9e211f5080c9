"""A bead's worktree on a real rig: prepared, changed, committed and removed."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git

from gastown.agents.worktree import Worktree, branch_for, prepare, remove
from gastown.errors import GitFailed


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project repository on main with two files (git never looks above tmp_path)."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    path = tmp_path / "rig"
    git(tmp_path, "init", "--quiet", "-b", "main", str(path))
    (path / "README.md").write_text("hello\n")
    (path / "app.py").write_text("print('hi')\n")
    git(path, "add", "--all")
    git(path, "commit", "--quiet", "-m", "first")
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Where the town keeps the rig's worktrees: outside the rig."""
    return tmp_path / "state" / "worktrees" / "rig"


def sha(repo: Path, rev: str) -> str:
    return git(repo, "rev-parse", rev).strip()


def test_branch_for_names_the_beads_branch() -> None:
    assert branch_for("gt-1") == "bead/gt-1"


def test_prepare_makes_a_worktree_on_a_new_bead_branch_from_the_target(rig: Path, root: Path) -> None:
    worktree = prepare(rig, "gt-1", "main", root)
    assert worktree == Worktree(root / "gt-1", "bead/gt-1", sha(rig, "main"), rig)
    assert git(worktree.path, "branch", "--show-current").strip() == "bead/gt-1"
    assert sha(rig, "refs/heads/bead/gt-1") == sha(rig, "main")
    assert git(rig, "status", "--porcelain") == ""  # the person's checkout sees a branch, nothing else


def test_prepare_keeps_an_earlier_attempts_commits_and_bases_them_where_they_forked(rig: Path, root: Path) -> None:
    fork = sha(rig, "main")
    first = prepare(rig, "gt-2", "main", root)
    (first.path / "feature.py").write_text("x = 1\n")
    first.changed_files()
    attempt = first.commit("first attempt", "polecat")
    remove(first)
    (rig / "README.md").write_text("main moved on\n")
    git(rig, "commit", "--quiet", "-am", "main moves on")
    again = prepare(rig, "gt-2", "main", root)
    assert sha(again.path, "HEAD") == attempt
    assert again.base == fork
    assert (again.path / "feature.py").read_text() == "x = 1\n"


def test_prepare_over_a_worktree_a_killed_watcher_left_starts_clean(rig: Path, root: Path) -> None:
    left = prepare(rig, "gt-3", "main", root)
    (left.path / "half-written.py").write_text("def broken(:\n")
    again = prepare(rig, "gt-3", "main", root)
    assert not (again.path / "half-written.py").exists()
    assert git(again.path, "status", "--porcelain") == ""


def test_prepare_over_a_stray_folder_git_never_knew_starts_clean(rig: Path, root: Path) -> None:
    (root / "gt-4").mkdir(parents=True)
    (root / "gt-4" / "stray.txt").write_text("not a worktree\n")
    worktree = prepare(rig, "gt-4", "main", root)
    assert sorted(p.name for p in worktree.path.iterdir()) == [".git", "README.md", "app.py"]


def test_prepare_from_a_target_that_does_not_exist_raises_and_makes_nothing(rig: Path, root: Path) -> None:
    with pytest.raises(GitFailed, match="no commit convoy/none in"):
        prepare(rig, "gt-5", "convoy/none", root)
    assert git(rig, "branch", "--list", "bead/*") == ""
    assert not (root / "gt-5").exists()


def test_changed_files_stages_new_changed_and_deleted_files_against_the_base(rig: Path, root: Path) -> None:
    worktree = prepare(rig, "gt-6", "main", root)
    (worktree.path / "README.md").write_text("changed\n")
    (worktree.path / "app.py").unlink()
    (worktree.path / "docs").mkdir()
    (worktree.path / "docs" / "a note.md").write_text("new\n")
    assert sorted(worktree.changed_files()) == ["README.md", "app.py", "docs/a note.md"]
    staged = git(worktree.path, "diff", "--cached", "--name-only", "-z").split("\0")
    assert sorted(name for name in staged if name) == ["README.md", "app.py", "docs/a note.md"]


def test_changed_files_sees_edits_hidden_by_skip_worktree_or_assume_unchanged(rig: Path, root: Path) -> None:
    worktree = prepare(rig, "gt-61", "main", root)
    (worktree.path / "README.md").write_text("hidden edit\n")
    (worktree.path / "app.py").write_text("hidden too\n")
    git(worktree.path, "update-index", "--skip-worktree", "README.md")
    git(worktree.path, "update-index", "--assume-unchanged", "app.py")
    git(worktree.path, "update-index", "--skip-worktree", "app.py")  # both marks: listed as "s"
    assert git(worktree.path, "status", "--porcelain") == ""  # what git itself shows: nothing
    assert sorted(worktree.changed_files()) == ["README.md", "app.py"]


def test_committing_a_beads_work_runs_none_of_the_rigs_hooks(rig: Path, root: Path) -> None:
    worktree = prepare(rig, "gt-62", "main", root)
    marker = root / "hook-ran"
    for hook in ("pre-commit", "post-commit", "post-checkout"):
        path = rig / ".git" / "hooks" / hook
        path.write_text(f"#!/bin/sh\necho {hook} >> '{marker}'\n")
        path.chmod(0o755)
    (worktree.path / "feature.py").write_text("x = 1\n")
    worktree.changed_files()
    assert worktree.commit("add the feature", "polecat") is not None
    remove(worktree)
    prepare(rig, "gt-62", "main", root)  # a checkout: post-checkout would run
    assert not marker.exists(), marker.read_text()


def test_changed_files_counts_earlier_commits_of_the_branch(rig: Path, root: Path) -> None:
    worktree = prepare(rig, "gt-7", "main", root)
    (worktree.path / "one.py").write_text("1\n")
    worktree.changed_files()
    worktree.commit("one", "polecat")
    (worktree.path / "two.py").write_text("2\n")
    assert sorted(worktree.changed_files()) == ["one.py", "two.py"]


def test_commit_records_the_staged_work_as_the_author_on_the_bead_branch(rig: Path, root: Path) -> None:
    worktree = prepare(rig, "gt-8", "main", root)
    (worktree.path / "feature.py").write_text("x = 1\n")
    worktree.changed_files()
    made = worktree.commit("add the feature\n\nBead: gt-8\n", "polecat")
    assert made == sha(rig, "refs/heads/bead/gt-8")
    assert git(rig, "log", "-1", "--format=%an|%cn|%s", "bead/gt-8").strip() == "polecat|gastown|add the feature"
    assert git(worktree.path, "status", "--porcelain") == ""


def test_commit_with_nothing_changed_is_none_and_the_branch_stays(rig: Path, root: Path) -> None:
    worktree = prepare(rig, "gt-9", "main", root)
    assert worktree.changed_files() == []
    assert worktree.commit("nothing", "polecat") is None
    assert sha(rig, "refs/heads/bead/gt-9") == worktree.base


def test_git_runs_a_query_in_the_worktree(rig: Path, root: Path) -> None:
    worktree = prepare(rig, "gt-10", "main", root)
    assert worktree.git("ls-files").split() == ["README.md", "app.py"]
    assert worktree.git("rev-parse", "--verify", "nothing", check=False) == ""
    with pytest.raises(GitFailed):
        worktree.git("rev-parse", "--verify", "nothing")


def test_remove_deletes_the_folder_and_keeps_the_branch_and_its_commits(rig: Path, root: Path) -> None:
    worktree = prepare(rig, "gt-11", "main", root)
    (worktree.path / "feature.py").write_text("x = 1\n")
    worktree.changed_files()
    made = worktree.commit("feature", "polecat")
    (worktree.path / "uncommitted.py").write_text("lost on purpose\n")
    remove(worktree)
    assert not worktree.path.exists()
    assert str(worktree.path) not in git(rig, "worktree", "list", "--porcelain")
    assert sha(rig, "refs/heads/bead/gt-11") == made


def test_remove_twice_is_harmless(rig: Path, root: Path) -> None:
    worktree = prepare(rig, "gt-12", "main", root)
    remove(worktree)
    remove(worktree)
    assert not worktree.path.exists()
