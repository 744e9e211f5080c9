"""RigGit, the one door to a rig's git: each operation and each way it fails, on real repositories."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from conftest import git

from gastown.errors import GitFailed
from gastown.town.riggit import RigGit


def commit_file(repo: Path, name: str, text: str, message: str | None = None) -> str:
    """Write ``name`` in ``repo``, commit it on whatever is checked out; the new commit."""
    (repo / name).parent.mkdir(parents=True, exist_ok=True)
    (repo / name).write_text(text)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", message or f"write {name}")
    return git(repo, "rev-parse", "HEAD").strip()


def hook(bare: Path, name: str, body: str) -> None:
    """Install a shell hook in a bare repository."""
    path = bare / "hooks" / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project repository on main with one commit (git never looks above tmp_path)."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    path = tmp_path / "rig"
    git(tmp_path, "init", "--quiet", "-b", "main", str(path))
    commit_file(path, "README.md", "hello\n", "first")
    return path


@pytest.fixture
def origin(tmp_path: Path, rig: Path) -> Path:
    """A bare remote ``origin`` of the rig holding its main."""
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "--quiet", "--bare", str(bare))
    git(rig, "remote", "add", "origin", str(bare))
    git(rig, "push", "--quiet", "origin", "main")
    return bare


def sha(repo: Path, rev: str) -> str:
    return git(repo, "rev-parse", rev).strip()


# ---- refs and history -------------------------------------------------------------


def test_resolve_names_the_commit_of_a_branch_a_full_ref_or_a_sha_and_none_when_absent(rig: Path) -> None:
    tip = sha(rig, "main")
    repo = RigGit(rig)
    assert repo.resolve("main") == repo.resolve("refs/heads/main") == repo.resolve(tip) == tip
    assert repo.resolve("refs/heads/nothing") is None
    assert repo.resolve("0123456789012345678901234567890123456789") is None


def test_resolve_outside_a_repository_raises_rather_than_saying_absent(tmp_path: Path, rig: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(GitFailed, match="cannot read main"):
        RigGit(plain).resolve("main")


def test_head_is_the_checked_out_commit(rig: Path) -> None:
    assert RigGit(rig).head() == sha(rig, "HEAD")


def test_merge_base_is_the_fork_point_and_none_for_histories_that_never_meet(rig: Path) -> None:
    fork = sha(rig, "main")
    git(rig, "switch", "--quiet", "-c", "side")
    side = commit_file(rig, "side.txt", "side\n")
    git(rig, "switch", "--quiet", "--orphan", "alone")
    alone = commit_file(rig, "alone.txt", "alone\n")
    git(rig, "switch", "--quiet", "main")
    main = commit_file(rig, "main.txt", "main\n")
    repo = RigGit(rig)
    assert repo.merge_base(main, side) == fork
    assert repo.merge_base(main, alone) is None


def test_is_ancestor_answers_both_ways_and_raises_for_an_unknown_commit(rig: Path) -> None:
    old = sha(rig, "main")
    new = commit_file(rig, "two.txt", "two\n")
    repo = RigGit(rig)
    assert repo.is_ancestor(old, new)
    assert not repo.is_ancestor(new, old)
    with pytest.raises(GitFailed, match="cannot compare"):
        repo.is_ancestor("f" * 40, new)


def test_create_branch_makes_a_missing_branch_at_the_start_commit(rig: Path) -> None:
    start = sha(rig, "main")
    assert RigGit(rig).create_branch("convoy/c-1", start) is True
    assert sha(rig, "refs/heads/convoy/c-1") == start


def test_create_branch_when_it_already_exists_is_a_no_op_that_keeps_the_branch(rig: Path) -> None:
    first = sha(rig, "main")
    second = commit_file(rig, "two.txt", "two\n")
    git(rig, "branch", "convoy/c-1", first)
    assert RigGit(rig).create_branch("convoy/c-1", second) is False
    assert sha(rig, "refs/heads/convoy/c-1") == first


def test_create_branch_with_an_impossible_name_raises(rig: Path) -> None:
    with pytest.raises(GitFailed, match="cannot create branch bad..name"):
        RigGit(rig).create_branch("bad..name", sha(rig, "main"))
    assert git(rig, "branch", "--list", "bad*") == ""


def test_advance_moves_the_branch_and_reads_it_back(rig: Path) -> None:
    old = sha(rig, "main")
    git(rig, "switch", "--quiet", "--detach")
    new = commit_file(rig, "two.txt", "two\n")
    RigGit(rig).advance("main", new, old)
    assert sha(rig, "refs/heads/main") == new


def test_advance_that_loses_the_race_raises_and_leaves_the_winners_commit(rig: Path) -> None:
    old = sha(rig, "main")
    git(rig, "switch", "--quiet", "--detach")
    ours = commit_file(rig, "ours.txt", "ours\n")
    git(rig, "switch", "--quiet", "--detach", old)
    theirs = commit_file(rig, "theirs.txt", "theirs\n")
    git(rig, "update-ref", "refs/heads/main", theirs, old)  # another process got there first
    with pytest.raises(GitFailed, match=f"main moved: it is at {theirs[:10]}, not {ours[:10]}") as raised:
        RigGit(rig).advance("main", ours, old)
    assert sha(rig, "refs/heads/main") == theirs
    assert "run the merge again" in raised.value.hint


def test_advance_to_where_another_process_already_moved_it_is_no_failure(rig: Path) -> None:
    old = sha(rig, "main")
    git(rig, "switch", "--quiet", "--detach")
    new = commit_file(rig, "two.txt", "two\n")
    git(rig, "update-ref", "refs/heads/main", new, old)
    RigGit(rig).advance("main", new, old)
    assert sha(rig, "refs/heads/main") == new


def test_set_ref_points_a_mirror_at_a_commit_whatever_it_held(rig: Path) -> None:
    old = sha(rig, "main")
    new = commit_file(rig, "two.txt", "two\n")
    repo = RigGit(rig)
    repo.set_ref("refs/remotes/origin/main", old)
    repo.set_ref("refs/remotes/origin/main", new)
    assert sha(rig, "refs/remotes/origin/main") == new
    with pytest.raises(GitFailed, match="cannot point refs/remotes/origin/main"):
        repo.set_ref("refs/remotes/origin/main", "f" * 40)


def test_diff_names_lists_changed_files_even_with_spaces_in_their_names(rig: Path) -> None:
    old = sha(rig, "main")
    commit_file(rig, "docs/a file.md", "spaced\n")
    new = commit_file(rig, "README.md", "changed\n")
    assert sorted(RigGit(rig).diff_names(old, new)) == ["README.md", "docs/a file.md"]


# ---- worktrees ------------------------------------------------------------------------


def test_worktree_add_detached_checks_out_the_commit_on_no_branch(tmp_path: Path, rig: Path) -> None:
    where = tmp_path / "wt" / "merge-1"
    RigGit(rig).worktree_add_detached(where, "main")
    assert sha(where, "HEAD") == sha(rig, "main")
    assert git(where, "branch", "--show-current") == ""
    assert RigGit(rig).worktree_branches() == {"main": rig}


def test_worktree_add_new_branch_starts_the_branch_at_the_commit(tmp_path: Path, rig: Path) -> None:
    where = tmp_path / "wt" / "gt-1"
    RigGit(rig).worktree_add_new_branch(where, "bead/gt-1", sha(rig, "main"))
    assert sha(rig, "refs/heads/bead/gt-1") == sha(rig, "main")
    assert RigGit(rig).checked_out("bead/gt-1") == where


def test_worktree_add_branch_checks_out_an_existing_branch_even_if_checked_out_elsewhere(
    tmp_path: Path, rig: Path
) -> None:
    where = tmp_path / "wt" / "again"
    RigGit(rig).worktree_add_branch(where, "main")  # main is checked out in the rig itself
    assert git(where, "branch", "--show-current").strip() == "main"


def test_worktree_add_over_a_leftover_folder_raises_saying_how_to_clear_it(tmp_path: Path, rig: Path) -> None:
    where = tmp_path / "wt" / "left"
    where.mkdir(parents=True)
    (where / "junk.txt").write_text("left behind\n")
    with pytest.raises(GitFailed, match="cannot make a worktree") as raised:
        RigGit(rig).worktree_add_detached(where, "main")
    assert "git worktree prune" in raised.value.hint


def test_checked_out_is_none_for_a_branch_no_worktree_has(rig: Path) -> None:
    git(rig, "branch", "idle")
    assert RigGit(rig).checked_out("idle") is None


def test_worktree_remove_deletes_the_folder_and_forgets_it(tmp_path: Path, rig: Path) -> None:
    where = tmp_path / "wt" / "gt-2"
    repo = RigGit(rig)
    repo.worktree_add_new_branch(where, "bead/gt-2", "main")
    (where / "dirty.txt").write_text("uncommitted\n")
    repo.worktree_remove(where)
    assert not where.exists()
    assert str(where) not in git(rig, "worktree", "list", "--porcelain")
    assert repo.resolve("refs/heads/bead/gt-2") is not None  # the branch stays


def test_worktree_remove_forgets_a_worktree_whose_folder_was_deleted(tmp_path: Path, rig: Path) -> None:
    where = tmp_path / "wt" / "gone"
    repo = RigGit(rig)
    repo.worktree_add_detached(where, "main")
    shutil.rmtree(where)  # as a person tidying up might
    repo.worktree_remove(where)
    assert str(where) not in git(rig, "worktree", "list", "--porcelain")
    repo.worktree_add_detached(where, "main")  # the path can be used again
    assert where.is_dir()


def test_worktree_remove_in_a_rig_that_is_gone_logs_at_debug_and_does_not_raise(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="gastown.town.riggit"):
        RigGit(tmp_path / "no-such-rig").worktree_remove(tmp_path / "no-such-worktree")
    assert any("cleanup git worktree prune" in record.getMessage() for record in caplog.records)


# ---- work in a worktree -------------------------------------------------------------


def rebase_setup(tmp_path: Path, rig: Path, conflicting: bool) -> tuple[Path, str, str]:
    """A detached worktree of a bead branch, and main moved on; (worktree, main, bead tip)."""
    fork = sha(rig, "main")
    git(rig, "switch", "--quiet", "-c", "bead/gt-3")
    bead_tip = commit_file(rig, "README.md" if conflicting else "feature.txt", "bead's words\n")
    git(rig, "switch", "--quiet", "main")
    main = commit_file(rig, "README.md", "main's words\n")
    assert sha(rig, f"{main}~1") == fork
    where = tmp_path / "wt" / "merge-gt-3"
    RigGit(rig).worktree_add_detached(where, "bead/gt-3")
    return where, main, bead_tip


def test_rebase_onto_replays_the_commits_on_top_and_returns_no_paths(tmp_path: Path, rig: Path) -> None:
    where, main, _ = rebase_setup(tmp_path, rig, conflicting=False)
    work = RigGit(where)
    assert work.rebase_onto(main, committer="gastown refinery") == []
    assert sha(where, "HEAD~1") == main
    assert git(where, "log", "-1", "--format=%cn").strip() == "gastown refinery"
    assert git(where, "log", "-1", "--format=%an").strip() == "Pat Person"  # the author is kept


def test_rebase_conflict_returns_the_paths_and_leaves_no_rebase_in_progress(tmp_path: Path, rig: Path) -> None:
    where, main, bead_tip = rebase_setup(tmp_path, rig, conflicting=True)
    work = RigGit(where)
    assert work.rebase_onto(main, committer="gastown refinery") == ["README.md"]
    assert not work.rebase_in_progress()
    assert sha(where, "HEAD") == bead_tip
    assert git(where, "status", "--porcelain") == ""


def test_rebase_onto_something_that_is_not_a_commit_raises(tmp_path: Path, rig: Path) -> None:
    where, _, bead_tip = rebase_setup(tmp_path, rig, conflicting=False)
    work = RigGit(where)
    with pytest.raises(GitFailed, match="git rebase onto no-such-br failed"):
        work.rebase_onto("no-such-branch", committer="gastown refinery")
    assert not work.rebase_in_progress()
    assert sha(where, "HEAD") == bead_tip


def test_staged_names_are_the_files_that_differ_from_the_base_after_stage_all(rig: Path) -> None:
    base = sha(rig, "main")
    (rig / "README.md").unlink()
    (rig / "new file.txt").write_text("new\n")
    repo = RigGit(rig)
    assert not repo.has_staged_changes()
    repo.stage_all()
    assert repo.has_staged_changes()
    assert sorted(repo.staged_names(base)) == ["README.md", "new file.txt"]


def test_commit_staged_commits_as_the_author_and_returns_the_new_commit(rig: Path) -> None:
    (rig / "two.txt").write_text("two\n")
    repo = RigGit(rig)
    repo.stage_all()
    made = repo.commit_staged("add two\n\nBead: gt-4\n", "polecat")
    assert made == sha(rig, "HEAD")
    assert (
        git(rig, "log", "-1", "--format=%an|%ae|%cn|%B").strip()
        == "polecat|gastown@localhost|gastown|add two\n\nBead: gt-4"
    )


def test_commit_staged_with_nothing_staged_is_none_and_makes_no_commit(rig: Path) -> None:
    before = sha(rig, "HEAD")
    assert RigGit(rig).commit_staged("nothing", "polecat") is None
    assert sha(rig, "HEAD") == before


def test_commit_staged_runs_no_hooks(rig: Path) -> None:
    hooks = rig / ".git" / "hooks"
    (hooks / "pre-commit").write_text("#!/bin/sh\nexit 1\n")
    (hooks / "pre-commit").chmod(0o755)
    (rig / "two.txt").write_text("two\n")
    repo = RigGit(rig)
    repo.stage_all()
    assert repo.commit_staged("add two", "polecat") == sha(rig, "HEAD")


def test_output_is_what_git_printed(rig: Path) -> None:
    assert RigGit(rig).output("ls-files") == "README.md\n"


# ---- remotes -----------------------------------------------------------------------


def test_remotes_lists_the_remote_names(rig: Path, origin: Path) -> None:
    assert RigGit(rig).remotes() == ["origin"]


def test_remote_sha_asks_the_remote_and_is_none_for_a_branch_it_lacks(rig: Path, origin: Path) -> None:
    repo = RigGit(rig)
    assert repo.remote_sha("origin", "main") == sha(rig, "main")
    assert repo.remote_sha("origin", "bead/none") is None


def test_remote_sha_of_an_unreachable_remote_raises_with_a_hint(tmp_path: Path, rig: Path) -> None:
    git(rig, "remote", "add", "origin", str(tmp_path / "nowhere.git"))
    with pytest.raises(GitFailed, match="cannot read main from origin") as raised:
        RigGit(rig).remote_sha("origin", "main")
    assert "git ls-remote origin" in raised.value.hint


def test_push_commit_fast_forwards_the_remote_branch(rig: Path, origin: Path) -> None:
    new = commit_file(rig, "two.txt", "two\n")
    RigGit(rig).push_commit("origin", new, "main")
    assert sha(origin, "refs/heads/main") == new


def test_push_commit_that_a_pre_receive_hook_rejects_raises_with_the_remotes_words(rig: Path, origin: Path) -> None:
    before = sha(origin, "refs/heads/main")
    hook(origin, "pre-receive", 'echo "main is frozen for the release" >&2\nexit 1')
    new = commit_file(rig, "two.txt", "two\n")
    with pytest.raises(GitFailed, match="origin refused .* on main .*main is frozen for the release"):
        RigGit(rig).push_commit("origin", new, "main")
    assert sha(origin, "refs/heads/main") == before


def test_push_commit_after_someone_else_moved_the_remote_branch_raises_and_leaves_theirs(
    tmp_path: Path, rig: Path, origin: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    git(tmp_path, "clone", "--quiet", str(origin), str(elsewhere))
    theirs = commit_file(elsewhere, "theirs.txt", "theirs\n")
    git(elsewhere, "push", "--quiet", "origin", "main")
    ours = commit_file(rig, "ours.txt", "ours\n")
    with pytest.raises(GitFailed, match=r"origin refused .* on main \(stale\): .*fetch first") as raised:
        RigGit(rig).push_commit("origin", ours, "main")
    assert sha(origin, "refs/heads/main") == theirs
    assert "run the merge again" in raised.value.hint


def test_push_commit_raises_when_the_remote_does_not_then_hold_the_commit(rig: Path, origin: Path) -> None:
    before = sha(origin, "refs/heads/main")
    # A remote that accepts the push and then puts the branch back.
    hook(origin, "post-receive", f"git update-ref refs/heads/main {before}")
    new = commit_file(rig, "two.txt", "two\n")
    with pytest.raises(GitFailed, match=f"origin has {before[:10]} on main, not the pushed {new[:10]}"):
        RigGit(rig).push_commit("origin", new, "main")


def test_push_commit_to_an_unreachable_remote_raises_with_a_hint(tmp_path: Path, rig: Path) -> None:
    git(rig, "remote", "add", "origin", str(tmp_path / "nowhere.git"))
    with pytest.raises(GitFailed, match="push of .* to origin/main failed") as raised:
        RigGit(rig).push_commit("origin", sha(rig, "main"), "main")
    assert "reachable" in raised.value.hint


def test_publish_branch_forces_the_local_branch_onto_the_remote(rig: Path, origin: Path) -> None:
    git(rig, "switch", "--quiet", "-c", "bead/gt-5")
    first = commit_file(rig, "one.txt", "one\n")
    repo = RigGit(rig)
    repo.publish_branch("origin", "bead/gt-5")
    assert sha(origin, "refs/heads/bead/gt-5") == first
    git(rig, "reset", "--quiet", "--hard", "main")
    again = commit_file(rig, "other.txt", "a second attempt\n")  # not a descendant of first
    repo.publish_branch("origin", "bead/gt-5")
    assert sha(origin, "refs/heads/bead/gt-5") == again


def test_publish_branch_that_the_remote_refuses_raises(rig: Path, origin: Path) -> None:
    hook(origin, "pre-receive", "exit 1")
    git(rig, "branch", "bead/gt-6")
    with pytest.raises(GitFailed, match="cannot push bead/gt-6 to origin"):
        RigGit(rig).publish_branch("origin", "bead/gt-6")


def test_fetch_branch_copies_a_remote_branch_to_the_local_branch(tmp_path: Path, rig: Path, origin: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    git(tmp_path, "clone", "--quiet", str(origin), str(elsewhere))
    git(elsewhere, "switch", "--quiet", "-c", "bead/gt-7")
    tip = commit_file(elsewhere, "seven.txt", "seven\n")
    git(elsewhere, "push", "--quiet", "origin", "bead/gt-7")
    assert RigGit(rig).fetch_branch("origin", "bead/gt-7") is True
    assert sha(rig, "refs/heads/bead/gt-7") == tip


def test_fetch_branch_the_remote_lacks_is_false_and_makes_no_branch(rig: Path, origin: Path) -> None:
    repo = RigGit(rig)
    assert repo.fetch_branch("origin", "bead/none") is False
    assert repo.resolve("refs/heads/bead/none") is None


def test_fetch_branch_from_an_unreachable_remote_raises(tmp_path: Path, rig: Path) -> None:
    git(rig, "remote", "add", "origin", str(tmp_path / "nowhere.git"))
    with pytest.raises(GitFailed, match="cannot read bead/gt-8 from origin"):
        RigGit(rig).fetch_branch("origin", "bead/gt-8")


def test_a_new_repository_takes_its_first_commit_with_the_files_already_in_its_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "a.py").write_text("A = 1\n")
    repo = RigGit.create(tmp_path / "project")
    repo.stage_all()
    first = repo.commit_staged("the project", "gastown eval")
    assert first is not None and first == repo.head()
    assert git(tmp_path / "project", "log", "--format=%an %s").strip() == "gastown eval the project"


def test_files_are_put_back_as_a_commit_has_them_and_changes_are_discarded(rig):
    repo = RigGit(rig)
    base = repo.head()
    commit_file(rig, "tests/test_x.py", "def test_x():\n    assert True\n")
    (rig / "README.md").write_text("changed\n")
    (rig / "stray.txt").write_text("untracked\n")
    # -z goes before "--": a path list is never read as an option, nor an option as a path
    assert repo.files_at(base, ["README.md", "tests/test_x.py"]) == ["README.md"]
    assert repo.files_at(base, []) == []
    repo.restore_files(base, ["README.md"])
    assert (rig / "README.md").read_text() == "hello\n"
    (rig / "README.md").write_text("changed again\n")
    repo.discard_changes()
    assert (rig / "README.md").read_text() == "hello\n" and not (rig / "stray.txt").exists()
    assert repo.create_branch("other", base) and not repo.create_branch("other", base)
    repo.switch("other")
    assert repo.head() == base and not (rig / "tests" / "test_x.py").exists()


def test_a_clone_lists_its_files_as_git_sees_them_and_a_bad_url_says_so(rig, tmp_path):
    (rig / ".gitignore").write_text("build/\n")
    commit_file(rig, "src/a.py", "A = 1\n")
    copy = RigGit.clone(str(rig), tmp_path / "copy")
    (copy.path / "new.py").write_text("B = 2\n")  # untracked, not ignored: listed
    (copy.path / "build").mkdir()
    (copy.path / "build" / "out.o").write_text("x")  # ignored: not listed
    assert sorted(copy.files()) == [".gitignore", "README.md", "new.py", "src/a.py"]
    with pytest.raises(GitFailed, match="cannot clone"):
        RigGit.clone(str(tmp_path / "nowhere"), tmp_path / "copy2")
