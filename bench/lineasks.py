"""The replies a bug fix's suspect lines got, read again by today's code.

    python bench/lineasks.py --suite DIR KEPT...

A bug fix's sweep asks about its suspect lines one at a time (gastown/agents/sweep.py), and
lineask.py reads each reply as an edit. KEPT is a folder a `gt eval --suite DIR --keep` run
left (`gt-eval-MODEL-*`, its traces under town/.git/gastown/traces; its `town` folder
will do too); DIR is that suite (a folder `bench/toolz_bugs.py`, `bench/cachetools_bugs.py`
or `bench/boltons_bugs.py` built, or a shipped suite's name). This reads every reply to a
line's ask again with lineask.as_edit as the code is now, against the module as the bead
found it (the suite's project: an ask about a near miss's code, not there, is left out and
counted), and prints each ask whose edit differs from the one the run tried — the bead's
key, the line, `then:` and `now:` as the lines each edit takes out (-) and puts in (+) —
marked FIX where now's brings the module nearer the suite's solution and "(was a fix)"
where then's did; then the totals: the asks read, those read otherwise, the fixes gained
and lost, and how many of the replies' tokens came after what lineask.answered reads (a
reply the run cut there has nothing past it). A change to lineask.py is judged against
kept replies this way before a run: no model is needed.

    python bench/boltons_bugs.py /tmp/bb
    gt eval --suite /tmp/bb --models qwen2.5-coder-1.5b --role polecat --keep
    python bench/lineasks.py --suite /tmp/bb /tmp/gt-eval-qwen2.5-coder-1.5b-*
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import re
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prompt import fail  # noqa: E402

from gastown.agents import lineask, suspects  # noqa: E402
from gastown.agents.suspects import Suspect  # noqa: E402
from gastown.errors import GastownError  # noqa: E402
from gastown.evaluation import load_suite  # noqa: E402

ASK = "\n## The line at fault\n"
OWNER_RE = re.compile(r"This line of `([^`]+)`")


def asked(hint: str) -> tuple[str, list[str], bool] | None:
    """The definition, the lines and whether a header is asked about in a try's note."""
    if ASK not in hint:
        return None
    note = hint.split(ASK, 1)[1]
    owner = OWNER_RE.search(note)
    shown = re.search(r"```\w*\n(.*?)\n```", note, re.DOTALL)
    if owner is None or shown is None:
        return None
    return owner.group(1), shown.group(1).split("\n"), "that line alone" in note


def suspect_in(text: str, path: str, owner: str, shown: list[str], header: bool, near: str) -> Suspect | None:
    """The suspect the ask showed: lines of ``owner``'s definition in ``text`` that read as
    ``shown`` does; of several, the first inside the window ``near`` (the edit the run
    tried), else the first."""
    try:
        found = suspects.definition(ast.parse(text), owner.split("."))
    except SyntaxError:
        return None
    if found is None:
        return None
    lines = text.split("\n")
    want = [line.strip() for line in shown]
    starts = range(found.lineno - 1, (found.end_lineno or len(lines)) - len(shown) + 1)
    places = [at for at in starts if [line.strip() for line in lines[at : at + len(shown)]] == want]
    window = text.find(near) if near else -1
    first = text.count("\n", 0, window) if window >= 0 else -1
    inside = [at for at in places if first <= at < first + near.count("\n")]
    if not places:
        return None
    at = (inside or places)[0]
    return Suspect(path, at + 1, at + len(shown), owner, header, 1.0)


def distance(text: str, solved: str) -> int:
    """How many lines ``text`` and ``solved`` differ by."""
    matcher = difflib.SequenceMatcher(a=text.split("\n"), b=solved.split("\n"), autojunk=False)
    return sum(max(a2 - a1, b2 - b1) for tag, a1, a2, b1, b2 in matcher.get_opcodes() if tag != "equal")


Edit = tuple[str, str]  # an edit_file's old and new text


@dataclass(frozen=True)
class Ask:
    """One line's ask read again: the edit the run tried (``then``) and the one it would try
    now, on the module as the bead found it (``text``), against the solution's (``solved``)."""

    bead: str
    line: str
    text: str
    solved: str | None
    then: Edit | None
    now: Edit | None
    tokens: int  # the reply's
    after: float  # the share of the reply past what lineask.answered reads

    def result(self, edit: Edit | None) -> str | None:
        """The module as ``edit`` leaves it."""
        return None if edit is None else self.text.replace(edit[0], edit[1], 1)

    def fixes(self, edit: Edit | None) -> bool:
        """Whether ``edit`` brings the module nearer the solution."""
        after = self.result(edit)
        if self.solved is None or after is None:
            return False
        return distance(after, self.solved) < distance(self.text, self.solved)


TITLE_RE = re.compile(r"^# Bead [\w-]+: (.*)$", re.MULTILINE)


