"""Every way out of the worktree is refused; commands are allow-listed, timed, secret-free."""

import os
import time

import pytest

from gastown.tools import Sandbox, ToolError, count_tests


@pytest.fixture
def sandbox(tmp_path):
    root = tmp_path / "work"
    (root / "src").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "src" / "app.py").write_text("VALUE = 1\n")
    (root / "tests" / "test_app.py").write_text("def test_x():\n    assert True\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    outside = tmp_path / "secret.txt"
    outside.write_text("top secret\n")
    (root / "escape").symlink_to(outside)
    (root / "escape_dir").symlink_to(tmp_path)
    (root / "inside_link").symlink_to(root / "src" / "app.py")
    return Sandbox(
        root,
        protected=lambda p: p.startswith("tests/"),
        allowed_commands=[["python", "-c"], ["sleep"]],
        shell_timeout=1.0,
        test_command=["python", "-c", "print('3 passed, 1 failed in 0.01s')"],
        env={**os.environ, "FAKE_API_KEY": "sk-very-secret-value", "PATH": os.environ["PATH"]},
    )


@pytest.mark.parametrize(
    "path, message",
    [
        ("/etc/passwd", "absolute paths are refused"),
        ("~/.ssh/id_rsa", "absolute paths are refused"),
        ("../secret.txt", "'..' is refused"),
        ("src/../../secret.txt", "'..' is refused"),
        ("escape", "leads outside the project"),
        ("escape_dir/secret.txt", "leads outside the project"),
        (".git/config", "the .git folder is off limits"),
        ("src/../.git/config", "'..' is refused"),
        ("", "non-empty string"),
    ],
)
def test_escapes_are_refused_for_reading_and_writing(sandbox, path, message):
    with pytest.raises(ToolError, match=message.replace(".", r"\.").replace("(", r"\(")):
        sandbox.read_file(path)
    with pytest.raises(ToolError):
        sandbox.write_file(path, "pwned")
    assert (sandbox.root.parent / "secret.txt").read_text() == "top secret\n"


def test_inside_the_worktree_everything_works(sandbox):
    assert sandbox.read_file("inside_link") == "VALUE = 1\n"
    assert sandbox.write_file("src/new/module.py", "X = 2\n").startswith("wrote src/new/module.py")
    assert sandbox.read_file("src/new/module.py", 1, 1) == "X = 2\n"
    assert "app.py" in sandbox.list_dir("src")
    assert "new/" in sandbox.directory_tree(".")
    assert ".git" not in sandbox.list_dir(".")
    assert sandbox.search("VALUE") == "src/app.py:1: VALUE = 1"


def test_the_refinerys_tests_are_protected_from_writes(sandbox):
    with pytest.raises(ToolError, match="belongs to the Refinery's tests"):
        sandbox.write_file("tests/test_app.py", "def test_x():\n    pass\n")
    assert sandbox.read_file("tests/test_app.py").startswith("def test_x")


def test_shell_exec_runs_only_allowed_commands_with_a_timeout_and_no_secrets(sandbox):
    with pytest.raises(ToolError, match="'rm' is not allowed"):
        sandbox.shell_exec("rm -rf .")
    with pytest.raises(ToolError, match="not allowed"):
        sandbox.shell_exec("python -m http.server")
    out = sandbox.shell_exec("python -c 'import os; print(os.environ.get(\"FAKE_API_KEY\"))'")
    assert out == "exit 0\nNone\n"
    started = time.monotonic()
    assert sandbox.shell_exec("sleep 30").startswith("timed out after 1s")
    assert time.monotonic() - started < 5


def test_secrets_are_redacted_from_what_tools_return(sandbox):
    (sandbox.root / "src" / "leak.txt").write_text("key=sk-very-secret-value\n")
    assert "sk-very-secret-value" not in sandbox.read_file("src/leak.txt")
    assert "[redacted]" in sandbox.read_file("src/leak.txt")


def test_run_tests_counts(sandbox):
    text, run, counts = sandbox.run_tests()
    assert run.exit_code == 0 and counts == {"passed": 3, "failed": 1, "errors": 0, "skipped": 0}
    assert "3 passed, 1 failed" in text


def test_count_tests_reads_pytest_and_gut():
    assert count_tests("==== 2 failed, 5 passed, 1 error in 0.3s ====")["errors"] == 1
    gut = "Totals\nPassing Tests   7\nFailing Tests   2\nPending   1\n"
    assert count_tests(gut) == {"passed": 7, "failed": 2, "errors": 0, "skipped": 1}
