import os

from gastown.agents.prompts import (
    DOC_LIMIT,
    FOCUS_ABOVE,
    Conversation,
    about,
    bead_text,
    readable,
    sections,
    system_text,
)


def test_the_head_never_changes_and_old_tool_output_is_stubbed_from_the_middle():
    head = [
        {"role": "system", "content": system_text("ROLE", [("README.md", "readme")])},
        {"role": "user", "content": "# Bead gt-abcde: t"},
    ]
    conv = Conversation([dict(m) for m in head], budget_tokens=400)
    for n in range(8):
        conv.add({"role": "assistant", "content": f"step {n}"})
        conv.add({"role": "tool", "tool_call_id": f"c{n}", "content": f"output {n} " + "x" * 400})
    first = conv.messages()
    assert first[:2] == head  # the head is untouched
    assert conv.stubbed > 0
    assert first[-1]["content"].startswith("output 7")  # the latest turns stay
    assert "dropped to fit the context" in first[3]["content"]  # the oldest went first
    conv.add({"role": "assistant", "content": "more"})
    second = conv.messages()
    # Stubs are for good: the prefix up to the last stub is identical, so it stays cached.
    last_stub = max(i for i, m in enumerate(first) if "dropped to fit" in str(m.get("content")))
    assert second[: last_stub + 1] == first[: last_stub + 1]


def test_bead_text_names_what_must_not_change():
    text = bead_text(
        {"id": "gt-abcde", "title": "Add scoring", "description": "Do it."},
        ["tests/**"],
        "Run the tests.",
    )
    assert text.startswith("# Bead gt-abcde: Add scoring") and "tests/**" in text and "Do it." in text


def test_a_readmes_badges_images_link_targets_and_html_are_not_put_in_the_prompt():
    """A project's README is written for its web page: badges, logos and link targets cost a
    CPU seconds of prompt and tell a model nothing. Code in fences is left as it is."""
    markdown = """<p align="center">
  <img src="logo.png" width="200">
</p>

# tool

[![PyPI](https://img.shields.io/pypi/v/tool)](https://pypi.org/project/tool/)
![screenshot](docs/shot.png)
<!-- generated: do not edit -->



Does one thing well.

```html
<div class="x">kept: inside a fence</div>
[kept]: inside a fence
```

[docs]: https://tool.example/docs
"""
    assert readable(markdown) == (
        '# tool\n\nDoes one thing well.\n\n```html\n<div class="x">kept: inside a fence</div>\n'
        "[kept]: inside a fence\n```"
    )
    rst = """tool
====

.. image:: https://img.shields.io/pypi/v/tool
   :target: https://pypi.org/project/tool/
   :alt: Latest version

.. |logo| image:: logo.png
   :width: 40

Use it like this::

    tool.run()

.. _docs: https://tool.example/docs
"""
    assert readable(rst) == "tool\n====\n\nUse it like this::\n\n    tool.run()"
    prose = "<p>Real prose</p>\n<a href=x>Read the docs</a> for the API.\n[Deprecated]: use X instead"
    assert readable(prose) == prose  # a line with words beside its tags is the reader's
    text = system_text("ROLE", [("README.rst", rst + "words " * 2000)])
    assert "shields.io" not in text and "[... cut ...]" in text and len(text) < DOC_LIMIT + 200


LIBRARY_README = (
    """# numbers

Turns numbers into words people read.

## Install

    pip install numbers

## Usage

### Integers

```python
# not a heading: a comment in a fence
numbers.intword(1_000_000)  # '1.0 million'
```

### File sizes

```python
numbers.naturalsize(3000)  # '3.0 kB'
```

Sizes
-----

Binary sizes use KiB: naturalsize(1024, binary=True).

## Localization

"""
    + "Many languages.\n" * 200
)


