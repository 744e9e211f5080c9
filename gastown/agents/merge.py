"""Lay a fragment of a Python module over the module: what a small model means by a partial file.

Asked to add ``truncate()`` to a 60-line module, a small model answers with a file holding
only ``truncate()`` (and maybe the imports it needs). Written as it is, that loses the module;
refused, the model rarely finds another way. ``merge`` reads the fragment as "these
definitions, changed or new": each top-level function or class replaces the one of the same
name in the module (decorators and all) or is added at the end, an import the module lacks
goes after its imports, and an assignment replaces the one to the same name or is added.
Everything else in the module stays as it was. A method sent on its own, without its class
(``def popitem(self):`` at the top level, where the module has no such function), goes into
the class that has it — the one class, or the one class whose method is still a stub — and
an import of names the module itself defines (``from cachetools import Cache`` inside
cachetools) is left out: it would only import the module into itself, half made. A
function nested inside one of the module's (``evalform_back`` in ``thread_last``), sent on
its own, replaces that one when the module nests no other function of its name.

A fragment is a text that compiles and leaves out at least one of the module's top-level
definitions, or uses a name only the module's top level assigns or imports (its functions
sent without the constant they use); ``is_fragment`` says so. A function the module has,
sent back with only ``...`` as its body (after its docstring), is left out too: that is how
an outline (focus.py) shows a body it does not show, and a model that copies the outline
means "unchanged". Pure: text in, text out.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from gastown.agents.docstrings import docstring, kept_docstring, lines_of, parse, source_of, span


class Ambiguous(ValueError):
    """A method sent without its class, which more than one class could own."""


@dataclass(frozen=True)
class Merged:
    """The module with the fragment laid over it, and what changed, by name."""

    text: str
    replaced: tuple[str, ...]
    added: tuple[str, ...]
    kept: tuple[str, ...]  # the module's top-level definitions the fragment did not touch


def defined(tree: ast.Module) -> dict[str, ast.stmt]:
    """Top-level functions, classes and single-name assignments, by name."""
    names: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            names[node.targets[0].id] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
    return names


def _definitions(tree: ast.Module) -> set[str]:
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def definitions(text: str) -> set[str]:
    """The top-level functions and classes of a module's text (none when it does not parse)."""
    tree = parse(text)
    return set() if tree is None else _definitions(tree)


def homes(text: str) -> set[str]:
    """What a fragment may send of a module's text: its top-level functions and classes, and
    the functions nested once in its functions (see ``_enclosing``)."""
    tree = parse(text)
    return set() if tree is None else _definitions(tree) | set(_nested_once(tree))


_Function = ast.FunctionDef | ast.AsyncFunctionDef


def _nested_once(module: ast.Module) -> dict[str, tuple[_Function, _Function]]:
    """Each function defined in the body of a top-level function (not inside a class or a
    function there), by name, with the function holding it; a name nested in more than one
    place is left out: which one a fragment means cannot be told."""
    found: dict[str, list[tuple[_Function, _Function]]] = {}
    for outer in module.body:
        if not isinstance(outer, _Function):
            continue
        waiting: list[ast.AST] = list(outer.body)
        while waiting:
            node = waiting.pop()
            if isinstance(node, _Function):
                found.setdefault(node.name, []).append((outer, node))
            elif not isinstance(node, (ast.ClassDef, ast.Lambda)):
                waiting.extend(ast.iter_child_nodes(node))
    return {name: places[0] for name, places in found.items() if len(places) == 1}


