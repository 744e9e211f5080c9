"""The control of ``gt eval --runtime plain``: one plain prompt a bead, and no loop.

It is what gastown's loop has to beat. The model gets one message: the bead's text, the
rig's documents, the acceptance tests' source, the files the bead names and the rig files
the tests import -- whole, in that order, as many as its context holds -- and is asked for
the files a person would name (``targets``), whole. The files of its answer are written as
they come (no merge into the module, no outline, no tools, no test run, no second try),
committed on a branch of the rig, and judged exactly as the loop's branch is.

Only beads whose work is files have a control: a Polecat's (judged by its acceptance
tests) and a Refinery's (judged by the tests it writes). A Crew question or a Mayor plan
is left out of the plain run.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from gastown.agents import briefing, checks, fileblocks, prompts, toolcalls
from gastown.agents.jail import Jail
from gastown.errors import GastownError
from gastown.evaluation.judge import checkout, verify_tests, verify_written_tests
from gastown.evaluation.report import BeadRun, ModelRun
from gastown.evaluation.suite import AUTHOR, SuiteBead, Workspace, repeat_label, tagged
from gastown.machine.providers import ModelClient, PastDeadline, Reply
from gastown.town import tokens
from gastown.town.riggit import RigGit

RUNTIME = "plain"
JUDGES = ("tests", "tests-written")  # the beads whose work is files
REPLY_TOKENS = 2048  # at least: a whole module comes back in one reply
POLL = 0.1  # how often a wait for the reply looks at the stop flag

SYSTEM = "You are an expert programmer. You change a project's files to do the task you are given."
FORM = "its path on a line of its own, then the whole file in one fenced code block (```python ... ```)"
_FENCED = re.compile(
    r"(?:^|\n)(?P<indent>[ \t]*)```[\w+-]*[ \t]*\n(?P<body>.*?)" + fileblocks.close_fence("indent"), re.DOTALL
)


def runs_plain(bead: SuiteBead) -> bool:
    """Whether ``bead`` has a control: its work is files."""
    return bead.judge in JUDGES


def branch_of(bead: SuiteBead, repeat: int = 1) -> str:
    """The rig branch a bead's plain answer is committed on."""
    return f"eval/plain/{tagged(bead.key, repeat)}"


class _Stopped(Exception):
    """The eval was stopped while the model was answering."""


def targets(bead: SuiteBead, root: Path, files: Sequence[str], named: Sequence[str], tests: Sequence[str]) -> list[str]:
    """The files a person asking would name: the test files to write (a Refinery's bead), else
    the rig files the bead's text names and the modules its ``tests`` import that do not exist."""
    if bead.judge == "tests-written":
        return list(bead.tests)
    return list(dict.fromkeys([*named, *briefing.missing_files(root, tests, files)]))


def prompt(
    bead: SuiteBead, root: Path, docs: Sequence[str], is_test_path: Callable[[str], bool], limit_tokens: int
) -> tuple[str, list[str]]:
    """The one message (the bead, the rig's documents, then the files, whole while they fit,
    then what to answer), and the files it asks for."""
    files = RigGit(root).files()
    texts = (bead.title, bead.description, bead.acceptance_criteria)
    tests = [t for t in bead.acceptance_tests if (root / t.split("::")[0]).is_file()]
    wanted = targets(bead, root, files, checks.named_files(texts, files, is_test_path), tests)
    head = ["# Task\n\n" + "\n\n".join(t.strip() for t in texts if t.strip())]
    if bead.acceptance_tests:
        head.append(f"These tests must pass: {', '.join(bead.acceptance_tests)}.")
    for path, text in prompts.read_docs(root, docs):
        head.append(f"# {path}\n\n{prompts.readable(text)[: prompts.DOC_LIMIT]}")
    if len(wanted) == 1:
        ask = f"Write the complete new {wanted[0]}, from its first line to its last, in one ```python block."
    elif wanted:
        ask = f"Write the complete new content of each file you change of {', '.join(wanted)}: {FORM}."
    else:
        ask = f"Write the complete new content of every file you create or change: {FORM}."
    head_text = "\n\n".join(head)
    shown = briefing.shown_files(root, tests, files, [w for w in wanted if (root / w).is_file()])
    room = tokens.tokens_to_chars(limit_tokens) - len(head_text) - len(ask)
    parts = [head_text]
    for path, text in prompts.fit_files(shown, max(room, 0), rest=""):
        parts.append(f"{path}:\n{prompts.fence(path)}\n{text.rstrip()}\n```")
    parts.append(ask)
    return "\n\n".join(parts) + "\n", wanted


