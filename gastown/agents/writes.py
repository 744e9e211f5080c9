"""What a write of a model's must pass before it lands, and what it is cleaned of.

Refused, each with a message that says what to send instead: Python that does not compile
(unless the file did not compile before either), a write that would replace most of a file
with a few lines, and a block of only tests sent as a module. Cleaned, each said in the
answer: read_file's line numbers copied with the code, a code fence around the whole
content, ``from __future__`` imports that are not first, a module's import of itself, and
the imports the code uses and never made: the standard library's, and the functions and
classes of the modules beside it (``imports``).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from gastown.agents import edits, imports
from gastown.town.bead import named_like_tests

GUTTED_LINES = 20  # a file this long or longer ...
GUTTED_SHARE = 0.4  # ... is not replaced by a write keeping less than this share of its lines

# One fenced block and nothing around it (no fence inside).
_FENCED = re.compile(r"\s*```[\w+-]*[ \t]*\n((?:(?![ \t]*```).*\n)+)[ \t]*```\s*")
_COMPILES = "import sys; compile(sys.stdin.read(), sys.argv[1], 'exec', dont_inherit=True)"


def cleaned(content: str, relative: str) -> tuple[str, str]:
    """``content`` as the file should hold it, and a note of what was cleaned ("" for nothing)."""
    note = ""
    plain = edits.unnumber(content) if content.count("\n") >= 2 else None
    if plain is not None:  # a copy of read_file's output: the numbers are not the file's
        content, note = plain, note + "; the line numbers copied from read_file were dropped"
    fenced = _FENCED.fullmatch(content)
    if fenced is not None:  # the file as a reply shows it: the fence is not the file's
        content, note = fenced.group(1), note + "; the code fence around the content was dropped"
    if not relative.endswith(".py"):
        return content, note
    hoisted = imports.future_first(content)
    if hoisted != content:
        content, note = hoisted, note + "; `from __future__` imports moved to the top"
    alone = imports.without_self_import(content, relative)
    if alone != content:
        itself = ", ".join(sorted(imports.module_names(relative)))
        content, note = alone, note + f"; its import of itself ({itself}) dropped"
    return content, note


def with_imports(relative: str, text: str, root: Path | None = None) -> tuple[str, str]:
    """``text`` with the imports it uses and lacks (``gastown.agents.imports``): the standard
    library's, and with ``root`` (the worktree) the functions and classes of the modules
    beside it; and a note saying which were added ("" for none, and for a file that is not
    Python)."""
    if not relative.endswith(".py"):
        return text, ""
    known = imports.neighbours(root, relative, imports.unbound(text)) if root is not None else None
    text, lines = imports.add_missing(text, known)
    return text, f"; added {'; '.join(lines)} at the top (used, never imported)" if lines else ""


def gutting(target: Path, content: str, relative: str) -> str | None:
    """Why a write must not replace most of an existing file (None when it may): small models
    send a stub or a placeholder ("<insert code here>") where they meant to add a function,
    and lose the module."""
    try:
        old = target.read_text(errors="replace").count("\n") if target.is_file() else 0
    except OSError:
        return None
    new = content.count("\n")
    if old >= GUTTED_LINES and new < old * GUTTED_SHARE:
        return (
            f"write_file would replace {relative} ({old} lines) with {new} lines and lose the rest. "
            "To add or change code in it, use edit_file (replace an exact snippet, e.g. the last lines "
            "of the file with those lines plus your new code); to rewrite it, send the whole file."
        )
    return None


def tests_copied(relative: str, added: Sequence[str], replaced: Sequence[str]) -> str | None:
    """Why a block merged into a module must not land (None when it may): it only adds tests
    to a file that is not a test file — a small model shown the tests first sends them back."""
    if not added or replaced or _test_file(relative) or not all(map(_a_test, added)):
        return None
    return (
        f"not written: the block holds only tests ({', '.join(added)}), copied from the test "
        f"file; they stay there. Send the code of {relative} that they test, not the tests."
    )


def compile_problem(target: Path, content: str, relative: str, python: Sequence[str] = ()) -> str | None:
    """Why Python must not be written as it does not compile (None when it may): unless the file
    did not compile before either — a broken write (an edit that cut a docstring in two) costs a
    small model the rest of the bead. ``python`` is the rig's interpreter when it is not
    gastown's: newer syntax is judged by it."""
    if target.suffix != ".py":
        return None
    try:
        compile(content, relative, "exec", dont_inherit=True)
        return None
    except (SyntaxError, ValueError) as error:
        problem = error
    if python and _rig_compiles(python, content, relative):
        return None
    try:
        if target.is_file():
            compile(target.read_bytes(), relative, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, OSError):
        return None  # already broken: the model may be fixing it a piece at a time
    where = ""
    line = getattr(problem, "lineno", None)
    if isinstance(problem, SyntaxError) and line:
        lines = edits.split_lines(content)
        first, last = max(1, line - 2), min(len(lines), line + 2)
        where = f" at line {line}:\n" + edits.number(lines[first - 1 : last], first)
    message = getattr(problem, "msg", str(problem))
    return (
        f"not written: {relative} would not compile ({message}){where}\nThe file is unchanged; send code that compiles."
    )


def _rig_compiles(python: Sequence[str], content: str, relative: str) -> bool:
    """Whether the rig's own interpreter compiles ``content`` (True when it cannot be asked:
    only a refusal both interpreters agree on is made)."""
    try:
        proc = subprocess.run(
            [*python, "-c", _COMPILES, relative], input=content.encode(), capture_output=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return True
    return proc.returncode == 0


def _test_file(relative: str) -> bool:
    """A path that holds tests, or where tests may be added: named like tests, a conftest, or in a tests folder."""
    path = PurePosixPath(relative)
    return named_like_tests(relative) or path.name == "conftest.py" or "tests" in path.parts[:-1]


def _a_test(name: str) -> bool:
    return name.startswith("test_") or name.startswith("Test")
