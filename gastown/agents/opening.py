"""The first lines of a reply that adds one function: shown last in the first prompt.

Asked to add one function to a short module it was shown whole, the 1.5B model sends the
module back as it was, or only its path: 6 of the 10 replies of the starter suite's
`truncate` bead (run J); asked its first prompt four times, it wrote `truncate` once. With
the reply's start at the end of the prompt (the file's path, the fence and the function's
``def`` line), 4 of 4 replies were that function. The same held for a function whose body
is a hole (humanize's ``ordinal``: replies of 100–250 tokens instead of 250–400, no module
sent back; docs/eval.md).

Only for a function that has no body to copy: one the tests import that the module lacks
(its signature written in the bead's text), or a stub (see merge.is_stub). Shown the
``def`` line of a function it must fix, the model copied the body below it: on the starter
suite's `camel-case`, 3 of 5 replies sent the function back as it was and none passed,
against 3 of 5 passing without. So a fix is not begun at its function; nor at its long
module's imports, which every reply to a toolz bug wrote out again: begun there, the 1.5B
went on writing imports (``from toolz import``, a module's import of itself) before the
function, and toolz passed 1 of 6 (a second run, 0 of its first 2) against 3 unbegun
(docs/eval.md, stop 34). Nor is a bead begun with more than one such function, or a
function of another module to change: shown the start of one of its two changes, the
model made only that one (`reading-time`, 4 of 4). A new module of one function is begun
at that function (the writer adds the standard-library imports its body uses, see
imports.py): asked for the whole new module, the 1.5B's first reply to `slugify` was its
test file, sent back as the module.

Shown as the prompt's last section, the start holds at 0.2 and loses its hold at 0.7, in
fresh tries: the 1.5B sent the module back as it was in 4 of 8 of `truncate`'s. So the
agent also begins the reply with it (prompts.reply_start, ModelClient.chat's ``start``)
where the model's chat template is one gastown renders: the model then writes on from the
``def`` line and cannot send anything else.

The start ends with the function's docstring, so the model writes the body below a
statement of what it does. A stub keeps its own; a new function gets one made of what the
bead's text says of it. Every function of `truncate`'s fresh tries wrapped text into lines,
like `wrap` shown above it, where the tests asked for one line cut short (run U, 0 of 3).
The docstring holds no doctest examples of the calls the tests assert: with them, 8 of 16
samples of `truncate`'s first prompt were a placeholder body and the 16 passed 6 of its 80
tests; with the bead's words alone, none was, and they passed 24 of 80 (one all 5).
`slugify` was even: 26 of its 96 tests passed with examples, 28 without (docs/eval.md,
stop 39).
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Collection, Iterable, Sequence

from gastown.agents.docstrings import docstring
from gastown.agents.fileblocks import names_a_file
from gastown.agents.focus import bead_names
from gastown.agents.merge import definitions, is_stub, overridden

# `name(...)` or `def name(...) -> type:` in backticks, as a bead's text writes a signature
_SIGNATURE_RE = r"`(?:def\s+)?({name}\([^`]*?\)(?:\s*->\s*[^`:]+)?)\s*:?`"
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z`\"'(])")
DOC_CHARS = 700  # of the bead's text in a new function's docstring
DOC_WIDTH = 88  # where the docstring's lines wrap
ASKED_CHARS = 400  # of the bead's sentence about a function still to change
# verbs a sentence goes on with after a signature to say what the function does
_DOES = frozenset({"returns", "gives", "turns", "computes", "counts", "splits", "joins", "makes"})


def opening(
    texts: Iterable[str],
    files: Sequence[tuple[str, str]],
    absent: Sequence[tuple[str, str]],
    missing: Sequence[str],
    names: Iterable[str],
) -> tuple[str, str] | None:
    """``(path, first lines)`` of the reply when the bead adds exactly one function: one of
    ``absent`` (``(path, name)`` the tests import and the module lacks, or the one module of
    ``missing``, not written yet) whose signature the bead's ``texts`` give in backticks, or
    else one stub among ``files`` (whole rig files, ``(path, text)``) whose name is in
    ``names`` (the names the bead's text writes as code); None otherwise, and None when
    ``names`` holds a function of another of ``files``. A function of the same module may be
    named ("next to wrap() and fill()"): what the bead says of its neighbours is mostly "keep
    them". A new function's first lines end with a docstring (``described``) made of
    ``texts``."""
    names, texts = set(names), list(texts)
    shown = dict(files)
    if absent:
        path, name = absent[0]
        if len(absent) != 1 or any(m != path for m in missing) or path not in shown.keys() | set(missing):
            return None
        signature = signature_in(texts, name)
        neighbours = definitions(shown.get(path, "")) - {name}
        found = (path, f"def {signature}:{described(texts, name, neighbours)}") if signature else None
    elif missing:
        return None  # a new module, and nothing says which of its functions to begin
    else:
        holes = [(path, header) for path, text in files if path.endswith(".py") for header in stub_headers(text, names)]
        found = holes[0] if len(holes) == 1 else None
    others = (text for path, text in files if path != (found and found[0]) and path.endswith(".py"))
    if found is None or any(names & definitions(text) for text in others):
        return None  # the bead changes another file too
    return found


def signature_in(texts: Iterable[str], name: str) -> str | None:
    """``name(...) -> type`` as the bead's text writes it in backticks, when it is a valid
    ``def`` line with an annotation (``truncate(text, width=10)`` is more likely a call, with
    an example's values); None for a class (a capitalised name: its signature is its
    ``__init__``'s)."""
    if name[:1].isupper():
        return None
    pattern = re.compile(_SIGNATURE_RE.format(name=re.escape(name)))
    for text in texts:
        for found in pattern.findall(text or ""):
            if _parsed(found) is not None:
                return " ".join(found.split())
    return None


def _arguments(function: ast.FunctionDef) -> list[ast.arg]:
    arguments = function.args
    every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]
    return [argument for argument in every if argument is not None]


def _call_of(other: str, sentence: str) -> list[str] | None:
    """The words ``other`` is called with in ``sentence`` (`` `other` `` alone: none); None
    when the sentence neither calls nor names it as code."""
    called = re.findall(rf"(?<![\w.]){re.escape(other)}\(([^)]*)\)", sentence)
    if called:
        return [word for arguments in called for word in re.findall(r"\w+", arguments)]
    if re.search(rf"(?<![\w.]){re.escape(other)}\(|`{re.escape(other)}`", sentence):
        return []
    return None


def _parsed(found: str) -> ast.FunctionDef | None:
    """``found`` (``name(...) -> type``) as a ``def`` line, when it is one with an annotation:
    ``topk(2, [1, 100])`` in "`topk(2, [1, 100])` is `(100, 1)`" is an example call."""
    try:
        tree = ast.parse(f"def {' '.join(found.split())}:\n    pass\n")
    except SyntaxError:
        return None
    function = tree.body[0]
    assert isinstance(function, ast.FunctionDef)
    if function.returns is None and all(a.annotation is None for a in _arguments(function)):
        return None
    return function


def described(texts: Sequence[str], name: str, neighbours: set[str]) -> str:
    """The docstring of a new function ``name``, indented below its ``def`` line ("" when
    there is nothing to say): the sentences of the bead's text after its title that say what
    the function does — of the one giving its signature only what follows it ("that ...",
    "to m.py: ..."), an example call kept whole — and none naming a file, or calling one of
    the module's other functions (``neighbours``: "keep wrap() as it is") unless the call
    is given one of the function's parameters ("key is an index `getter(key)` turns into
    one")."""
    signature = re.compile(_SIGNATURE_RE.format(name=re.escape(name)))
    given = signature_in(texts, name)
    function = _parsed(given) if given else None
    parameters = set() if function is None else {argument.arg for argument in _arguments(function)}
    said: list[str] = []
    sentences = (s for text in texts[1:] for s in _SENTENCE_RE.split(" ".join((text or "").split())))
    for sentence in sentences:
        written = next((m for m in signature.finditer(sentence) if _parsed(m.group(1)) is not None), None)
        if written is not None:  # "... a function `f(x) -> str` that turns x into ...": what follows is what it does
            sentence = _what_follows(sentence[written.end() :])
        if not sentence or _names_a_file(sentence) or not _quotable(sentence):
            continue
        calls = [_call_of(other, sentence) for other in neighbours]
        if any(call is not None for call in calls) and not any(parameters & set(call or ()) for call in calls):
            continue  # "Keep wrap() as it is": the work around the function, not the function
        if len(" ".join([*said, sentence])) > DOC_CHARS:
            break
        said.append(sentence)
    lines = textwrap.wrap(" ".join(said), DOC_WIDTH - 4 - 3) if said else []
    if not lines:
        return ""
    if len(lines) == 1:
        return f'\n    """{lines[0]}"""'
    body = "\n".join(f"    {line}" for line in lines)
    return f'\n    """{body.lstrip()}\n    """'


def asked_of(texts: Sequence[str], name: str, code: re.Pattern[str]) -> str:
    """The first sentence of the bead's text after its title that writes ``name`` as code
    (as ``code`` finds it: `` `name` ``, ``name(``, ``module.name``): what the bead asks of
    that function, to quote where a change to it is still missing; "" when no sentence
    does, or it is too long to quote. Told only "a code block holding `summary`, changed",
    the 1.5B sent summary back as it was."""
    for text in texts[1:]:
        for sentence in _SENTENCE_RE.split(" ".join((text or "").split())):
            if len(sentence) <= ASKED_CHARS and name in bead_names([sentence], code):
                return sentence
    return ""


def _what_follows(rest: str) -> str:
    """What a sentence says after a function's signature, as a sentence of its own ("that
    turns x into y.", ": the x of y." or " to m.py: the x of y." -> "Turns x into y.", "The x
    of y."); "" when it does not go on to say what it does ("to textkit/wrap.py, next to
    wrap().")."""
    rest = rest.strip()
    first, _, more = rest.partition(" ")
    placed = re.match(r"(?:to|in)\s+`?[\w./-]+`?:\s+(.+)", rest)  # "add `f(x)` to m.py: the x of y."
    if rest.startswith(":"):  # "add `f(x) -> int`: the minutes needed to ..."
        said = rest[1:].strip()
    elif placed is not None:
        said = placed.group(1)
    elif first in ("that", "which"):
        said = more.strip()
    elif first in _DOES:
        said = rest
    else:
        return ""
    return said[:1].upper() + said[1:]


def _quotable(text: str) -> bool:
    """Whether ``text`` reads the same inside a docstring, and inside the prompt's code block:
    no quotes that would close it, no backslash it would read as an escape, no fence."""
    return '"""' not in text and "\\" not in text and "```" not in text


def _names_a_file(sentence: str) -> bool:
    """Whether a sentence names a file (the tests', the module's): where the work is, not what it does."""
    return "tests/" in sentence or any(names_a_file(word.strip("`*'\"()[],.;:")) for word in sentence.split())


def stub_headers(source: str, names: set[str]) -> list[str]:
    """The header of each stub in ``source`` named in ``names``: its decorators and ``def``
    lines as the file writes them, and its docstring; a method's under its class's header."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    lines = source.splitlines()
    headers: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            inside = [
                _header(lines, m)
                for m in node.body
                if is_stub(m) and getattr(m, "name", "") in names and not overridden(tree, node, getattr(m, "name", ""))
            ]
            headers += [f"{_upto(lines, node.lineno, node.body[0])}\n{h}" for h in inside if h]
        elif is_stub(node) and getattr(node, "name", "") in names:
            headers.append(_header(lines, node))
    return headers


def def_lines(source: str, names: Collection[str]) -> str | None:
    """The decorators and ``def`` lines of the one top-level function of ``source`` named in
    ``names``: where a bug fix's reply is begun after one with no code (briefing.nudge).
    Not its docstring: a function sent without one keeps the one it had (docstrings.py), and a
    reply begun inside it would copy it out. None when no function, or more than one, is
    named."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    found = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name in names]
    if len(found) != 1:
        return None
    node = found[0]
    return _upto(source.splitlines(), min([node.lineno, *(d.lineno for d in node.decorator_list)]), node.body[0])


def _header(lines: list[str], node: ast.stmt) -> str:
    """A function's decorators, ``def`` lines and docstring: all of it up to its body."""
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    doc, rest = docstring(node), node.body[1:]
    if (
        doc is None
        or doc.end_lineno is None
        or lines[doc.lineno - 1][: doc.col_offset].strip()  # on the def line: ``def f(x): """Doc."""``
        or (rest and rest[0].lineno <= doc.end_lineno)  # the body on its last line
    ):
        return _upto(lines, first, node.body[0])
    return "\n".join(lines[first - 1 : doc.end_lineno]).rstrip()


def _upto(lines: list[str], first: int, body: ast.stmt) -> str:
    """The lines from ``first`` to where ``body`` starts: the comments and blank lines just
    above it left out, and a body on the header's own line (``def f(x): ...``) cut off."""
    start = min([body.lineno, *(d.lineno for d in getattr(body, "decorator_list", []))])
    header = lines[first - 1 : start - 1]
    while header and (not header[-1].strip() or header[-1].lstrip().startswith("#")):
        header.pop()
    before = lines[start - 1][: body.col_offset] if start == body.lineno else ""
    if before.strip():  # the body on the header's last line: "...) -> str: ..."
        header.append(before.rstrip())
    return "\n".join(header).rstrip()
