"""One reply's tool calls, run in the bead's sandbox and answered in its conversation.

The calls run in order. The changes of one reply are tested once, together (a reply that
writes two files is one change: the tests need both), and the result goes back with the
last change's answer; a change that makes the bead's check hold ends the bead there. A
``finish`` is judged by the done check (see ``donecheck``) before anything after it runs,
and nothing after a refused one runs. A call said twice in one reply runs once; the same
call getting the same answer across replies is a loop (see ``repeats``); a write whose
code is the same as before is not a change; a module sent back without what the tests
still import is told so. Every call is timed, counted and traced.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from gastown.agents import briefing, copies, fileblocks, merge, prompts, toolcalls
from gastown.agents.commands import tail
from gastown.agents.donecheck import DoneCheck
from gastown.agents.paths import ToolError
from gastown.agents.repeats import Repeats
from gastown.agents.tally import Tally, Trace
from gastown.agents.tools import Sandbox
from gastown.agents.tries import Tries, same_code
from gastown.machine.providers import Reply
from gastown.town.bead import Bead

REPEATED_CHARS = 300  # of a repeated unusable reply, shown to the try that starts over
WRITES = ("write_file", "edit_file")

# ``ask_crew``: a question to the Crew, answered with the roster name of the model that answered
# it (None when the answer came from the rig's files alone)
Crew = Callable[[str], tuple[str, str | None]]


@dataclass
class State:
    """One bead's loop: its conversation, its done check and what it has seen."""

    bead: Bead
    sandbox: Sandbox
    done: DoneCheck
    tally: Tally
    trace: Trace
    conv: prompts.Conversation
    repeats: Repeats
    tries: Tries
    stubbed: int = 0  # conversation messages stubbed so far
    fix_start: tuple[str, str] | None = None  # a bug fix's file and function's def lines (briefing.Head)
    fix_file: str | None = None  # a bug fix's one module to change (briefing.Head)
    unseen: dict[str, frozenset[str]] = field(default_factory=dict)  # the outlines' stubs (briefing.Head)