def elided(node: ast.stmt) -> bool:
    """A function or class whose body, after its docstring, is only ``...``: an outline's
    summary of one (a class's: of a class nested in the one the bead is about)."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return False
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if isinstance(body[0].value.value, str):
            body = body[1:]
    return (
        len(body) == 1
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and body[0].value.value is Ellipsis
    )


def _ellipsis_value(node: ast.stmt) -> bool:
    """An assignment of ``...``: how an outline shows a table it leaves out."""
    value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
    return isinstance(value, ast.Constant) and value.value is Ellipsis


def _unchanged(node: ast.stmt, old: ast.stmt | None) -> bool:
    """``node`` stands for ``old`` as it is: an elided function, or a table assigned ``...``,
    where the module has a real one."""
    if old is None:
        return False
    return (elided(node) and not elided(old)) or (_ellipsis_value(node) and not _ellipsis_value(old))


def is_fragment(old: str, new: str) -> bool:
    """True when ``new`` compiles, defines something, and leaves out a definition ``old`` has."""
    before, after = parse(old), parse(new)
    if before is None or after is None:
        return False
    wanted, given = _definitions(before), _definitions(after)
    if not given:
        return False
    existing = defined(before)
    given -= {
        n.name
        for n in after.body
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and _unchanged(n, existing.get(n.name))
    }
    if wanted - given or _leans_on(before, after):
        return True
    old_classes = {n.name: n for n in before.body if isinstance(n, ast.ClassDef)}
    for node in after.body:  # a class sent with only some of its methods
        if isinstance(node, ast.ClassDef) and node.name in old_classes:
            old_members = {_member(m): m for m in old_classes[node.name].body}
            had = set(old_members) - {None}
            sent = {_member(m) for m in node.body if not _unchanged(m, old_members.get(_member(m)))}
            if had - sent:
                return True
    return False


def _leans_on(module: ast.Module, new: ast.Module) -> bool:
    """Whether ``new`` uses a name only the module's top level gives it: one it assigns or
    imports there, that ``new`` binds nowhere. The 1.5B sent textkit/wrap.py's two functions
    without ``DEFAULT_WIDTH = 70`` above them; written whole, the module no longer imported."""
    top: set[str] = set()
    for node in module.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            top |= {n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            top |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    used: set[str] = set()
    bound: set[str] = set()
    for part in ast.walk(new):
        if isinstance(part, ast.Name):
            (used if isinstance(part.ctx, ast.Load) else bound).add(part.id)
        elif isinstance(part, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(part.name)
        elif isinstance(part, ast.arg):
            bound.add(part.arg)
        elif isinstance(part, (ast.Import, ast.ImportFrom)):
            bound |= {(alias.asname or alias.name).split(".")[0] for alias in part.names}
        elif isinstance(part, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and part.name:
            bound.add(part.name)
    return bool((used - bound) & top)


def merge(old: str, new: str) -> Merged:
    """``old`` with every definition of the fragment ``new`` replaced or added (see the module doc)."""
    before, after = ast.parse(old), ast.parse(new)
    lines, parts = lines_of(old), lines_of(new)
    existing = defined(before)
    replacements: dict[int, list[str]] = {}  # first line of an old node -> its new lines
    spans: dict[int, int] = {}
    imports: list[str] = []
    appended: list[list[str]] = []
    replaced: list[str] = []
    added: list[str] = []
    have_imports = {ast.unparse(n) for n in before.body if isinstance(n, (ast.Import, ast.ImportFrom))}
    sent = {n.name for n in after.body if isinstance(n, ast.ClassDef)}
    sent_functions = {n.name for n in after.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    for node in after.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
            if not future and ast.unparse(node) not in have_imports and not _imports_itself(node, existing):
                imports.extend(source_of(parts, node))  # __future__ must come first: left out
            continue
        name = next((k for k, v in defined(ast.Module(body=[node], type_ignores=[])).items()), None)
        if name is None:
            continue  # a bare expression or a docstring of the fragment: not the module's
        if _unchanged(node, existing.get(name)) or (
            name in existing and source_of(parts, node) == source_of(lines, existing[name])
        ):
            continue  # sent as it is, or copied from an outline: the module's own stays
        owner = _owner(before, node) if name not in existing else None
        inner = _enclosing(before, node, sent_functions) if name not in existing and owner is None else None
        if inner is not None:  # a function nested in one of the module's, sent on its own
            outer, nested = inner
            if _unchanged(node, nested) or source_of(parts, node) == source_of(lines, nested):
                continue
            first, end = span(nested)
            replacements[first] = _placed(kept_docstring(parts, node, lines, nested), nested)
            spans[first] = end
            replaced.append(f"{outer.name}.{name}")
            continue
        if owner is not None:
            if owner.name in sent:
                raise Ambiguous(
                    f"{name}() is a method of {owner.name}, and this reply sends that class too: put {name}() inside it"
                )
            method = _counterpart(owner, node)
            if _unchanged(node, method) or source_of(parts, node) == source_of(lines, method):
                continue  # copied from an outline, or sent as it is
            first, end = span(method)
            replacements[first] = _placed(kept_docstring(parts, node, lines, method), method)
            spans[first] = end
            replaced.append(f"{owner.name}.{name}")
            continue
        if name in existing:
            first, end = span(existing[name])
            old_node = existing[name]
            if isinstance(node, ast.ClassDef) and isinstance(old_node, ast.ClassDef):
                replacements[first] = _merge_class(lines, old_node, parts, node)  # a class is merged member by member
            else:
                replacements[first] = kept_docstring(parts, node, lines, old_node)
            spans[first] = end
            replaced.append(name)
        else:
            appended.append(source_of(parts, node))
            added.append(name)
    out: list[str] = []
    skip_to = -1
    last_import = max(
        (span(n)[1] for n in before.body if isinstance(n, (ast.Import, ast.ImportFrom))),
        default=_docstring_end(before),
    )
    for number, line in enumerate(lines):
        if number < skip_to:
            continue
        if number in replacements:
            out.extend(replacements[number])
            skip_to = spans[number]
            continue
        out.append(line)
        if number + 1 == last_import and imports:
            out.extend(imports)
            imports = []
    if imports:  # a module with neither imports nor a docstring: they go first
        out = imports + ([""] if out else []) + out
    for block in appended:
        while out and not out[-1].strip():
            out.pop()
        out.extend(["", "", *block])
    touched = {name.split(".", 1)[0] for name in replaced} | set(added)
    kept = tuple(sorted(_definitions(before) - touched))
    return Merged("\n".join(out) + "\n", tuple(replaced), tuple(added), kept)


def _imports_itself(node: ast.Import | ast.ImportFrom, existing: dict[str, ast.stmt]) -> bool:
    """``from x import A, B`` where the module defines A and B itself."""
    return isinstance(node, ast.ImportFrom) and all((a.asname or a.name) in existing for a in node.names)


def _enclosing(module: ast.Module, node: ast.stmt, sent: set[str]) -> tuple[_Function, _Function] | None:
    """The module's top-level function and the function nested in it that ``node`` stands
    for (``evalform_back`` inside toolz's ``thread_last``: the 1.5B, asked for the line at
    fault, sent that inner function alone): nested once in the module (``_nested_once``),
    with the same parameters — a new function that shares a name with a nested helper is
    new — and not sent with the function that holds it; None otherwise."""
    if not isinstance(node, _Function):
        return None
    found = _nested_once(module).get(node.name)
    if found is None or found[0].name in sent or _parameters(found[1]) != _parameters(node):
        return None
    return found


def _parameters(function: _Function) -> list[str]:
    arguments = function.args
    named = [*arguments.posonlyargs, *arguments.args, arguments.vararg, *arguments.kwonlyargs, arguments.kwarg]
    return [a.arg if a is not None else "" for a in named]


_METHOD_DECORATORS = {"staticmethod", "classmethod", "property"}


def _owner(module: ast.Module, node: ast.stmt) -> ast.ClassDef | None:
    """The class a function sent at the top level belongs in: it takes ``self`` or ``cls`` (or
    is a static or class method, or a property) and one class of the module has a method of
    its name — or several do, and only one of those is still a stub (not counting a hook a
    subclass overrides: see ``overridden``). None when it is no method or no class has it;
    Ambiguous when several could own it."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    first = node.args.posonlyargs[:1] or node.args.args[:1]
    decorated = {getattr(d, "id", getattr(d, "attr", "")) for d in node.decorator_list}
    if not ({a.arg for a in first} & {"self", "cls"} or decorated & (_METHOD_DECORATORS | {"setter", "deleter"})):
        return None
    classes = [c for c in module.body if isinstance(c, ast.ClassDef) and node.name in map(_member, c.body)]
    if len(classes) > 1:
        stubs = [c for c in classes if is_stub(_counterpart(c, node)) and not overridden(module, c, node.name)]
        if len(stubs) != 1:
            names = ", ".join(c.name for c in (stubs or classes))
            raise Ambiguous(
                f"{node.name}() is a method, and {names} each have one: send it inside its class "
                f"(the `class ...:` line, then the method indented under it)"
            )
        classes = stubs
    return classes[0] if classes else None


