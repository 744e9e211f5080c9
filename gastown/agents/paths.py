"""Where a model-written path lands: inside the bead's worktree, or refused.

A path is resolved inside the worktree only: absolute paths outside it (one into it reads as
the relative path it names), ``..`` that climbs out, symlinks that lead out and anything
under ``.git`` are refused, as are writes to the Refinery's test files for every role but
the Refinery. A placeholder before a real folder (``path/to/pkg/mod.py``) is dropped, and a
Python fragment sent under a made-up path goes to the one module that defines what it
holds. Listings see only what git tracks or would track, never ignored files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gastown.agents import merge
from gastown.errors import GitFailed
from gastown.town import git

MODULES_SEARCHED = 2000  # files looked through for the home of a fragment sent under a made-up path
SEARCH_SIZE_LIMIT = 1_000_000
# Never shown to a model, even when a project forgot to ignore them (a venv made before
# Python 3.13 carries no .gitignore of its own).
NEVER_LISTED = {".git", ".venv", "venv", "__pycache__", "node_modules", ".pytest_cache", ".mypy_cache", ".tox"}


class ToolError(Exception):
    """A tool refused or failed; the message goes back to the model."""


def _walk(root: Path) -> list[str]:
    """Every file and symlink under ``root`` (relative paths), for a folder git does not manage."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in NEVER_LISTED]
        base = Path(folder).relative_to(root)
        links = [d for d in dirs if os.path.islink(os.path.join(folder, d))]
        found += [(base / name).as_posix() for name in (*files, *links)]
    return sorted(found)


@dataclass
class Paths:
    """A worktree, the paths a model may read and write in it, and its files."""

    root: Path
    protected: Callable[[str], bool] = lambda _path: False

    def __post_init__(self) -> None:
        self.root = self.root.resolve()

    def resolve(self, path: Any, write: bool = False) -> Path:
        """``path`` inside the worktree, or ToolError saying why not."""
        if not isinstance(path, str) or not path.strip():
            raise ToolError("path must be a non-empty string relative to the project root")
        raw = self._inside(path.strip())
        if raw.startswith(("/", "~")) or re.match(r"^[A-Za-z]:[\\/]", raw):
            raise ToolError(f"{raw}: absolute paths outside the project are refused; use a path relative to its root")
        parts = Path(raw).parts
        if ".." in parts:
            raise ToolError(f"{raw}: '..' is refused; stay inside the project")
        if ".git" in parts:
            raise ToolError(f"{raw}: the .git folder is off limits")
        raw = self._recovered(raw, write)
        target = (self.root / raw).resolve()
        if not target.is_relative_to(self.root):
            raise ToolError(f"{raw}: leads outside the project (through a symlink)")
        relative = target.relative_to(self.root).as_posix()
        if relative.split("/")[0] == ".git":
            raise ToolError(f"{raw}: the .git folder is off limits")
        if write and self.protected(relative):
            raise ToolError(
                f"{relative}: this is a test file (the Refinery's); you may not change it. "
                "Change the code the test imports so the test passes."
            )
        return target

    def _inside(self, raw: str) -> str:
        """An absolute path into the worktree as the relative one it names (a model copies
        them from tracebacks); any other path as it is."""
        if raw.startswith("/"):
            path = Path(os.path.normpath(raw))
            if path.is_relative_to(self.root) and path != self.root:
                return path.relative_to(self.root).as_posix()
        return raw

    def _recovered(self, raw: str, write: bool) -> str:
        """A path a small model put a placeholder before ("path/to/textkit/slug.py"): the part
        naming a real folder of the project, when the first part names nothing here. A new
        top-level folder ("newpkg/mod.py") is left alone: the rest must lie in a folder."""
        parts = Path(raw).parts
        if len(parts) < 3 or os.path.lexists(self.root / parts[0]):
            return raw
        for start in range(1, len(parts) - 1):
            rest = parts[start:]
            folder = self.root.joinpath(*rest[:-1])
            if folder.is_dir() and (write or folder.joinpath(rest[-1]).exists()):
                return "/".join(rest)
        return raw

    def made_up_home(self, path: str, content: str) -> str | None:
        """The module a Python fragment sent under a made-up path belongs to: a small model
        copies an example's path ("path/of/the_file.py") over the functions it changed. Only
        for a path of three parts or more whose first folder is not in the project (a new
        module or package, "helpers.py" or "newpkg/text.py", is written where it is sent),
        and only when every function and class the fragment defines is defined by one and the
        same module of the project."""
        raw = path.strip() if isinstance(path, str) else ""
        parts = Path(raw).parts
        if not raw.endswith(".py") or len(parts) < 3 or os.path.lexists(self.root / parts[0]):
            return None
        if os.path.lexists(self.root / self._recovered(raw, True)):
            return None
        return self.home_of(content)

    def home_of(self, content: str) -> str | None:
        """The one module of the project that defines every function and class ``content``
        defines, at its top level or nested once in a function (None when none does, or
        more than one)."""
        wanted = merge.definitions(content)
        if not wanted:
            return None
        homes = []
        for file in self.files(self.root)[:MODULES_SEARCHED]:
            if not file.endswith(".py") or self.protected(file):
                continue
            text = self.text_of(file)
            if all(f"def {name}" in text or f"class {name}" in text for name in wanted):  # cheap, before parsing
                if wanted <= merge.homes(text):
                    homes.append(file)
        return homes[0] if len(homes) == 1 else None

    def module_file(self, dotted: str) -> str | None:
        """The one Python file of the project that the module's dotted name (``textkit.stats``)
        names, from the root or from one folder of it (a src layout's ``src/``), and that a
        write may change; None when none does, or more than one."""
        tail = dotted.replace(".", "/")
        ends = (f"{tail}.py", f"{tail}/__init__.py")
        try:
            files = self.files(self.root)
        except ToolError:
            return None
        found = [
            file
            for file in files
            if (file in ends or file.split("/", 1)[-1] in ends and "/" in file) and not self.protected(file)
        ]
        return found[0] if len(found) == 1 else None

    def text_of(self, relative: str) -> str:
        """A regular file's text ("" for a link, something too big, or what cannot be read)."""
        target = self.root / relative
        try:
            if target.is_symlink() or not target.is_file() or target.stat().st_size > SEARCH_SIZE_LIMIT:
                return ""
            return target.read_text(errors="replace")
        except OSError:
            return ""

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def writable(self, path: str) -> Path:
        """``path`` resolved for writing: inside, not protected, not a folder, not a symlink."""
        target = self.resolve(path, write=True)
        if target.is_dir():
            raise ToolError(f"{path}: is a folder")
        if target.is_symlink():
            raise ToolError(f"{path}: is a symlink; write the file it points to inside the project")
        return target

    def make_parent(self, target: Path, path: str) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.parent.resolve() != target.parent or not target.parent.resolve().is_relative_to(self.root):
            raise ToolError(f"{path}: leads outside the project")

    def files(self, folder: Path) -> list[str]:
        """The project's files under ``folder`` (paths relative to the root) as git lists them:
        tracked or untracked but not ignored, so no .venv, build output or caches."""
        try:
            listed = git.worktree_files(self.root)
        except GitFailed as error:
            raise ToolError(f"cannot list the project's files: {error}") from None
        if listed is None:  # not a git work tree: walk it
            listed = _walk(self.root)
        prefix = "" if folder == self.root else self.relative(folder) + "/"
        return [
            p
            for p in listed
            if p.startswith(prefix) and NEVER_LISTED.isdisjoint(p.split("/")) and os.path.lexists(self.root / p)
        ]
