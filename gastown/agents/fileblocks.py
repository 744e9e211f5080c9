"""Files written as code: a path, then a fenced block holding the file (or the functions
to change), the way small models write code best — not as an escaped JSON string.

A block counts only when a path names it: above it (`a/b.py`, **a/b.py**, # a/b.py,
File: a/b.py, a list item's "- File path: `a/b.py`"; a short heading such as "Code block:"
may stand between them), in the fence's info string, on its first line (as a comment, or
bare above code), or fenced on its own a few lines before it. A block indented in a list item loses
its fence's indent. Code quoted in prose stays prose. A block ends at a fence of its
own on a line of its own (Markdown's rule), so a docstring's indented ```pycon example does
not end it.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

from gastown.agents import jsonfix

# A path as small models write it above a block: `a/b.py`, **a/b.py**, # a/b.py, File: a/b.py, a/b.py:
_PATH = r"[\w][\w.-]*(?:/[\w.-]+)*\.[A-Za-z0-9]{1,8}"
_MODULE = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+"  # a module's dotted name: textkit.stats


def close_fence(indent: str) -> str:
    """The pattern of a block's closing fence: a line of its own, at most three spaces further
    in than the opening fence (Markdown's rule; group ``indent`` holds the opening's indent), so
    a docstring's own ```pycon example, indented with its code, does not end the block."""
    return r"\n(?P=" + indent + r") {0,3}```[ \t]*(?=\n|$)"


_ASIDE = r"(?:[ \t]+\([^()\n]*\))?[ \t]*:?[ \t]*"  # "# a/b.py (change summary):" -- what may follow a path
# Where a path is written around a block: above it (`a/b.py`, **a/b.py**, # a/b.py, File: a/b.py,
# a/b.py:), in its fence's info (```python a/b.py), or on its first line (# a/b.py, or bare).
_LIST_ITEM = r"[ \t]*(?:(?:[-*+]|\d{1,2}[.)])[ \t]+)?"  # "- ", "2. ": a list item's marker
_ABOVE_RE = re.compile(
    _LIST_ITEM
    + r"(?:#+[ \t]*|\*\*|`|(?:file(?:[ \t]+(?:path|name))?|path)[ \t]*:[ \t]*(?:\*\*[ \t]*)?)*(?P<path>"
    + _PATH
    + r")[`*:]*[ \t]*",
    re.IGNORECASE,
)
# A short heading between a path and its block that names code to write ("Code block:", "3.
# **Corrected code block:**"), not code to read: "The old code:", "Output:", "Example usage:"
_LABEL_RE = re.compile(_LIST_ITEM + r"(?:\*\*)?(?P<words>[A-Za-z][\w ]{0,40}):(?:\*\*)?[ \t]*")
_WRITES = frozenset({"code", "block", "fix", "fixed", "corrected", "new", "updated", "changed", "change", "solution"})
_READS = frozenset({"old", "original", "current", "before", "output", "error", "example", "usage", "test", "wrong"})
_INFO_RE = re.compile(r"[\w+-]*[ \t]*[ :]+(?P<path>" + _PATH + r")[ \t]*", re.IGNORECASE)
_INSIDE_RE = re.compile(
    r"[ \t]*(?:(?P<marked>#|//|--)[ \t]*(?:file[ \t]*:[ \t]*)?)?(?P<path>" + _PATH + r")" + _ASIDE,
    re.IGNORECASE,
)
_FENCE_LINE_RE = re.compile(r"(?P<indent>[ \t]*)```[ \t]*(?P<info>[^`\n]*?)[ \t]*")
# Files a path alone is likely to name (not ``os.path`` or ``1.2.3``): with a folder, or one of these.
_SUFFIXES = frozenset(
    {"py", "pyi", "md", "rst", "txt", "toml", "cfg", "ini", "json", "yaml", "yml", "js", "ts", "gd", "rs", "go"}
    | {"c", "h", "cpp", "java", "rb", "sh", "html", "css", "sql"}
)
PROSE_BETWEEN = 6  # lines of prose a path fenced on its own may stand above the block it names
NOT_FILES = ("bash", "sh", "shell", "console", "text", "json", "pycon")  # a fenced path never names these


def file_blocks(text: str) -> tuple[list[tuple[str, str]], str]:
    """``path`` then a fenced block (or the path in the fence's info): a ``write_file`` of that file.

    Writing a file as code, not as an escaped JSON string, is what small models do best; a
    block counts only when a path names it, so code quoted in prose stays prose. A path in a
    fence of its own names the next block ("The file's path is:", the path fenced, "And the
    code is:", the code), not the prose between them. Fences are paired in order (Markdown's
    rule), so a block's closing fence never opens one.
    """
    lines = text.split("\n")
    found: list[tuple[str, str]] = []
    used: list[range] = []  # the lines each write was read from (its path's line included)
    named = None  # (path, line after its block): a path fenced on its own, for the next block
    for block in _blocks(lines):
        body = lines[block.start + 1 : block.end]
        alone = lone_path("\n".join(body)) or _noted_path(body)
        if alone is not None:  # a block holding only a path is no file: it may name the next
            named = (alone, block.end + 1)
            continue
        path, first = _named(lines, block, body, named)
        named = None
        if path is None or ".." in path.split("/"):
            continue
        content = _without_leading_noise(_outdented("\n".join(body), len(block.indent)), path)
        found.append((path, content.rstrip("\n") + "\n"))
        used.append(range(first, block.end + 1))
    rest = "\n".join(line for n, line in enumerate(lines) if not any(n in span for span in used))
    return found, rest