def test_a_long_readme_is_cut_to_its_opening_and_the_sections_about_the_bead():
    """A library's README documents everything; the bead is about one function. Its opening
    and the sections naming that function are kept, the other sections listed by title."""
    assert [title for title, _ in sections(LIBRARY_README)] == [
        "numbers", "Install", "Usage", "Integers", "File sizes", "Sizes", "Localization"
    ]  # fmt: skip
    assert len(LIBRARY_README) > FOCUS_ABOVE
    cut = about(LIBRARY_README, {"naturalsize"})
    assert cut.startswith("# numbers\n\nTurns numbers into words people read.")
    assert "numbers.naturalsize(3000)" in cut and "binary=True" in cut  # both sections naming it
    assert "intword" not in cut and "Many languages" not in cut and "pip install" not in cut
    assert cut.endswith("[sections not about this bead, left out: Install; Usage; Integers; Localization]")
    # in the head: cut for a bead that names something, whole (to the limit) otherwise
    assert "Many languages" not in system_text("ROLE", [("README.md", LIBRARY_README)], {"naturalsize"})
    assert "Many languages" in system_text("ROLE", [("README.md", LIBRARY_README)])
    short = "# numbers\n\n## Install\n\npip install numbers\n"
    assert system_text("ROLE", [("README.md", short)], {"naturalsize"}) == system_text("ROLE", [("README.md", short)])


def test_the_projects_own_name_in_most_sections_selects_none_of_them():
    # a bead "Implement numbers.naturalsize": `numbers` is in most sections' examples
    cut = about(LIBRARY_README, {"numbers", "naturalsize"})
    assert "numbers.naturalsize(3000)" in cut and "binary=True" in cut
    assert "intword" not in cut and "pip install" not in cut
    assert cut.endswith("left out: Install; Usage; Integers; Localization]")
    # a name only some sections have still selects them; a common one alone still does
    assert "intword" in about(LIBRARY_README, {"intword", "naturalsize"})
    assert "pip install" in about(LIBRARY_README, {"numbers", "percent"})


def test_restructuredtext_titles_are_read_with_or_without_an_over_line_and_code_is_no_title():
    rst = "tool\n====\n\nIntro.\n\n.. code-block:: python\n\n   # a comment\n   tool.run()\n\nUse\n---\n\nrun()\n"
    assert [title for title, _ in sections(rst)] == ["tool", "Use"]
    over = "=======\nnumbers\n=======\n\nIntro text.\n\nUse\n---\n\nnaturalsize()\n\nOther\n-----\n\nx\n"
    assert [title for title, _ in sections(over)] == ["numbers", "Use", "Other"]
    assert about(over, {"naturalsize"}).startswith("=======\nnumbers\n=======\n\nIntro text.")
    fenced = "Go:\n```\nrun()\n```\n"  # a fence under a short line is no underline
    assert [title for title, _ in sections(fenced)] == [""]


def write_files(root, files: dict[str, str]) -> list[str]:
    """Write each file under ``root``; their paths, as the rig lists them."""
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return list(files)


GATHERING_INIT = '"""The package."""\n\nfrom lib.number import ordinal\n\n__all__ = ["ordinal"]\n'
NUMBER = "def ordinal(value):\n    raise NotImplementedError\n"


def test_a_package_init_that_only_gathers_names_is_shown_but_not_offered_as_where_to_write(tmp_path):
    """A test imports the package (its __init__.py) and the bead names lib/number.py: the
    named module comes first, and the model is not told to write in the __init__.py, which
    a small model then rewrites instead of the module."""
    from gastown.agents import briefing, checks

    files = write_files(
        tmp_path,
        {
            "lib/__init__.py": GATHERING_INIT,
            "lib/number.py": NUMBER,
            "tests/test_number.py": "import lib\n\n\ndef test_ordinal():\n    assert lib.ordinal(1) == '1st'\n",
        },
    )
    shown = briefing.shown_files(tmp_path, ["tests/test_number.py"], files, ["lib/number.py"])
    assert [path for path, _ in shown] == ["tests/test_number.py", "lib/number.py", "lib/__init__.py"]
    assert checks.only_imports(GATHERING_INIT) and not checks.only_imports(NUMBER)
    assert briefing.gathering(shown, ["lib/number.py"]) == ["lib/__init__.py"]
    assert briefing.gathering(shown, ["lib/__init__.py"]) == []  # one the bead names stays a target
    bead = {"id": "b-1", "title": "Implement lib.number.ordinal"}
    text = bead_text(bead, ["tests/**"], "", ["tests/test_number.py"], shown, context=["lib/__init__.py"])
    assert "writing code in: lib/number.py." in text and "## lib/__init__.py" in text
    alone = [(p, t) for p, t in shown if p != "lib/number.py"]
    text = bead_text(bead, ["tests/**"], "", ["tests/test_number.py"], alone, context=["lib/__init__.py"])
    assert "writing code in: lib/__init__.py." in text  # nothing else to offer
    text = bead_text(
        bead, ["tests/**"], "", ["tests/test_number.py"], alone, ["lib/new.py"], context=["lib/__init__.py"]
    )
    assert "writing code in: lib/new.py." in text  # a file to create is something else to offer


