"""Where each bug fix's fault ranks among its suspect lines, and what the traced run costs.

    python bench/suspects.py [--suite starter|DIR]... [--beads KEY,...]

A bug fix's tries after its first ask about the lines its failing tests run, most
suspect first (gastown/agents/suspects.py). For each Polecat bead of a suite whose
solution changes one Python module that is not a test, this copies the suite's project,
runs the bead's test files once as the rig runs them and once under the line tracer,
ranks the lines as a watcher does, and prints where the solution's lines rank: the first
suspect that holds a line the solution changes, or beside which it adds one (a held-out
suite's solution is its library whole: another bead's fault in the same module counts too,
though the suspects keep to the definition the bead names). A rank past
the list (``-``) is a fault the sweep cannot find; each rank is one ask of a few seconds
before it (two passes: the same rank again in the second). Beads that are no bug fix
(their module lacks what the tests import) are left out.
"""

from __future__ import annotations

import argparse
import difflib
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prompt import fail  # noqa: E402

from gastown.agents import checks, reports, suspects  # noqa: E402
from gastown.agents.commands import count_tests  # noqa: E402
from gastown.agents.tools import Sandbox  # noqa: E402
from gastown.errors import GastownError  # noqa: E402
from gastown.evaluation import load_suite  # noqa: E402
from gastown.evaluation.suite import SuiteBead  # noqa: E402


def fault_lines(found: str, solved: str) -> set[int]:
    """The lines of ``found`` (1-based) that the solution changes, and those it adds a line beside."""
    lines: set[int] = set()
    matcher = difflib.SequenceMatcher(a=found.splitlines(), b=solved.splitlines(), autojunk=False)
    for tag, first, last, _new_first, _new_last in matcher.get_opcodes():
        if tag in ("replace", "delete"):
            lines.update(range(first + 1, last + 1))
        elif tag == "insert":
            lines.update({first, first + 1})
    return lines


def solved_module(project: Path, solution: Path, text: str) -> tuple[str, set[int]] | None:
    """The Python module (not a test) the solution changes, and its fault lines: the one it
    changes, or the one of them the bead's ``text`` names (a held-out suite's solution is
    the library whole, every bead's fault mended in it)."""
    changed = []
    for path in sorted(solution.rglob("*.py")):
        relative = str(path.relative_to(solution))
        found = project / relative
        if "test" in Path(relative).name or not found.is_file():
            continue
        if found.read_text() != path.read_text():
            changed.append((relative, fault_lines(found.read_text(), path.read_text())))
    named = [(path, lines) for path, lines in changed if path in text]
    return changed[0] if len(changed) == 1 else named[0] if len(named) == 1 else None


def measure(project: Path, command: tuple[str, ...], item: SuiteBead) -> str | None:
    """One row: the plain and the traced run's seconds, the suspects, the fault's rank."""
    assert item.solution is not None
    solved = solved_module(project, item.solution, f"{item.title}\n{item.description}")
    if solved is None:
        return None
    path, faults = solved
    box = Sandbox(project, test_command=command, test_timeout=300)
    files = sorted({test.split("::")[0] for test in item.acceptance_tests})
    began = time.monotonic()
    plain = box.run_tests(files)[1]
    plain_s = time.monotonic() - began
    if not count_tests(plain.output).get("failed"):  # nothing fails: no bug to look for
        return None

    def run(argv: list[str], until: float | None) -> tuple[int, str]:
        ran = box.run_for_tests(argv, until)
        return ran.exit_code, ran.output

    began = time.monotonic()
    found = suspects.spectra(run, command, path, item.acceptance_tests)
    traced_s = time.monotonic() - began
    if found is None:
        return f"{item.key:<20} {plain_s:>7.1f} {traced_s:>8.1f}   (the tracer said nothing)"
    texts = [item.title, item.description]
    names = {next(g for g in group if g) for text in texts for group in checks.CODE_NAME_RE.findall(text)}
    text = (project / path).read_text()

    def failing(test: str) -> bool:
        return any(checks.selects(selector, test) for selector in item.acceptance_tests)

    ranked = suspects.ranked(text, path, found, failing, names, reported=reports.names_reported(texts))
    rank = next((n for n, s in enumerate(ranked, 1) if faults & set(range(s.first, s.last + 1))), None)
    where = f"{ranked[rank - 1].owner}:{ranked[rank - 1].first}" if rank else ""
    shown = str(rank) if rank else "-"
    return f"{item.key:<20} {plain_s:>7.1f} {traced_s:>8.1f} {len(ranked):>9} {shown:>5}  {where}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--suite", action="append", help="a shipped suite's name or a folder, repeatable (default: starter)"
    )
    parser.add_argument("--beads", default="", help="only these beads, by key (comma-separated)")
    args = parser.parse_args()
    try:
        suites = [load_suite(name) for name in args.suite or ["starter"]]
    except GastownError as error:
        fail(error.message, error.hint, error.exit_code)
    keys = {key.strip() for key in args.beads.split(",") if key.strip()}
    known = {item.key for suite in suites for item in suite.beads}
    if keys - known:
        where = ", ".join(suite.path.name for suite in suites)
        fail(f"no bead {sorted(keys - known)[0]!r} in {where}", f"the beads there: {', '.join(sorted(known))}")
    print(f"{'bead':<20} {'plain s':>7} {'traced s':>8} {'suspects':>9} {'rank':>5}  the fault's line")
    for suite in suites:
        for item in suite.beads:
            if item.role != "polecat" or item.solution is None or (keys and item.key not in keys):
                continue
            command = tuple(sys.executable if part == "{python}" else part for part in suite.rig["test_command"])
            with tempfile.TemporaryDirectory() as scratch:
                project = Path(scratch) / "project"
                shutil.copytree(suite.project, project)
                row = measure(project, command, item)
            if row is not None:
                print(row, flush=True)


if __name__ == "__main__":
    main()
