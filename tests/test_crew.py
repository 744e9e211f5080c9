"""The Crew retrieves from what git tracks or would track, never from ignored files."""

from conftest import git

from gastown.agents import crew


def rig_files(root):
    (root / "docs").mkdir(parents=True)
    (root / "README.md").write_text("# Rhythm\n\nThe combo multiplier doubles the score after a streak of 10 notes.\n")
    (root / ".gitignore").write_text("build/\n.cache/\n")
    (root / ".venv" / "lib").mkdir(parents=True)
    (root / ".venv" / "lib" / "combo.py").write_text("combo multiplier streak " * 50)
    (root / ".cache").mkdir()
    (root / ".cache" / "combo.md").write_text("combo multiplier streak " * 50)


def test_retrieval_reads_tracked_and_new_files_but_not_ignored_ones(tmp_path):
    root = tmp_path / "rig"
    rig_files(root)
    (root / ".gitignore").write_text(".venv/\nbuild/\n.cache/\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "start")
    (root / "build").mkdir()
    (root / "build" / "combo.md").write_text("combo multiplier streak " * 50)
    (root / "docs" / "combo.md").write_text("How the combo multiplier grows with a streak.\n")  # new, not yet added
    found = [e.path for e in crew.retrieve(root, "How is the combo multiplier computed for a streak?")]
    assert sorted(found) == ["README.md", "docs/combo.md"]


def test_retrieval_walks_a_folder_that_is_not_a_git_work_tree(tmp_path):
    root = tmp_path / "rig"
    rig_files(root)
    found = [e.path for e in crew.retrieve(root, "How is the combo multiplier computed for a streak?")]
    assert "README.md" in found and not any(p.startswith(".venv/") for p in found)