def test_a_helper_the_tests_import_is_shown_for_reference_when_the_bead_names_the_file_to_change(tmp_path):
    """toolz's tests import `raises` from toolz/utils.py; the bead names toolz/itertoolz.py.
    Offered both as where to write, the 1.5B rewrote utils.py to two lines (every test
    errored): the helper is shown, labelled, and not offered."""
    from gastown.agents import briefing

    files = write_files(
        tmp_path,
        {
            "lib/utils.py": "def raises(err, f):\n    return True\n\n\nclass Curry:\n    def func(self):\n        pass\n",
            "lib/seqs.py": "def tail(n, seq, func=None):\n    return seq[n:]\n",
            "tests/test_seqs.py": "from lib.utils import raises\nfrom lib.seqs import tail\n\n\n"
            "def test_tail():\n    assert tail(1, 'ab') == 'b'\n",
        },
    )
    shown = briefing.shown_files(tmp_path, ["tests/test_seqs.py"], files, ["lib/seqs.py"])
    assert briefing.for_reference(shown, ["lib/seqs.py"], {"tail"}) == ["tests/test_seqs.py", "lib/utils.py"]
    # a method of the helper named like a parameter the text writes as code ("tail's func") is no target
    assert briefing.for_reference(shown, ["lib/seqs.py"], {"tail", "func"}) == ["tests/test_seqs.py", "lib/utils.py"]
    # a helper named in passing (`lib.utils.raises`) stays a reference; the file with `tail` stays a target
    assert briefing.for_reference(shown, ["lib/utils.py"], {"tail", "raises"}) == ["tests/test_seqs.py"]
    bead = {"id": "b-1", "title": "tail() in lib/seqs.py drops the wrong end"}
    reference = briefing.for_reference(shown, ["lib/seqs.py"], {"tail"})
    text = bead_text(bead, ["tests/**"], "", ["tests/test_seqs.py"], shown, context=reference)
    assert "writing code in: lib/seqs.py." in text
    assert "## lib/utils.py (for reference: leave it as it is)" in text and "## lib/seqs.py\n" in text
    # a bead that names no file still offers every file its tests import
    assert briefing.for_reference(shown, [], {"tail"}) == []
    text = bead_text(bead, ["tests/**"], "", ["tests/test_seqs.py"], shown, context=[])
    assert "writing code in: lib/seqs.py, lib/utils.py." in text and "for reference" not in text


def test_a_rig_file_the_beads_own_tests_import_but_never_use_is_left_out():
    """The bead's test of thread_last, cut from toolz's test file, keeps the file's imports
    of `toolz` and `toolz.utils.raises` but uses neither: neither file is shown."""
    from gastown.agents import briefing

    files = ["lib/__init__.py", "lib/utils.py", "lib/funcs.py", "lib/more.py", "tests/test_funcs.py"]
    test = (
        "import lib\nfrom lib.utils import raises\nfrom lib.funcs import thread_last\nfrom lib.more import ok\n"
        "\n\ndef test_thread_last():\n    assert thread_last(2, (pow, 3)) == 9\n    assert ok\n"
    )
    reference = ["lib/__init__.py", "lib/utils.py", "lib/more.py", "lib/other.py"]  # other: the whole file's import
    assert briefing.unused_by_tests([test], reference, files) == ["lib/__init__.py", "lib/utils.py", "lib/other.py"]
    uses = test + "\n\ndef test_raises():\n    assert raises(ValueError, lambda: lib.funcs)\n"
    assert briefing.unused_by_tests([uses], reference, files) == ["lib/other.py"]
    assert briefing.unused_by_tests(["def broken(:\n"], reference, files) == []  # not parsed: nothing left out