def events_of(trace: Path) -> list[dict[str, Any]]:
    """A trace's events; a line a killed run left half-written is skipped."""
    events = []
    for line in trace.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def replay(trace: Path, project: Path, solution: Path | None, keys: dict[str, str]) -> tuple[list[Ask], int]:
    """Each line ask of one bead's trace that can be read again (what was tried, what would
    be), and how many line asks it holds; none is read when the bead is not one of the
    suite's (``keys``: its beads' keys by title)."""
    asks: list[Ask] = []
    found = 0
    path = question = None
    events = events_of(trace)
    titles = (
        TITLE_RE.search(m.get("content", "")) for e in events for m in e.get("new", ()) if e.get("kind") == "request"
    )
    title = next((t.group(1).strip() for t in titles if t), "")
    for n, event in enumerate(events):
        kind = event.get("kind")
        if kind == "suspects":
            path = event.get("path")
        elif kind == "try":
            question = asked(event.get("hint") or "")
        elif kind == "reply" and question is not None and path is not None:
            owner, shown, header = question
            question = None
            found += 1
            if title not in keys:
                continue
            text = read(project / path)
            tried: dict[str, Any] = next((e for e in events[n + 1 :] if e.get("kind") in ("tool", "try", "end")), {})
            then = tried.get("arguments") if tried.get("kind") == "tool" and tried.get("source") == "line" else None
            if then is not None and then["old"] not in text:
                continue  # the run's file was not the project's here (a near miss's, or changed before)
            suspect = suspect_in(text, path, owner, shown, header, then["old"] if then else "")
            if suspect is None:
                continue
            reply = event.get("content") or ""
            now = lineask.as_edit(suspect, reply, text)
            cut = lineask.answered(suspect, text, reply)
            asks.append(
                Ask(
                    bead=keys[title],
                    line=f"{owner}: {shown[0].strip()}",
                    text=text,
                    solved=read(solution / path) if solution is not None else None,
                    then=None if then is None else (then["old"], then["new"]),
                    now=None if now is None else (now.arguments["old"], now.arguments["new"]),
                    tokens=int(event.get("usage", {}).get("tokens_out", 0)),
                    after=1 - len(cut) / len(reply) if cut and reply else 0.0,
                )
            )
    return asks, found


@cache
def read(path: Path) -> str:
    """A module's text, read once ("" where there is none)."""
    return path.read_text() if path.is_file() else ""


def shown(edit: Edit | None) -> str:
    """An edit as the lines it takes out (-) and puts in (+)."""
    if edit is None:
        return "not read as a line"
    old, new = (part.split("\n") for part in edit)
    changed = [f"{line[0]} {line[2:].strip()}" for line in difflib.ndiff(old, new) if line[:1] in "-+"]
    return " | ".join(changed) if changed else "as it was"


def traces_of(kept: Path) -> list[Path]:
    """The bead traces a kept eval folder (or its town) holds; fails saying what to give."""
    for town in (kept / "town", kept):
        traces = sorted(town.glob(".git/gastown/traces/*/generation-*.jsonl"))
        if traces:
            return traces
    if not kept.is_dir():
        fail(f"{kept}: not a folder", "give the folders a `gt eval --keep` run left (gt-eval-MODEL-...)")
    inside = sorted(p.name for p in kept.glob("gt-eval-*"))
    hint = f"did you mean {kept / inside[0]}?" if inside else "give the folders a `gt eval --keep` run left"
    fail(f"{kept} holds no traces", hint)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", required=True, metavar="DIR", help="the suite the runs ran: a folder or a name")
    parser.add_argument("kept", nargs="+", metavar="KEPT", help="a folder a `gt eval --keep` run left")
    args = parser.parse_args()
    try:
        suite = load_suite(Path(args.suite))
    except GastownError as error:
        fail(error.message, error.hint)
    solutions = {item.solution for item in suite.beads if item.solution is not None}
    solution = next(iter(solutions)) if len(solutions) == 1 else None
    keys = {item.title: item.key for item in suite.beads}
    asks: list[Ask] = []
    found = 0
    for kept in map(Path, args.kept):
        for trace in traces_of(kept):
            read_again, held = replay(trace, suite.project, solution, keys)
            asks, found = asks + read_again, found + held
    if found and not asks:
        fail(f"none of the {found} line asks is of {suite.name}'s beads and code", "were these runs of another suite?")
    differ = [ask for ask in asks if ask.result(ask.then) != ask.result(ask.now)]
    for ask in differ:
        mark = " FIX" if ask.fixes(ask.now) else " (was a fix)" if ask.fixes(ask.then) else ""
        print(f"{ask.bead}  {ask.line}\n    then: {shown(ask.then)}\n    now:  {shown(ask.now)}{mark}")
    gained = sum(1 for ask in differ if ask.fixes(ask.now) and not ask.fixes(ask.then))
    lost = sum(1 for ask in differ if ask.fixes(ask.then) and not ask.fixes(ask.now))
    after = sum(ask.tokens * ask.after for ask in asks)
    print(f"{len(asks)} of {found} line asks read again ({found - len(asks)} left out: another bead's, or code the")
    print(f"  suite's project does not hold), {len(differ)} read otherwise: {gained} fixes gained, {lost} lost")
    print(
        f"their replies: {sum(ask.tokens for ask in asks)} tokens out, about {after:.0f} after what lineask.answered reads"
    )


if __name__ == "__main__":
    main()
