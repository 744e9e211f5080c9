"""A long module shown as the functions a bead is about, under a list of the rest.

Shown a module, even outlined (focus.py), a small model answers with the module: on two CPU
cores, 400 lines sent back take the bead's whole time. Shown the functions it is to write,
with the module's imports and the tables they use, under a note listing everything else
(each definition's signature, lines and docstring's first line), it answers with the
functions. Everything shown is as the file has it, so a reply that copies the excerpt whole
changes nothing but what it rewrote (merge.py); the note is comments at the excerpt's top,
shown as text above its code block (``split_header``, prompts.bead_text). Also the
docstrings lifted out of the code a worker changes (``lift_docstrings``, for prompts.py),
and the small syntax helpers focus.py shares. Pure: text in, text out.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Collection, Sequence

from gastown.agents import docstrings, merge
from gastown.agents.docstrings import parse as parse  # the syntax helpers focus.py shares

AS_IN_THE_FILE = "as in the file"  # an excerpt's header says so; lift_docstrings says what was taken out
ALSO_IN_IT = "Also in it (do not send these back):"  # an excerpt's header, above what it left out
LISTED_IN_FULL = 12  # an excerpt lists at most this many left-out parts with their signatures and gists


def first_line(node: ast.stmt) -> int:
    """The 1-based first line of a node, decorators included."""
    return docstrings.span(node)[0] + 1


def names_in(node: ast.AST) -> set[str]:
    """Every plain name and attribute name a piece of code uses."""
    found: set[str] = set()
    for part in ast.walk(node):
        if isinstance(part, ast.Name):
            found.add(part.id)
        elif isinstance(part, ast.Attribute):
            found.add(part.attr)
    return found


def assigned(node: ast.stmt) -> set[str]:
    """The plain names a module-level assignment binds."""
    if isinstance(node, ast.Assign):
        return {t.id for t in node.targets if isinstance(t, ast.Name)}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    return set()


def read_hint(path: str) -> str:
    return f"read_file {path}" if path else "read_file"


def excerpt(source: str, keep: set[str], path: str = "", adding: bool = False) -> str | None:
    """``source`` cut to its top-level functions in ``keep``, its imports, and the module-level
    names those functions use (with the assignments right above each: its tables), under a
    comment listing the rest. None when a class or a method is among what the bead is about
    (``focus.outline`` shows those in their class), when nothing is kept (unless the bead is
    ``adding`` a function to the module: then its imports and the list are what it needs),
    or when nothing would be left out (the excerpt sent back would then be read as the whole
    file)."""
    tree = parse(source)
    if tree is None:
        return None
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    nodes = {getattr(n, "name", None): n for n in tree.body}
    kept = [n for n in tree.body if isinstance(n, functions) and n.name in keep]
    methods = {m.name for n in tree.body if isinstance(n, ast.ClassDef) for m in n.body if hasattr(m, "name")}
    if not (kept or adding) or any(isinstance(nodes.get(k), ast.ClassDef) or k in methods for k in keep):
        return None
    lines = source.splitlines()
    used = set(keep).union(*(names_in(n) for n in kept))
    for at, node in enumerate(tree.body):  # the tables right above a kept function are its own
        if node in kept:
            above = at - 1
            while above >= 0 and assigned(tree.body[above]):
                used |= assigned(tree.body[above])
                above -= 1
    listed: list[str] = []
    brief: list[str] = []  # the same, a name and its lines each, for a long list
    shown: list[ast.stmt] = []
    for node in tree.body:
        start, end = first_line(node), node.end_lineno or node.lineno
        where = f"line {start}" if start == end else f"lines {start}-{end}"
        if node in kept or assigned(node) & used or _imports_only(node) or _binds(node) & used:
            shown.append(node)  # the imports too: a model that starts its reply with them copies these
            continue
        if isinstance(node, functions):
            listed.append(f"#   {_signature(node)}  ({where}){_gist(node)}")
        elif isinstance(node, ast.ClassDef):
            listed.append(f"#   class {node.name}  ({where}){_gist(node)}")
        elif assigned(node):
            text = lines[start - 1].strip() if start == end else f"{', '.join(sorted(assigned(node)))} = ..."
            listed.append(f"#   {text}  ({where})")
        elif not (node is tree.body[0] and _is_docstring(node)):
            listed.append(f"#   {lines[start - 1].strip()}  ({where})")  # if __name__ ..., a call
        else:
            continue
        brief.append(briefly(node, lines, short_assignments=True))
    if len(listed) > LISTED_IN_FULL:  # toolz's itertoolz: 41 signatures and gists, 900 tokens of every prompt
        listed = [f"#   {', '.join(brief[at : at + 6])}" for at in range(0, len(brief), 6)]
    names = ", ".join(f"{n.name} (lines {first_line(n)}-{n.end_lineno})" for n in kept)
    imports = any(_imports_only(n) for n in shown)
    names = f"{names} and what it uses" if names else ("its imports" if imports else "nothing but this list")
    head = [
        f"# {path or 'This file'} has {len(lines)} lines. Shown: {names}, {AS_IN_THE_FILE}; "
        f"the rest is listed below ({read_hint(path)} with start_line and end_line shows any part).",
        "# Send back only the functions you add or change: the rest of the file stays as it is.",
    ]
    if listed:
        head += [f"# {ALSO_IN_IT}", *listed]
    runs: list[list[ast.stmt]] = [[]]  # what is shown, in runs of statements next to each other
    for node in tree.body:
        if node in shown:
            runs[-1].append(node)
        elif runs[-1]:
            runs.append([])
    body: list[str] = []
    for run in filter(None, runs):  # each run as the file has it, comments and blank lines too
        body += ["", "", *lines[first_line(run[0]) - 1 : run[-1].end_lineno or run[-1].lineno]]
    text = "\n".join(head + body[1:]) + "\n"
    # copied back, an excerpt must read as a part of the file (merge.py), not all of it; one
    # of only imports defines nothing, and a reply adds its new function to it
    return text if (adding and not kept) or merge.is_fragment(source, text) else None


def briefly(node: ast.stmt, lines: list[str], short_assignments: bool = False) -> str:
    """A statement left out of an excerpt, as its name and the lines it spans (``pop
    (141-148)``); with ``short_assignments``, a one-line assignment short enough as the line
    itself (``LIMIT = 3 (5)``)."""
    start, end = first_line(node), node.end_lineno or node.lineno
    named = getattr(node, "name", None) or ", ".join(sorted(assigned(node))) or lines[start - 1].strip()[:40]
    if short_assignments and assigned(node) and start == end and len(lines[start - 1].strip()) <= 40:
        named = lines[start - 1].strip()
    return f"{named} ({start}-{end})" if start != end else f"{named} ({start})"


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _imports_only(node: ast.stmt) -> bool:
    """An import, or an ``if`` (``if TYPE_CHECKING:``) or ``try`` holding only imports."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return True
    if isinstance(node, (ast.If, ast.Try)):
        inner = [*node.body, *node.orelse, *node.finalbody] if isinstance(node, ast.Try) else [*node.body, *node.orelse]
        inner += [s for h in getattr(node, "handlers", []) for s in h.body]
        return bool(inner) and all(_imports_only(s) or isinstance(s, ast.Pass) for s in inner)
    return False