@dataclass(frozen=True)
class _Block:
    """A fenced block: the lines of its opening and closing fences, its indent and info."""

    start: int
    end: int
    indent: str
    info: str


def _blocks(lines: list[str]) -> list[_Block]:
    """The reply's closed fenced blocks, each opening paired with its closing fence: a fence
    of its own at most three spaces further in than the opening (an indented ```pycon in a
    docstring is the block's text, not a fence)."""
    blocks: list[_Block] = []
    opened: re.Match[str] | None = None
    start = 0
    for n, line in enumerate(lines):
        fence = _FENCE_LINE_RE.fullmatch(line)
        if fence is None:
            continue
        if opened is None:
            opened, start = fence, n
        elif not fence.group("info") and len(fence.group("indent")) <= len(opened.group("indent")) + 3:
            blocks.append(_Block(start, n, opened.group("indent"), opened.group("info")))
            opened = None
    return blocks


def _named(lines: list[str], block: _Block, body: list[str], named: tuple[str, int] | None) -> tuple[str | None, int]:
    """The path naming ``block`` and the first line of what it was read from (None: no path)."""
    info = _INFO_RE.fullmatch(block.info)
    if info is not None:
        return info.group("path"), block.start
    above = _nonblank_above(lines, block.start)
    if above >= 0 and _writes(lines[above]) and block.info.lower() not in NOT_FILES:
        above = _nonblank_above(lines, above)  # the path, a heading ("Code block:"), then the block
    if above >= 0:
        path = _ABOVE_RE.fullmatch(lines[above])
        if path is not None and _plausible(path.group("path")):
            return path.group("path"), above
    inside = _INSIDE_RE.fullmatch(body[0]) if body else None
    # a comment's path must look like a file's too: "# self.total (the sum so far)" names none
    if inside is not None and _plausible(inside.group("path")):
        rest = "\n".join(body[1:])
        if inside.group("marked") or _CODE_RE.search(_outdented(rest, len(block.indent))):
            return inside.group("path"), block.start  # bare above code, not a listing of paths
    if named is not None and block.start - named[1] <= PROSE_BETWEEN and block.info.lower() not in NOT_FILES:
        return named[0], block.start
    return None, block.start


# A path with a note and no code, alone in a block: "toolz/functoolz.py (10 lines): replace evalform_back"
_NOTED_PATH_RE = re.compile(
    r"[ \t]*(?:#[ \t]*)?[`*]*(?P<path>" + _PATH + r")[`*]*(?:[ \t]+\([^()\n]*\))?[ \t]*:[ \t]+\S[^\n]*"
)


def _noted_path(body: list[str]) -> str | None:
    """The path of a block holding only that path and a note of what to change (it names the
    next block, as a path fenced on its own does), or None."""
    lines = [line for line in body if line.strip()]
    found = _NOTED_PATH_RE.fullmatch(lines[0]) if len(lines) == 1 else None
    return found.group("path") if found is not None and _plausible(found.group("path")) else None


def _writes(line: str) -> bool:
    """Whether a line is a short heading naming code to write ("Corrected code block:")."""
    label = _LABEL_RE.fullmatch(line)
    words = set(label.group("words").lower().split()) if label else set()
    return bool(words & _WRITES) and not words & _READS


def _nonblank_above(lines: list[str], at: int) -> int:
    """The line above line ``at``, past one blank line (-1 when there is none)."""
    above = at - 1
    if above >= 1 and not lines[above].strip():
        above -= 1
    return above


def _plausible(path: str) -> bool:
    return "/" in path or path.rsplit(".", 1)[-1].lower() in _SUFFIXES


_CODE_RE = re.compile(r"^(?:def|class|import|from|async def)\s", re.MULTILINE)


def _outdented(body: str, width: int) -> str:
    """A block's lines without the indent its fence had (a block in a list item is indented)."""
    if not width:
        return body
    return "\n".join(line[min(width, len(line) - len(line.lstrip(" \t"))) :] for line in body.split("\n"))


_FENCE_OPEN_RE = re.compile(r"[ \t]*```[ \t]*[\w+-]*[ \t]*")


