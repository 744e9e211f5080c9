import hashlib
from pathlib import Path

import pytest
from conftest import git, gt_inprocess

from gastown.errors import NotFound, UsageError
from gastown.town import founding
from gastown.town import town as townmod
from gastown.town.queue import NewBead, Queue
from gastown.town.store import GitStore


def fingerprint(repo: Path) -> tuple:
    index = repo / ".git" / "index"
    return (
        git(repo, "status", "--porcelain=v1", "--untracked-files=all"),
        git(repo, "symbolic-ref", "HEAD"),
        git(repo, "rev-parse", "HEAD"),
        hashlib.sha256(index.read_bytes()).hexdigest() if index.exists() else None,
        sorted(p.name for p in repo.iterdir()),
    )


def test_a_town_inside_a_busy_project_never_touches_its_work(tmp_path):
    project = tmp_path / "project"
    git(tmp_path, "init", "--quiet", str(project))
    (project / "main.py").write_text("print('v1')\n")
    git(project, "add", "main.py")
    git(project, "commit", "--quiet", "-m", "v1")
    (project / "main.py").write_text("print('v2, not committed')\n")
    (project / "staged.py").write_text("x = 1\n")
    git(project, "add", "staged.py")
    (project / "scratch.txt").write_text("untracked\n")
    before = fingerprint(project)

    result = gt_inprocess("init", cwd=project)
    assert result.code == 0, result.err
    queue = Queue(GitStore(townmod.locate(project)))
    bead = queue.add(NewBead(title="work"))
    queue.claim("polecat", "p", lease=60)
    queue.complete(bead.id, "p")

    assert fingerprint(project) == before
    assert git(project, "ls-tree", "-r", "--name-only", "tasks").split() == [
        "README.md",
        "beads/.keep",
        f"beads/{bead.id.split('-')[1][0]}/{bead.id.split('-')[1][1]}/{bead.id}.json",
        "convoys/.keep",
        "plans/.keep",
        "town.toml",
    ]
    assert git(project, "log", "--format=%P", "--max-parents=0", "tasks").strip() == ""  # orphan root


def test_init_is_idempotent_and_locate_finds_the_enclosing_town(tmp_path):
    first = gt_inprocess("init", str(tmp_path / "t"))
    again = gt_inprocess("init", str(tmp_path / "t"))
    assert first.code == 0 and "created" in first.out
    assert again.code == 0 and "already a town" in again.out
    nested = tmp_path / "t" / "deep" / "er"
    nested.mkdir(parents=True)
    assert townmod.locate(nested).git_dir == (tmp_path / "t" / ".git").resolve()


def test_locate_says_what_is_missing(tmp_path):
    with pytest.raises(NotFound, match="not inside a git repository"):
        townmod.locate(tmp_path)
    git(tmp_path, "init", "--quiet", str(tmp_path / "plain"))
    with pytest.raises(NotFound, match="not a town .no tasks branch.") as caught:
        townmod.locate(tmp_path / "plain")
    assert "gt init" in caught.value.hint


def test_a_checked_out_tasks_branch_is_never_moved(town):
    town.add("one")
    git(town.path, "switch", "--quiet", "tasks")
    tip = town.tip()
    with pytest.raises(UsageError, match="checked out") as refused:
        town.add("two")
    assert town.tip() == tip
    assert "git switch --detach" in refused.value.hint
    git(town.path, "switch", "--quiet", "--detach")  # what the hint says to do
    town.add("two")


def test_shared_towns_join_through_the_remote(tmp_path):
    remote = tmp_path / "shared.git"
    a, what_a = founding.init(tmp_path / "a", str(remote))
    b, what_b = founding.init(tmp_path / "b", str(remote))
    assert "created and pushed" in what_a and "joined" in what_b
    qa, qb = Queue(GitStore(a)), Queue(GitStore(b))
    made = qa.add(NewBead(title="from a"))
    GitStore(b).sync()
    got = qb.claim("polecat", "b-worker", lease=60)
    assert got.bead.id == made.id
    assert git(remote, "log", "--format=%s", "-1", "tasks").strip().startswith(f"claim {made.id} b-worker")
    # A plain `git clone` of the shared town works with no gt init at all.
    git(tmp_path, "clone", "--quiet", str(remote), str(tmp_path / "c"))
    c = townmod.locate(tmp_path / "c")
    assert c.remote == "origin"
    assert Queue(GitStore(c)).show(made.id).status == "claimed"
    added = Queue(GitStore(c)).add(NewBead(title="from a plain clone"))  # it writes too: tasks is not checked out
    GitStore(a).sync()
    assert Queue(GitStore(a)).show(added.id).title == "from a plain clone"


def test_a_remote_that_disagrees_is_refused(tmp_path):
    founding.init(tmp_path / "a", str(tmp_path / "one.git"))
    with pytest.raises(UsageError, match="origin is"):
        founding.init(tmp_path / "a", str(tmp_path / "two.git"))