class Calls:
    """Runs the calls of a bead's replies: ``run`` once per reply."""

    def __init__(self, state: State, crew: Crew | None = None) -> None:
        self.state = state
        self.crew = crew
        self.crew_models: set[str] = set()  # the models that answered the Crew's questions since asked
        self.reply_note = ""  # the last reply held no call: what it repeated ("" when nothing)

    def crew_asked(self, model: str) -> bool:
        """Whether ``model`` answered a Crew question since the last time this was asked: then
        its server holds the Crew's prompt, not the bead's, and the next call pays for all of it."""
        asked = model in self.crew_models
        self.crew_models.clear()
        return asked

    def run(self, parsed: toolcalls.Parsed, reply: Reply) -> str | None:
        """Run a reply's calls in order; the finish summary when finish was accepted (or the
        check held), else None."""
        state = self.state
        tally, done = state.tally, state.done
        answered: set[str] = set()
        after_finish = False
        pending: list[tuple[toolcalls.ToolCall, str]] = []  # changed files, answered after the test run
        unchanged: list[str] = []  # files a write in this reply left as they were (their code, at least)
        changed_any = False  # a call of this reply changed a file
        sent: set[str] = set()  # the calls of this reply so far: a reply that says one thing thrice is one call
        listed = copies.listed(str(state.tries.head[-1].get("content") or ""))
        for call in parsed.calls:
            call = _uncopied(call, listed)
            if after_finish:  # never run before the finish they follow was judged
                tally.attempt(call.name, ok=False)
                self._answer(call, "error: not run: it came after finish in the same reply", answered)
                continue
            key = f"{call.name} {json.dumps(call.arguments, sort_keys=True, default=str)}"
            if key in sent:
                self._answer(call, "not run: the same call as earlier in this reply", answered)
                continue
            sent.add(key)
            if call.name == "finish":
                finished = self._tested(pending, answered)
                if finished is not None:
                    return finished
                summary = str(call.arguments.get("summary", "")).strip()
                refusal = done.judge_finish()
                tally.attempt("finish", ok=refusal is None)
                state.trace.write("finish", summary=summary, accepted=refusal is None)
                if refusal is None:
                    self._answer(call, "finished", answered)
                    return summary
                tally.refused += 1
                refusal += self._repeat("finish", refusal, "finish refused", "finish")
                self._answer(call, refusal, answered)
                after_finish = True
                continue
            text, ok, changed = self._execute(call)
            tally.attempt(call.name, ok)
            if ok and call.name in WRITES and not changed:
                state.repeats.warm()
                # this reply's changes so far are tested first: what is still missing is theirs
                finished = self._tested(pending, answered)
                if finished is not None:
                    return finished
                # what that run named (a function still to change needs its failing tests), or
                # what the tests import that the files lack now
                missing = (done.missing or done.still_missing()) if done.failing and done.tests_decide else ""
                if missing and state.tries.echoed():  # a file sent back without what is still missing
                    text += f"\nThe tests still fail as before.{missing}"
                else:
                    unchanged.append(_relative(state.sandbox, call))
            # a line's answer may be one an earlier sweep tried, on other code (a near miss's): no loop
            note = self._repeat(key, text, _describe(call), call.name) if call.source != "line" else ""
            text += note
            if note and not ok and call.name in WRITES and done.tests_decide:
                state.tries.end("the same write was refused twice: a new answer, not the same one again")
            if changed and call.source != "line":  # the same change again (an edit inserting the same lines twice)
                text += self._rewrite(key, _describe(call))
            changed_any = changed_any or changed
            if changed and done.tests_decide:
                pending.append((call, text))
                continue
            finished = self._tested(pending, answered)  # before this call's answer: the answers keep their order
            if finished is not None:
                return finished
            report = done.files_written(state.tries.written) if changed else None
            if report is not None:
                self._answer(call, f"{text}\n\n{report}", answered)
                state.trace.write("finish", summary=report, accepted=True, by="files")
                return report
            self._answer(call, text, answered)
        finished = self._tested(pending, answered)
        if finished is not None:
            return finished
        if unchanged and not changed_any and done.failing and done.tests_decide:
            state.tries.unchanged(unchanged)
        for raw in reply.tool_calls:  # every structured call needs an answer
            if raw["id"] not in answered:
                state.conv.add({"role": "tool", "tool_call_id": raw["id"], "content": "error: not run (see below)"})
        self.reply_note = ""
        if parsed.errors:
            tally.attempt("invalid", ok=False)
            problem = "Your tool call could not be used:\n- " + "\n- ".join(parsed.errors)
            problem += "\nCall one tool, with its arguments as a JSON object."
            # a structured call has no content: its name and arguments say what was sent (not its id)
            shape = json.dumps([(c["function"]["name"], c["function"]["arguments"]) for c in reply.tool_calls])
            problem += self._same_reply(
                f"unusable {reply.content or ''}\0{shape}", "the same unusable tool call", reply.content or shape
            )
            state.conv.add({"role": "user", "content": problem})
        elif not parsed.calls:
            self.reply_note = self._same_reply(
                f"prose {reply.content or ''}", "the same reply without a tool call", reply.content
            )
        return None

    def _same_reply(self, key: str, what: str, reply: str | None) -> str:
        """A note for an unusable reply sent before (counted as a loop); the second time, the
        try ends too, where tests decide: a fresh try, sampled hotter and told what repeated,
        is the way out of it."""
        note = self.state.repeats.replied(key, what)
        self.state.tally.loops += bool(note)
        if note and self.state.done.tests_decide:
            shown = (reply or "").strip()[:REPEATED_CHARS] or "(an empty reply)"
            told = (
                f"\nTwice a reply was exactly this, and it did nothing:\n```text\n{shown}\n```\n"
                "One more time ends the bead as stuck. Send the change itself.\n"
            )
            self.state.tries.end("the same unusable reply twice: a new answer, not the same again", told)
        return note

    def _tested(self, pending: list[tuple[toolcalls.ToolCall, str]], answered: set[str]) -> str | None:
        """Run the bead's check once for the changes in ``pending`` and answer them, the
        result with the last; the summary when the bead is done, else None (and the try may
        end: see ``Tries.failed_change``)."""
        if not pending:
            return None
        state = self.state
        done, report, guided = state.done.check_change()
        *first, (last, text) = pending
        pending.clear()
        for call, answer in first:
            self._answer(call, answer, answered)
        self._answer(last, f"{text}\n\n{report}", answered)
        if done:  # the bead's definition of done holds: another turn could only undo it
            state.trace.write("finish", summary=report, accepted=True, by="tests")
            return f"{_describe(last)}; {report}"
        if state.done.blank:
            # the function the tests import answered with a placeholder is no step to build on:
            # told so in the same conversation, the 1.5B sent truncate's `# Your code here` back in
            # 22 of 24 replies (two more replies each time, 40-160 s of a 300 s bead); begun
            # afresh, it wrote code in 70 of 85 (docs/eval.md, stop 39)
            state.tries.end("the function the tests import was left a placeholder: a new answer")
        state.tries.failed_change(guided)
        return None

    def _repeat(self, key: str, answer: str, what: str, tool: str = "") -> str:
        """A note for a repeat the model should know about (counted as a loop)."""
        note = self.state.repeats.repeated(key, answer, what, tool)
        self.state.tally.loops += bool(note)
        return note

    def _rewrite(self, key: str, what: str) -> str:
        """A note for the same change made again (counted as a loop)."""
        note = self.state.repeats.rewritten(key, what)
        self.state.tally.loops += bool(note)
        return note

    def _execute(self, call: toolcalls.ToolCall) -> tuple[str, bool, bool]:
        """Run one call: its answer, whether it worked, and whether it changed a file."""
        state = self.state
        began = time.monotonic()
        before = _target_bytes(state.sandbox, call) if call.name in WRITES else None
        text, ok = self._call(call)
        state.tally.tools_s += time.monotonic() - began
        after = _target_bytes(state.sandbox, call) if call.name in WRITES and ok else before
        changed = after != before
        if changed:
            path = _relative(state.sandbox, call)
            state.tries.written.add(path)  # put back when the try ends, whatever changed
            if state.done.tests_decide and same_code(path, before, after):  # a Librarian's docstrings are its work
                changed = False
                text += "\nIts code is the same as before: only docstrings, comments or layout differ."
            else:
                state.repeats.changed()
        state.trace.write(
            "tool", name=call.name, arguments=call.arguments, ok=ok, result=tail(text, 4000), source=call.source
        )
        return text, ok, changed

    def _call(self, call: toolcalls.ToolCall) -> tuple[str, bool]:
        args = dict(call.arguments)
        sandbox = self.state.sandbox
        try:
            if call.name == "run_tests":
                if not sandbox.test_command:
                    raise ToolError("this rig has no test command")
                return self.state.done.run_tests(), True
            if call.name == "ask_crew":
                assert self.crew is not None
                answer, model = self.crew(str(args.get("question", "")))
                if model is not None:
                    self.crew_models.add(model)
                return answer, True
            method = getattr(sandbox, call.name)
            return str(method(**args)), True
        except ToolError as error:
            return f"error: {error}", False
        except TypeError as error:
            return f"error: {call.name}: {error}", False
        except OSError as error:
            return f"error: {call.name}: {error.strerror or error}", False

    def _answer(self, call: toolcalls.ToolCall, text: str, answered: set[str]) -> None:
        if call.source == "structured" and call.id:
            self.state.conv.add({"role": "tool", "tool_call_id": call.id, "content": text})
            answered.add(call.id)
        else:
            self.state.conv.add({"role": "user", "content": f"[result of {call.name}]\n{text}"})