def _binds(node: ast.stmt) -> set[str]:
    """The names an ``if`` or ``try`` at the top level binds (``except ImportError: json = None``)."""
    if not isinstance(node, (ast.If, ast.Try)):
        return set()
    found: set[str] = set()
    todo: list[ast.AST] = [node]
    while todo:
        part = todo.pop()
        if isinstance(part, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(part.name)  # not its locals: toolz's `if PYPY:` wraps a function whose `val` is no module name
            continue
        if isinstance(part, ast.Name) and isinstance(part.ctx, ast.Store):
            found.add(part.id)
        elif isinstance(part, ast.alias):
            found.add((part.asname or part.name).split(".")[0])
        todo.extend(ast.iter_child_nodes(part))
    return found


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    decorators = "".join(f"@{ast.unparse(d)} " for d in node.decorator_list)
    kind = "async def " if isinstance(node, ast.AsyncFunctionDef) else ""
    returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
    return f"{decorators}{kind}{node.name}({ast.unparse(node.args)}){returns}"


def _gist(node: ast.stmt) -> str:
    """``: `` and the first line of a definition's docstring ("" without one)."""
    first = first_doc_line(node)
    return f": {first}" if first else ""


GIST_CHARS = 120  # of a docstring's first sentence, in an outline or an excerpt's list


def first_doc_line(node: ast.stmt) -> str:
    """The first sentence of a definition's docstring ("" without one): its first line alone
    can stop mid-sentence ("Return the ordinal of a number, as"). Cut at a word past
    ``GIST_CHARS``."""
    doc = docstrings.docstring(node)
    paragraph = str(doc.value.value).strip().split("\n\n")[0] if doc is not None else ""  # type: ignore[attr-defined]
    text = " ".join(paragraph.split())
    end = re.search(r"[.!?:](?=\s|$)", text)
    sentence = text[: end.end()] if end else text
    if len(sentence) <= GIST_CHARS:
        return sentence
    return sentence[:GIST_CHARS].rsplit(" ", 1)[0] + " …"


BODY_LEFT_OUT = "its body, left out here: write it whole"


def without_body(source: str, names: Collection[str]) -> tuple[str, str] | None:
    """``source`` with the body of its one top-level function named in ``names`` left out,
    and that function's name: its decorators, ``def`` lines and docstring kept, the rest
    (comments in the body too) one ``...`` line saying so; an excerpt's header says so too.
    A small model shown a bug fix's function keeps its faulty line (41 of the 1.5B's 52
    answers to six toolz bugs did, in run T9, docs/eval.md); shown its docstring and not its
    code (a test's traceback may still quote a line of it), it has to write the function
    anew (tries.py). None when no function, or more than one, is named, when its
    body shares the ``def`` line or is its docstring alone, or when ``source`` does not
    parse."""
    tree = parse(source)
    if tree is None:
        return None
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    found = [n for n in tree.body if isinstance(n, functions) and n.name in names]
    if len(found) != 1:
        return None
    node = found[0]
    doc = docstrings.docstring(node)
    body = node.body[1:] if doc is not None else node.body
    if not body or body[0].lineno == node.lineno or node.end_lineno is None:
        return None
    lines = source.split("\n")  # as ast counts lines
    if doc is not None and doc.end_lineno is not None:
        first = doc.end_lineno  # 0-based: the line after the docstring
    else:  # the line after the def's last line (its signature may span several)
        first = max(first_line(body[0]) - 1, node.lineno)
        while first > node.lineno and lines[first - 1].strip().startswith("#"):
            first -= 1  # a comment between the def line and the body is the body's
    line = lines[body[0].lineno - 1]
    indent = line[: len(line) - len(line.lstrip())]
    lines[first : node.end_lineno] = [f"{indent}...  # {BODY_LEFT_OUT}"]
    if lines[0].startswith("# ") and AS_IN_THE_FILE in lines[0]:  # an excerpt's header
        lines[0] = lines[0].replace(AS_IN_THE_FILE, f"{AS_IN_THE_FILE} (less the body of {node.name})", 1)
    return "\n".join(lines), node.name


def lift_docstrings(source: str) -> tuple[str, list[tuple[str, str]]]:
    """``source`` without its functions' docstrings of more than one line, and those
    docstrings: each function's signature and text.

    A small model copies every docstring it is shown into its reply (on humanize, 41% of
    what it wrote: ~25 s a reply on two cores), though asked not to; shown the docstrings
    as text beside the code, it writes the code. A function sent back without one keeps
    its own (docstrings.py), and a body that was only its docstring is shown as ``...`` (an
    outline's summary: copied back, it changes nothing). Code that does not parse is
    left as it is.
    """
    tree = parse(source)
    if tree is None:
        return source, []
    lines = source.split("\n")  # as ast counts lines (splitlines also splits at \x0c and \x85)
    cuts: list[tuple[int, int, str | None]] = []  # 0-based first and last line, and what replaces them
    lifted: list[tuple[str, str]] = []
    for node, owner, doc in _long_docstrings(tree, lines):
        stand_in = None if len(node.body) > 1 else " " * doc.col_offset + "..."
        cuts.append((doc.lineno - 1, (doc.end_lineno or doc.lineno) - 1, stand_in))
        text = inspect.cleandoc(str(doc.value.value))  # type: ignore[attr-defined]
        lifted.append((f"{owner}{node.name}({ast.unparse(node.args)})", text))
    for first, last, stand_in in sorted(cuts, reverse=True):
        lines[first : last + 1] = [] if stand_in is None else [stand_in]
    if lifted and lines[0].startswith("# ") and AS_IN_THE_FILE in lines[0]:  # an excerpt's header
        lines[0] = lines[0].replace(AS_IN_THE_FILE, f"{AS_IN_THE_FILE} but for the long docstrings listed after it")
    return "\n".join(lines), lifted


def lifted_lines(source: str) -> list[tuple[int, int]]:
    """The docstrings ``lift_docstrings`` takes out of ``source``, as 1-based first and last
    lines (a model that copies a function as it was shown leaves them out)."""
    tree = parse(source)
    if tree is None:
        return []
    found = _long_docstrings(tree, source.split("\n"))
    return [(doc.lineno, doc.end_lineno or doc.lineno) for _node, _owner, doc in found]


def _long_docstrings(
    tree: ast.Module, lines: Sequence[str]
) -> list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, str, ast.Expr]]:
    """Each function with a docstring of more than one line, on lines of its own: the
    function, ``Class.`` or "", and the docstring's statement."""
    found = []
    for node, owner in _functions(tree):
        doc = docstrings.docstring(node)
        if doc is None or doc.end_lineno is None or doc.end_lineno == doc.lineno or doc.lineno == node.lineno:
            continue
        after = node.body[1].lineno if len(node.body) > 1 else None
        if after == doc.end_lineno or lines[doc.lineno - 1][: doc.col_offset].strip():
            continue  # the docstring shares a line with other code
        found.append((node, owner, doc))
    return found


