"""Files written as code: a path, then a fenced block holding the file (or the functions
to change), the way small models write code best — not as an escaped JSON string.

A block counts only when a path names it: above it (`a/b.py`, **a/b.py**, # a/b.py,
File: a/b.py), in the fence's info string, on its first line (as a comment, or bare above
code), or fenced on its own a few lines before it. A block indented in a list item loses
its fence's indent. Code quoted in prose stays prose. A block ends at a fence of its
own on a line of its own (Markdown's rule), so a docstring's indented ```pycon example does
not end it.
"""

from __future__ import annotations

import re

# A path as small models write it above a block: `a/b.py`, **a/b.py**, # a/b.py, File: a/b.py, a/b.py:
_PATH = r"[\w][\w.-]*(?:/[\w.-]+)*\.[A-Za-z0-9]{1,8}"


def close_fence(indent: str) -> str:
    """The pattern of a block's closing fence: a line of its own, at most three spaces further
    in than the opening fence (Markdown's rule; group ``indent`` holds the opening's indent), so
    a docstring's own ```pycon example, indented with its code, does not end the block."""
    return r"\n(?P=" + indent + r") {0,3}```[ \t]*(?=\n|$)"


_FILE_BLOCK_RE = re.compile(
    r"(?:^|\n)[ \t]*(?:#+[ \t]*|\*\*|`|(?:file|path)[ \t]*:[ \t]*)*(?P<above>" + _PATH + r")[`*:]*[ \t]*\n"
    r"(?:[ \t]*\n)?(?P<i1>[ \t]*)```[ \t]*[\w+-]*[ \t]*\n(?P<body>.*?)"
    + close_fence("i1")
    + r"|(?:^|\n)(?P<i2>[ \t]*)```[ \t]*[\w+-]*[ \t]*[ :]+(?P<info>"
    + _PATH
    + r")[ \t]*\n(?P<body2>.*?)"
    + close_fence("i2")
    + r"|(?:^|\n)(?P<i3>[ \t]*)```[ \t]*[\w+-]*[ \t]*\n[ \t]*"
    + r"(?:(?P<marked>#|//|--)[ \t]*(?:file[ \t]*:[ \t]*)?)?(?P<inside>"
    + _PATH
    + r")[ \t]*\n(?P<body3>.*?)"
    + close_fence("i3"),
    re.DOTALL | re.IGNORECASE,
)


# The path fenced on its own, a few lines of prose, then the code's block: the path names that block.
_PATH_FENCE_RE = re.compile(
    r"(?:^|\n)(?P<i>[ \t]*)```[ \t]*[\w+-]*[ \t]*\n[ \t]*(?P<path>"
    + _PATH
    + r")[ \t]*"
    + close_fence("i")
    + r"(?:\n(?:(?!```)[^\n])*){0,6}?\n(?=[ \t]*```)",
    re.IGNORECASE,
)


def file_blocks(text: str) -> tuple[list[tuple[str, str]], str]:
    """``path`` then a fenced block (or the path in the fence's info): a ``write_file`` of that file.

    Writing a file as code, not as an escaped JSON string, is what small models do best; a
    block counts only when a path names it, so code quoted in prose stays prose. A path in a
    fence of its own names the next block ("The file's path is:", the path fenced, "And the
    code is:", the code), not the prose between them.
    """
    found: list[tuple[str, str]] = []
    text = _PATH_FENCE_RE.sub(lambda m: "\n" + m.group("path") + "\n", text)
    rest = text
    for match in _FILE_BLOCK_RE.finditer(text):
        path = match.group("above") or match.group("info") or match.group("inside")
        body = match.group("body") if match.group("above") else match.group("body2") or match.group("body3")
        if ".." in path.split("/") or body is None:
            continue
        indent = match.group("i1") or match.group("i2") or match.group("i3") or ""
        body = _without_leading_noise(_outdented(body, len(indent)), path)
        if match.group("inside") and not match.group("marked") and not _CODE_RE.search(body):
            continue  # a bare path atop a block is a file's only above code (a listing of paths is not)
        found.append((path, body.rstrip("\n") + "\n"))
        rest = rest.replace(match.group(0), "")
    return found, rest


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
        lines[0].strip().strip("#*`").strip().rstrip(":") == path
        or (not path.endswith((".md", ".markdown")) and _FENCE_OPEN_RE.fullmatch(lines[0]))
    ):
        lines.pop(0)
    return "\n".join(lines)


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
