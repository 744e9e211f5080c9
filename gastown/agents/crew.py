"""The Crew: answers questions about a rig from the rig's own files, and says so when it can't.

Answering has two steps. Retrieval is plain code: score the rig's text files (those git
tracks or would track, never ignored ones) by the question's words (a path match counts
double), keep the best few excerpts. Then, when a Crew model is configured, it answers
from those excerpts alone, citing paths; without one, the excerpts themselves are the
answer. Either way an answer names its sources, and when nothing relevant is found it
says the answer is not in the rig's files rather than guessing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gastown.errors import GitFailed
from gastown.town import git

TEXT_SUFFIXES = {
    ".md",
    ".txt",
    ".rst",
    ".py",
    ".gd",
    ".toml",
    ".cfg",
    ".ini",
    ".json",
    ".yaml",
    ".yml",
    ".js",
    ".ts",
    ".go",
    ".rs",
    ".c",
    ".h",
    ".cpp",
    ".java",
    ".sh",
    ".tscn",
    ".godot",
}
SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv", "venv", ".godot", "build", "dist"}
STOP_WORDS = {
    "the",
    "a",
    "an",
    "is",
    "are",
    "of",
    "to",
    "in",
    "on",
    "for",
    "and",
    "or",
    "what",
    "which",
    "how",
    "does",
    "do",
    "this",
    "that",
    "with",
    "it",
    "be",
    "by",
    "as",
    "at",
    "from",
    "where",
    "when",
    "who",
    "why",
    "can",
    "should",
    "we",
    "i",
    "you",
    "our",
    "rig",
    "project",
    "file",
}
NOT_FOUND = "The answer is not in this rig's files: nothing in them matches the question."
EXCERPTS_HEAD = "From the rig's files:"  # heads an answer of excerpts only (no model answered)
CREW_PROMPT = (
    "You are the Crew of a software project. Answer the question using ONLY the excerpts "
    "below, each headed by its file path. Cite the paths you used in square brackets, like "
    "[README.md]. If the excerpts do not contain the answer, reply exactly: "
    f"{NOT_FOUND!r}. Never guess."
)


@dataclass(frozen=True)
class Excerpt:
    path: str
    score: float
    text: str


@dataclass(frozen=True)
class Answer:
    """What the Crew said and where it came from."""

    text: str
    sources: tuple[str, ...] = ()
    found: bool = True
    model: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        if not self.sources:
            return self.text
        return f"{self.text}\n\nSources: {', '.join(self.sources)}"


def words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9_]+", text.lower()) if w not in STOP_WORDS and len(w) > 1]


def _files(root: Path) -> Iterable[Path]:
    """The rig's text files: what git tracks or would track, or every file when it is no work tree."""
    try:
        listed = git.worktree_files(root)
    except GitFailed:
        listed = None
    paths = sorted(root.rglob("*")) if listed is None else [root / name for name in listed]
    for path in paths:
        if any(part in SKIP_DIRS for part in path.relative_to(root).parts):
            continue
        if path.is_file() and not path.is_symlink() and path.suffix.lower() in TEXT_SUFFIXES:
            if path.stat().st_size <= 512 * 1024:
                yield path


def retrieve(root: Path, question: str, limit: int = 4, window: int = 1200) -> list[Excerpt]:
    """The rig files most about ``question``, each as an excerpt around its best lines."""
    terms = set(words(question))
    if not terms:
        return []
    found = []
    for path in _files(root):
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        rel = path.relative_to(root).as_posix()
        lowered = text.lower()
        hits = {t: lowered.count(t) for t in terms}
        matched = [t for t, n in hits.items() if n]
        path_terms = set(words(rel.replace("/", " ").replace(".", " ")))
        score = sum(1 + min(n, 10) / 10 for n in hits.values() if n) + 2 * len(terms & path_terms)
        if not matched and not (terms & path_terms):
            continue
        first = min((lowered.find(t) for t in matched), default=0)
        start = max(0, lowered.rfind("\n", 0, max(0, first - window // 4)) + 1)
        found.append(Excerpt(rel, score / len(terms), text[start : start + window]))
    found.sort(key=lambda e: (-e.score, e.path))
    strong = [e for e in found if e.score >= 0.5]
    return strong[:limit]


def answer(root: Path, question: str, client: Any = None) -> Answer:
    """Answer ``question`` from the files under ``root`` (a rig checkout)."""
    excerpts = retrieve(root, question)
    if not excerpts:
        return Answer(NOT_FOUND, (), found=False)
    sources = tuple(e.path for e in excerpts)
    if client is None:
        body = "\n\n".join(f"[{e.path}]\n{e.text.strip()}" for e in excerpts)
        return Answer(f"{EXCERPTS_HEAD}\n\n{body}", sources)
    context = "\n\n".join(f"### {e.path}\n{e.text}" for e in excerpts)
    reply = client.chat(
        [
            {"role": "system", "content": CREW_PROMPT},
            {"role": "user", "content": f"{context}\n\n### Question\n{question}"},
        ],
        max_tokens=600,
        temperature=0.0,
    )
    text = (reply.content or "").strip() or NOT_FOUND
    found = NOT_FOUND[:30] not in text
    cited = tuple(p for p in sources if p in text) or (sources if found else ())
    return Answer(text, cited, found, reply.model, reply.usage.to_dict())