def answer_files(content: str, wanted: Sequence[str] = ()) -> list[tuple[str, str]]:
    """``(path, text)`` of each whole file in a reply; a path leaving the rig is dropped. Asked
    for one file, a reply of code blocks under no path gives that file its longest block."""
    parsed = toolcalls.parse(None, content, {"write_file": toolcalls.ToolSpec("write_file")})
    found: dict[str, str] = {}
    for call in parsed.calls:
        path, text = call.arguments.get("path"), call.arguments.get("content")
        if call.name != "write_file" or not isinstance(path, str) or not isinstance(text, str):
            continue
        pure = PurePosixPath(path.strip().removeprefix("./"))
        if pure.is_absolute() or ".." in pure.parts or not pure.parts or pure.parts[0] == ".git":
            continue
        found[str(pure)] = text
    blocks = [m.group("body") for m in _FENCED.finditer(content)]
    if not found and len(wanted) == 1 and blocks:
        found[wanted[0]] = max(blocks, key=len).rstrip("\n") + "\n"
    return list(found.items())


def _ask(
    client: ModelClient, messages: list[dict[str, Any]], max_tokens: int, until: float, stop: threading.Event
) -> Reply:
    """The call, in a thread so that a stop need not wait for the reply (the server is stopped after)."""
    result: list[Reply] = []
    failed: list[BaseException] = []

    def call() -> None:
        try:
            result.append(client.chat(messages, max_tokens=max_tokens, temperature=0.2, until=until))
        except BaseException as error:  # handed to the eval's thread
            failed.append(error)

    thread = threading.Thread(target=call, name="plain-call", daemon=True)
    thread.start()
    while thread.is_alive() and not stop.is_set():
        thread.join(POLL)
    if failed:
        raise failed[0]
    if not result:
        raise _Stopped
    return result[0]


