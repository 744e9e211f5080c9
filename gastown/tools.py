"""The tools an agent may call, each confined to the bead's worktree.

Paths written by a model are resolved inside the worktree only: absolute paths, ``..``
that climbs out, symlinks that lead out and anything under ``.git`` are refused, as are
writes to the Refinery's test files for every role but the Refinery. Commands run only
when the rig allows their argv prefix, in their own process group, with a timeout and an
environment stripped of secrets; their output is cut and secrets are redacted from it.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gastown.toolcalls import ToolSpec

OUTPUT_LIMIT = 12000
READ_LIMIT = 20000
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.IGNORECASE)


class ToolError(Exception):
    """A tool refused or failed; the message goes back to the model."""


def secret_values(env: Mapping[str, str]) -> list[str]:
    """Values of environment variables that look like secrets (to redact from output)."""
    return [v for k, v in env.items() if SECRET_NAME.search(k) and len(v) >= 6]


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, "[redacted]")
    return text


def clean_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment for a child: no secrets, no git repository overrides."""
    return {
        k: v
        for k, v in env.items()
        if not SECRET_NAME.search(k) and not k.startswith(("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX"))
    }


def tail(text: str, limit: int = OUTPUT_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return f"[... {len(text) - limit} characters cut ...]\n" + text[-limit:]


class Children:
    """Process groups started by tools, so a stopping watcher can end them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pids: set[int] = set()

    def add(self, pid: int) -> None:
        with self._lock:
            self._pids.add(pid)

    def discard(self, pid: int) -> None:
        with self._lock:
            self._pids.discard(pid)

    def kill_all(self) -> None:
        with self._lock:
            pids = list(self._pids)
        for pid in pids:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


CHILDREN = Children()


@dataclass(frozen=True)
class Run:
    """A finished command."""

    argv: tuple[str, ...]
    exit_code: int
    output: str
    timed_out: bool = False


def run_command(argv: Sequence[str], cwd: Path, timeout: float, env: Mapping[str, str]) -> Run:
    """Run ``argv`` in its own process group; kill the whole group on timeout."""
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
        )
    except FileNotFoundError:
        return Run(tuple(argv), 127, f"{argv[0]}: command not found")
    except OSError as error:
        return Run(tuple(argv), 126, f"{argv[0]}: {error.strerror}")
    CHILDREN.add(proc.pid)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return Run(tuple(argv), proc.returncode, out.decode(errors="replace"))
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, _ = proc.communicate()
        return Run(tuple(argv), -9, out.decode(errors="replace"), timed_out=True)
    finally:
        CHILDREN.discard(proc.pid)


_COUNT_RE = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)\b")
_GUT_RE = re.compile(r"^\s*(Passing|Failing|Pending|Errors?)(?: Tests)?\s*[:=]?\s*(\d+)", re.MULTILINE)


def count_tests(output: str) -> dict[str, int]:
    """passed / failed / errors / skipped counted from pytest's or GUT's summary."""
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    found = False
    for number, word in _COUNT_RE.findall(output):
        key = {
            "error": "errors",
            "xfailed": "skipped",
            "xpassed": "passed",
            "deselected": "skipped",
        }.get(word, word)
        if key in counts:
            counts[key] = int(number)  # the last summary line wins
            found = True
    if not found:
        for word, number in _GUT_RE.findall(output):
            key = {"Passing": "passed", "Failing": "failed", "Pending": "skipped"}.get(word, "errors")
            counts[key] = int(number)
    return counts


@dataclass
class Sandbox:
    """A worktree and the rules for touching it."""

    root: Path
    protected: Callable[[str], bool] = lambda _path: False
    allowed_commands: Sequence[Sequence[str]] = ()
    shell_timeout: float = 60.0
    test_command: Sequence[str] = ()
    test_timeout: float = 600.0
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self._secrets = secret_values(self.env)
        self._child_env = clean_env(self.env)

    def resolve(self, path: Any, write: bool = False) -> Path:
        """``path`` inside the worktree, or ToolError saying why not."""
        if not isinstance(path, str) or not path.strip():
            raise ToolError("path must be a non-empty string relative to the project root")
        raw = path.strip()
        if raw.startswith(("/", "~")) or re.match(r"^[A-Za-z]:[\\/]", raw):
            raise ToolError(f"{raw}: absolute paths are refused; use a path relative to the project root")
        parts = Path(raw).parts
        if ".." in parts:
            raise ToolError(f"{raw}: '..' is refused; stay inside the project")
        if ".git" in parts:
            raise ToolError(f"{raw}: the .git folder is off limits")
        target = (self.root / raw).resolve()
        if not target.is_relative_to(self.root):
            raise ToolError(f"{raw}: leads outside the project (through a symlink)")
        relative = target.relative_to(self.root).as_posix()
        if relative.split("/")[0] == ".git":
            raise ToolError(f"{raw}: the .git folder is off limits")
        if write and self.protected(relative):
            raise ToolError(f"{relative}: this file belongs to the Refinery's tests; make the code pass them instead")
        return target

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    # ---- the tools -------------------------------------------------------------

    def read_file(self, path: str, start_line: int | None = None, end_line: int | None = None) -> str:
        target = self.resolve(path)
        if not target.is_file():
            raise ToolError(f"{path}: no such file")
        text = target.read_text(errors="replace")
        if start_line or end_line:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[(start_line or 1) - 1 : end_line or len(lines)])
        if len(text) > READ_LIMIT:
            text = text[:READ_LIMIT] + f"\n[... cut at {READ_LIMIT} characters; read a line range ...]"
        return redact(text, self._secrets)

    def write_file(self, path: str, content: str) -> str:
        target = self.resolve(path, write=True)
        if target.is_dir():
            raise ToolError(f"{path}: is a folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.parent.resolve() != target.parent or not target.parent.resolve().is_relative_to(self.root):
            raise ToolError(f"{path}: leads outside the project")
        if target.is_symlink():
            raise ToolError(f"{path}: is a symlink; write the file it points to inside the project")
        target.write_text(content)
        return f"wrote {self.relative(target)} ({len(content)} characters)"

    def list_dir(self, path: str = ".") -> str:
        target = self.resolve(path or ".")
        if not target.is_dir():
            raise ToolError(f"{path}: not a folder")
        names = sorted((p.name + ("/" if p.is_dir() else "")) for p in target.iterdir() if p.name != ".git")
        return "\n".join(names) or "(empty)"

    def directory_tree(self, path: str = ".", depth: int = 3) -> str:
        target = self.resolve(path or ".")
        if not target.is_dir():
            raise ToolError(f"{path}: not a folder")
        lines: list[str] = []

        def walk(folder: Path, level: int) -> None:
            for item in sorted(folder.iterdir()):
                if item.name in (".git", "__pycache__", ".pytest_cache") or len(lines) > 400:
                    continue
                lines.append("  " * level + item.name + ("/" if item.is_dir() else ""))
                if item.is_dir() and not item.is_symlink() and level + 1 < depth:
                    walk(item, level + 1)

        walk(target, 0)
        return "\n".join(lines) or "(empty)"

    def search(self, query: str, path: str = ".", regex: bool = False) -> str:
        target = self.resolve(path or ".")
        try:
            pattern = re.compile(query if regex else re.escape(query))
        except re.error as error:
            raise ToolError(f"search: bad regular expression: {error}") from None
        hits: list[str] = []
        files = [target] if target.is_file() else sorted(p for p in target.rglob("*") if p.is_file())
        for file in files:
            if ".git" in file.relative_to(self.root).parts or file.is_symlink():
                continue
            try:
                text = file.read_text()
            except (UnicodeDecodeError, OSError):
                continue
            for number, line in enumerate(text.splitlines(), 1):
                if pattern.search(line):
                    hits.append(f"{self.relative(file)}:{number}: {line.strip()[:200]}")
                    if len(hits) >= 50:
                        return "\n".join(hits) + "\n[... more matches cut ...]"
        return "\n".join(hits) or "no matches"

    def run_tests(self) -> tuple[str, Run, dict[str, int]]:
        if not self.test_command:
            raise ToolError("this rig has no test command")
        run = run_command(self.test_command, self.root, self.test_timeout, self._child_env)
        counts = count_tests(run.output)
        status = "timed out" if run.timed_out else f"exit {run.exit_code}"
        summary = ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "no test counts found"
        text = f"{' '.join(run.argv)}: {status}; {summary}\n{tail(redact(run.output, self._secrets), 6000)}"
        return text, run, counts

    def shell_exec(self, command: Any) -> str:
        argv = shlex.split(command) if isinstance(command, str) else list(command or [])
        if not argv or not all(isinstance(a, str) for a in argv):
            raise ToolError("shell_exec: give a command line as a string")
        allowed = any(tuple(argv[: len(prefix)]) == tuple(prefix) for prefix in self.allowed_commands)
        if not allowed:
            choices = "; ".join(" ".join(p) for p in self.allowed_commands) or "none"
            raise ToolError(f"shell_exec: {argv[0]!r} is not allowed in this rig (allowed: {choices})")
        run = run_command(argv, self.root, self.shell_timeout, self._child_env)
        if run.timed_out:
            return f"timed out after {self.shell_timeout:.0f}s\n{tail(redact(run.output, self._secrets))}"
        return f"exit {run.exit_code}\n{tail(redact(run.output, self._secrets))}"


TOOL_SCHEMAS: dict[str, dict[str, Any]] = {
    "read_file": {
        "description": "Read a text file of the project.",
        "parameters": {
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "relative to the project root"},
                "start_line": {"type": "integer"},
                "end_line": {"type": "integer"},
            },
            "required": ["path"],
        },
    },
    "write_file": {
        "description": "Create or replace a file with the given content.",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["path", "content"],
        },
    },
    "list_dir": {
        "description": "List a folder.",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
    },
    "directory_tree": {
        "description": "Show the folder tree.",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "depth": {"type": "integer"}},
        },
    },
    "search": {
        "description": "Find lines containing text (or matching a regular expression).",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "path": {"type": "string"},
                "regex": {"type": "boolean"},
            },
            "required": ["query"],
        },
    },
    "run_tests": {
        "description": "Run the project's tests and see the result.",
        "parameters": {"type": "object", "properties": {}},
    },
    "shell_exec": {
        "description": "Run one allowed command in the project folder.",
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "string"}},
            "required": ["command"],
        },
    },
    "ask_crew": {
        "description": "Ask the rig's Crew a question about this project; it answers from the project's files.",
        "parameters": {
            "type": "object",
            "properties": {"question": {"type": "string"}},
            "required": ["question"],
        },
    },
    "finish": {
        "description": "Say the work is done (or cannot be done) with a one-paragraph summary.",
        "parameters": {
            "type": "object",
            "properties": {"summary": {"type": "string"}},
            "required": ["summary"],
        },
    },
}


def openai_tools(names: Iterable[str]) -> list[dict[str, Any]]:
    """The tools in the OpenAI ``tools`` format."""
    return [{"type": "function", "function": {"name": n, **TOOL_SCHEMAS[n]}} for n in names]


def call_schema(names: Iterable[str]) -> dict[str, Any]:
    """One tool call as a JSON object, for servers that hold replies to a schema."""
    return {
        "oneOf": [
            {
                "type": "object",
                "properties": {"name": {"const": n}, "arguments": TOOL_SCHEMAS[n]["parameters"]},
                "required": ["name", "arguments"],
            }
            for n in names
        ]
    }


def describe(names: Iterable[str]) -> str:
    """The tools as prose, for a prompt (when they are not passed as ``tools``)."""
    lines = ['Reply with exactly one tool call as a JSON object: {"name": TOOL, "arguments": {...}}.', "Tools:"]
    for name in names:
        params = TOOL_SCHEMAS[name]["parameters"].get("properties", {})
        args = ", ".join(params) or "no arguments"
        lines.append(f"- {name}({args}): {TOOL_SCHEMAS[name]['description']}")
    return "\n".join(lines)


def parser_specs(names: Iterable[str]) -> dict[str, ToolSpec]:
    specs = {}
    for name in names:
        params = TOOL_SCHEMAS[name]["parameters"]
        props = {k: v.get("type", "string") for k, v in params.get("properties", {}).items()}
        specs[name] = ToolSpec(name, tuple(params.get("required", ())), props)
    return specs