def pathless_write(state: State, refinery: bool, content: str | None) -> list[toolcalls.ToolCall]:
    """A reply's one code block that names no file, as a write of the file it can only mean:
    the one module defining its functions, else the one module the tests import its new ones
    from, else the one file the bead must create (for the Refinery: the one test file it was
    asked for); none when it can mean none, or more than one."""
    block = fileblocks.lone_code_block(content)
    if block is None:
        return []
    done = state.done
    if refinery:  # its files are the tests it was asked for
        home = done.wanted[0] if len(done.wanted) == 1 else None
    else:
        home = state.sandbox.home_of(block)
        if home is None:  # (the 1.5B sent reading_time so twice, and the bead ended with 140 s left)
            defined = merge.definitions(block)
            absent = briefing.absent_names(state.sandbox.root, done.acceptance, done.files)
            homes = {path for path, name in absent if name in defined}
            home = homes.pop() if len(homes) == 1 else None
        if home is None:
            missing = briefing.missing_files(state.sandbox.root, done.acceptance, done.files)
            home = missing[0] if len(missing) == 1 else None
    return [] if home is None else [toolcalls.file_call(home, block)]


def _describe(call: toolcalls.ToolCall) -> str:
    """A call as a line of a log or a reason: its name and short arguments (no file bodies)."""
    args = ", ".join(f"{k}={str(v)[:40]!r}" for k, v in call.arguments.items() if k not in ("content", "new", "old"))
    return f"{call.name}({args})"


def _uncopied(call: toolcalls.ToolCall, listed: tuple[str, ...]) -> toolcalls.ToolCall:
    """A file written whole without the lines that copy what an excerpt listed (copies.py)."""
    content = call.arguments.get("content")
    if call.name != "write_file" or not listed or not isinstance(content, str):
        return call
    kept = copies.uncopied(content, listed)
    return call if kept == content else replace(call, arguments={**call.arguments, "content": kept})


def _relative(sandbox: Sandbox, call: toolcalls.ToolCall) -> str:
    """The path a write names, as the rig's relative path (as given when it cannot be resolved)."""
    try:
        return sandbox.relative(sandbox.resolve(call.arguments.get("path")))
    except ToolError:
        return str(call.arguments.get("path"))


def _target_bytes(sandbox: Sandbox, call: toolcalls.ToolCall) -> bytes | None:
    """The file a write names as it stands (None when it is absent or out of bounds)."""
    try:
        target = sandbox.resolve(call.arguments.get("path"))
        return target.read_bytes() if target.is_file() else None
    except (ToolError, OSError):
        return None