def write(tree: Path, files: Sequence[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """Write each file into ``tree``: (written, skipped). One that would land outside it (``..``,
    a link), over a folder, or where the file system refuses (a path through a file) is skipped."""
    inside = tree.resolve()
    written: list[str] = []
    skipped: list[str] = []
    for path, body in files:
        target = tree / path
        try:
            if target.resolve().is_relative_to(inside) and not target.is_symlink() and not target.is_dir():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(body)
                written.append(path)
                continue
        except OSError:
            pass
        skipped.append(path)
    return written, skipped


def _said(written: Sequence[str], skipped: Sequence[str]) -> str:
    said = f"wrote {', '.join(written)}" if written else "no file written"
    return said + (f"; not written (outside the project, or refused): {', '.join(skipped)}" if skipped else "")


def plain_bead(
    ws: Workspace,
    bead: SuiteBead,
    model: str,
    client: ModelClient,
    budget: float,
    jail: Jail,
    stop: threading.Event,
    repeat: int = 1,
) -> BeadRun:
    """One prompt for ``bead`` on the project as it starts, the answer's files committed on
    ``eval/plain/<key>``, then judged as the loop's work is. ``logs/plain-<key>.md`` keeps the
    prompt and the answer (or why there is none) for a person reading a kept town. From the
    second ``repeat`` on, ``<key>.rN`` names both."""
    spec = client.spec
    reply_tokens = min(max(spec.max_output_tokens, REPLY_TOKENS), spec.context // 2)
    started = time.monotonic()
    run = BeadRun(model, bead.key, bead.kind, bead.role, "failed", "", 0.0, tries=1, runtime=RUNTIME, repeat=repeat)
    branch = branch_of(bead, repeat)
    name = tagged(bead.key, repeat)
    record = ws.logs / f"plain-{name}.md"
    with checkout(ws.rig.path, ws.base, ws.root / "plain" / name) as tree:
        budget_tokens = briefing.prompt_budget(spec, reply_tokens)
        text, wanted = prompt(bead, tree, ws.rig.docs, ws.rig.is_test_path, budget_tokens)
        record.write_text(f"# The prompt\n\n{text}\n")
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]
        try:
            reply = _ask(client, messages, reply_tokens, started + budget, stop)
        except _Stopped:
            run.why = "interrupted: not judged"
        except PastDeadline:
            run.timed_out = True
            run.why = f"timed out after {budget:.0f}s: the reply had not ended"
        except GastownError as error:
            run.why = f"the model call failed: {error.message}"
        else:
            if stop.is_set():
                run.why = "interrupted: not judged"
        if run.why:
            run.wall_s = time.monotonic() - started
            with record.open("a") as handle:
                handle.write(f"# No answer\n\n{run.why}\n")
            return run
        with record.open("a") as handle:
            handle.write(f"# The answer ({reply.finish_reason})\n\n{reply.content or '(no text)'}\n")
        written, skipped = write(tree, answer_files(reply.content or "", wanted))
        git = RigGit(tree)
        git.stage_all()
        sha = git.commit_staged(f"{bead.key}: the plain answer of {model}", AUTHOR) or ws.base
        RigGit(ws.rig.path).set_ref(f"refs/heads/{branch}", sha)
    run.wall_s = time.monotonic() - started
    usage = reply.usage
    run.tokens_in, run.tokens_out, run.model_s = usage.tokens_in, usage.tokens_out, usage.seconds
    run.prefill_tps, run.decode_tps = usage.prefill_tps, usage.decode_tps
    run.cached_tokens = usage.cached_tokens or 0
    run.cache_basis = usage.tokens_in if usage.cached_tokens is not None else 0
    run.reported = _said(written, skipped)
    judged_at = ws.root / "verify" / f"plain-{name}"
    if bead.judge == "tests":
        ok, why = verify_tests(ws.rig, ws.base, branch, bead.acceptance_tests, judged_at, jail)
    else:
        assert bead.stub is not None and bead.reference is not None
        ok, why = verify_written_tests(ws.rig, ws.base, branch, bead.stub, bead.reference, bead.tests, judged_at, jail)
    run.verdict, run.why = ("passed" if ok else "failed"), why
    return run


def run_plain(
    ws: Workspace,
    run: ModelRun,
    beads: Sequence[SuiteBead],
    client: ModelClient,
    budget_of: Callable[[SuiteBead], float],
    jail: Jail,
    say: Callable[[str], None],
    stop: threading.Event,
    repeat: int = 1,
    repeats: int = 1,
) -> None:
    """Each bead whose work is files asked once, with no loop, into ``run`` (repeat ``repeat`` of ``repeats``)."""
    chosen = [b for b in beads if runs_plain(b)]
    where = repeat_label(repeat, repeats)
    for n, bead in enumerate(chosen, 1):
        if stop.is_set():
            return
        budget = budget_of(bead)
        say(f"{run.label}: {where}bead {n}/{len(chosen)} {bead.key} ({bead.role}, one prompt, {budget:.0f}s budget)")
        done = plain_bead(ws, bead, run.model, client, budget, jail, stop, repeat)
        if stop.is_set():
            return
        run.beads.append(done)
        say(f"{run.label}: {where}{bead.key} {done.verdict} in {done.wall_s:.1f}s: {done.why}")
