"""How ``gt eval`` judges work: by running the work's own tests, never from the worker's report.

* a bead with acceptance tests (a Polecat's): they run with the rig's test command on
  ``bead/<id>`` in a scratch checkout, the original test files put back first; passed is
  the rule of a watcher's done check (``checks.TestRun.passed``);
* a Refinery test bead: the tests it wrote must fail on the suite's stub implementation
  and pass on its reference implementation;
* a Crew question: the answer must hold the expected facts and cite one of the sources;
* a Mayor plan: ``gt mayor plan --dry-run`` must give a plan that ``planner.check_plan``
  accepts and that has tests beads for the code to wait on.

``check_suite`` turns the judges on the suite itself: each must reject the project as it
starts and accept the bead's solution.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from gastown.agents import checks, crew
from gastown.agents.commands import Run, run_command
from gastown.agents.jail import Jail
from gastown.agents.rig import Rig
from gastown.evaluation.suite import AUTHOR, Suite, SuiteBead, Workspace, prepare, select
from gastown.mayor import planner
from gastown.town import config as configmod
from gastown.town.git import clean_env
from gastown.town.riggit import RigGit
from gastown.town.secrets import Secrets

# Files that decide how tests are collected: a worker's change to them is undone too.
GUARDED_NAMES = {"conftest.py", "pytest.ini"}


@contextmanager
def checkout(rig_path: Path, ref: str, scratch: Path) -> Iterator[Path]:
    """A detached scratch worktree of ``ref``, removed afterwards."""
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.parent.mkdir(parents=True, exist_ok=True)
    rig = RigGit(rig_path)
    rig.worktree_add_detached(scratch, ref)
    try:
        yield scratch
    finally:
        rig.worktree_remove(scratch)  # best effort, logged; the folder is cleared before any reuse


def _changed(tree: Path, base: str) -> list[str]:
    return RigGit(tree).diff_names(base, "HEAD")


def restore(tree: Path, base: str, rig: Rig, tests: Sequence[str]) -> list[str]:
    """Put back the test files the branch changed (as of ``base``); the paths undone."""
    files = {t.split("::")[0] for t in tests}
    guarded = [p for p in _changed(tree, base) if rig.is_protected(p) or p in files]
    if not guarded:
        return []
    original = RigGit(tree).files_at(base, guarded)
    RigGit(tree).restore_files(base, original)
    for path in set(guarded) - set(original):
        (tree / path).unlink(missing_ok=True)  # a file the worker added among the tests
    return sorted(guarded)


def run_tests(rig: Rig, tree: Path, args: Sequence[str], jail: Jail) -> Run:
    """The rig's test command on ``args`` in ``tree`` (with ``-rA`` for pytest: each test's outcome)."""
    env = Secrets.of(os.environ).strip(clean_env({"PYTHONDONTWRITEBYTECODE": "1"}))  # the branch is model-written
    report = ["-rA"] if checks.is_pytest(rig.test_command) else []
    return run_command([*rig.test_command, *report, *args], tree, rig.test_timeout, env, jail)


NO_TEST_FOUND = "no test was found"
# what pytest says of a path or an id on its command line that names nothing (exit 4)
_NOT_THERE_RE = re.compile(r"^ERROR: (?:not found|file or directory not found): ", re.MULTILINE)


def judged(run: Run, pytest: bool = False) -> tuple[bool, str]:
    """Whether a test run passed, by the rule of a watcher's done check, and a line saying how.
    With ``pytest``, a run that collected nothing (exit 5) or was given a path or an id that
    names nothing says that, not that the tests failed (exit 4 is also a conftest.py that
    does not import: a failure)."""
    found = checks.read_run(run)
    said = ", ".join(f"{v} {k}" for k, v in found.counts.items() if v)
    if found.passed:
        return True, said or "exit 0"
    if run.timed_out:
        return False, "the tests timed out"
    if run.exit_code == 0:
        return False, f"no test passed ({said})"
    failures = [line.strip() for line in run.output.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    errors = [line.strip() for line in run.output.splitlines() if line.startswith("E   ")]
    detail = "; ".join([*failures[:2], *errors[:1]]) or _last_line(run.output)
    missing = _NOT_THERE_RE.search(run.output) if run.exit_code == 4 else None
    if pytest and not said and (run.exit_code == 5 or missing):
        if missing:  # pytest's line names the path or id
            detail = run.output[missing.start() :].splitlines()[0].strip()
        return False, f"{NO_TEST_FOUND} (pytest exit {run.exit_code}: {detail[:300]})"
    return False, f"{said or 'no test counts'} (exit {run.exit_code}): {detail[:400]}"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _has_ref(rig: Rig, ref: str) -> bool:
    return RigGit(rig.path).resolve(ref) is not None


def verify_tests(rig: Rig, base: str, branch: str, tests: Sequence[str], scratch: Path, jail: Jail) -> tuple[bool, str]:
    """A Polecat's work: the acceptance tests on ``branch``, the original test files restored."""
    if not _has_ref(rig, branch):
        return False, f"no branch {branch}: the worker never started on the bead"
    with checkout(rig.path, branch, scratch) as tree:
        untouched = RigGit(tree).head() == base
        undone = restore(tree, base, rig, tests)
        ok, said = judged(run_tests(rig, tree, tests, jail), checks.is_pytest(rig.test_command))
    notes = []
    if untouched:
        notes.append("the branch has no commits")
    if undone:
        notes.append(f"its changes to {', '.join(undone)} were undone first")
    why = f"acceptance tests {'passed' if ok else 'failed'}: {said}"
    return ok, why + (f" ({'; '.join(notes)})" if notes else "")


