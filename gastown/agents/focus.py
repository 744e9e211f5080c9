"""What a small model is shown of a long Python file: the parts its bead is about, whole, and
a list or an outline of the rest.

A fix inside a 400-line module, shown whole beside a 400-line test file, costs a minute of
prompt on a CPU before the model writes a word, and a 1.5B model loses the function it was
asked about among the others. ``outline`` keeps the definitions a bead is about as they are
and writes every other function as its signature, its docstring's first line and ``...``,
with the lines it spans, so ``read_file`` can fetch one. The elided bodies are plain Python
(``...``), and a definition sent back with only ``...`` as its body is read by the writer as
"unchanged" (see merge.py), so a model that copies the outline loses nothing.

A module whose bead is about some of its top-level functions is shown as an excerpt
instead (excerpt.py): shown a module, even outlined, a small model sends the module back. A
class or a method stays in its outlined class.

``test_names`` and ``mentions`` choose what to keep: the test functions of the acceptance
tests (by id, or those failing now), the module-level names they use (parametrize tables),
and the rig's functions they or the bead's text name. Pure: text in, text out.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Collection, Iterable, Mapping, Sequence

from gastown.agents.classexcerpt import class_excerpt
from gastown.agents.docstrings import docstring
from gastown.agents.excerpt import (
    OUTLINE,
    TESTS_ONLY,
    assigned,
    excerpt,
    first_doc_line,
    first_line,
    names_in,
    parse,
    read_hint,
)

# a test class's methods that run around its tests (unittest's and pytest's names)
SETUP_METHODS = frozenset(
    {"setUp", "tearDown", "setUpClass", "tearDownClass", "setup_method", "teardown_method", "setup_class"}
    | {"teardown_class", "__init__", "asyncSetUp", "asyncTearDown"}
)
OUTLINE_LINES = 120  # a file longer than this is outlined when the bead is about some of it
_PARAMS_RE = re.compile(r"\[.*\]$")


def test_function(test_id: str) -> str:
    """The function of a pytest id: ``t.py::TestX::test_y[a-b]`` -> ``test_y``."""
    return without_params(test_id.split("::")[-1])


def without_params(test_id: str) -> str:
    """A pytest id without its parameters: ``t.py::test_y[a-b]`` -> ``t.py::test_y``."""
    return _PARAMS_RE.sub("", test_id)


def defined(source: str, members: bool = True) -> set[str]:
    """Top-level functions and classes of a module and, with ``members``, the methods of its
    classes."""
    tree = parse(source)
    if tree is None:
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        if isinstance(node, ast.ClassDef) and members:
            names |= {m.name for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return names


def _functions(tree: ast.Module) -> dict[str, ast.stmt]:
    """Every function (top-level or a method) by name; a class by its own name."""
    found: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found[node.name] = node
        if isinstance(node, ast.ClassDef):
            for member in node.body:
                if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    found.setdefault(member.name, member)
    return found


def _called(node: ast.AST) -> set[str]:
    """The names a piece of code calls or reaches as attributes (``m.f(x)``, ``f(x)``, ``m.f``);
    a plain variable (a test's parameter named like a function) is not one."""
    found: set[str] = set()
    for part in ast.walk(node):
        if isinstance(part, ast.Attribute):
            found.add(part.attr)
        elif isinstance(part, ast.Call) and isinstance(part.func, ast.Name):
            found.add(part.func.id)
    return found


def _calls(node: ast.AST) -> set[str]:
    """The names a piece of code calls by name (``f(x)``, not ``m.f(x)`` nor ``s.split()``)."""
    return {p.func.id for p in ast.walk(node) if isinstance(p, ast.Call) and isinstance(p.func, ast.Name)}


def uses(source: str, names: Iterable[str]) -> tuple[set[str], set[str]]:
    """What the named functions of a test file use: every name (its module-level tables among
    them), and the names it calls (the code under test)."""
    tree = parse(source)
    if tree is None:
        return set(), set()
    functions = _functions(tree)
    used: set[str] = set()
    called: set[str] = set()
    for name in names:
        node = functions.get(name)
        if node is not None:
            used |= names_in(node)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                used |= {a.arg for a in node.args.args}  # the fixtures it asks for
            called |= _called(node)
    return used, called


def _replace_names(node: ast.Import | ast.ImportFrom, names: list[ast.alias]) -> ast.Import | ast.ImportFrom:
    """The import with only ``names``."""
    if isinstance(node, ast.Import):
        return ast.Import(names=names)
    return ast.ImportFrom(module=node.module, names=names, level=node.level)


def mentioning(source: str, tests: Iterable[str], wanted: set[str]) -> list[str]:
    """The test ids among ``tests`` whose function uses one of ``wanted`` (by name or attribute)."""
    tree = parse(source)
    if tree is None:
        return []
    functions = _functions(tree)
    chosen: list[str] = []
    for test in tests:
        node = functions.get(test_function(test))
        if node is not None and names_in(node) & wanted:
            chosen.append(test)
    return chosen


def outline(
    source: str,
    keep: set[str],
    path: str = "",
    tables: bool = True,
    named: Iterable[str] = (),
    owners: Collection[str] = (),
) -> str:
    """``source`` with the definitions in ``keep`` and what they use as they are; every other
    function as its signature, first docstring line and ``...``, every other long assignment as
    its name; a class neither kept nor used by what is kept as its line, its docstring and only
    its methods that are kept or the bead names (``named``: how a sibling class does what the
    bead asks), the rest named in one line; a kept class with methods kept and named too as
    those methods, the others outlined (sent back whole, cachetools' 170-line ``Cache`` for a fix
    in ``pop`` took the 1.5B 95 s of decode). For a test file (``tables=False``) the other
    tests and long assignments are left out altogether and counted at the end, and a class
    in ``owners`` (one an acceptance test's id names, whose test it may inherit: see
    testbases) keeps its line and what is not a test. The source itself when it does not
    parse or nothing would be left out."""
    tree = parse(source)
    if tree is None:
        return source
    lines = source.splitlines()
    used = set(keep)
    chosen = keep & set(named)  # a kept class's methods the bead names: the class is shown as those
    for node in tree.body:
        members = _kept_members(node, chosen)
        if members and getattr(node, "name", None) in keep:  # a kept class shown as its named methods
            bases = node.bases if isinstance(node, ast.ClassDef) else []
            used |= set().union(*(names_in(m) for m in [*members, *bases]))
        elif getattr(node, "name", None) in keep or assigned(node) & keep:  # a kept table's names too
            used |= names_in(node)
        elif isinstance(node, ast.ClassDef):  # a kept method uses names too
            used |= {n for m in node.body if getattr(m, "name", None) in keep for n in names_in(m)}
    about = keep | set(named)
    # With a class of the module kept, others holding a method of a kept name are its siblings;
    # with none kept (the tests reach a class through a fixture), such a class is the one.
    siblings_only = any(isinstance(n, ast.ClassDef) and n.name in keep for n in tree.body)
    out: list[str] = []
    at = 0  # lines before this one are written or skipped
    elided = 0
    dropped: dict[str, int] = {"tests": 0, "tables": 0, "imports": 0}

    def copy_to(end: int) -> None:
        nonlocal at
        out.extend(lines[at:end])
        at = max(at, end)

    def skip(start: int, end: int, kind: str) -> None:
        nonlocal at, elided
        copy_to(start)
        dropped[kind] += 1
        elided += end - start
        at = end
        ahead = at
        while ahead < len(lines) and not lines[ahead].strip():
            ahead += 1
        while ahead < len(lines) and lines[ahead][:1] in " \t" and lines[ahead].lstrip()[:1] == "#":
            ahead += 1  # its own trailing comments, indented (a class's commented-out methods), go with it
            while ahead < len(lines) and not lines[ahead].strip():
                ahead += 1
            at = ahead

    for node in tree.body:
        start, end = first_line(node) - 1, node.end_lineno or node.lineno
        long_table = bool(assigned(node)) and end - start > 2 and not assigned(node) & used
        if not tables and isinstance(node, ast.ClassDef) and (node.name not in keep or node.name in owners):
            members = [m for m in node.body if getattr(m, "name", None) in keep]
            if not members and node.name not in owners:
                skip(start, end, "tests")
                continue
            copy_to(start)
            copy_to(first_line(node.body[0]) - 1)  # the class line (and its decorators)
            # its other tests (and a test class's helpers of other tests) are left out; setup and fixtures stay
            holds_tests = any(getattr(m, "name", "").startswith("test") for m in node.body)
            needed = _needed_members(node, keep) if holds_tests else set()
            for member in node.body:
                name = getattr(member, "name", "")
                if name not in needed and (_left_out_of_tests(member) if holds_tests else name.startswith("test")):
                    skip(first_line(member) - 1, member.end_lineno or member.lineno, "tests")
                else:
                    copy_to(member.end_lineno or member.lineno)
            copy_to(end)
        elif not tables and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name in keep:
                copy_to(end)
            else:
                skip(start, end, "tests")
        elif not tables and long_table:
            skip(start, end, "tables")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            copy_to(start)
            if node.name in keep or not _elidable(node):
                copy_to(end)
            else:
                out.extend(_summary(lines, node, ""))
                elided += end - start
                at = end
        elif (
            isinstance(node, ast.ClassDef)
            and node.name not in used
            and node.body[0].lineno > node.lineno  # a class on one line is shown as it is
            and (siblings_only or not any(getattr(m, "name", None) in keep for m in node.body))
        ):
            copy_to(start)
            body = node.body[1:] if docstring(node) is not None else node.body
            copy_to(first_line(body[0]) - 1 if body else end)  # the class line and its docstring
            siblings = [m for m in body if getattr(m, "name", None) in about]
            hidden = [m for m in body if m not in siblings]
            if hidden:
                names = [n for m in hidden if (n := getattr(m, "name", None) or ", ".join(sorted(assigned(m))))]
                indent = " " * hidden[0].col_offset
                first_hidden, last_hidden = first_line(hidden[0]), hidden[-1].end_lineno or hidden[-1].lineno
                listed = ", ".join(names) or "statements"
                out.append(f"{indent}...  # lines {first_hidden}-{last_hidden} not shown: {listed}")
            for member in siblings:
                out.extend(["", *lines[first_line(member) - 1 : member.end_lineno or member.lineno]])
            elided += sum((m.end_lineno or m.lineno) - first_line(m) + 1 for m in hidden)
            at = end
        elif isinstance(node, ast.ClassDef):
            copy_to(start)
            if node.name in keep and not _kept_members(node, chosen):
                copy_to(end)
                continue
            copy_to(first_line(node.body[0]) - 1 if node.body else end)
            for member in node.body:
                m_start, m_end = first_line(member) - 1, member.end_lineno or member.lineno
                # a class nested in it (cachetools' `_Timer`, `_Link`) is outlined as a whole
                if (
                    isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                    and _elidable(member)
                    and member.name not in (used if isinstance(member, ast.ClassDef) else keep)
                ):
                    copy_to(m_start)
                    out.extend(_summary(lines, member, " " * member.col_offset))
                    elided += m_end - m_start
                    at = m_end
                    continue
                copy_to(m_end)
            copy_to(end)
        elif not tables and isinstance(node, (ast.Import, ast.ImportFrom)):
            # a test file's imports: only the names its shown tests use (toolz's test of
            # thread_last imported 14 names from toolz.functoolz and used one)
            aliases = [a for a in node.names if a.name == "*" or (a.asname or a.name).split(".")[0] in used]
            if len(aliases) == len(node.names):
                copy_to(end)
            elif not aliases:
                skip(start, end, "imports")
            else:
                copy_to(start)
                out.append(ast.unparse(_replace_names(node, aliases)))
                elided += end - start - 1
                at = end
        elif long_table:  # plain Python, and sent back as it is it leaves the table alone (merge.py)
            copy_to(start)
            out.append(f"{', '.join(sorted(assigned(node)))} = ...  # lines {start + 1}-{end}")
            elided += end - start - 1
            at = end
        else:
            copy_to(end)
    copy_to(len(lines))
    if not elided:
        return source
    out = _squeezed(out)
    where = read_hint(path)
    if not tables:
        left = ", ".join(f"{n} other {kind if n > 1 else kind[:-1]}" for kind, n in dropped.items() if n)
        shown = "\n".join(out).strip("\n")
        head = f"# {TESTS_ONLY}{shown.count(chr(10)) + 1} of {len(lines)} lines); not shown: {left}."
        return head + "\n" + shown + "\n"
    head = (
        f"# {OUTLINE}{len(lines) - elided} of {len(lines)} lines shown): a body written `...` is left out "
        f"here, not in the file; {where} with start_line and end_line to see one. A definition sent back "
        "with only `...` as its body stays as it is."
    )
    return head + "\n" + "\n".join(out) + "\n"


def _kept_members(node: ast.stmt, keep: Collection[str]) -> list[ast.stmt]:
    """The members of a class that are in ``keep`` (none for anything else)."""
    if not isinstance(node, ast.ClassDef):
        return []
    return [m for m in node.body if getattr(m, "name", None) in keep]


def _needed_members(node: ast.ClassDef, keep: Collection[str]) -> set[str]:
    """The members of a test class its shown tests need: those in ``keep``, its setup and
    fixtures, and what any of them uses in turn (a helper's own helper)."""
    members = {m.name: m for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))}
    needed = {n for n, m in members.items() if n in keep or not _left_out_of_tests(m)}
    todo = list(needed)
    while todo:
        for name in names_in(members[todo.pop()]):
            if name in members and name not in needed:
                needed.add(name)
                todo.append(name)
    return needed