def test_the_first_prompts_of_two_beads_share_the_role_and_the_tools_before_the_rigs_documents(tmp_path):
    """A rig document is cut to each bead's names, so it is where two beads' first prompts part:
    the role's prompt and the tools come before it, and the server's prompt cache keeps them
    from one bead to the next (toolz: 1,678 characters shared, 3,400 with the tools first)."""
    from gastown.agents import briefing, rig
    from gastown.town.bead import Bead
    from gastown.town.roster import ModelSpec

    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "seqs.py").write_text(
        "def tail(n, seq):\n    return seq[n:]\n\n\ndef head(n, seq):\n    return seq\n"
    )
    sections = {"Tails": "tail(n, seq) gives the last n items.", "Heads": "head(n, seq) gives the first n items."}
    (tmp_path / "README.md").write_text(
        "# lib\n\nSequences.\n\n"
        + "".join(f"## {t}\n\n{body}\n{'More words. ' * 100}\n\n" for t, body in sections.items())
    )

    def system(name: str) -> str:
        head = briefing.first_messages(
            bead=Bead(id="b-1", title=f"fix `{name}` in lib/seqs.py"),
            root=tmp_path,
            rig=rig.Rig(name="r", path=tmp_path, test_command=("true",), docs=("README.md",)),
            role="polecat",
            role_prompt="You are a Polecat.",
            spec=ModelSpec("m", "m", context=16384, tool_mode="text"),
            names=("read_file", "finish"),
            acceptance=(),
            files=["README.md", "lib/seqs.py"],
            now=None,
            wanted=(),
            tests_decide=True,
            files_chars=20000,
        )
        return str(head.messages[0]["content"])

    tails, heads = system("tail"), system("head")
    assert "tail(n, seq) gives" in tails and "tail(n, seq) gives" not in heads  # each cut to its bead
    shared = os.path.commonprefix([tails, heads])
    assert shared.startswith("You are a Polecat.") and "- finish(summary)" in shared, shared


def _polecat_head(root, bead, files, now=None):
    """A Polecat's first prompt for ``bead`` (its acceptance tests as given) in a rig at ``root``
    whose tests are tests/**."""
    from gastown.agents import briefing, rig
    from gastown.town.roster import ModelSpec

    return briefing.first_messages(
        bead=bead,
        root=root,
        rig=rig.Rig(name="r", path=root, test_command=("true",), test_paths=("tests/**",)),
        role="polecat",
        role_prompt="",
        spec=ModelSpec("m", "m", context=16384),
        names=(),
        acceptance=tuple(bead.acceptance_tests),
        files=files,
        now=now,
        wanted=(),
        tests_decide=True,
        files_chars=20000,
    )


def test_a_first_prompt_shows_the_helpers_its_tests_use_for_reference_and_leaves_out_the_rest(tmp_path):
    """Through first_messages: a fix and a new function alike show the tests, then the file
    the bead names (the one offered as where to write), then the helper the tests use, for
    reference; the package __init__.py the tests import and never use is left out."""
    from gastown.town.bead import Bead

    (tmp_path / "lib").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "lib" / "seqs.py").write_text("def tail(n, seq):\n    return seq[n:]\n")
    (tmp_path / "lib" / "__init__.py").write_text("VERSION = 1\n")
    (tmp_path / "lib" / "utils.py").write_text("def raises(err, f):\n    return True\n")
    (tmp_path / "tests" / "test_seqs.py").write_text(
        "import lib\nfrom lib.utils import raises\nfrom lib.seqs import tail, head\n\n\n"
        "def test_tail():\n    assert tail(1, 'ab') == 'b' and raises(TypeError, lambda: tail(1, None))\n\n\n"
        "def test_head():\n    assert head(1, 'ab') == 'a' and raises(TypeError, lambda: head(1, None))\n"
    )
    files = ["lib/__init__.py", "lib/seqs.py", "lib/utils.py", "tests/test_seqs.py"]

    def order(title: str, test: str) -> list[str]:
        bead = Bead(id="b-1", title=title, acceptance_tests=(test,))
        task = _polecat_head(tmp_path, bead, files).messages[1]["content"]
        return [line for line in task.splitlines() if line.startswith(("## lib/", "## tests/", "Make the"))]

    # the package's __init__.py, imported and never used by the bead's test, is left out; the
    # helper it uses is shown for reference, not offered as where to write
    assert order("tail() in lib/seqs.py drops the wrong end", "tests/test_seqs.py::test_tail") == [
        "## tests/test_seqs.py (a test: read it, never change it)",
        "## lib/seqs.py",
        "## lib/utils.py (for reference: leave it as it is)",
        "Make the acceptance tests pass by writing code in: lib/seqs.py. Do not edit the tests.",
    ]
    assert order("Add `head(n: int, seq: str) -> str` to lib/seqs.py", "tests/test_seqs.py::test_head") == [
        "## tests/test_seqs.py (a test: read it, never change it)",
        "## lib/seqs.py",
        "## lib/utils.py (for reference: leave it as it is)",
        "Make the acceptance tests pass by writing code in: lib/seqs.py. Do not edit the tests.",
    ]


