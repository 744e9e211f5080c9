"""The first prompt's size per bead of the shipped suites: files shown whole against outlined.

    python bench/prompt.py [--suite starter|inflection|DIR]... [--show KEY]

On a CPU a local model reads its prompt at a few dozen tokens a second before it writes a
word (2 cores, Qwen2.5-Coder-1.5B: ~30 ms a token), so the first prompt's size is the
first call's wait. For each Polecat bead this builds the prompt a watcher would send —
system text, the bead, its tests and the files they import, how they fail now (a real
pytest run in a copy of the suite's project) — once with long files outlined around what
the bead is about (as gastown does) and once with every file whole, and prints the tokens
by gastown's estimate (3 characters a token: it runs ~1.3x over what Qwen's tokenizer
counts, so read the ratio). ``--show KEY`` prints that bead's first prompt as gastown sends it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import NoReturn
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gastown.agents import briefing, checks, focus, rig
from gastown.agents.agent import BASE_TOOLS  # noqa: E402
from gastown.agents.tools import Sandbox  # noqa: E402
from gastown.errors import EXIT_USAGE, GastownError  # noqa: E402
from gastown.evaluation import load_suite  # noqa: E402
from gastown.town import tokens
from gastown.town.bead import Bead  # noqa: E402
from gastown.town.roster import ModelSpec  # noqa: E402

NAMES = BASE_TOOLS
SPEC = ModelSpec("bench", "bench", context=16384, max_output_tokens=2048)


def first_prompt(project: Path, suite_rig: dict, bead: Bead, outlined: bool) -> list[dict]:
    command = tuple(sys.executable if part == "{python}" else part for part in suite_rig["test_command"])
    the_rig = rig.Rig(
        name=suite_rig["name"],
        path=project,
        test_command=command,
        test_paths=tuple(suite_rig.get("test_paths", ("tests/**",))),
        docs=tuple(suite_rig.get("docs", rig.DEFAULT_DOCS)),
    )
    files = sorted(
        str(p.relative_to(project)) for p in project.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )
    sandbox = Sandbox(project, test_command=command, test_timeout=120)
    check = checks.Checks(sandbox, bead.acceptance_tests)
    check.baseline()
    now = check.run()
    budget = briefing.prompt_budget(SPEC, 1024)
    with mock.patch.object(focus, "OUTLINE_LINES", focus.OUTLINE_LINES if outlined else 10**9):
        head = briefing.first_messages(
            bead=bead,
            root=project,
            rig=the_rig,
            role="polecat",
            role_prompt=rig.builtin_prompt("polecat").text,
            spec=SPEC,
            names=NAMES,
            acceptance=bead.acceptance_tests,
            files=files,
            now=now,
            wanted=(),
            tests_decide=True,
            files_chars=tokens.tokens_to_chars(int(budget * 0.5)),
        )
    return list(head.messages)


def prompt_tokens(project: Path, suite_rig: dict, bead: Bead, outlined: bool) -> int:
    head = first_prompt(project, suite_rig, bead, outlined)
    return sum(tokens.estimate(m["content"]) for m in head) + briefing.tools_overhead(SPEC, NAMES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", action="append", help="a shipped suite's name or a folder (default: both)")
    parser.add_argument("--show", metavar="KEY", help="print this bead's first prompt instead of the table")
    args = parser.parse_args()
    try:
        suites = [load_suite(name) for name in args.suite or ["starter", "inflection"]]
    except GastownError as error:
        fail(error.message, error.hint, error.exit_code)
    polecats = [item.key for suite in suites for item in suite.beads if item.role == "polecat"]
    if args.show and args.show not in polecats:
        roles = [item.role for suite in suites for item in suite.beads if item.key == args.show]
        where = ", ".join(suite.path.name for suite in suites)
        what = f"bead {args.show!r} is a {roles[0]}'s" if roles else f"no bead {args.show!r} in {where}"
        fail(f"{what}: --show prints a Polecat bead's first prompt", f"the Polecat beads: {', '.join(polecats)}")
    if not args.show:
        print("tokens of each Polecat bead's first prompt, by gastown's estimate (3 characters a token)")
        print(f"{'suite':<17} {'bead':<18} {'whole':>7} {'outlined':>9} {'saved':>6}", flush=True)
    for suite in suites:
        for item in suite.beads:
            if item.role != "polecat" or args.show not in (None, item.key):
                continue
            bead = Bead(
                id="bench-1",
                title=item.title,
                description=item.description,
                acceptance_tests=item.acceptance_tests,
            )
            with tempfile.TemporaryDirectory() as scratch:
                project = Path(scratch) / "project"
                shutil.copytree(suite.project, project)
                if args.show:
                    for message in first_prompt(project, dict(suite.rig), bead, outlined=True):
                        print(f"----- {message['role']} ({tokens.estimate(message['content'])} tokens)")
                        print(message["content"])
                    continue
                whole = prompt_tokens(project, dict(suite.rig), bead, outlined=False)
                outlined = prompt_tokens(project, dict(suite.rig), bead, outlined=True)
            saved = 1 - outlined / whole
            print(f"{suite.path.name:<17} {item.key:<18} {whole:>7} {outlined:>9} {saved:>6.0%}", flush=True)


def fail(message: str, hint: str = "", code: int = EXIT_USAGE) -> NoReturn:
    """One line of what is wrong and one of what to do, as gt says them; no traceback."""
    print(f"bench/{Path(sys.argv[0]).name}: {message}", file=sys.stderr)  # the script run, which may import this
    if hint:
        print(f"hint: {hint}", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    main()
