"""What a model is shown of a test run: the failures, each different one once.

pytest's output for 40 parametrized failures of one function is 40 copies of one traceback
with different values: thousands of tokens a small model pays ~25 ms each for on a CPU,
and reads worse for it. ``shown`` keeps the failure sections (with ``-l``'s local values:
what the test gave the code), shows each different failure — the same frames and the same
exception — once and names its repeats, shows at most DISTINCT_SHOWN of them whole and
names the rest, and cuts pytest's progress dots, its list of passing tests and the lines of
its short summary that repeat a failure shown above.
"""

from __future__ import annotations

import re

from gastown.agents.commands import Run, tail

SHOWN_OUTPUT = 5000  # characters of failing-test output a model sees per run
DISTINCT_SHOWN = 3  # different failures shown whole per run; the rest by name
SUMMARY_SHOWN = 12  # lines of pytest's short summary kept for failures not shown above
_SECTION_RE = re.compile(r"^_{3,} .+ _{3,}$")  # pytest's "____ test_name ____" over each failure
_BANNER_RE = re.compile(r"^={3,} .* ={3,}$")  # "==== short test summary info ===="
_PROGRESS_RE = re.compile(r"^[.FEsxX]+\s*(?:\[\s*\d+%\])?$")  # pytest -q's progress dots
_FRAME_RE = re.compile(r"^\S.*:\d+: in \S+$")  # --tb=short's "path:12: in name" over each frame
# a frame inside Python's own library (importlib's, over every test module that does not
# import), of whichever interpreter ran the tests: never what the bead changes
_STDLIB_FRAME_RE = re.compile(r"^/\S*/lib/python3\.\d+/(?!site-packages/|dist-packages/)\S+\.py:\d+: in \S+$")
_PYTEST_HINT = "Hint: make sure your test modules/packages have valid Python names."
_QUOTED_RE = re.compile(r"'[^']*'|\"[^\"]*\"")  # a value in a failure's message
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")


def shown(output: str, run: Run) -> str:
    """The output a model needs: failures and errors, each different one once, without the
    progress dots and the list of passing tests."""
    lines = [
        line
        for line in _without_stdlib_frames(output.splitlines())
        if not line.startswith(("PASSED ", "XFAIL ", "SKIPPED "))
        and not _PROGRESS_RE.match(line)
        and line != _PYTEST_HINT
    ]
    text = "\n".join(_distinct_failures(lines))
    status = "timed out" if run.timed_out else f"exit {run.exit_code}"
    return f"{' '.join(run.argv[:6])}{' ...' if len(run.argv) > 6 else ''}: {status}\n{tail(text, SHOWN_OUTPUT)}"


def _without_stdlib_frames(lines: list[str]) -> list[str]:
    """``lines`` less each ``--tb=short`` frame inside Python's own library: its ``path:N: in
    name`` line and the code lines under it, up to the next frame or the ``E`` lines."""
    kept: list[str] = []
    skipping = False
    for line in lines:
        if _STDLIB_FRAME_RE.match(line):
            skipping = True
            continue
        if skipping and (line[:1].isspace() or not line.strip()):
            continue  # the frame's code lines (and pytest's ^^^^ under them)
        skipping = False
        kept.append(line)
    return kept


def _distinct_failures(lines: list[str]) -> list[str]:
    """pytest's failure sections, each different traceback once: a repeat (the same failure
    for another parameter) is named under the first instead of shown again."""
    starts = [n for n, line in enumerate(lines) if _SECTION_RE.match(line)]
    if not starts:
        return lines
    last = next((n for n in range(starts[-1] + 1, len(lines)) if _BANNER_RE.match(lines[n])), len(lines))
    bounds = list(zip(starts, [*starts[1:], last], strict=True))
    groups: dict[str, tuple[list[str], list[str]]] = {}  # traceback -> (its first section, other titles)
    for start, end in bounds:
        key = _failure_key(lines[start + 1 : end])
        if key in groups:
            groups[key][1].append(lines[start].strip("_ "))
        else:
            groups[key] = (lines[start:end], [])
    out = lines[: starts[0]]
    covered: set[str] = set()  # tests whose failure is shown above (whole, or as the same as one)
    for count, (section, others) in enumerate(groups.values()):
        if count == DISTINCT_SHOWN:
            rest = [s[0].strip("_ ") for s, _ in list(groups.values())[count:]]
            out.append(f"(more failures: {_some(rest)})")
            break
        out += section
        covered |= {section[0].strip("_ "), *others}
        if others:
            out.append(f"(the same failure in: {_some(others)})")
    # pytest's short summary lists the failures again, one line each: kept only for those not
    # shown above (its one-line message is all a model sees of them)
    listed = [line for line in lines[last:] if line.startswith(("FAILED ", "ERROR ")) and _title(line) not in covered]
    if len(listed) > SUMMARY_SHOWN:
        listed = [*listed[:SUMMARY_SHOWN], f"... and {len(listed) - SUMMARY_SHOWN} more failed"]
    summary = [line for line in lines[last:] if not line.startswith(("FAILED ", "ERROR "))]
    return out + (summary[:1] if listed else []) + listed + summary[1:]


