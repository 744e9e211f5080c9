"""Every way out of the worktree is refused; commands are allow-listed, timed, secret-free."""

import dataclasses
import os
import time

import pytest
from conftest import PYTEST, git

from gastown.agents.commands import count_tests
from gastown.agents.excerpt import excerpt, split_header
from gastown.agents.jail import Jail, Policy
from gastown.agents.paths import ToolError
from gastown.agents.tools import Sandbox


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
        ("/etc/passwd", "absolute paths outside the project are refused"),
        ("~/.ssh/id_rsa", "absolute paths outside the project are refused"),
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
    with pytest.raises(ToolError, match=message.replace(".", r"\.").replace("(", r"\(")):
        sandbox.edit_file(path, "top secret", "pwned")
    with pytest.raises(ToolError):
        sandbox.edit_file(path, "", "pwned")
    assert (sandbox.root.parent / "secret.txt").read_text() == "top secret\n"


def test_an_absolute_path_into_the_worktree_is_read_as_the_relative_one(sandbox):
    """Tracebacks print the worktree's absolute paths, and a model copies them."""
    root = str(sandbox.root)
    assert sandbox.read_file(f"{root}/src/app.py") == "src/app.py lines 1-1 of 1\n   1| VALUE = 1"
    assert sandbox.write_file(f"{root}/src/b.py", "B = 2\n").startswith("wrote src/b.py")
    for way_out, message in [
        (f"{root}/../secret.txt", "absolute paths outside the project are refused"),
        (f"{root}/escape", "leads outside the project"),
        (f"{root}/.git/config", "the .git folder is off limits"),
        (root, "absolute paths outside the project are refused"),
    ]:
        with pytest.raises(ToolError, match=message):
            sandbox.read_file(way_out)
        with pytest.raises(ToolError):
            sandbox.write_file(way_out, "pwned")
    assert (sandbox.root.parent / "secret.txt").read_text() == "top secret\n"


def test_inside_the_worktree_everything_works(sandbox):
    assert sandbox.read_file("inside_link") == "src/app.py lines 1-1 of 1\n   1| VALUE = 1"
    assert sandbox.write_file("src/new/module.py", "X = 2\n").startswith("wrote src/new/module.py")
    assert sandbox.read_file("src/new/module.py", 1, 1) == "src/new/module.py lines 1-1 of 1\n   1| X = 2"
    assert "app.py" in sandbox.list_dir("src")
    assert "new/" in sandbox.directory_tree(".")
    assert ".git" not in sandbox.list_dir(".")
    assert sandbox.search("VALUE") == "src/app.py:1: VALUE = 1"


def test_the_refinerys_tests_are_protected_from_writes(sandbox):
    with pytest.raises(ToolError, match="this is a test file"):
        sandbox.write_file("tests/test_app.py", "def test_x():\n    pass\n")
    with pytest.raises(ToolError, match="this is a test file"):
        sandbox.edit_file("tests/test_app.py", "assert True", "pass")
    with pytest.raises(ToolError, match="this is a test file"):
        sandbox.edit_file("tests/test_new.py", "", "def test_y():\n    pass\n")
    assert (sandbox.root / "tests" / "test_app.py").read_text() == "def test_x():\n    assert True\n"
    assert not (sandbox.root / "tests" / "test_new.py").exists()


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


def test_a_command_line_that_does_not_parse_is_the_models_error_not_an_internal_one(sandbox):
    # A tiny model's shell_exec with an unbalanced quote handed its bead back as "internal error".
    with pytest.raises(ToolError, match="does not parse .No closing quotation.: balance its quotes"):
        sandbox.shell_exec("python -c 'print(1)")


def test_secrets_are_redacted_from_what_tools_return(sandbox):
    (sandbox.root / "src" / "leak.txt").write_text("key=sk-very-secret-value\n")
    assert "sk-very-secret-value" not in sandbox.read_file("src/leak.txt")
    assert "[redacted]" in sandbox.read_file("src/leak.txt")


def test_run_tests_counts(sandbox):
    text, run, counts = sandbox.run_tests()
    assert run.exit_code == 0 and counts == {"passed": 3, "failed": 1, "errors": 0, "skipped": 0}
    assert "3 passed, 1 failed" in text