def _role(node: ast.stmt) -> str:
    """What a method is among those of its name: a property's ``setter`` or ``deleter``, or ""."""
    for decorator in getattr(node, "decorator_list", []):
        if isinstance(decorator, ast.Attribute) and decorator.attr in ("setter", "deleter"):
            return decorator.attr
    return ""


def _counterpart(owner: ast.ClassDef, node: ast.stmt) -> ast.stmt:
    """The member of ``owner`` that ``node`` stands for: of its name, and a setter for a
    setter (a property's getter and setter share the name)."""
    named = [m for m in owner.body if _member(m) == _member(node)]  # an attribute by its name too
    return next((m for m in named if _role(m) == _role(node)), named[0])


def overridden(module: ast.Module, owner: ast.ClassDef, name: str) -> bool:
    """A class of ``module`` derived from ``owner`` defines method ``name`` with a body: the
    stub of that name in ``owner`` is a hook its subclasses fill (cachetools'
    ``_TimedCache.expire``, a ``raise NotImplementedError`` that ``TTLCache`` overrides), not
    a hole left to fill."""
    for node in module.body:
        if not isinstance(node, ast.ClassDef) or node is owner:
            continue
        if any(isinstance(base, ast.Name) and base.id == owner.name for base in node.bases):
            if any(getattr(member, "name", None) == name and not is_stub(member) for member in node.body):
                return True
    return False


