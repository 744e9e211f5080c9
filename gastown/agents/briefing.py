"""A bead's first prompt: what a small model needs to start at turn one.

The system text is the role's prompt and the rig's documents. The task is the bead, its
acceptance tests' source and the rig files they import (a long Python file outlined around
what the bead is about, see focus.py), the modules and names the tests import that do not
exist yet, how the tests fail now, and how the bead ends, then, when the bead adds one
function, the start of the reply (opening.py). It is written once: the
conversation after it only grows, so llama.cpp's prompt cache keeps hitting.

A test file found from a bead's text ("implement camelize so its tests pass" finds
test_inflection.py) is cut to its failing tests that use what the bead names: the file's
tests of sibling beads' unfinished functions fail too and could never pass in this bead.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from gastown.agents import checks, excerpt, fileblocks, focus, prompts, testbases, testoutput, unseen
from gastown.agents.excerpt import gathered
from gastown.agents.opening import def_lines, opening, stub_headers
from gastown.agents.rig import Rig
from gastown.agents.toolspecs import describe, openai_tools
from gastown.town import tokens
from gastown.town.bead import Bead
from gastown.town.roster import ModelSpec

CONTEXT_SHARE = 0.75  # of the model's window, for the prompt (the reply and a margin take the rest)


def prompt_budget(spec: ModelSpec, reply_tokens: int) -> int:
    """Tokens the prompt may hold, the conversation included."""
    return max(int(spec.context * CONTEXT_SHARE) - reply_tokens, 512)


def texts_of(bead: Bead) -> tuple[str, ...]:
    return (bead.title, bead.description, bead.acceptance_criteria, bead.design)


def wanted_files(bead: Bead, acceptance: tuple[str, ...], rig: Rig) -> tuple[str, ...]:
    """The test files a Refinery bead must leave written."""
    return (
        tuple(t for t in bead.acceptance_tests if "::" not in t)
        or checks.named_test_files(texts_of(bead), rig.is_test_path)
        or tuple(t for t in acceptance if "::" not in t)  # guessed from the names it mentions
    )


def narrow(root: Path, check: checks.Checks, acceptance: tuple[str, ...], texts: Sequence[str]) -> tuple[str, ...]:
    """Each whole test file of ``acceptance`` cut to its failing tests that use a name the bead's
    text writes as code, when some of its failing tests do not; ``check`` judges by the result."""
    names = focus.bead_names(texts, checks.CODE_NAME_RE)
    narrowed: list[str] = []
    for selector in acceptance:
        path = root / selector
        failing = check.failing(selector) if "::" not in selector and path.suffix == ".py" else []
        about = focus.mentioning(path.read_text(errors="replace"), failing, names) if failing else []
        if about and len(about) < len(failing):
            narrowed += [focus.without_params(t) for t in about]
        else:
            narrowed.append(selector)
    found = tuple(dict.fromkeys(narrowed))
    if found != acceptance:
        check.narrow(found)
    return found


def shown_files(
    root: Path, acceptance: Sequence[str], files: Sequence[str], named: Sequence[str]
) -> list[tuple[str, str]]:
    """The acceptance tests' source, the files the bead names, then the rig files the tests
    import (what the bead is about before what the tests happen to reach)."""
    shown: list[tuple[str, str]] = []
    for test in dict.fromkeys(t.split("::")[0] for t in acceptance):
        path = root / test
        if path.is_file():
            shown.append((test, path.read_text(errors="replace")))
    tests = list(shown)
    for name in named:
        if name not in (p for p, _ in shown) and (root / name).is_file():
            shown.append((name, (root / name).read_text(errors="replace")))
    for _test, source in tests:
        for imported in checks.imported_files(source, files):
            if imported not in (p for p, _ in shown) and (root / imported).is_file():
                shown.append((imported, (root / imported).read_text(errors="replace")))
    return shown


def gathering(shown: Sequence[tuple[str, str]], named: Sequence[str]) -> list[str]:
    """Shown package ``__init__.py`` files that only gather names and that the bead does not
    name: shown, but not offered as where to write (a model told to write there rewrites them)."""
    return [p for p, text in shown if p.endswith("__init__.py") and checks.only_imports(text) and p not in named]


def for_reference(shown: Sequence[tuple[str, str]], named: Sequence[str], about: Collection[str]) -> list[str]:
    """Shown files not offered as where to write: when the bead's text names the files to
    change, the others the tests import that define no top-level function or class the text
    names (a helper of the test suite: offered toolz/utils.py beside toolz/itertoolz.py, the
    1.5B rewrote utils.py to two lines and lost ``raises``); else the package ``__init__.py``
    files of ``gathering``. A method does not count: "apply func to the default" names
    ``update_in``'s parameter, and toolz/functoolz.py's ``curry.func`` made that 1,141-line
    module a target, its outline 10,000 characters of the first prompt (183 s to read)."""
    shown_named = [p for p, _ in shown if p in named]
    if not shown_named:
        return gathering(shown, named)
    return [p for p, text in shown if p not in shown_named and not focus.defined(text, members=False) & set(about)]


def unused_by_tests(tests: Sequence[str], reference: Sequence[str], files: Sequence[str]) -> list[str]:
    """Files of ``reference`` (rig files the whole test files import) that the ``tests``, as
    shown, do not use outside an import (toolz's test files import ``toolz`` and
    ``toolz.utils.raises``, which a bead's own test of ``thread_last`` does not use: 1,100
    characters of its first prompt; test_dicttoolz.py's ``identity``: 12,000)."""
    used: set[str] = set()
    for text in tests:
        tree = excerpt.parse(text)
        if tree is None:
            return []  # what it uses is not known: leave every file in
        imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
        names = set().union(*(excerpt.names_in(n) for n in tree.body if n not in imports))
        for node in imports:
            bound = {(a.asname or a.name).split(".")[0] for a in node.names}
            if bound & names or any(a.name == "*" for a in node.names):
                used.update(checks.imported_files(ast.unparse(node), files))
    return [p for p in reference if p not in used]


def test_sources(root: Path, acceptance: Sequence[str]) -> list[tuple[str, str]]:
    """``(path, source)`` of each acceptance test file that exists, once each (a path or an id's file)."""
    found: list[tuple[str, str]] = []
    for test in dict.fromkeys(t.split("::")[0] for t in acceptance):
        path = root / test
        if test.endswith(".py") and path.is_file():
            found.append((test, path.read_text(errors="replace")))
    return found


def missing_files(root: Path, acceptance: Sequence[str], files: Sequence[str]) -> list[str]:
    """Rig modules the acceptance tests import that do not exist yet."""
    missing: list[str] = []
    for _, source in test_sources(root, acceptance):
        missing += [m for m in checks.missing_modules(source, files) if m not in missing]
    return missing


def absent_names(root: Path, acceptance: Sequence[str], files: Sequence[str]) -> list[tuple[str, str]]:
    """``(file, name)``: functions the acceptance tests import from rig modules that lack them."""

    absent: list[tuple[str, str]] = []
    for _, source in test_sources(root, acceptance):
        absent += [a for a in checks.missing_names(source, partial(_read, root), files) if a not in absent]
    return absent


def _read(root: Path, path: str) -> str | None:
    """A rig file's text, None when it is not a file."""
    target = root / path
    return target.read_text(errors="replace") if target.is_file() else None


def created_names(root: Path, acceptance: Sequence[str], missing: Sequence[str]) -> list[tuple[str, str]]:
    """``(file, name)``: what the acceptance tests import from the modules in ``missing``."""
    created: list[tuple[str, str]] = []
    for _, source in test_sources(root, acceptance):
        created += [c for c in checks.imported_from(source, missing) if c not in created]
    return created


def how_it_ends(acceptance: Sequence[str], wanted: Sequence[str], tests_decide: bool) -> str:
    if wanted:
        return (
            f"Write {', '.join(wanted)}. Reply with `{wanted[0]}` on one line and then the whole test file in a "
            "fenced code block (```python ... ```). The bead ends when every file named here is written."
        )
    if not tests_decide:
        return "When your files are written, call finish with a short summary."
    if acceptance:
        return (
            "The bead is done when the acceptance tests pass and no test that passed before fails. "
            "Change the code: a file's path on one line, then a code block with the functions you change "
            "(a new file whole), or edit_file for a one-line change. The tests run after every change and "
            "you see the result: read the failures and fix them. The bead ends by itself when they pass."
        )
    return "When the project's tests pass, call finish with a short summary (it is refused until they do)."


ECHO_NOTE = "That reply was stopped where it began to copy the bead's text back: you have it already."


def nudge(
    acceptance: Sequence[str],
    wanted: Sequence[str],
    tests_decide: bool,
    reply: str | None = None,
    start: tuple[str, str] | None = None,
    note: str = "",
) -> str:
    """What a reply that did nothing is told, ``note`` after it: the change in the form the
    first prompt asked for (told "reply with one tool call", a small model that writes code
    as blocks turns to JSON calls of whole files, and damages them). A reply that was only a
    file's path is told it held no code. In a bug fix, ``start`` (its file and the ``def``
    lines of the function the bead names: Head.fix_start) begins the next reply: nudged
    without it, the 1.5B answered 8 of 21 replies that named the line at fault and sent no
    code with no code again, over three toolz runs; with it, 13 of 13 held code."""
    path = fileblocks.lone_path(reply)
    named = f"That names {path} but holds no code. " if path else ""
    if wanted:
        told = f"Reply with `{wanted[0]}` on one line and then the whole test file in a fenced code block."
    elif tests_decide and acceptance and start is not None:
        where, header = start
        return (
            f"{named}Now the code: `{where}` on one line, then a code block with the function, corrected.{note}"
            f"\n\n{prompts.OPENING}\n{where}\n{prompts.fence(where)}\n{header}\n```"
        )
    elif tests_decide and acceptance and path:
        told = f"{named}Reply with `{path}` on one line and then a code block with the functions you change or add."
    elif tests_decide and acceptance:
        told = "Change the code: the file's path on one line, then a code block with the functions you change."
    else:
        told = "Use the tools to do the work: reply with one tool call."
    return told + note


@dataclass(frozen=True)
class Blind:
    """A bug fix's first prompt with the body of the function the bead names left out
    (excerpt.without_body): what later tries start from (tries.py)."""

    messages: tuple[dict[str, Any], ...]
    function: str  # its name


@dataclass(frozen=True)
class Head:
    """A bead's first prompt; for a bug fix, where a reply after one with no code begins,
    and the prompt its later tries start from."""

    messages: tuple[dict[str, Any], ...]
    # a bug fix's file and the def lines of the function the bead names, as the bead found
    # them (see ``nudge``): the fault may lie in a helper, and a try may have changed them
    fix_start: tuple[str, str] | None = None
    blind: Blind | None = None
    fix_file: str | None = None  # a bug fix's one module to change: where its suspect lines are (suspects.py)
    # the definitions each file's outline shows as stubs, by path: not the model's to rewrite unread (unseen.py)
    unseen: tuple[tuple[str, frozenset[str]], ...] = ()


def first_messages(
    *,
    bead: Bead,
    root: Path,
    rig: Rig,
    role: str,
    role_prompt: str,
    spec: ModelSpec,
    names: tuple[str, ...],
    acceptance: tuple[str, ...],
    files: Sequence[str],
    now: checks.TestRun | None,
    wanted: tuple[str, ...],
    tests_decide: bool,
    files_chars: int,
) -> Head:
    """The system message and the task: the head every later request starts with (a bug
    fix's later tries start from its ``blind`` one, see tries.py)."""
    texts = texts_of(bead)
    about = focus.bead_names(texts, checks.CODE_NAME_RE)
    shared = role_prompt.strip()
    if spec.tool_mode != "native":  # the tools go in the prompt ("schema": the grammar keeps replies to one call)
        shared += "\n\n" + describe(names, only_calls=spec.tool_mode == "schema")
    # What every bead of the role shares comes first, the rig's documents (cut to this bead)
    # after it: the server's prompt cache keeps the shared part from one bead to the next.
    system = prompts.system_text(shared, prompts.read_docs(root, rig.docs), about)
    named = checks.named_files(texts, files, rig.is_test_path)
    inherited = testbases.written_in(acceptance, partial(_read, root), files)  # tests a base class holds
    whole = shown_files(root, [*acceptance, *inherited], files, named)
    absent = absent_names(root, acceptance, files)
    failing = [] if now is None else focus.outcomes_failing(now.outcomes)
    adding = {path for path, _ in absent}
    shown = focus.focus(whole, [*acceptance, *inherited], failing, about, adding=adding)
    # a module the tests import a new function from is where to write, though its excerpt
    # may define nothing the text names
    reference = [path for path in for_reference(shown, named, about) if path not in adding]
    if any(path in named for path, _ in shown):  # the files to change are shown: not what the tests do not use
        tests = [text for path, text in shown if rig.is_test_path(path) and path.endswith(".py")]
        left_out = unused_by_tests(tests, [p for p in reference if not rig.is_test_path(p)], files)
        shown = [(path, text) for path, text in shown if path not in left_out]
    context = gathering(shown, named)
    # a module cut to what the bead is about (a long one, or one getting a new function) loses
    # its long docstrings too (a Polecat's replies copied them: 41% of what the 1.5B wrote on
    # humanize); one shown whole keeps them
    found = dict(whole)
    cut = [path for path, text in shown if text != found.get(path)] if role != "refinery" else []
    shown = [(path, gathered(text, about, path) if path in context else text) for path, text in shown]
    missing = missing_files(root, acceptance, files)
    code = [(path, text) for path, text in whole if not rig.is_test_path(path)]
    new = absent + created_names(root, acceptance, missing)
    start = opening(texts, code, new, missing, about) if tests_decide and acceptance and not wanted else None
    fix_start = fix_file = None
    if (
        start is None
        and tests_decide
        and acceptance
        and not wanted
        and not missing
        and not new
        and fixing(now, code, about)
    ):
        targets = [p for p, _ in shown if p.endswith(".py") and not rig.is_test_path(p) and p not in reference]
        fix_file = targets[0] if len(targets) == 1 else None
        header = def_lines(found.get(fix_file, ""), about) if fix_file else None
        fix_start = (fix_file, header) if fix_file and header else None

    system_message = {"role": "system", "content": system}

    def task(files: Sequence[tuple[str, str]]) -> str:
        return prompts.bead_text(
            bead.to_dict(),
            list(rig.test_paths) if role != "refinery" else [],
            how_it_ends(acceptance, wanted, tests_decide),
            tests=acceptance,
            inherited=inherited,
            files=prompts.fit_files(files, files_chars),
            missing=missing,
            absent=absent,
            now=None if now is None else f"{now.summary()}\n{now.shown}",
            context=reference,
            lifted=cut,
            opening=start,
        )

    blind = None
    if fix_start is not None:  # the same task with the function's body left out, for later tries
        where = fix_start[0]
        hidden = excerpt.without_body(dict(shown).get(where, ""), about)
        if hidden is not None:
            blind_task = task([(path, hidden[0] if path == where else text) for path, text in shown])
            if excerpt.BODY_LEFT_OUT in blind_task:  # not cut off by the files' budget
                blind = Blind((system_message, {"role": "user", "content": blind_task}), hidden[1])
    stubbed = tuple(
        (path, stubs)
        for path, text in shown
        if path in cut and path.endswith(".py") and (stubs := unseen.stubs(text, found.get(path, "")))
    )
    return Head((system_message, {"role": "user", "content": task(shown)}), fix_start, blind, fix_file, stubbed)


def fixing(now: checks.TestRun | None, code: Sequence[tuple[str, str]], about: Collection[str]) -> bool:
    """Whether a bead is a bug fix: its tests ran as it started and failed on what the code
    does — none errored (nothing to import or create), none reached a stub or a name the
    bead writes that the code lacks (``NotImplementedError``; ``'Stack' object has no
    attribute 'peek'`` for a bead about `peek`) — and no function the bead names is a stub."""
    if now is None or not now.counts.get("failed", 0) or now.counts.get("errors", 0):
        return False
    for raised in testoutput.failures(now.shown).values():
        kind = raised.split(":", 1)[0].strip()
        if kind == "NotImplementedError" or (kind in _LACKING and any(f"'{name}'" in raised for name in about)):
            return False
    return not any(stub_headers(text, set(about)) for path, text in code if path.endswith(".py"))


_LACKING = ("AttributeError", "NameError")  # raised for a name the code does not have yet


def tools_overhead(spec: ModelSpec, names: tuple[str, ...]) -> int:
    """Tokens the tools' definitions add to every request (none when they are in the prompt)."""
    return tokens.estimate(json.dumps(openai_tools(names))) if spec.tool_mode == "native" else 0