def test_an_excerpt_of_only_imports_sent_back_alone_is_refused_and_with_a_new_function_is_merged(sandbox):
    module = '"""Words."""\nimport re\n\n\ndef keep(word):\n    return re.sub("x", "", word)\n'
    (sandbox.root / "src" / "words.py").write_text(module)
    shown = excerpt(module, set(), "src/words.py", adding=True)
    assert shown is not None and "Shown: its imports" in shown
    with pytest.raises(ToolError, match="as the prompt showed it"):
        sandbox.write_file("src/words.py", shown)
    block = split_header(shown)[1]  # the prompt shows the header above the code block: a copy is the block
    assert block == "import re\n"
    with pytest.raises(ToolError, match="as the prompt showed it"):
        sandbox.write_file("src/words.py", block)
    assert (sandbox.root / "src" / "words.py").read_text() == module
    sandbox.write_file("src/other.py", "import os\n\n\nCONSTANT = 1\n")
    sandbox.write_file("src/other.py", "import re\n")  # a module that defines no function may be imports alone
    assert (sandbox.root / "src" / "other.py").read_text() == "import re\n"
    sandbox.write_file("src/gather.py", "import re\n\n\ndef keep(word):\n    return word\n")
    sandbox.write_file("src/gather.py", "from src.words import keep\n")  # a re-export: imports it lacked
    assert (sandbox.root / "src" / "gather.py").read_text() == "from src.words import keep\n"
    sandbox.write_file("src/words.py", shown + "\n\ndef shout(word):\n    return word.upper()\n")
    written = (sandbox.root / "src" / "words.py").read_text()
    assert "def keep(word):" in written and "def shout(word):" in written


def test_a_test_run_stops_at_the_rigs_timeout_or_the_deadline_whichever_is_first(sandbox):
    hangs = dataclasses.replace(sandbox, test_command=["python", "-c", "import time; time.sleep(60)"], test_timeout=1.0)
    began = time.monotonic()
    _, run, _ = hangs.run_tests(until=began - 100)  # past its deadline: the rig's 1 s still bounds it
    assert run.timed_out and time.monotonic() - began < 5
    _, run, _ = hangs.run_tests(until=began + 1000)
    assert run.timed_out and time.monotonic() - began < 10  # a far deadline: the rig's timeout


def test_what_commands_print_names_the_worktrees_files_as_dot_relative_paths(sandbox):
    """pytest's ImportError names the test module by its absolute path; shown that, a model
    sent it back as a tool's path."""
    where = "import os; print('ImportError while importing ' + os.path.join(os.getcwd(), 'tests/test_app.py'))"
    assert sandbox.shell_exec(["python", "-c", where]) == "exit 0\nImportError while importing ./tests/test_app.py\n"
    tests = dataclasses.replace(sandbox, test_command=["python", "-c", where])
    text, run, _ = tests.run_tests()
    assert run.output == "ImportError while importing ./tests/test_app.py\n" and str(sandbox.root) not in text
    assert sandbox.read_file("./tests/test_app.py").startswith("tests/test_app.py lines 1-")  # as a tool takes it


def test_a_module_written_with_an_import_of_itself_is_written_without_it(sandbox):
    said = sandbox.write_file("src/slug.py", "from src.slug import slugify\n\n\ndef slugify(t):\n    return t\n")
    assert "; its import of itself (slug, src.slug) dropped" in said
    assert (sandbox.root / "src" / "slug.py").read_text() == "def slugify(t):\n    return t\n"


def test_a_whole_module_written_without_the_docstrings_it_was_shown_without_keeps_them(sandbox):
    """A Polecat is shown the code it changes with its long docstrings lifted out (prompts.py)."""
    documented = "".join(
        f'def f{n}(x):\n    """Do f{n}.\n\n    Longer words about f{n}.\n    """\n    return x + {n}\n\n\n'
        for n in range(4)
    )
    (sandbox.root / "src" / "many.py").write_text(documented)
    bare = "".join(f"def f{n}(x):\n    return x + {n * 10}\n\n\n" for n in range(4))
    said = sandbox.write_file("src/many.py", bare)
    assert "the docstrings it left out kept" in said, said
    assert (sandbox.root / "src" / "many.py").read_text() == documented.replace(
        "return x + 1\n", "return x + 10\n"
    ).replace("return x + 2\n", "return x + 20\n").replace("return x + 3\n", "return x + 30\n")


def test_a_gathering_init_as_the_prompt_cut_it_is_not_written_back_over_the_file(sandbox):
    from gastown.agents.excerpt import gathered

    init = "from src.app import VALUE\nfrom src.other import OTHER\n\n__all__ = ['OTHER', 'VALUE']\n"
    (sandbox.root / "src" / "__init__.py").write_text(init)
    cut = gathered(init, {"VALUE"}, "src/__init__.py")
    with pytest.raises(ToolError, match="as the prompt showed it, its other statements left out"):
        sandbox.write_file("src/__init__.py", cut)
    assert (sandbox.root / "src" / "__init__.py").read_text() == init


def test_count_tests_reads_pytest_and_gut():
    assert count_tests("==== 2 failed, 5 passed, 1 error in 0.3s ====")["errors"] == 1
    gut = "Totals\nPassing Tests   7\nFailing Tests   2\nPending   1\n"
    assert count_tests(gut) == {"passed": 7, "failed": 2, "errors": 0, "skipped": 1}


MODULE = """\
\"\"\"Scoring.\"\"\"

GRADES = {"perfect": 30, "good": 80}


def grade(offset_ms):
    for name, limit in GRADES.items():
        if abs(offset_ms) <= limit:
            return name
    return "miss"


def combo(streak):
    if streak < 10:
        return 1
    return 2


def total(notes):
    score = 0
    for note in notes:
        score += combo(note)
    return score
"""