def _without_leading_noise(body: str, path: str) -> str:
    """``body`` without the lines a small model puts above the code inside the block: the
    path again, or the opening fence of a second block (the path fenced on its own, then
    the code in a block of its own). A Markdown file keeps its own fences."""
    lines = body.split("\n")
    while len(lines) > 1 and (
        _says_path(lines[0], path) or (not path.endswith((".md", ".markdown")) and _FENCE_OPEN_RE.fullmatch(lines[0]))
    ):
        lines.pop(0)
    return "\n".join(lines)


def _says_path(line: str, path: str) -> bool:
    """Whether a line is only ``path`` as a small model writes it inside a block: bare, as a
    comment, in backticks or bold, with a colon, or with a note ("# a/b.py (change summary)")."""
    inside = _INSIDE_RE.fullmatch(line.strip().strip("*`").lstrip("#"))
    return inside is not None and inside.group("path") == path


_CODE_BLOCK_RE = re.compile(
    r"(?:^|\n)(?P<indent>[ \t]*)```[ \t]*(?:python|py|python3)?[ \t]*\n(?P<body>.*?)" + close_fence("indent"),
    re.DOTALL,
)


def lone_code_block(text: str | None) -> str | None:
    """The code of a reply's one Python block that names no file ("Here is the corrected
    code:" and a block): the caller decides whether a file is meant (see Sandbox.home_of)."""
    blocks = [m.group("body") for m in _CODE_BLOCK_RE.finditer(text or "")]
    if len(blocks) != 1 or not blocks[0].strip() or lone_path(blocks[0]):  # a path alone is no code
        return None
    return blocks[0].rstrip("\n") + "\n"


_LONE_PATH_RE = re.compile(r"\s*(?:```[\w+-]*[ \t]*\n)?[ \t]*[`*]*(?P<path>" + _PATH + r")[`*:]*\s*(?:```)?\s*")


def lone_path(text: str | None) -> str | None:
    """The path a reply holds and nothing else (bare, quoted or fenced on its own), or None."""
    found = _LONE_PATH_RE.fullmatch(text or "")
    return found.group("path") if found else None


def named_by_json(text: str, module_file: Callable[[str], str | None] | None = None) -> list[tuple[str, str]]:
    """The file a reply meant when it wrote one as a tool call named by the file's path, its
    arguments the code: ``{"name": "toolz/itertoolz.py", "arguments": {"tail(n, seq)":
    "def tail(n, seq):\\n    ..."}}`` (the 1.5B, 2 replies of 5 in a bug fix of toolz, told
    that a call of no tool was not one). Each argument holding code is a part of the block;
    the lines below a ``def`` line keep their nesting, not the JSON's indent. A call named by
    a module's dotted name (``"textkit.stats"``: the 1.5B, three replies running in a bead
    adding to textkit/stats.py) means the file ``module_file`` finds for it."""
    start, stop = text.find("{"), text.rfind("}")
    if start < 0 or stop < start:
        return []
    value = jsonfix.repair(text[start : stop + 1])
    if not isinstance(value, dict):
        return []
    name, arguments = value.get("name"), value.get("arguments")
    if not isinstance(name, str) or not isinstance(arguments, dict):
        return []
    parts = [v for v in arguments.values() if isinstance(v, str) and "\n" in v.strip()]
    if not parts or len(parts) != len(arguments) or set(arguments) == {"old", "new"}:
        return []  # (an edit's old and new text is an edit_file: textcalls)
    name = name.strip()
    path = name if names_a_file(name) else None
    if path is None and module_file is not None and names_a_module(name):
        path = module_file(name)  # (looked up only for code: it lists the project's files)
    if path is None:
        return []
    return [(path, "\n\n\n".join(_unindented(part) for part in parts) + "\n")]


def names_a_file(path: str) -> bool:
    """Whether ``path`` reads as a file's path (``pkg/mod.py``), not a tool's or a thing's name."""
    return re.fullmatch(_PATH, path) is not None and path.rsplit(".", 1)[-1].lower() in _SUFFIXES


def names_a_module(name: str) -> bool:
    """Whether ``name`` reads as a module's dotted name (``textkit.stats``)."""
    return re.fullmatch(_MODULE, name) is not None


def _unindented(code: str) -> str:
    """``code`` whose first line starts at the margin and whose other lines carry the JSON's
    indent too: those lines moved out so that the deepest-out of them sits one level (four
    spaces) below a first line that opens a block, or at the margin."""
    lines = code.strip("\n").split("\n")
    first, rest = lines[0], lines[1:]
    indents = [len(line) - len(line.lstrip(" ")) for line in rest if line.strip()]
    if first.startswith((" ", "\t")) or not indents:
        return textwrap.dedent("\n".join(lines))
    goal = 4 if first.rstrip().endswith(":") else 0
    extra = min(indents) - goal
    if extra <= 0:
        return "\n".join(lines)
    return "\n".join([first, *(line[extra:] if line[:extra].strip() == "" else line for line in rest)])