def lay_over(overlay: Path, tree: Path) -> None:
    """Copy every file under ``overlay`` onto ``tree`` at the same relative path."""
    for path in sorted(overlay.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            target = tree / path.relative_to(overlay)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def verify_written_tests(
    rig: Rig,
    base: str,
    branch: str,
    stub: Path,
    reference: Path,
    expected: Sequence[str],
    scratch: Path,
    jail: Jail,
) -> tuple[bool, str]:
    """A Refinery's tests: they must fail on the stub and pass on the reference implementation."""
    if not _has_ref(rig, branch):
        return False, f"no branch {branch}: the worker never started on the bead"
    with checkout(rig.path, branch, scratch) as tree:
        changed = [p for p in _changed(tree, base) if (tree / p).is_file()]
        written = [p for p in expected if (tree / p).is_file()] or [
            p for p in changed if rig.is_test_path(p) and PurePosixPath(p).name not in {*GUARDED_NAMES, "__init__.py"}
        ]
        if not written:
            wanted = ", ".join(expected) or ", ".join(rig.test_paths)
            return False, f"it wrote no test files ({wanted})"
        results = []
        for overlay in (stub, reference):
            RigGit(tree).discard_changes()
            lay_over(overlay, tree)
            results.append(judged(run_tests(rig, tree, written, jail)))
    (stub_ok, stub_said), (ref_ok, ref_said) = results
    files = ", ".join(written)
    if not ref_ok:
        return False, f"{files} fail on the reference implementation: {ref_said}"
    if stub_ok:
        return False, f"{files} pass on the stub too ({stub_said}): they miss what the stub gets wrong"
    return True, f"{files} fail on the stub and pass on the reference ({ref_said})"


def judge_answer(summary: str, facts: Sequence[Sequence[str]], sources: Sequence[str]) -> tuple[bool, str]:
    """A Crew answer: every fact (any of its forms) in the model's text, and a path cited."""
    text, _, cited = summary.partition("\n\nSources: ")
    if text.startswith(crew.EXCERPTS_HEAD):
        return False, "no model answered: the Crew fell back to quoting excerpts"
    if crew.NOT_FOUND[:40] in text:
        return False, "the Crew said the answer is not in the rig's files"
    lowered = text.lower()
    missing = [" or ".join(forms) for forms in facts if not any(f.lower() in lowered for f in forms)]
    if missing:
        return False, f"the answer lacks {', '.join(repr(m) for m in missing)}: {' '.join(text.split())[:200]}"
    named = [s for s in sources if s in summary] if sources else [c.strip() for c in cited.split(",") if c.strip()]
    if not named:
        return False, f"the answer cites none of {', '.join(sources) or 'the rig files'}"
    return True, f"holds {len(facts)} expected fact(s), cites {', '.join(named)}"


def judge_plan(output: Mapping[str, Any]) -> tuple[bool, str]:
    """``gt mayor plan --json``'s output: the plan schema, tests first, tests beads present."""
    beads = [b for b in output.get("beads") or () if isinstance(b, Mapping)]
    keys = {str(b.get("id")): str((b.get("metadata") or {}).get("plan_key") or b.get("id")) for b in beads}
    items = [
        {
            "key": keys[str(b.get("id"))],
            "title": b.get("title"),
            "role": b.get("role"),
            "kind": (b.get("labels") or ["code"])[0],
            "estimated_tokens": b.get("estimated_tokens") or 1,
            "depends_on": [
                keys[d["id"]]
                for d in b.get("dependencies") or ()
                if isinstance(d, Mapping) and d.get("type", "blocks") == "blocks" and d.get("id") in keys
            ],
        }
        for b in beads
    ]
    convoy = output.get("convoy")
    title = convoy.get("title") if isinstance(convoy, Mapping) else None
    plan = {"title": title or "plan", "plan": output.get("plan") or "-", "beads": items}
    problems = planner.check_plan(plan)
    kinds = [str(item["kind"]) for item in items]
    if "tests" not in kinds:
        problems.append("the plan has no tests (Refinery) bead for the code to wait on")
    by_key = {str(item["key"]): item for item in items}
    for item in items:
        if item["kind"] == "code" and "tests" in kinds and not _reaches_tests(str(item["key"]), by_key):
            problems.append(f"code bead {item['key']!r} does not wait on any tests bead")
    if problems:
        return False, f"the plan is not acceptable: {'; '.join(problems[:3])}"
    attempts = output.get("attempts")
    return True, (
        f"a valid plan: {len(items)} beads ({kinds.count('tests')} tests, {kinds.count('code')} code)"
        + (f" in {attempts} attempt(s)" if attempts else "")
    )


def _reaches_tests(key: str, by_key: Mapping[str, Mapping[str, Any]]) -> bool:
    seen: set[str] = set()
    todo = list(by_key[key]["depends_on"])
    while todo:
        current = todo.pop()
        if current in seen or current not in by_key:
            continue
        seen.add(current)
        if by_key[current]["kind"] == "tests":
            return True
        todo.extend(by_key[current]["depends_on"])
    return False


def check_suite(suite: Suite, role: str | None = None, keys: Sequence[str] = ()) -> list[tuple[str, bool, str]]:
    """Is each chosen bead fair? Its judge must reject the project as it starts and accept the
    bead's ``solution`` overlay; a question's facts must be in its sources. (key, ok, why)."""
    chosen = select(suite, role, keys)  # the same choice as a run: an unknown role or key is refused
    found: list[tuple[str, bool, str]] = []
    root = Path(tempfile.mkdtemp(prefix="gt-eval-check-"))
    try:
        ws = prepare(suite, root, configmod.TownConfig(), None, ())
        for bead in chosen:
            found.append((bead.key, *_fair(ws, suite, bead)))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return found


def _fair(ws: Workspace, suite: Suite, bead: SuiteBead) -> tuple[bool, str]:
    if bead.judge == "plan":
        return True, "a plan is judged by its schema and order (nothing to check without a model)"
    if bead.judge == "answer":
        texts = " ".join(_read(suite.project / s) for s in bead.sources).lower()
        absent = [" or ".join(f) for f in bead.facts if not any(form.lower() in texts for form in f)]
        if not bead.sources:
            return False, "a question needs judge.sources to be checked"
        if absent:
            return False, f"its sources do not hold {', '.join(repr(a) for a in absent)}"
        return True, "its facts are in its sources"
    if bead.solution is None:
        return False, "no judge.solution to check it with"
    scratch = ws.root / "verify" / bead.key
    start = f"check/{bead.key}/start"
    solved = f"check/{bead.key}/solution"
    rig = RigGit(ws.rig.path)
    rig.create_branch(start, ws.base)
    rig.create_branch(solved, ws.base)
    with checkout(ws.rig.path, solved, scratch) as tree:
        RigGit(tree).switch(solved)
        lay_over(bead.solution, tree)
        RigGit(tree).stage_all()
        RigGit(tree).commit_staged(f"the solution of {bead.key}", AUTHOR)
    outcomes = []
    jail = Jail(policy=ws.rig.sandbox)
    for branch in (start, solved):
        if bead.judge == "tests":
            outcomes.append(verify_tests(ws.rig, ws.base, branch, bead.acceptance_tests, scratch, jail))
        else:
            assert bead.stub is not None and bead.reference is not None
            outcomes.append(
                verify_written_tests(ws.rig, ws.base, branch, bead.stub, bead.reference, bead.tests, scratch, jail)
            )
    (start_ok, start_why), (solved_ok, solved_why) = outcomes
    if start_ok:
        return False, f"it passes before any work: {start_why}"
    if not solved_ok and NO_TEST_FOUND in solved_why:
        return False, f"its acceptance tests name no test there is: {solved_why}; check each path and id"
    if not solved_ok:
        return False, f"its solution does not pass: {solved_why}"
    return True, f"fails at the start, passes with its solution ({solved_why})"


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