@pytest.fixture
def project(tmp_path):
    """A real git work tree: tracked files, an ignored .venv and build output, an untracked new file."""
    root = tmp_path / "game"
    (root / "src").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "src" / "scoring.py").write_text(MODULE)
    (root / "tests" / "test_scoring.py").write_text("from src.scoring import grade\n\n\ndef test_grade():\n    pass\n")
    (root / ".gitignore").write_text(".venv/\nbuild/\n*.log\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "start")
    (root / ".venv" / "lib" / "site-packages").mkdir(parents=True)
    (root / ".venv" / "lib" / "site-packages" / "combo.py").write_text("def combo(streak): ...\n")
    (root / "build").mkdir()
    (root / "build" / "scoring.py").write_text("def combo(streak): ...\n")
    (root / "run.log").write_text("combo combo\n")
    (root / "src" / "__pycache__").mkdir()
    (root / "src" / "__pycache__" / "scoring.cpython-311.pyc").write_bytes(b"\x00combo")
    (root / "src" / "bonus.py").write_text("def combo_bonus(streak):\n    return 0\n")  # new, not yet added
    return Sandbox(root, protected=lambda p: p.startswith("tests/"))


def scoring(project):
    return (project.root / "src" / "scoring.py").read_text()


def test_edit_file_replaces_the_one_place_old_occurs_and_shows_it_numbered(project):
    out = project.edit_file(
        "src/scoring.py", "    if streak < 10:\n        return 1\n", "    if streak < 5:\n        return 1\n"
    )
    assert scoring(project) == MODULE.replace("streak < 10", "streak < 5")
    assert out.splitlines()[0] == "edited src/scoring.py: replaced lines 14-15; the new text is lines 14-15 of 23"
    assert "  14|     if streak < 5:" in out and "  13| def combo(streak):" in out and "  16|     return 2" in out


def test_edit_file_without_a_match_shows_the_closest_lines_and_changes_nothing(project):
    with pytest.raises(ToolError) as refused:
        project.edit_file("src/scoring.py", "def combo(streak):\n    if streak <= 10:\n", "x")
    message = str(refused.value)
    assert "old was not found in src/scoring.py" in message and "most similar lines are 13-14" in message
    assert "  13| def combo(streak):\n  14|     if streak < 10:" in message
    assert scoring(project) == MODULE


def test_edit_file_refuses_old_that_occurs_twice_naming_the_lines(project):
    with pytest.raises(ToolError, match=r"old occurs 2 times in src/scoring.py \(at lines 7, 21\); include more"):
        project.edit_file("src/scoring.py", "    for ", "    while ")
    assert scoring(project) == MODULE
    nested = "def f():\n    pass\n\n\nclass C:\n    def f():\n        pass\n"
    (project.root / "src" / "nested.py").write_text(nested)
    with pytest.raises(ToolError, match=r"old occurs 2 times .*lines 1, 6"):  # alike once indentation is forgiven
        project.edit_file("src/nested.py", " def f():\n     pass", " def f():\n     return")
    assert (project.root / "src" / "nested.py").read_text() == nested


@pytest.mark.parametrize(
    "old, new, forgiven",
    [
        (  # the snippet without its indentation
            "if streak < 10:\n    return 1",
            "if streak < 5:\n    return 1",
            "indents these lines 4 spaces deeper than old",
        ),
        (  # indented too deep, with trailing spaces
            "        if streak < 10:   \n            return 1\n",
            "        if streak < 5:\n            return 1\n",
            "old was indented 4 spaces deeper than the file",
        ),
        (  # copied from read_file's output, numbers and all; new copied the same way
            "  14|     if streak < 10:\n  15|         return 1",
            "  14|     if streak < 5:\n  15|         return 1",
            "line numbers copied from read_file were dropped",
        ),
        (  # CRLF line ends from the model
            "    if streak < 10:\r\n        return 1\r\n",
            "    if streak < 5:\r\n        return 1\r\n",
            "",
        ),
        (  # its first line typed, the next copied from read_file with its number
            "    if streak < 10:\n  15|         return 1",
            "    if streak < 5:\n  15|         return 1",
            "line numbers copied from read_file were dropped",
        ),
    ],
    ids=["dedented", "indented-with-trailing-spaces", "line-numbers", "crlf", "some-line-numbers"],
)
def test_edit_file_forgives_what_small_models_get_wrong_when_it_is_unambiguous(project, old, new, forgiven):
    out = project.edit_file("src/scoring.py", old, new)
    assert scoring(project) == MODULE.replace("streak < 10", "streak < 5")
    assert forgiven in out.splitlines()[0]


TAIL = (
    "import collections\n\n\n"
    "def tail(n, seq):\n"
    '    """ The last n elements of a sequence\n\n    >>> tail(2, [10, 20, 30, 40, 50])\n    [40, 50]\n    """\n'
    "    try:\n        return seq[n:]\n    except (TypeError, KeyError):\n"
    "        return tuple(collections.deque(seq, n))\n"
)


def test_edit_file_of_a_function_copied_as_the_prompt_showed_it_keeps_its_docstring(project):
    """The bead's prompt shows a function without its long docstring (excerpt.lift_docstrings):
    an edit whose old is the function as shown, indented as inside a JSON string, lands in
    the one place it means, and the docstring stays (toolz's tail: the 1.5B's edit was
    refused twice as not found, the bead lost)."""
    path = project.root / "src" / "seqs.py"
    path.write_text(TAIL)
    shown = "def tail(n, seq):\n    try:\n        return seq[n:]\n    except (TypeError, KeyError):\n"
    old = "\n" + "".join("        " + line + "\n" for line in shown.splitlines()) + "    "
    new = old.replace("seq[n:]", "seq[-n:]")
    out = project.edit_file("src/seqs.py", old, new)
    assert path.read_text() == TAIL.replace("seq[n:]", "seq[-n:]")
    assert "old left out the function's docstring" in out
    path.write_text(TAIL)  # a new that brings a docstring of its own keeps that one
    own = shown.replace("    try:", '    """Its last n."""\n    try:').replace("seq[n:]", "seq[-n:]")
    project.edit_file("src/seqs.py", shown, own)
    assert '"""Its last n."""' in path.read_text() and "The last n elements" not in path.read_text()
    path.write_text(TAIL)  # new with a decorator and a signature over two lines: the docstring goes below it
    project.edit_file("src/seqs.py", shown, shown.replace("def tail(n, seq):", "@cache\ndef tail(n,\n         seq):"))
    assert '@cache\ndef tail(n,\n         seq):\n    """ The last n' in path.read_text()
    path.write_text(TAIL)  # old that skips code, not the docstring, is still not found
    with pytest.raises(ToolError, match="old was not found"):
        project.edit_file("src/seqs.py", "def tail(n, seq):\n    except (TypeError, KeyError):\n", "x = 1\n")
    # old that starts above the function: the docstring it skips is not the one below its first line
    with pytest.raises(ToolError, match="old was not found"):
        project.edit_file("src/seqs.py", "import collections\n\n\ndef tail(n, seq):\n    try:\n", "x = 1\n")
    assert path.read_text() == TAIL


def test_edit_file_trailing_whitespace_in_the_file_is_forgiven(project):
    (project.root / "src" / "scoring.py").write_text(MODULE.replace("return 2\n", "return 2   \n"))
    out = project.edit_file("src/scoring.py", "        return 1\n    return 2\n", "        return 1\n    return 3\n")
    assert "trailing whitespace was ignored" in out
    assert scoring(project) == MODULE.replace("return 2\n", "return 3\n")


def test_edit_file_keeps_a_crlf_files_line_ends(project):
    path = project.root / "src" / "scoring.py"
    path.write_bytes(MODULE.replace("\n", "\r\n").encode())
    project.edit_file("src/scoring.py", "return 2\n", "return 4\n")
    assert path.read_bytes() == MODULE.replace("return 2", "return 4").replace("\n", "\r\n").encode()


def test_edit_file_creates_deletes_and_refuses_unclear_requests(project):
    assert project.edit_file("src/extra.py", "", "A = 1\nB = 2\n").startswith("created src/extra.py (2 lines)")
    assert (project.root / "src" / "extra.py").read_text() == "A = 1\nB = 2\n"
    out = project.edit_file("src/extra.py", "B = 2\n", "")
    assert out.startswith("edited src/extra.py: deleted line 2; the file now has 1 lines")
    assert (project.root / "src" / "extra.py").read_text() == "A = 1\n"
    with pytest.raises(ToolError, match="old is empty, but src/extra.py has content"):
        project.edit_file("src/extra.py", "", "C = 3\n")
    with pytest.raises(ToolError, match="no such file; to create it, call edit_file with an empty old"):
        project.edit_file("src/missing.py", "A = 1", "A = 2")
    with pytest.raises(ToolError, match="old and new are the same"):
        project.edit_file("src/extra.py", "A = 1", "A = 1")
    assert not (project.root / "src" / "missing.py").exists()


def test_write_file_drops_line_numbers_copied_from_read_file(project):
    copied = project.read_file("src/scoring.py", 13, 16).split("\n", 1)[1] + "\n"
    assert "copied from read_file were dropped" in project.write_file("src/combo.py", copied)
    assert (
        project.root / "src" / "combo.py"
    ).read_text() == "def combo(streak):\n    if streak < 10:\n        return 1\n    return 2\n"


def test_read_file_numbers_ranges_and_says_how_long_a_file_is(project):
    assert project.read_file("src/scoring.py", 13, 15) == (
        "src/scoring.py lines 13-15 of 23\n  13| def combo(streak):\n  14|     if streak < 10:\n  15|         return 1"
    )
    assert project.read_file("src/scoring.py", 22).endswith(
        "  22|         score += combo(note)\n  23|     return score"
    )
    (project.root / "src" / "long.py").write_text("".join(f"X{n} = {n}\n" for n in range(1, 301)))
    whole = project.read_file("src/long.py")
    assert whole.startswith("src/long.py lines 1-300 of 300 (a long file: give start_line and end_line")
    assert whole.endswith(" 300| X300 = 300")
    with pytest.raises(ToolError, match="has only 23 lines"):
        project.read_file("src/scoring.py", 30, 40)
    with pytest.raises(ToolError, match="end_line .* is before start_line"):
        project.read_file("src/scoring.py", 10, 5)


def test_a_read_too_long_for_one_answer_says_where_to_read_on(project):
    (project.root / "src" / "wide.py").write_text("".join(f"X{n} = '{'y' * 90}'\n" for n in range(1, 301)))
    text = project.read_file("src/wide.py")
    last = int(text.splitlines()[0].split("lines 1-")[1].split(" ")[0])
    assert last < 300 and text.endswith(f"read on with start_line={last + 1} ...]")
    assert project.read_file("src/wide.py", last + 1).startswith(f"src/wide.py lines {last + 1}-300 of 300")


def test_listings_show_what_git_tracks_or_would_track_and_nothing_ignored(project):
    tree = project.directory_tree(".")
    assert tree.splitlines() == [".gitignore", "src/", "  bonus.py", "  scoring.py", "tests/", "  test_scoring.py"]
    assert project.list_dir(".") == ".gitignore\nsrc/\ntests/"
    assert project.list_dir("src") == "bonus.py\nscoring.py"
    assert project.list_dir(".venv").startswith("(empty: no files here that git tracks")
    assert project.search("combo") == "\n".join(
        [
            "src/bonus.py:1: def combo_bonus(streak):",
            "src/scoring.py:13: def combo(streak):",
            "src/scoring.py:22: score += combo(note)",
        ]
    )
    assert project.directory_tree(".", depth=1).splitlines()[1] == "src/ (2 files)"


def test_a_modules_dotted_name_is_the_one_file_git_lists_for_it(project):
    (project.root / "src" / "game").mkdir()
    (project.root / "src" / "game" / "__init__.py").write_text("")
    assert project.module_file("src.scoring") == "src/scoring.py"
    assert project.module_file("scoring") == "src/scoring.py"  # from one folder of the root: a src layout
    assert project.module_file("game") == "src/game/__init__.py"
    assert project.module_file("src.bonus") == "src/bonus.py"  # new, untracked, not ignored
    assert project.module_file("build.scoring") is None  # ignored build output
    assert project.module_file("src.combo") is None
    assert project.module_file("tests.test_scoring") is None  # a file no write may change
    (project.root / "src" / "vendor" / "src").mkdir(parents=True)
    (project.root / "src" / "vendor" / "src" / "bonus.py").write_text("")
    assert project.module_file("src.bonus") == "src/bonus.py"  # not a copy deeper down
    (project.root / "lib").mkdir()
    (project.root / "lib" / "game.py").write_text("")
    assert project.module_file("game") is None  # src/game/ and lib/game.py
    (project.root / "scoring.py").write_text("")
    assert project.module_file("scoring") is None  # two files it could mean


def test_a_folder_outside_git_is_walked_without_caches_or_venvs(tmp_path):
    root = tmp_path / "plain"
    (root / ".venv").mkdir(parents=True)
    (root / ".venv" / "x.py").write_text("combo\n")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "x.pyc").write_text("combo\n")
    (root / "main.py").write_text("combo\n")
    plain = Sandbox(root)
    assert plain.directory_tree(".") == "main.py"
    assert plain.search("combo") == "main.py:1: combo"