def test_an_excerpts_header_is_prose_above_its_code_block_and_a_copy_of_the_block_merges_as_a_part():
    """Inside the code block, the excerpt's header (what it shows, what to send back, the
    rest of the module) was copied into 6 of 32 replies to six toolz bugs, 3,000 tokens of
    decode (run T11, docs/eval.md); above the block, as text, there is nothing to copy."""
    from gastown.agents import merge
    from gastown.agents.excerpt import excerpt

    shown = excerpt(WORDS, {"whisper"}, "words.py")
    assert shown is not None and shown.startswith("# words.py has ")
    bead = {"id": "b-1", "title": "Fix words.whisper"}
    text = bead_text(bead, ["tests/**"], "", ["tests/test_words.py"], [("words.py", shown)])
    above, code = text.split("## words.py\n", 1)[1].split("```python\n", 1)
    code = code.split("```", 1)[0]
    assert above.startswith("words.py has 20 lines. Shown: whisper (lines 13-15)")
    assert "Send back only the functions you add or change" in above
    assert "Also in it (do not send these back):\n- shout(word: str) -> str  (lines 4-10)" in above
    assert "#" not in code and code.startswith("def whisper(word):")
    assert merge.is_fragment(WORDS, code) and merge.merge(WORDS, code).text == WORDS
    listed = excerpt(WORDS, set(), "words.py", adding=True)  # no imports: nothing to show but the list
    assert listed is not None and "Shown: nothing but this list" in listed
    text = bead_text(bead, ["tests/**"], "", ["tests/test_words.py"], [("words.py", listed)])
    assert "```python" not in text.split("## words.py\n", 1)[1]  # no empty code block to copy


def test_an_outlines_header_is_prose_above_its_code_block():
    from gastown.agents.excerpt import split_header
    from gastown.agents.focus import outline

    shown = outline(WORDS, {"whisper"}, "words.py")
    assert shown.startswith("# An outline (")
    text = bead_text({"id": "b-1", "title": "Fix words.whisper"}, ["tests/**"], "", [], [("words.py", shown)])
    above, code = text.split("## words.py\n", 1)[1].split("```python\n", 1)
    assert above.startswith("An outline (") and "A definition sent back with only `...`" in above
    assert code.startswith('"""Words."""') and "# An outline" not in code
    tests_only = "# Only the tests of this bead (3 of 9 lines); not shown: 2 other tests.\ndef test_a():\n    pass\n"
    assert split_header(tests_only) == (
        ["Only the tests of this bead (3 of 9 lines); not shown: 2 other tests."],
        "def test_a():\n    pass\n",
    )