def is_stub(node: ast.stmt) -> bool:
    """A function whose body (after its docstring) is only ``...``, ``pass`` or a ``raise
    NotImplementedError``: a hole to fill."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    body = getattr(node, "body", [])
    if body and docstring(node) is not None:
        body = body[1:]
    if len(body) != 1:
        return not body
    only = body[0]
    if isinstance(only, ast.Pass) or (isinstance(only, ast.Expr) and getattr(only.value, "value", None) is Ellipsis):
        return True
    raised = only.exc if isinstance(only, ast.Raise) else None
    target = raised.func if isinstance(raised, ast.Call) else raised
    return isinstance(target, ast.Name) and target.id == "NotImplementedError"


def _placed(source: list[str], old: ast.stmt) -> list[str]:
    """A method's (or a nested function's) ``source``, sent at the top level, indented to
    where ``old`` stands in its class (or in the function that holds it).
    When shifting the text would change what the code means — a string or bytes over several
    lines, not a docstring — the code is written out again from its syntax tree at that
    indent: comments are lost, nothing else."""
    tree = parse("\n".join(source))
    node = tree.body[0] if tree is not None and tree.body else None
    shift = " " * old.col_offset
    if node is None:
        return [shift + line if line.strip() else line for line in source]
    docs = {id(doc.value) for part in ast.walk(node) if isinstance(part, ast.stmt) and (doc := docstring(part))}
    verbatim = any(
        (isinstance(part, ast.JoinedStr) or (isinstance(part, ast.Constant) and isinstance(part.value, (str, bytes))))
        and (part.end_lineno or part.lineno) > part.lineno
        and id(part) not in docs
        for part in ast.walk(node)
    )
    lines = ast.unparse(node).splitlines() if verbatim else source
    return [shift + line if line.strip() else line for line in lines]


def _member(node: ast.stmt) -> str | None:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    return None


def _merge_class(lines: list[str], old: ast.ClassDef, parts: list[str], new: ast.ClassDef) -> list[str]:
    """The old class with each method (or attribute) of the new one replaced or added, and its
    other members kept: a class sent with only the method that changed must not lose the rest."""
    members = {name: node for node in old.body if (name := _member(node)) is not None}
    first, end = span(old)
    swaps: list[tuple[int, int, list[str]]] = []
    extra: list[list[str]] = []
    for node in new.body:
        name = _member(node)
        if name is None:
            continue  # the fragment's docstring or a bare `pass`: the old class keeps its own
        if name in members:
            target = _counterpart(old, node)
            if _unchanged(node, target) or source_of(parts, node) == source_of(lines, target):
                continue  # copied from an outline, or sent as it is (a getter beside its setter)
            start, stop = span(target)
            swaps.append((start, stop, kept_docstring(parts, node, lines, target)))
        else:
            extra.append(source_of(parts, node))
    out: list[str] = []
    at = first
    for start, stop, text in sorted(swaps, key=lambda swap: swap[0]):
        out += lines[at:start] + text
        at = stop
    out += lines[at:end]
    for block in extra:
        out += ["", *block]
    return out


def _docstring_end(tree: ast.Module) -> int:
    doc = docstring(tree)
    return 0 if doc is None else doc.end_lineno or doc.lineno