def _left_out_of_tests(member: ast.stmt) -> bool:
    """A member of a test class that the tests shown do not use (checked by the caller) and
    that is no setup or fixture: a test, or a helper of other tests (cachetools'
    ``_test_getsizeof``: 40 lines beside a bead's ``test_pop``). A class of the test file
    that holds no tests (toolz's ``CustomMapping``) keeps its methods: it is what a test runs."""
    if not isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    return member.name.startswith("test") or not (member.name in SETUP_METHODS or member.decorator_list)


def _squeezed(lines: list[str]) -> list[str]:
    """Runs of more than two blank lines (where parts were left out) cut to two."""
    out: list[str] = []
    for line in lines:
        if not line.strip() and len(out) >= 2 and not out[-1].strip() and not out[-2].strip():
            continue
        out.append(line)
    return out


def _summary(
    lines: Sequence[str], node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, indent: str
) -> list[str]:
    """A function (or a class) as its decorators and signature, its docstring's first line and ``...``."""
    start, end = first_line(node) - 1, node.end_lineno or node.lineno
    out = list(lines[start : first_line(node.body[0]) - 1])  # decorators and the signature
    out[-1] = f"{out[-1]}  # lines {start + 1}-{end}"
    first = first_doc_line(node).replace("\\", "").replace('"', "'")
    if first:
        out.append(f'{indent}    """{first}"""')
    out.append(f"{indent}    ...")
    return out