def _functions(tree: ast.Module) -> list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, str]]:
    """The module's functions and its classes' methods, in order, each with ``Class.`` or ""."""
    found: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, str]] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append((node, ""))
        elif isinstance(node, ast.ClassDef):
            found += [(n, f"{node.name}.") for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return found


def gathered(source: str, about: set[str], path: str) -> str:
    """A package ``__init__.py`` that only gathers names, cut to the imports of what the bead
    is about, under a line saying how much is left out: the rest (humanize's: 60 lines, ~300
    tokens of every prompt) tells a model nothing it needs. As it is when no import names
    any of ``about``, or it does not parse."""
    tree = parse(source)
    if tree is None:
        return source
    lines = source.split("\n")
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    kept = [n for n in imports if any((a.asname or a.name).split(".")[0] in about for a in n.names)]
    if not kept or len(kept) == len(tree.body):
        return source
    shown = ["\n".join(lines[n.lineno - 1 : n.end_lineno]) for n in kept]
    left = len(tree.body) - len(kept)
    count = len(source.splitlines())
    header = f"# {path}: {count} lines; {left} other statements {LEFT_OUT} (imports, __all__; read_file for all)"
    return "\n".join([header, *shown]) + "\n"


LEFT_OUT = "left out"
_CUT_RE = re.compile(r"\s*# \S+: \d+ lines; \d+ other statements " + LEFT_OUT)
_EXCERPT_RE = re.compile(r"\s*# .+? has \d+ lines\. Shown: ")  # an excerpt's first line (``excerpt``)
OUTLINE = "An outline ("  # how an outline's one-line header begins (focus.outline), after "# "
TESTS_ONLY = "Only the tests of this bead ("  # and an outline of a test file's
_ONE_LINE_HEADER_RE = re.compile(rf"# (?:{re.escape(OUTLINE)}|{re.escape(TESTS_ONLY)})")


def is_cut(content: str, old: str = "") -> bool:
    """Whether ``content`` is a package ``__init__.py`` as ``gathered`` showed it, or an
    excerpt that shows no definition (only a module's imports) sent back with none added,
    over a module ``old`` that defines some: written whole, either would drop what was left
    out. The excerpt's header is prose above its code block (``split_header``), so a copy
    of the block is the imports alone; one copied with its header reads the same."""
    if _CUT_RE.match(content) is not None:
        return True
    tree = parse(content)
    if tree is None or _defines(tree):
        return False
    if _EXCERPT_RE.match(content) is not None:
        return True
    before = parse(old) if old else None
    if before is None or not _defines(before):
        return False
    statements = [n for n in tree.body if not _is_docstring(n)]
    had = {ast.unparse(n) for n in before.body if isinstance(n, (ast.Import, ast.ImportFrom))}
    # the module's own imports and nothing else: a copy of the block (a re-export is not)
    return bool(statements) and all(
        isinstance(n, (ast.Import, ast.ImportFrom)) and ast.unparse(n) in had for n in statements
    )


def _defines(tree: ast.Module) -> bool:
    """Whether a module defines a function or a class at its top level."""
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for n in tree.body)


def split_header(text: str) -> tuple[list[str], str]:
    """An excerpt's header (its first comment lines: what it shows, what to send back, the
    rest of the module listed), or an outline's (focus.outline: one line), as lines of
    prose, and the code below it; no lines and ``text`` for anything else. Shown inside the
    code block, the excerpt's header was copied into 6 of the 1.5B's 32 replies to six toolz
    bugs (3,000 of its 7,400 tokens out, run T11), some cut off by the reply's length before
    the function."""
    if _ONE_LINE_HEADER_RE.match(text) is not None:
        head, _, code = text.partition("\n")
        return [head.removeprefix("# ")], code
    if _EXCERPT_RE.match(text) is None:
        return [], text
    head, _, code = text.partition("\n\n")
    prose = []
    for line in head.splitlines():
        line = line.removeprefix("#")
        prose.append(f"- {line.strip()}" if line.startswith("   ") else line.strip())
    return prose, code