def test_a_bug_fix_knows_where_its_code_begins_and_new_code_or_a_stub_is_no_fix(tmp_path):
    """A bug fix (its tests ran and failed on what the code does) keeps its file and the def
    lines of the function the bead names: the start of the code after a reply that only
    named the line at fault (test_agent.py), and the same prompt with that function's body
    left out, for its later tries (tries.py). Its first prompt asks for the code as any
    other's does: asked for the line first in every try, the 1.5B passed 2 of 9 toolz bugs
    against 4 of 6 (docs/eval.md, stop 35)."""
    import subprocess
    import sys

    from gastown.agents import briefing, checks
    from gastown.agents.commands import Run
    from gastown.town.bead import Bead

    (tmp_path / "lib").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "lib" / "__init__.py").write_text("")
    (tmp_path / "tests" / "test_seqs.py").write_text(
        "from lib.seqs import tail\n\n\ndef test_tail():\n    assert tail(1, 'abc') == 'c'\n"
    )

    def head_of(module: str, title: str) -> briefing.Head:
        (tmp_path / "lib" / "seqs.py").write_text(module)
        argv = (sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", "tests/test_seqs.py")
        ran = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        head = _polecat_head(
            tmp_path,
            Bead(id="b-1", title=title, acceptance_tests=("tests/test_seqs.py",)),
            ["lib/__init__.py", "lib/seqs.py", "tests/test_seqs.py"],
            checks.read_run(Run(argv, ran.returncode, ran.stdout + ran.stderr)),
        )
        assert "naming the line" not in head.messages[1]["content"]
        assert head.fix_start is not None or head.blind is None
        return head

    def start(module: str, title: str) -> tuple[str, str] | None:
        return head_of(module, title).fix_start

    buggy = 'def tail(n,\n         seq):\n    """The last n."""\n    return seq[n:]\n'
    head = head_of(buggy, "`tail` in lib/seqs.py drops the wrong end")
    assert head.fix_start == ("lib/seqs.py", "def tail(n,\n         seq):")
    assert head.blind is not None and head.blind.function == "tail" and head.blind.messages[0] == head.messages[0]
    task, blind = head.messages[1]["content"], head.blind.messages[1]["content"]
    assert "return seq[n:]" in task and "return seq[n:]" not in blind
    assert '    """The last n."""\n    ...  # its body, left out here: write it whole\n' in blind
    assert blind.replace("...  # its body, left out here: write it whole", "return seq[n:]") == task  # else the same
    assert start("def head(n, seq):\n    return seq[:n]\n", "Add `tail` to lib/seqs.py") is None  # ImportError
    stub = 'def tail(n, seq):\n    """The last n."""\n    raise NotImplementedError\n'
    stubs = stub + "\n\n" + stub.replace("tail", "head")  # two: no reply begun at either
    assert start(stubs, "Implement `tail` and `head` in lib/seqs.py") is None  # stubs to fill: no fix
    method = "class Seq:\n    pass\n\n\ndef tail(n, seq):\n    return Seq().last(n)\n"
    assert start(method, "Add `last` to Seq in lib/seqs.py") is None  # 'Seq' object has no attribute 'last'


def test_a_file_named_in_a_bead_gives_no_code_name():
    """`textkit/slug.py` names a file: its suffix is not a function the bead is about."""
    from gastown.agents import checks, focus

    text = "Create `textkit/slug.py` with `slugify`, like textkit.case.snake_case; see README.md"
    assert focus.bead_names([text], checks.CODE_NAME_RE) == {"slugify", "snake_case"}


WORDS = '''"""Words."""


def shout(word: str) -> str:
    """The word in capitals.

    >>> shout("hey")
    'HEY'
    """
    raise NotImplementedError


def whisper(word):
    """The word in small letters."""
    return word.lower()


def only_documented(word):
    """Nothing here yet:
    the body is its docstring."""
'''


def test_code_cut_to_what_the_bead_is_about_loses_its_long_docstrings_and_they_follow_it_as_text():
    """The 1.5B copied every docstring it was shown into its reply (41% of what it wrote on a
    held-out library); the file keeps them when the reply leaves them out. Only a long module,
    cut for the bead (``lifted``), loses them: a short one shown whole stays as it is."""
    from gastown.agents import merge

    test = "from words import shout\n\n\ndef test_shout():\n    '''Capitals.\n\n    Always.'''\n    assert shout('a') == 'A'\n"
    bead = {"id": "b-1", "title": "Implement words.shout"}
    shown = [("tests/test_words.py", test), ("words.py", WORDS)]
    text = bead_text(bead, ["tests/**"], "", ["tests/test_words.py"], shown, lifted=["words.py", "tests/test_words.py"])
    code = text.split("## words.py\n```python\n", 1)[1].split("```", 1)[0]
    assert "The word in capitals" not in code and '"""The word in small letters."""' in code  # one line stays
    assert "def only_documented(word):\n    ...\n" in code  # a body that was only its docstring
    assert "'''Capitals." in text  # the test's own, as it is
    assert (
        "What its functions do (their docstrings: left out of the code above, each keeps its own):\n```text\n"
        "shout(word: str):\n    The word in capitals.\n\n    >>> shout(\"hey\")\n    'HEY'\n"
        "only_documented(word):\n    Nothing here yet:\n    the body is its docstring.\n```"
    ) in text
    assert merge.merge(WORDS, code).text == WORDS  # copied back as shown, the file is as it was
    whole = bead_text(bead, ["tests/**"], "", ["tests/test_words.py"], shown)
    assert '"""The word in capitals.' in whole.split("## words.py", 1)[1]  # a file shown whole keeps them


def test_a_gathering_init_is_cut_to_the_imports_of_what_the_bead_is_about():
    from gastown.agents.excerpt import gathered

    init = (
        '"""The package."""\n\nfrom __future__ import annotations\n\nimport importlib.metadata\n\n'
        "from lib.size import naturalsize\nfrom lib.number import (\n    apnumber,\n    ordinal,\n)\n\n"
        '__version__ = importlib.metadata.version(__name__)\n__all__ = ["apnumber", "naturalsize", "ordinal"]\n'
    )
    cut = gathered(init, {"ordinal"}, "lib/__init__.py")
    assert cut == (
        "# lib/__init__.py: 14 lines; 6 other statements left out (imports, __all__; read_file for all)\n"
        "from lib.number import (\n    apnumber,\n    ordinal,\n)\n"
    )
    assert gathered(init, {"slugify"}, "lib/__init__.py") == init  # nothing about the bead: whole
    assert gathered(GATHERING_INIT, {"ordinal"}, "lib/__init__.py").endswith("from lib.number import ordinal\n")


def test_a_form_feed_in_the_code_does_not_shift_the_lifted_docstrings():
    from gastown.agents.excerpt import lift_docstrings

    source = 'SEP = "\x0c"\n\x0c\ndef f():\n    """Do f.\n\n    More.\n    """\n    return SEP\n'
    code, docs = lift_docstrings(source)
    assert code == 'SEP = "\x0c"\n\x0c\ndef f():\n    return SEP\n' and docs == [("f()", "Do f.\n\nMore.")]
    compile(code, "f.py", "exec")


def test_a_bug_fixs_nudge_begins_the_next_reply_at_its_function_after_any_note():
    from gastown.agents import briefing, prompts

    start = ("lib/seqs.py", "def tail(n, seq):")
    told = briefing.nudge(["tests/test_seqs.py"], [], True, "lib/seqs.py", start, "\n\nNote: the same reply again.")
    assert told.startswith("That names lib/seqs.py but holds no code. Now the code: `lib/seqs.py` on one line")
    assert told.index("Note: the same reply again.") < told.index(prompts.OPENING)  # the start stays last
    messages = [{"role": "user", "content": told}]
    assert prompts.reply_start(messages) == "lib/seqs.py\n```python\ndef tail(n, seq):\n"
    plain = briefing.nudge(["tests/test_seqs.py"], [], True, "The line is `return seq[n:]`.")
    assert prompts.OPENING not in plain and plain.startswith("Change the code:")


def test_a_test_its_class_inherits_is_shown_from_the_mixin_that_holds_it_as_a_test(tmp_path):
    """unittest suites write a test once in a mixin (cachetools' tests/__init__.py) and run it
    for each class: the test's own file holds only the class line, so the mixin's test is
    shown too, as a test, never offered as where to write."""
    from gastown.town.bead import Bead

    (tmp_path / "lib").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "lib" / "cache.py").write_text(
        "class Cache(dict):\n    def drop(self, key):\n        return self[key]\n"
    )
    (tmp_path / "tests" / "__init__.py").write_text(
        "class CacheTestMixin:\n    def test_drop(self):\n        c = self.Cache(a=1)\n"
        "        c.drop('a')\n        self.assertNotIn('a', c)\n"
    )
    (tmp_path / "tests" / "test_cache.py").write_text(
        "import unittest\n\nfrom lib.cache import Cache\n\nfrom . import CacheTestMixin\n\n\n"
        "class CacheTest(unittest.TestCase, CacheTestMixin):\n    Cache = Cache\n"
    )
    files = ["lib/__init__.py", "lib/cache.py", "tests/__init__.py", "tests/test_cache.py"]
    (tmp_path / "lib" / "__init__.py").write_text("")
    bead = Bead(
        id="b-1", title="Cache.drop keeps the key", acceptance_tests=("tests/test_cache.py::CacheTest::test_drop",)
    )
    task = _polecat_head(tmp_path, bead, files).messages[1]["content"]
    headings = [line for line in task.splitlines() if line.startswith(("## lib/", "## tests/", "Make the"))]
    assert headings == [
        "## tests/test_cache.py (a test: read it, never change it)",
        "## tests/__init__.py (a test: read it, never change it)",
        "## lib/cache.py",
        "Make the acceptance tests pass by writing code in: lib/cache.py. Do not edit the tests.",
    ]
    assert "self.assertNotIn('a', c)" in task
