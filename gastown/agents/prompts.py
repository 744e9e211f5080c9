"""Prompts with a stable prefix, so llama.cpp's prompt cache keeps hitting.

The head — system text (role prompt, then the rig's README/AGENTS.md), then the bead —
is written once and never changed (a fresh try adds a note of an earlier try's failure
before the start of the reply: see tries); the conversation after it only grows. When the
window fills, old tool output is replaced by a one-line stub, oldest first, from the
middle: the head and the latest turns stay as they were, and a stub, once written, is
never rewritten, so everything before the newest stub stays cacheable too.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gastown.agents.excerpt import lift_docstrings, split_header
from gastown.town import tokens

DOC_LIMIT = 4000  # characters of each rig document put in the head, once cleared of markup noise
# A document longer than this (cleared) is cut, for a bead that names code, to its opening and
# the sections that name what the bead names (only the opening when none does).
FOCUS_ABOVE = 2000
# A heading: Markdown's "# Title", or reStructuredText's title over a line of one punctuation mark.
_MD_HEADING = re.compile(r"#{1,6}\s+\S")  # at the margin: an indented "# …" is code
_RST_UNDERLINE = re.compile(r"([=\-~^*+#\"'])\1{2,}\s*$")
# What a project's README carries for its web page and not for a reader of its text: badges
# and images (Markdown, and reStructuredText directives with their indented options), link
# targets, raw HTML and comments. A CPU reads a prompt at a few dozen tokens a second.
_NOISE = re.compile(
    r"""(?:
        \s*\[?!\[[^\]]*\]\([^)]*\)(?:\]\([^)]*\))?\s*$      # [![badge](img)](link) or ![image](src)
      | \ {0,3}\[[^\]]+\]:\s*(?:\w+://|/|\.{1,2}/|\#)\S*\s*$        # [name]: https://... (a link, not prose)
      | \.\.\s+(?:\|[^|]+\|\s+)?(?:image|figure|raw)::.*$       # .. image:: / .. |x| image:: / .. raw::
      | \.\.\s+_[^:]*:\s*\S+.*$                                 # .. _name: https://...
      | \ {0,3}(?:</?(?:p|div|img|a|br|picture|source|h\d)\b[^>]*>\s*)+$  # a line of nothing but HTML tags
      | <!--.*-->\s*$                                           # a comment
    )""",
    re.VERBOSE,
)
_FENCE = re.compile(r" {0,3}(?:```|~~~)")  # a Markdown fence (indented four or more, it is code)
OPENING = "## Start your reply like this"  # the last section of a first prompt that has one (opening.py)
KEEP_RECENT = 4  # the last messages are never stubbed


def system_text(role_prompt: str, docs: Sequence[tuple[str, str]], names: Collection[str] = ()) -> str:
    """The role's prompt (the tools' descriptions with it, when they go in the prompt), then
    each rig document under its path, cleared of markup noise (and, when long, cut to the
    sections about ``names``: see ``about``)."""
    parts = [role_prompt.strip()]
    for path, text in docs:
        body = readable(text)
        if names and len(body) > FOCUS_ABOVE:
            body = about(body, names)
        body = body if len(body) <= DOC_LIMIT else body[:DOC_LIMIT] + "\n[... cut ...]"
        parts.append(f"## {path}\n\n{body.strip()}")
    return "\n\n".join(parts) + "\n"


def readable(text: str) -> str:
    """``text`` without the lines only a web page needs (``_NOISE``; a reStructuredText
    directive's indented options go with it; fenced code is left alone) and without runs of
    blank lines."""
    kept: list[str] = []
    fenced = False
    directive = False  # inside a dropped directive: its indented options go too
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            if directive and line.startswith((" ", "\t")) and line.strip():
                continue
            directive = False
            if _NOISE.match(line):
                directive = line.startswith("..")
                continue
        if not line.strip() and (not kept or not kept[-1].strip()):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


def sections(text: str) -> list[tuple[str, str]]:
    """``(title, text)`` of each section of a Markdown or reStructuredText document, its
    heading included (a reStructuredText title's over-line too); the opening before the first
    heading has the title ""."""
    lines = text.splitlines()
    found: list[tuple[str, list[str]]] = [("", [])]
    fenced = False
    over = -1  # the line of a title under an over-line: its section began at the over-line
    for n, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
        following = lines[n + 1] if n + 1 < len(lines) else ""
        after = lines[n + 2] if n + 2 < len(lines) else ""
        if not fenced and line.strip() and n != over:
            if _RST_UNDERLINE.match(line):
                if following.strip() and after.strip() == line.strip():  # over-line, title, underline
                    found.append((following.strip(), []))
                    over = n + 1
            elif _MD_HEADING.match(line):
                found.append((line.strip().lstrip("#").strip(), []))
            elif _RST_UNDERLINE.match(following) and len(following.strip()) >= len(line.strip()):
                found.append((line.strip(), []))
        found[-1][1].append(line)
    return [(title, "\n".join(body)) for title, body in found if title or "".join(body).strip()]


def about(text: str, names: Collection[str]) -> str:
    """A long document cut to its opening (its first section) and the sections that name one
    of ``names`` as a whole word -- only the opening when none does; the titles of the sections
    left out are listed, so the model knows what the project documents without reading it all.
    A name that half the sections have (the project's own) chooses none when a rarer one chooses any."""
    parts = sections(text)
    # A name half the sections have (the project's own, in every example's import) tells
    # none apart: the rarer names choose, when they name any section.
    rest = [body for _title, body in parts[1:]]
    rare = [n for n in names if sum(_names(n, body) for body in rest) * 2 < len(rest)]
    wanted = rare if any(_names(n, body) for n in rare for body in rest) else list(names)
    kept = [n for n, (_title, body) in enumerate(parts) if n == 0 or any(_names(w, body) for w in wanted)]
    left = [title for n, (title, _body) in enumerate(parts) if n not in kept]
    shown = [parts[n][1].strip("\n") for n in kept]
    if left:
        shown.append(f"[sections not about this bead, left out: {'; '.join(left)}]")
    return "\n\n".join(shown)


def _names(name: str, text: str) -> bool:
    """Whether ``text`` has ``name`` as a whole word."""
    return re.search(r"\b" + re.escape(name) + r"\b", text) is not None


def read_docs(root: Path, names: Sequence[str]) -> list[tuple[str, str]]:
    found = []
    for name in names:
        path = root / name
        if path.is_file():
            found.append((name, path.read_text(errors="replace")))
    return found


TEST_LABEL = " (a test: read it, never change it)"  # after a test file's path, where a Polecat is shown it
TASK_HEADING = "## Your task"
TASK_FIRST = "Make the acceptance tests pass"


def echo_marks(bead: Mapping[str, Any]) -> tuple[str, ...]:
    """Lines of ``bead_text`` that a reply writes only when it copies the prompt back: the
    bead's title line, a test's heading, the task's heading and first line. The provider
    cuts a reply there (see providers.chat's ``cut_at`` and loops.cut_echo): 12 of 41 replies
    of the 1.5B to six toolz bug reports began copying the prompt, 3,300 tokens of decode (5
    minutes on two cores), and none of them held a change after the copy."""
    title = f"Bead {bead['id']}: {bead['title']}"
    return (title, TEST_LABEL.strip(), f"{TASK_HEADING.lstrip('# ')}\n{TASK_FIRST}")


def bead_text(
    bead: Mapping[str, Any],
    protected: Sequence[str],
    tests_note: str,
    tests: Sequence[str] = (),
    files: Sequence[tuple[str, str]] = (),
    missing: Sequence[str] = (),
    now: str | None = None,
    absent: Sequence[tuple[str, str]] = (),
    context: Collection[str] = (),
    lifted: Collection[str] = (),
    opening: tuple[str, str] | None = None,
    inherited: Sequence[str] = (),
) -> str:
    """The task as the model reads it: the bead, its tests, the files they use, how they fail now.
    ``inherited`` are where tests the acceptance tests' classes inherit are written (see
    testbases): their files are shown as tests too.
    Files in ``context`` are shown but not offered as where to write, unless nothing else is
    (no other file shown and none to create). Python files in ``lifted`` are shown without
    their long docstrings, which follow the code as text (see excerpt.lift_docstrings).
    ``opening`` (a path and the first lines of its block, see opening.py) ends the text, as
    the start of the reply."""
    lines = [f"# Bead {bead['id']}: {bead['title']}"]
    for key, title in (
        ("description", "Description"),
        ("acceptance_criteria", "Acceptance criteria"),
        ("design", "Design"),
    ):
        if bead.get(key):
            lines += ["", f"## {title}", str(bead[key]).strip()]
    if tests:
        lines += ["", "## Acceptance tests", *(f"- {t}" for t in tests)]
    if protected:
        lines += ["", "## Files you must not change", ", ".join(protected)]
    test_files = protected_files([*tests, *inherited])
    code = [p for p, _ in files if p not in test_files]
    offered = [p for p in code if p not in context]
    code = offered if offered or missing else code
    for path, text in files:
        test = path in test_files
        label = TEST_LABEL if protected and test else ""
        if not test and path not in code and tests and protected:
            label = " (for reference: leave it as it is)"
        docs: list[tuple[str, str]] = []
        if path in lifted and not test and path.endswith(".py"):
            text, docs = lift_docstrings(text)
        header, text = split_header(text)  # an excerpt's, as prose: inside the block, replies copied it
        lines += ["", f"## {path}{label}", *header]
        if text.strip() or not header:  # an excerpt of a module with nothing to show but its list
            lines += [fence(path), text.rstrip("\n"), "```"]
        if docs:
            lines += [
                "What its functions do (their docstrings: left out of the code above, each keeps its own):",
                "```text",
                *(f"{signature}:\n{textwrap.indent(doc, '    ')}" for signature, doc in docs),
                "```",
            ]
    if missing:
        lines += ["", "## Files the tests import that do not exist yet (you create them)", *(f"- {m}" for m in missing)]
    if absent:
        lines += [
            "",
            "## Names the tests import that the code does not define yet (you add them)",
            *(f"- `{name}` in {path}" for path, name in absent),
        ]
    if tests and protected and (missing or code):
        targets = ", ".join([*missing, *code])
        lines += [
            "",
            TASK_HEADING,
            f"{TASK_FIRST} by writing code in: {targets}. Do not edit the tests.",
        ]
        existing = [p for p in code if p.endswith(".py")]
        if existing:
            where = f"`{existing[0]}`" if len(existing) == 1 else "the file's path"
            lines.append(
                f"To change code in {', '.join(existing)}, reply with {where} on one line and then a code "
                "block holding only the functions you change or add (with any imports they need): each replaces "
                "the one of the same name, and the rest of the file stays as it is. Leave out the functions' "
                "docstrings: each keeps the one it has. Do not send the whole file."
            )
        for path in missing:
            lines.append(
                f"To create {path}, reply with `{path}` on one line and then a code block holding the whole "
                "file, with the imports it needs."
            )
        for path in dict.fromkeys(p for p, _ in absent):
            names = ", ".join(f"`{n}`" for p, n in absent if p == path)
            lines.append(
                f"To add {names} to {path}, reply with `{path}` on one line and then a code block holding "
                "only the new code (and the imports it needs): it is added to the module, and the rest of "
                "the module stays as it is."
            )
    if now is not None:
        lines += ["", "## The acceptance tests now", now.strip()]
    lines += ["", "## How this ends", tests_note]
    if opening is not None:
        path, start = opening
        lines += ["", OPENING, path, fence(path), start, "```"]
    return "\n".join(lines) + "\n"


def reply_start(messages: Sequence[Mapping[str, Any]]) -> str:
    """The start of the reply the last message asks for (its last section, OPENING): the
    path, the fence and the first lines, to begin the model's reply with where its server
    lets gastown (ModelClient.chat's ``start``); "" when the last message asks for none."""
    if not messages or messages[-1].get("role") != "user":
        return ""
    _before, heading, section = str(messages[-1].get("content") or "").rpartition(f"\n{OPENING}\n")
    lines = section.rstrip("\n").splitlines()
    if not heading or "\n## " in section or len(lines) < 3 or lines[-1] != "```":
        return ""
    return "\n".join(lines[:-1]) + "\n"


def fence(path: str) -> str:
    """The opening fence of a file's code block. A Python file's says so: under a bare fence
    the 1.5B answered a module's path with `obj['code']` (a block of nothing) in 8 replies of
    9 to one bead, and under a ```python one with code."""
    return "```python" if path.endswith(".py") else "```"


def protected_files(tests: Sequence[str]) -> set[str]:
    """The files of a list of test paths or ids."""
    return {t.split("::")[0] for t in tests}


def fit_files(
    files: Sequence[tuple[str, str]], limit_chars: int, rest: str = "read_file with start_line for the rest"
) -> list[tuple[str, str]]:
    """As many whole files as fit in ``limit_chars``, in order; a file too long for what is left
    is cut, saying where and (``rest``) how to see the rest."""
    fitted: list[tuple[str, str]] = []
    left = limit_chars
    for path, text in files:
        if left <= 200:
            break
        if len(text) > left:
            cut = text[:left].rsplit("\n", 1)[0]
            shown, total = cut.count("\n") + 1, text.count("\n") + 1
            text = f"{cut}\n[... cut after line {shown} of {total}{'; ' + rest if rest else ''} ...]"
        fitted.append((path, text))
        left -= len(text)
    return fitted


@dataclass
class Conversation:
    """A head that never changes and a tail that only grows (until stubbed)."""

    head: list[dict[str, Any]]
    budget_tokens: int
    tail: list[dict[str, Any]] = field(default_factory=list)
    stubbed: int = 0
    scale: float = 1.0  # real tokens per estimated token, learned from the server
    overhead: int = 0  # tokens the request adds beyond the messages (tool schemas)

    def observe(self, sent_estimate: int, actual_tokens: int) -> None:
        """Learn how the estimate compares to the server's prompt token count."""
        if sent_estimate > 0 and actual_tokens > 0:
            self.scale = max(0.5, min(3.0, actual_tokens / sent_estimate))

    def shrink(self, factor: float = 0.75) -> None:
        """The server said the prompt is too long: aim lower from now on."""
        self.budget_tokens = int(self.budget_tokens * factor)

    def add(self, message: Mapping[str, Any]) -> None:
        self.tail.append(dict(message))

    def messages(self) -> list[dict[str, Any]]:
        """Head + tail, with old tool output stubbed (for good) if the window is full."""
        self._fit()
        return [*self.head, *self.tail]

    def estimate(self) -> int:
        """Estimated tokens of the messages plus the request's overhead (uncalibrated)."""
        return sum(tokens.estimate(_text(m)) for m in (*self.head, *self.tail)) + self.overhead

    def tokens(self) -> int:
        return int(self.estimate() * self.scale)

    def _fit(self) -> None:
        over = self.tokens() - self.budget_tokens
        if over <= 0:
            return
        for message in self.tail[: max(0, len(self.tail) - KEEP_RECENT)]:
            if over <= 0:
                break
            content = message.get("content")
            if message.get("role") not in ("tool", "user") or not isinstance(content, str):
                continue
            if content.startswith("[output of an earlier step"):
                continue
            stub = f"[output of an earlier step dropped to fit the context: {len(content)} characters]"
            over -= int((tokens.estimate(content) - tokens.estimate(stub)) * self.scale)
            message["content"] = stub
            self.stubbed += 1


def _text(message: Mapping[str, Any]) -> str:
    content = message.get("content") or ""
    calls = message.get("tool_calls") or ()
    extra = "".join(str(c.get("function", {}).get("arguments", "")) for c in calls)
    return (content if isinstance(content, str) else str(content)) + extra