def _title(listed: str) -> str:
    """The section title pytest gives the failure a short-summary line names: ``FAILED
    tests/t.py::TestA::test_b[1] - msg`` is ``TestA.test_b[1]``."""
    test = listed.split(" ", 1)[1].split(" - ", 1)[0]
    return test.split("::", 1)[-1].replace("::", ".")


def _failure_key(section: list[str]) -> str:
    """What makes two failures the same: where they happened (the innermost frame's ``path:N:
    in f``) and what was raised there, its message with numbers and quoted values blanked —
    not the values, which differ with each parameter and are shown for the first of them, nor
    the tests' own frames on the way there: ten tests that all reach one unfinished method
    fail the same way, and one of them shows it; two messages from one line stay two."""
    where = [line for line in section if _FRAME_RE.match(line)]
    raised = next((line[4:].strip() for line in section if line.startswith("E   ")), "")
    shape = _NUMBER_RE.sub("0", _QUOTED_RE.sub("''", raised))
    return "\n".join([*where[-1:], shape]) if where else "\n".join(section)


def _some(names: list[str], count: int = 8) -> str:
    return ", ".join(names[:count]) + (f" and {len(names) - count} more" if len(names) > count else "")


def first_failure(shown: str, limit: int = 1500) -> str:
    """The first failing test's part of pytest's ``--tb=short`` output (its assertion and
    values), or the output's end when there is no such part."""
    lines = shown.splitlines()
    start = next((n for n, line in enumerate(lines) if _SECTION_RE.match(line)), None)
    if start is None:
        return tail(shown, limit)
    end = next(
        (n for n in range(start + 1, len(lines)) if _SECTION_RE.match(lines[n]) or _BANNER_RE.match(lines[n])),
        len(lines),
    )
    return "\n".join(lines[start:end]).strip()[:limit]


def gist(shown: str, limit: int = 800) -> str:
    """The first failure cut to what says what went wrong: its title, the frame it broke in
    (with the code lines pytest shows there), its ``E`` lines and the local values after
    them — for a collection error, the line of the module that would not import, not the
    import machinery's frames above it."""
    section = first_failure(shown, limit=20000).splitlines()
    errors = [n for n, line in enumerate(section) if line.startswith("E ")]
    if not section or not errors:
        return "\n".join(section)[:limit]
    first = errors[0]
    where = next((n for n in range(first - 1, 0, -1) if _FRAME_RE.match(section[n])), first)
    values = [line for line in section[errors[-1] + 1 :] if re.match(r"^\s+\w+\s+= ", line)]
    if section[where].endswith("in <module>"):  # a module's globals (its loader, its spec), not a test's inputs
        values = []
    kept = [section[0], *section[where:first], *(section[n] for n in errors[:12]), *values[:6]]
    return "\n".join(kept)[:limit]


def failures(shown: str) -> dict[str, str]:
    """Each failing test of ``shown`` by name, with the first line of what was raised
    (``Failed: DID NOT RAISE <class 'ValueError'>``; "" when the output says nothing): the
    sections pytest shows whole, then the lines of its short summary."""
    lines = shown.splitlines()
    found: dict[str, str] = {}
    starts = [n for n, line in enumerate(lines) if _SECTION_RE.match(line)]
    for start, end in zip(starts, [*starts[1:], len(lines)], strict=False):  # no sections: no pairs
        raised = next((line[4:].strip() for line in lines[start + 1 : end] if line.startswith("E   ")), "")
        found.setdefault(lines[start].strip("_ "), raised)
    for line in lines:
        if line.startswith(("FAILED ", "ERROR ")):
            found.setdefault(_title(line), line.split(" - ", 1)[1].strip() if " - " in line else "")
    return found


def other_failures(shown: str, count: int = 4, width: int = 160) -> list[str]:
    """Each failing test of ``shown`` but the one ``first_failure`` tells, as one line: its
    name and what was raised (``test_empty_separator: Failed: DID NOT RAISE <class
    'ValueError'>``), at most ``count`` of them. A fresh try told only the first failure of
    the best answer fixed that one and missed another: the 1.5B's answers to a slug function
    each failed two to six of its tests, a different two each time."""
    first = next((line.strip("_ ") for line in shown.splitlines() if _SECTION_RE.match(line)), None)
    named = [f"{title}: {raised}" if raised else title for title, raised in failures(shown).items() if title != first]
    return [line if len(line) <= width else line[: width - 3] + "..." for line in named[:count]]