def _elidable(node: ast.stmt) -> bool:
    """A function (or class) long enough to be worth leaving out, whose body starts below its signature."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return False
    return node.body[0].lineno > node.lineno and (node.end_lineno or node.lineno) - node.lineno >= 3


def focus(
    files: Sequence[tuple[str, str]],
    tests: Sequence[str],
    failing: Sequence[str],
    named: Iterable[str],
    adding: Collection[str] = (),
) -> list[tuple[str, str]]:
    """The files shown to a model, each long Python file cut to what the bead is about: an
    excerpt, or an outline.

    ``tests`` are the acceptance tests (paths or ids), ``failing`` the test ids failing before
    the bead started, ``named`` the names the bead's text writes as code. A test file keeps the
    acceptance tests it holds (by id; else the failing ones that use a named function; else
    all failing ones) and the module-level names they use; a code file keeps what those tests
    use and what the bead names. A file no longer than OUTLINE_LINES, or one where nothing is
    chosen, is shown whole. A module in ``adding`` (the tests import a function it lacks) is
    an excerpt whatever its length, keeping only the functions the tests call by name (the
    tests import them: ``from m import f``): asked to add a function beside others shown
    whole, a small model writes the one above it again (every try of the starter suite's
    `truncate`, in three runs, wrapped text into lines like `wrap`); shown them outlined, it
    wrote bodies for their ``...`` (`reading-time`'s `sentence_count`)."""
    by_file: dict[str, list[str]] = {}
    for test in tests:
        by_file.setdefault(test.split("::")[0], []).append(test)
    wanted = set(named)
    called: set[str] = set()  # what the chosen tests call
    every_call: set[str] = set()  # what any acceptance test calls (the chosen ones may be none yet)
    chosen_tests: dict[str, set[str]] = {}
    owners: dict[str, set[str]] = {}  # the classes the chosen tests' ids name, by file
    sources = dict(files)
    for path, ids in by_file.items():
        source = sources.get(path)
        if source is None or not path.endswith(".py"):
            continue
        tree = parse(source)
        every_call |= _calls(tree) if tree is not None else set()
        picked = [t for t in ids if "::" in t]
        if not picked:  # the whole file: its failing tests, those about the bead's names first
            here = [t for t in failing if t.split("::")[0] == path]
            picked = mentioning(source, here, wanted) or here
        functions = {test_function(t) for t in picked}
        if functions:
            names, calls = uses(source, functions)
            chosen_tests[path] = functions | names
            owners[path] = {without_params(t).split("::")[-2] for t in picked if without_params(t).count("::") >= 2}
            called |= calls
    used = wanted | called
    shown: list[tuple[str, str]] = []
    for path, text in files:
        short = text.count("\n") <= OUTLINE_LINES
        if path in adding and path.endswith(".py"):
            tested = every_call & defined(text, members=False)
            # a class among them: no excerpt (see excerpt); outlined, a short one's `...` bodies
            # would be filled in, so it stays whole
            cut = excerpt(text, tested, path, adding=True)
            shown.append((path, cut or (text if short else outline(text, tested, path))))
            continue
        if not path.endswith(".py") or short:
            shown.append((path, text))
            continue
        keep = chosen_tests.get(path)
        if keep is not None:  # a test file: its other tables are left out too
            shown.append((path, outline(text, keep, path, tables=False, owners=owners.get(path, set()))))
            continue
        keep = used & defined(text)
        cut = (excerpt(text, keep, path) or class_excerpt(text, keep, wanted, path)) if keep else None
        shown.append((path, cut or (outline(text, keep, path, named=wanted) if keep else text)))
    return shown


# The ends of file names, not of code: `textkit/slug.py` names a file, not a function `py`.
FILE_SUFFIXES = frozenset({"py", "pyi", "md", "rst", "txt", "toml", "cfg", "ini", "json", "yaml", "yml", "lock"})


def bead_names(texts: Iterable[str], pattern: re.Pattern[str]) -> set[str]:
    """The last part of each name a bead's text writes as code (``inflection.camelize`` -> camelize);
    a file's name (``slug.py``) gives none."""
    names: set[str] = set()
    for text in texts:
        for groups in pattern.findall(text):
            name = next((g for g in groups if g), "")
            last = name.split(".")[-1]
            if name and not ("." in name and last in FILE_SUFFIXES):
                names.add(last)
    return names


def outcomes_failing(outcomes: Mapping[str, str]) -> list[str]:
    return [test for test, outcome in outcomes.items() if outcome in ("FAILED", "ERROR")]