def test_a_write_that_would_gut_an_existing_file_is_refused_and_changes_nothing(sandbox):
    notes = "".join(f"- note {n}\n" for n in range(40))
    (sandbox.root / "src" / "notes.md").write_text(notes)
    with pytest.raises(ToolError, match=r"would replace src/notes.md \(40 lines\) with 0 lines.*edit_file"):
        sandbox.write_file("src/notes.md", "<|insert your notes here|>")
    assert (sandbox.root / "src" / "notes.md").read_text() == notes
    assert "wrote src/notes.md" in sandbox.write_file("src/notes.md", notes[: len(notes) // 2])  # a real rewrite
    assert "wrote src/new.py" in sandbox.write_file("src/new.py", "x = 1\n")


def test_python_that_would_not_compile_is_refused_with_the_line_and_changes_nothing(sandbox):
    module = '"""Scores."""\n\n\ndef points(hit):\n    return 3 if hit else 0\n'
    (sandbox.root / "src" / "score.py").write_text(module)
    with pytest.raises(ToolError, match=r"(?s)not written: src/score.py would not compile.*at line 1:.*unchanged"):
        sandbox.write_file("src/score.py", "<|insert your code here|>")
    with pytest.raises(ToolError, match=r"would not compile"):  # an edit that cuts the docstring in two
        sandbox.edit_file("src/score.py", old='"""Scores."""', new='"""Scores.\n\ndef bonus(): return 1')
    with pytest.raises(ToolError, match=r"would not compile"):
        sandbox.write_file("src/fresh/new.py", "def broken(:\n")
    assert (sandbox.root / "src" / "score.py").read_text() == module
    assert not (sandbox.root / "src" / "fresh").exists()
    (sandbox.root / "src" / "half.py").write_text("def half(:\n")  # broken already: fixing it goes piece by piece
    assert "edited src/half.py" in sandbox.edit_file("src/half.py", old="half(:", new="half(x:")


def test_a_module_written_as_only_its_new_and_changed_functions_keeps_the_rest(sandbox):
    module = (
        '"""Text tools."""\n\nimport textwrap\n\nWIDTH = 70\n\n\n'
        "def wrap(text, width=WIDTH):\n    return textwrap.wrap(text, width)\n\n\n"
        "@staticmethod\ndef shout(text):\n    return text.upper()\n"
    )
    (sandbox.root / "src" / "text.py").write_text(module)
    fragment = (
        "import re\nimport textwrap\n\n\ndef shout(text):\n    return text.upper() + '!'\n\n\n"
        "def truncate(text, width):\n    return re.sub(r'\\s+$', '', text[:width])\n"
    )
    said = sandbox.write_file("src/text.py", fragment)
    assert said.startswith("merged into src/text.py: replaced shout; added truncate; kept as they were: wrap"), said
    merged = (sandbox.root / "src" / "text.py").read_text()
    assert merged == (
        '"""Text tools."""\n\nimport textwrap\nimport re\n\nWIDTH = 70\n\n\n'
        "def wrap(text, width=WIDTH):\n    return textwrap.wrap(text, width)\n\n\n"
        "def shout(text):\n    return text.upper() + '!'\n\n\n"
        "def truncate(text, width):\n    return re.sub(r'\\s+$', '', text[:width])\n"
    )
    whole = merged.replace("WIDTH = 70", "WIDTH = 80")  # every definition present: a rewrite, written as sent
    assert sandbox.write_file("src/text.py", whole).startswith("wrote src/text.py")
    assert (sandbox.root / "src" / "text.py").read_text() == whole


def test_a_nested_function_sent_alone_is_merged_into_the_function_that_holds_it(sandbox):
    # asked for the line at fault in thread_last, the 1.5B sent only the function nested in it
    module = (
        "from functools import reduce\n\n\ndef thread_last(val, *forms):\n"
        "    def evalform_back(val, form):\n        func, args = form[0], form[1:]\n"
        "        return func(val, *args)\n\n    return reduce(evalform_back, forms, val)\n"
    )
    (sandbox.root / "src" / "threads.py").write_text(module)
    fixed = "def evalform_back(val, form):\n    func, args = form[0], form[1:]\n    return func(*args, val)\n"
    said = sandbox.write_file("src/threads.py", fixed)
    assert said.startswith(
        "merged into src/threads.py: replaced thread_last.evalform_back; kept as they were: nothing else"
    ), said
    assert (sandbox.root / "src" / "threads.py").read_text() == module.replace("func(val, *args)", "func(*args, val)")
    assert sandbox.home_of(fixed) == "src/threads.py"  # a block that names no file: where it can only go


def test_the_acceptance_tests_sent_back_as_the_module_are_refused_and_the_module_kept(sandbox):
    # shown the test file first, a small model answered the module's path with the tests
    module = "def ordinal(value):\n    raise NotImplementedError\n\n\ndef other():\n    return 1\n"
    (sandbox.root / "src" / "number.py").write_text(module)
    copied = "import pytest\n\n\ndef test_ordinal():\n    assert ordinal(1) == '1st'\n"
    with pytest.raises(ToolError, match=r"only tests \(test_ordinal\), copied from the test file"):
        sandbox.write_file("src/number.py", copied)
    assert (sandbox.root / "src" / "number.py").read_text() == module
    with_code = copied + "\n\ndef ordinal(value):\n    return f'{value}st'\n"  # code beside them: its work
    assert "replaced ordinal" in sandbox.write_file("src/number.py", with_code)
    # tests added to a test file (the Refinery's work), or a helper named test-something, are written
    (sandbox.root / "src" / "test_number.py").write_text("def test_one():\n    assert True\n\n\n" + module)
    assert "added test_ordinal" in sandbox.write_file("src/test_number.py", copied)
    assert "added testify" in sandbox.write_file("src/number.py", "def testify(x):\n    return x\n")


def test_a_placeholder_before_a_real_folder_is_dropped_and_a_new_top_level_folder_is_kept(sandbox):
    assert sandbox.write_file("path/to/src/slug.py", "X = 1\n").startswith("wrote src/slug.py")
    assert (sandbox.root / "src" / "slug.py").is_file() and not (sandbox.root / "path").exists()
    assert sandbox.read_file("your/project/src/app.py").startswith("src/app.py")
    assert sandbox.write_file("newpkg/mod.py", "Y = 2\n").startswith(
        "wrote newpkg/mod.py"
    )  # its rest lies in no folder
    with pytest.raises(ToolError, match="this is a test file"):  # the real path's rules apply
        sandbox.write_file("path/to/tests/test_app.py", "def test_x():\n    pass\n")
    assert sandbox.write_file("path/to/nowhere/x.py", "Z = 3\n").startswith("wrote path/to/nowhere/x.py")


def test_functions_sent_under_a_made_up_path_go_to_the_one_module_that_defines_them(sandbox):
    module = "def camelize(text):\n    raise NotImplementedError\n\n\ndef other():\n    return 1\n"
    (sandbox.root / "src" / "words.py").write_text(module)
    said = sandbox.write_file("path/of/the_file.py", "def camelize(text):\n    return text.title()\n")
    assert said.startswith("merged into src/words.py: replaced camelize"), said
    assert "path/of/the_file.py names no folder here, and src/words.py defines what it holds" in said
    assert not (sandbox.root / "path").exists()
    assert (sandbox.root / "src" / "words.py").read_text().count("def ") == 2
    # a new module is written where it was sent, even when it defines what another does
    assert sandbox.write_file("newpkg/mod.py", "def fresh():\n    return 2\n").startswith("wrote newpkg/mod.py")
    assert sandbox.write_file("helpers.py", "def camelize(t):\n    return t\n").startswith("wrote helpers.py")
    assert sandbox.write_file("pkg2/text.py", "def camelize(t):\n    return t\n").startswith("wrote pkg2/text.py")
    (sandbox.root / "helpers.py").unlink()
    (sandbox.root / "pkg2" / "text.py").unlink()
    # names two modules define: no guess
    (sandbox.root / "src" / "more.py").write_text("def camelize(text):\n    return text\n")
    assert sandbox.write_file("a/b.py", "def camelize(text):\n    return 1\n").startswith("wrote a/b.py")


def test_a_write_of_what_the_file_already_holds_says_nothing_changed(sandbox):
    assert sandbox.write_file("src/app.py", "VALUE = 1\n").startswith("no change: src/app.py already holds")
    (sandbox.root / "src" / "two.py").write_text("def a():\n    return 1\n\n\ndef b():\n    return 2\n")
    said = sandbox.write_file("src/two.py", "def b():\n    return 2\n")  # a fragment identical to what is there
    assert said.startswith("no change: src/two.py already has these definitions"), said


def test_code_the_rigs_own_python_compiles_is_not_refused_for_gastowns(sandbox, tmp_path):
    newer = "def f[T](x: T) -> T:\n    return x\n"  # PEP 695: Python 3.12 syntax
    liberal = tmp_path / "python-accepts-all"
    liberal.write_text("#!/bin/sh\nexit 0\n")  # stands for a newer interpreter that compiles it
    liberal.chmod(0o755)
    strict = dataclasses.replace(sandbox, python=())
    try:
        compile(newer, "x.py", "exec")
    except SyntaxError:  # gastown runs on a Python older than the code
        with pytest.raises(ToolError, match="would not compile"):
            strict.write_file("src/generic.py", newer)
    lenient = dataclasses.replace(sandbox, python=(str(liberal),))
    assert lenient.write_file("src/generic.py", newer).startswith("wrote src/generic.py")
    refusing = tmp_path / "python-refuses-all"
    refusing.write_text("#!/bin/sh\nexit 1\n")
    refusing.chmod(0o755)
    with pytest.raises(ToolError, match="would not compile"):  # both interpreters refuse: refused
        dataclasses.replace(sandbox, python=(str(refusing),)).write_file("src/broken.py", "def f(:\n")


def test_a_python_write_gets_the_import_of_a_function_the_module_beside_it_defines(sandbox):
    """A change across two files: the 1.5B wrote reading_time in one module and called it,
    never imported, in the other."""
    sandbox.write_file("src/reading.py", "def reading_time(text):\n    return len(text.split()) // 200\n")
    said = sandbox.write_file("src/report.py", "def summary(text):\n    return f'{reading_time(text)} min'\n")
    assert "added from reading import reading_time at the top (used, never imported)" in said, said  # a src layout
    assert (sandbox.root / "src" / "report.py").read_text().startswith("from reading import reading_time\n")


def test_a_python_write_gets_the_standard_library_imports_it_uses_and_says_so(sandbox):
    said = sandbox.write_file("src/reading.py", "def minutes(words):\n    return math.ceil(words / 200)\n")
    assert "added import math at the top (used, never imported)" in said
    assert (sandbox.root / "src" / "reading.py").read_text().startswith("import math\n")
    edited = sandbox.edit_file("src/app.py", "VALUE = 1", "VALUE = 1\nWORDS = Counter('a b a'.split())")
    assert "added from collections import Counter" in edited
    assert "the new text is lines 3-4 of 4" in edited  # counted after the import and its blank line
    assert (sandbox.root / "src" / "app.py").read_text().startswith("from collections import Counter\n")
    plain = sandbox.write_file("src/notes.txt", "math.ceil is a function\n")
    assert "added" not in plain


def test_a_future_import_a_model_put_below_another_import_is_moved_up_and_the_file_written(sandbox):
    content = "import re\n\nfrom __future__ import annotations\n\n\ndef words(text: str) -> list[str]:\n    return re.findall(r'\\w+', text)\n"
    said = sandbox.write_file("src/words.py", content)
    assert "`from __future__` imports moved to the top" in said, said
    assert (sandbox.root / "src" / "words.py").read_text().startswith("from __future__ import annotations\nimport re\n")


def test_a_src_layouts_tests_import_the_worktrees_package_not_the_installed_one(tmp_path):
    """An editable install points at the user's checkout: in a bead's worktree the tests
    must import the package the bead is changing, from the worktree's src/."""
    stale = tmp_path / "checkout" / "src" / "pkg"  # where the user's editable install points
    stale.mkdir(parents=True)
    (stale / "__init__.py").write_text("VALUE = 1\n")
    root = tmp_path / "worktree"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "__init__.py").write_text("VALUE = 2\n")  # what the bead wrote
    (root / "tests").mkdir()
    (root / "tests" / "test_pkg.py").write_text("import pkg\n\n\ndef test_value():\n    assert pkg.VALUE == 2\n")
    box = Sandbox(
        root,
        test_command=list(PYTEST),
        test_timeout=60,
        env={**os.environ, "PYTHONPATH": str(stale.parent)},
        jail=Jail(policy=Policy(env=("PYTHONPATH",)), mode="none"),
    )
    text, run, counts = box.run_tests()
    assert run.exit_code == 0 and counts["passed"] == 1, text
    off = Jail(policy=Policy(env=("PYTHONPATH",), src_path=False), mode="none")  # the rig's say
    text, run, counts = dataclasses.replace(box, jail=off).run_tests()
    assert counts["failed"] == 1, text
    (root / "src" / "pkg" / "speedups.pyx").write_text("")  # built in place: imports where it was built
    text, run, counts = box.run_tests()
    assert counts["failed"] == 1, text
    plain = tmp_path / "flat"  # no src/: nothing is added
    (plain / "tests").mkdir(parents=True)
    (plain / "tests" / "test_env.py").write_text(
        "import os\n\n\ndef test_env():\n    assert 'PYTHONPATH' not in os.environ\n"
    )
    box = Sandbox(
        plain,
        test_command=list(PYTEST),
        test_timeout=60,
        jail=Jail(mode="none"),
    )
    text, run, counts = box.run_tests()
    assert run.exit_code == 0 and counts["passed"] == 1, text


def test_a_method_no_one_class_owns_is_the_models_error_naming_the_classes(tmp_path):
    (tmp_path / "caches.py").write_text(
        "class A:\n    def pop(self):\n        raise NotImplementedError\n\n\n"
        "class B:\n    def pop(self):\n        raise NotImplementedError\n"
    )
    box = Sandbox(tmp_path)
    with pytest.raises(ToolError, match="A, B each have one: send it inside its class"):
        box.write_file("caches.py", "def pop(self):\n    return 1\n")
    assert "return 1" not in (tmp_path / "caches.py").read_text()


def test_a_src_folder_of_a_module_or_a_namespace_package_counts_and_one_built_in_place_does_not(tmp_path):
    from gastown.agents.jail import python_source

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "single.py").write_text("")
    assert python_source(tmp_path) == (tmp_path / "src").resolve()
    (tmp_path / "src" / "ns" / "pkg" / "_ext").mkdir(parents=True)
    (tmp_path / "src" / "ns" / "pkg" / "__init__.py").write_text("")
    assert python_source(tmp_path) is not None
    (tmp_path / "src" / "ns" / "pkg" / "_ext" / "fast.pyx").write_text("")
    assert python_source(tmp_path) is None
    assert python_source(tmp_path / "none") is None


def test_content_sent_inside_a_code_fence_is_written_without_it(sandbox):
    # a JSON write_file whose content is the file as a reply would show it
    said = sandbox.write_file("src/fenced.py", "```python\ndef f():\n    return 1\n```\n")
    assert "the code fence around the content was dropped" in said, said
    assert (sandbox.root / "src" / "fenced.py").read_text() == "def f():\n    return 1\n"
    two = "```python\na = 1\n```\ntext\n```python\nb = 2\n```\n"  # not one block: as sent (and refused)
    with pytest.raises(ToolError, match="would not compile"):
        sandbox.write_file("src/two.py", two)
