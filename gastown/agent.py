"""Working one bead: the tool loop, the done check, the code commit, the result.

Before the first turn the bead's acceptance tests are found (see ``checks``) and run,
with the suite once to learn which tests already pass; the first prompt shows the model
those tests, the rig files they import and how they fail now, so a small model can start
at turn one. The loop then asks the model, parses its tool calls (strictly, then
leniently), runs them in the sandbox and feeds the results back. After every change to
a file the bead's tests run and their result goes back with the change's answer; a
change that makes them pass ends the bead there (a Refinery bead ends once the test files
it was asked for are written). ``finish`` is accepted only when the done condition holds —
else it is refused with the failing output and the loop goes on. The same call getting
the same answer is pointed out the second time and ends the bead (``stuck: …``) the
third; each repeat is asked again at a higher temperature. A change whose tests fail
starts the bead over (see ``tries``) unless the check names what is still missing: its
files put back, the first prompt asked again with the gist of the failure, hotter; the
best files of any try are kept at the end. Turn, token and wall-time
budgets bound the rest, and no model call starts that would outlast the time budget.
Then the Refinery's test files are checked untouched (for every role but the Refinery),
and the work is committed on ``bead/<id>`` with a ``Bead:`` trailer. Every request,
reply, tool call and timing goes to the bead's trace (JSON lines, secrets redacted).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from gastown import briefing, checks, prompts, schema, testoutput, tokens, toolcalls
from gastown.bead import Bead
from gastown.commands import tail
from gastown.errors import Unavailable
from gastown.hardware import EnergyMeter
from gastown.jail import INSTALL_HINT, Jail
from gastown.pace import Pace
from gastown.providers import ModelClient, ModelRejected, Reply
from gastown.repeats import Repeats, Stuck
from gastown.rig import Rig, RolePrompt, pytest_setup_changed
from gastown.secrets import Secrets
from gastown.tally import Tally, Trace
from gastown.tools import Sandbox, ToolError
from gastown.toolspecs import call_schema, openai_tools, parser_specs
from gastown.tries import FRESH_TEMPERATURE, Tries, same_code, score_of
from gastown.worktree import Worktree

log = logging.getLogger(__name__)

BASE_TOOLS = (
    "read_file",
    "edit_file",
    "write_file",
    "list_dir",
    "directory_tree",
    "search",
    "run_tests",
    "shell_exec",
    "finish",
)
WRITES = ("write_file", "edit_file")
MIN_REPLY_TOKENS = 160  # a reply capped to the time left gets at least this many tokens (a short function)
NEXT_CALL_MARGIN = 1.25  # the next model call is assumed this much slower than its estimate (pace.py)


@dataclass(frozen=True)
class Limits:
    """How long one bead may go on."""

    max_turns: int = 24
    max_failed_in_a_row: int = 4
    max_prose_in_a_row: int = 3
    max_reply_tokens: int = 1024
    max_repeats: int = 3  # the same call with the same answer: pointed out at 2, stuck at this
    max_refused_finishes: int = 5
    max_tokens: int | None = None  # tokens in + out for the whole bead
    max_wall_s: float | None = None
    files_share: float = 0.5  # of the prompt budget, for the tests and files shown up front


@dataclass
class Outcome:
    """How a bead ended: ``done``, ``failed`` (the work's fault) or ``released`` (not its fault)."""

    status: str
    reason: str
    result: dict[str, Any] = field(default_factory=dict)


@dataclass
class _State:
    """One bead's loop: its conversation, its done check and what it has seen."""

    bead: Bead
    sandbox: Sandbox
    check: checks.Checks
    tally: Tally
    trace: Trace
    conv: prompts.Conversation
    repeats: Repeats
    tries: Tries
    passed: checks.TestRun | None = None  # the run that let finish through (the loop ends with it)
    wanted: tuple[str, ...] = ()  # files the bead must leave written (the Refinery's test files)
    acceptance: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # the rig's files as the bead started
    stubbed: int = 0  # conversation messages stubbed so far
    failing: str = ""  # the first failure of the last test run: what a fresh try is told
    test_s: float = 0.0  # how long the last test run took: the next change's will take as long


class Agent:
    """One role's model working one bead in one worktree."""

    def __init__(
        self,
        role: str,
        prompt: RolePrompt,
        rig: Rig,
        client: ModelClient,
        fallback: ModelClient | None,
        stop: threading.Event,
        crew: Callable[[str], str] | None = None,
        limits: Limits = Limits(),
        env: Mapping[str, str] | None = None,
        meter: Callable[[ModelClient], EnergyMeter | None] | None = None,
        secrets: Secrets | None = None,
        jail: Jail | None = None,
    ) -> None:
        self.role = role
        self.prompt = prompt
        self.rig = rig
        self.client = client
        self.fallback = fallback
        self.stop = stop
        self.crew = crew
        self.limits = limits
        self.env = env
        self.meter = meter or (lambda _client: None)
        self.secrets = secrets or Secrets.of(os.environ if env is None else env)
        self.jail = jail or Jail(policy=rig.sandbox)

    @property
    def _tests_decide(self) -> bool:
        return self.prompt.done_when == "tests-pass" and bool(self.rig.test_command)

    def work(self, bead: Bead, worktree: Worktree, trace: Trace) -> Outcome:
        started = time.monotonic()
        protect = self.role != "refinery"
        sandbox = Sandbox(
            worktree.path,
            protected=self.rig.is_protected if protect else (lambda _p: False),
            allowed_commands=self.rig.allowed_commands,
            shell_timeout=self.rig.shell_timeout,
            test_command=self.rig.test_command,
            test_timeout=self.rig.test_timeout,
            **({"env": self.env} if self.env is not None else {}),
            secrets=self.secrets,
            python=_rig_python(self.rig.test_command),
            jail=self.jail,
        )
        problem = self.jail.problem()
        if problem and (self._tests_decide or self.rig.allowed_commands):
            return Outcome(
                "released", f"{problem}; {INSTALL_HINT}", Tally().result(started, trace, self.client.spec.name)
            )
        files = worktree.repo.files()
        texts = briefing.texts_of(bead)
        acceptance = bead.acceptance_tests or checks.find_tests(texts, files, self.rig.is_test_path)
        absent = [t for t in acceptance if t.split("::")[0] not in files]
        if absent and self._tests_decide:  # nothing the worker may write can make them pass
            reason = f"acceptance test {absent[0]} is not in the rig; add it (or fix the bead's acceptance_tests)"
            return Outcome("failed", reason, Tally().result(started, trace, self.client.spec.name))
        check = checks.Checks(sandbox, acceptance if self._tests_decide else (), self.secrets)
        tally = Tally()
        now: checks.TestRun | None = None
        if self._tests_decide:
            began = time.monotonic()
            check.baseline()
            if not bead.acceptance_tests:  # found from the text: a whole file may be more than the bead
                acceptance = briefing.narrow(sandbox.root, check, acceptance, texts)
            now = check.run()
            tally.tests_s += time.monotonic() - began
            trace.write(
                "baseline",
                acceptance=list(acceptance),
                kept=len(check.kept),
                scoped=check.scoped,
                now=now.summary(),
            )
        names = BASE_TOOLS + (("ask_crew",) if self.crew else ())
        state = self._state(bead, sandbox, check, tally, trace, names, acceptance, files, now)
        if now is not None and not now.passed:
            state.failing = testoutput.first_failure(now.shown, 6000)
        summary, ended = self._loop(state, names)
        if ended is not None:
            ended.result.update(tally.result(started, trace, self.client.spec.name))
            return ended
        return self._finish(state, worktree, summary, started)

    # ---- the first prompt (see briefing) ----------------------------------------

    def _state(
        self,
        bead: Bead,
        sandbox: Sandbox,
        check: checks.Checks,
        tally: Tally,
        trace: Trace,
        names: tuple[str, ...],
        acceptance: tuple[str, ...],
        files: list[str],
        now: checks.TestRun | None,
    ) -> _State:
        spec = self.client.spec
        budget = briefing.prompt_budget(spec, min(self.limits.max_reply_tokens, spec.max_output_tokens))
        wanted = briefing.wanted_files(bead, acceptance, self.rig) if self.role == "refinery" else ()
        head = briefing.first_messages(
            bead=bead,
            root=sandbox.root,
            rig=self.rig,
            role=self.role,
            role_prompt=self.prompt.text,
            spec=spec,
            names=names,
            acceptance=acceptance,
            files=files,
            now=now,
            wanted=wanted,
            tests_decide=self._tests_decide,
            files_chars=tokens.tokens_to_chars(int(budget * self.limits.files_share)),
        )
        conv = prompts.Conversation(head, budget)
        conv.overhead = briefing.tools_overhead(spec, names)
        return _State(
            bead,
            sandbox,
            check,
            tally,
            trace,
            conv,
            Repeats(self.limits.max_repeats),
            Tries(sandbox.root, [dict(m) for m in head], start=None if now is None else score_of(now.counts, 0)),
            wanted=wanted,
            acceptance=acceptance,
            files=tuple(files),
        )

    # ---- the loop --------------------------------------------------------------

    def _loop(self, state: _State, names: tuple[str, ...]) -> tuple[str, Outcome | None]:
        client = self.client
        tally, trace, conv = state.tally, state.trace, state.conv
        reply_tokens = min(self.limits.max_reply_tokens, client.spec.max_output_tokens)
        turns = min(self.limits.max_turns, client.spec.max_turns or self.limits.max_turns)
        specs = parser_specs(names)
        schema_mode = client.spec.tool_mode == "schema"
        tools = openai_tools(names)
        shape = {"type": "json_object", "schema": schema.grammar_safe(call_schema(names))}
        began = time.monotonic()
        pace = Pace()  # how long the next call will take, from the calls so far
        shrinks = 0
        failed_in_a_row = prose_in_a_row = 0
        unusable: str | None = None  # the last unusable reply
        traced = 0  # messages already in the trace: each request records only what is new
        for turn in range(1, turns + 1):
            if self.stop.is_set():
                return "", Outcome("released", "the watcher was told to stop")
            if state.tries.start_over:
                self._start_over(state, pace)
                conv = state.conv
                traced = len(conv.head)  # the trace's "try" record holds what the head gained
            # the next call, and the test run its change will need (as long as the last one): that
            # run comes off the time left for the reply
            cap = self._reply_cap(began - state.test_s, pace, conv.estimate(), reply_tokens)
            next_call = pace.next_call(conv.estimate(), cap) * NEXT_CALL_MARGIN + state.test_s
            spent = self._over_budget(tally, began, next_call)
            if spent:
                trace.write("budget", reason=spent)
                return "", None  # the done check decides
            messages = conv.messages()
            sent = conv.estimate()
            heat = state.repeats.temperature
            trace.write(
                "request",
                turn=turn,
                model=client.spec.name,
                messages=len(messages),
                stubbed=conv.stubbed,
                temperature=heat,
                max_tokens=cap,
                new=[{"role": m["role"], "content": m.get("content") or ""} for m in messages[traced:]],
            )
            traced = len(messages)
            meter = self.meter(client)
            if meter is not None:
                meter.begin()
            try:
                if schema_mode:
                    reply = client.chat(messages, response_format=shape, max_tokens=cap, temperature=heat)
                else:
                    reply = client.chat(messages, tools=tools, tool_choice="auto", max_tokens=cap, temperature=heat)
            except Unavailable as error:
                if self.fallback is not None and client is not self.fallback:
                    trace.write("fallback", model=self.fallback.spec.name, reason=error.message)
                    client = self.fallback
                    continue
                trace.write("unavailable", reason=error.message)
                return "", Outcome("released", error.message)
            except ModelRejected as error:
                trace.write("rejected", reason=error.message)
                if "context" in error.message.lower() and shrinks < 3:
                    shrinks += 1  # too long for the window: drop more of the middle and ask again
                    conv.shrink()
                    continue
                return "", Outcome("failed", error.message)
            joules = 0.0
            if meter is not None:
                joules = meter.end()
                tally.meters.add(meter)
            tally.add(reply, joules)
            pace.saw(reply.usage, sent)
            if not reply.usage.estimated:
                conv.observe(sent, reply.usage.tokens_in)
            parsed = toolcalls.parse(reply.tool_calls, reply.content, specs)
            if not parsed.calls and not parsed.errors:
                self._pathless_block(state, parsed, reply.content)
            if schema_mode:  # held to the schema by the server: not a call recovered from prose
                parsed.calls = [replace(c, source="schema") for c in parsed.calls]
            tally.recovered += parsed.recovered
            trace.write(
                "reply",
                turn=turn,
                content=reply.content,
                tool_calls=reply.tool_calls,
                finish=reply.finish_reason,
                usage=reply.usage.to_dict(),
                endpoint=reply.endpoint,
                recovered=parsed.recovered,
                errors=parsed.errors,
            )
            if conv.stubbed != state.stubbed:  # old output was dropped: reading it again is not a loop
                state.stubbed = conv.stubbed
                state.repeats.changed()
            conv.add(_assistant(reply))
            try:
                finished = self._calls(state, parsed, reply)
            except Stuck as stuck:  # the loop ends; the done check still judges what was written
                trace.write("stuck", what=str(stuck))
                tally.stuck = str(stuck)
                return "", None
            if finished is not None:
                return finished, None
            if tally.refused >= self.limits.max_refused_finishes:
                return "", None  # the done check gives the reason
            if parsed.errors:
                failed_in_a_row += 1
                if failed_in_a_row >= self.limits.max_failed_in_a_row:
                    return "", Outcome(
                        "failed",
                        f"the model failed to produce a usable tool call {failed_in_a_row} times in a row: "
                        f"{parsed.errors[-1]}",
                    )
                if failed_in_a_row % 2 == 0 and reply.content != unusable and self._tests_decide:
                    # told twice, it is no clearer the third time (the same reply again is the stuck rule's)
                    state.tries.end(f"{failed_in_a_row} unusable replies in a row: a new answer, not the same again")
                unusable = reply.content
                continue
            failed_in_a_row = 0
            if not parsed.calls:
                prose_in_a_row += 1
                if prose_in_a_row >= self.limits.max_prose_in_a_row:
                    break
                conv.add({"role": "user", "content": "Use the tools to do the work: reply with one tool call."})
            else:
                prose_in_a_row = 0
        return "", None  # out of turns: the done check decides

    def _pathless_block(self, state: _State, parsed: toolcalls.Parsed, content: str | None) -> None:
        """A reply's one code block that names no file, read as a write of the file it can only
        mean: the one module defining its functions, else the one file the bead must create (for
        the Refinery: the one test file it was asked for)."""
        block = toolcalls.lone_code_block(content)
        if block is None:
            return
        if self.role == "refinery":  # its files are the tests it was asked for
            home = state.wanted[0] if len(state.wanted) == 1 else None
        else:
            home = state.sandbox.home_of(block)
            if home is None:
                missing = briefing.missing_files(state.sandbox.root, state.acceptance, state.files)
                home = missing[0] if len(missing) == 1 else None
        if home is not None:
            parsed.calls.append(toolcalls.ToolCall("write_file", {"path": home, "content": block}, "", "file"))

    def _reply_cap(self, began: float, pace: Pace, prompt_tokens: int, reply_tokens: int) -> int:
        """The next call's reply limit: ``reply_tokens``, or fewer when only that many fit in
        the time budget left — but never fewer than MIN_REPLY_TOKENS (then the budget check
        stops the loop as before)."""
        if self.limits.max_wall_s is None:
            return reply_tokens
        left = self.limits.max_wall_s - (time.monotonic() - began)
        room = pace.reply_room(left / NEXT_CALL_MARGIN, prompt_tokens)
        if room is None or room < MIN_REPLY_TOKENS:
            return reply_tokens
        return min(reply_tokens, room)

    def _over_budget(self, tally: Tally, began: float, next_call: float = 0.0) -> str:
        """Why no further model call may start ("" when one may). A call is not started when
        it would not end within the time budget (``next_call``: what the last one took, with a
        margin): the done check and the commit must run before whoever set the budget stops
        the process, or the work is lost."""
        limits = self.limits
        used = tally.tokens_in + tally.tokens_out
        if limits.max_tokens is not None and used >= limits.max_tokens:
            return f"the bead's token budget is spent ({used} of {limits.max_tokens})"
        if limits.max_wall_s is not None:
            spent = time.monotonic() - began
            if spent >= limits.max_wall_s:
                return f"the bead's time budget is spent ({limits.max_wall_s:.0f}s)"
            if spent + next_call > limits.max_wall_s:
                return (
                    f"another model call (about {next_call:.0f}s with the test run after it, as the calls so far ran) "
                    "would not end within "
                    f"the bead's time budget ({spent:.0f}s of {limits.max_wall_s:.0f}s spent)"
                )
        return ""

    def _calls(self, state: _State, parsed: toolcalls.Parsed, reply: Reply) -> str | None:
        """Run a reply's calls in order; the finish summary when finish was accepted (or the
        tests passed), else None. The changes of one reply are tested once, together: a
        reply that writes two files is one change (the tests need both)."""
        tally, conv = state.tally, state.conv
        answered: set[str] = set()
        after_finish = False
        pending: list[tuple[toolcalls.ToolCall, str]] = []  # changed files, answered after the test run
        unchanged: list[str] = []  # files a write in this reply left as they were (their code, at least)
        sent: set[str] = set()  # the calls of this reply so far: a reply that says one thing thrice is one call
        for call in parsed.calls:
            if after_finish:  # never run before the finish they follow was judged
                tally.attempt(call.name, ok=False)
                self._answer(conv, call, "error: not run: it came after finish in the same reply", answered)
                continue
            key = f"{call.name} {json.dumps(call.arguments, sort_keys=True, default=str)}"
            if key in sent:
                self._answer(conv, call, "not run: the same call as earlier in this reply", answered)
                continue
            sent.add(key)
            if call.name == "finish":
                done = self._tested(state, pending, answered)
                if done is not None:
                    return done
                summary = str(call.arguments.get("summary", "")).strip()
                refusal = self._judge_finish(state)
                tally.attempt("finish", ok=refusal is None)
                state.trace.write("finish", summary=summary, accepted=refusal is None)
                if refusal is None:
                    self._answer(conv, call, "finished", answered)
                    return summary
                tally.refused += 1
                refusal += self._repeat(state, "finish", refusal, "finish refused", "finish")
                self._answer(conv, call, refusal, answered)
                after_finish = True
                continue
            text, ok, changed = self._execute(state, call)
            tally.attempt(call.name, ok)
            if ok and call.name in WRITES and not changed:
                state.repeats.warm()
                missing = self._still_missing(state) if state.failing and self._tests_decide else ""
                if missing and state.tries.echoed():  # a module sent back without what the tests import
                    text += f"\nThe tests still fail as before.{missing}"
                else:
                    unchanged.append(_relative(state.sandbox, call))
            note = self._repeat(state, key, text, _describe(call), call.name)
            text += note
            if note and not ok and call.name in WRITES and self._tests_decide:
                state.tries.end("the same write was refused twice: a new answer, not the same one again")
            if changed:  # the same change again (an edit inserting the same lines twice)
                text += self._rewrite(state, key, _describe(call))
            if changed and self._tests_decide:
                pending.append((call, text))
                continue
            done = self._tested(state, pending, answered)  # before this call's answer: the answers keep their order
            if done is not None:
                return done
            if changed and state.wanted and all(w in state.tries.written for w in state.wanted):
                report = f"{', '.join(state.wanted)} written; the bead is done"
                self._answer(conv, call, f"{text}\n\n{report}", answered)
                state.trace.write("finish", summary=report, accepted=True, by="files")
                return report
            self._answer(conv, call, text, answered)
        changed_any = bool(pending)
        done = self._tested(state, pending, answered)
        if done is not None:
            return done
        if unchanged and not changed_any and state.failing and self._tests_decide:
            state.tries.unchanged(unchanged)
        for raw in reply.tool_calls:  # every structured call needs an answer
            if raw["id"] not in answered:
                conv.add({"role": "tool", "tool_call_id": raw["id"], "content": "error: not run (see below)"})
        if parsed.errors:
            tally.attempt("invalid", ok=False)
            problem = "Your tool call could not be used:\n- " + "\n- ".join(parsed.errors)
            problem += "\nCall one tool, with its arguments as a JSON object."
            problem += self._repeat(state, f"unusable {reply.content or ''}", problem, "the same unusable tool call")
            conv.add({"role": "user", "content": problem})
        elif not parsed.calls:
            self._repeat(state, f"prose {reply.content or ''}", "", "the same reply without a tool call")
        return None

    def _tested(self, state: _State, pending: list[tuple[toolcalls.ToolCall, str]], answered: set[str]) -> str | None:
        """Run the bead's check once for the changes in ``pending`` and answer them, the
        result with the last; the summary when the bead is done, else None (and the try may
        end: see ``_try_ends``)."""
        if not pending:
            return None
        done, report, guided = self._check_change(state)
        *first, (last, text) = pending
        pending.clear()
        for call, answer in first:
            self._answer(state.conv, call, answer, answered)
        self._answer(state.conv, last, f"{text}\n\n{report}", answered)
        if done:  # the bead's definition of done holds: another turn could only undo it
            state.trace.write("finish", summary=report, accepted=True, by="tests")
            return f"{_describe(last)}; {report}"
        state.tries.failed_change(guided)
        return None

    def _repeat(self, state: _State, key: str, answer: str, what: str, tool: str = "") -> str:
        """A note for a repeat the model should know about (counted as a loop)."""
        note = state.repeats.repeated(key, answer, what, tool)
        state.tally.loops += bool(note)
        return note

    def _start_over(self, state: _State, pace: Pace) -> None:
        """A fresh try (see ``tries``): the conversation back to the first prompt plus a
        note of how the last try failed, sampled hotter."""
        head, why, hint = state.tries.begin_again(state.failing)
        state.tally.tries = state.tries.number
        old = state.conv
        state.conv = prompts.Conversation(head, old.budget_tokens, scale=old.scale, overhead=old.overhead)
        cached = prompts.Conversation(state.tries.head, old.budget_tokens, overhead=old.overhead)
        pace.rewind(cached.estimate())  # unscaled, the measure Pace.saw is given
        state.repeats.start_over(FRESH_TEMPERATURE)
        trace = state.trace
        trace.write("try", number=state.tries.number, why=why, hint=hint, temperature=state.repeats.temperature)

    def _rewrite(self, state: _State, key: str, what: str) -> str:
        """A note for the same change made again (counted as a loop)."""
        note = state.repeats.rewritten(key, what)
        state.tally.loops += bool(note)
        return note

    def _judge_finish(self, state: _State) -> str | None:
        """None when the bead may finish; else the refusal the model reads."""
        unwritten = [w for w in state.wanted if not (state.sandbox.root / w).is_file()]
        if unwritten:
            return (
                f"finish refused: the bead asks for {', '.join(unwritten)}, which does not exist yet. "
                "Write it first: its path on one line, then the whole file in a fenced code block."
            )
        if not self._tests_decide:
            return None
        found, broken = self._check_now(state)
        if state.passed is found:
            return None
        why = (
            f"tests that passed before the bead started now fail: {', '.join(broken[:10])}"
            if broken
            else "the acceptance tests do not pass yet"
        )
        return (
            f"finish refused: {why}.\n{found.summary()}\n{found.shown}\n"
            "Fix the code: the tests run after every change, and the bead ends when they pass."
        )

    def _check_now(self, state: _State) -> tuple[checks.TestRun, list[str]]:
        """Run the bead's check: the run and the tests it broke. A run that holds (its tests
        pass, nothing that passed before fails) becomes ``state.passed``."""
        found, broken = self._tests(state)
        state.trace.write("tests", exit_code=found.run.exit_code, counts=found.counts, timed_out=found.run.timed_out)
        state.passed = found if found.passed and not broken else None
        state.failing = "" if state.passed else testoutput.first_failure(found.shown, 6000)
        state.tries.scored(score_of(found.counts, len(broken)), found.counts, state.failing)
        return found, broken

    def _keep_best(self, state: _State) -> None:
        """A loop that ends without passing leaves the best files it wrote, not the last: a hot
        retry at the end can break what an earlier change had nearly right."""
        if state.passed is not None:
            return
        was = state.tries.score
        score = state.tries.keep_best()
        if score is not None:
            state.trace.write("restored", score=score, was=was)  # _finish's test run judges them

    def _tests(self, state: _State) -> tuple[checks.TestRun, list[str]]:
        """One timed run of the bead's tests: the run and the tests that passed before and fail now."""
        began = time.monotonic()
        found = state.check.run()
        state.test_s = time.monotonic() - began
        state.tally.tests_s += state.test_s
        return found, state.check.regressions(found)

    def _check_change(self, state: _State) -> tuple[bool, str, bool]:
        """Run the bead's check after a change: whether it holds, what the model reads, and
        whether that says what is still missing (a file, a name, a test it broke).

        Running it here saves the small model a turn (write, then run_tests, then read) and
        shows the failure while the change is in front of it."""
        found, broken = self._check_now(state)
        if state.passed is found:
            return True, f"the acceptance tests pass now ({found.summary()}); the bead is done", False
        note = f"\nThese passed before the bead started and fail now: {', '.join(broken[:10])}" if broken else ""
        note += self._still_missing(state)
        return False, f"The tests, run after this change: {found.summary()}\n{found.shown}{note}", bool(note)

    def _still_missing(self, state: _State) -> str:
        """What the acceptance tests import that the files as they are now lack: one line
        each, saying how to add it ("" when nothing is missing)."""
        note = ""
        root = state.sandbox.root
        files = [*state.files, *sorted(p for p in state.tries.written if (root / p).is_file())]  # as they are now
        for path in briefing.missing_files(root, state.acceptance, files):
            note += (
                f"\nStill missing: {path}, which the tests import. Reply with {path} on one line and a code "
                "block holding the whole file, with the imports it needs."
            )
        for path, name in briefing.absent_names(root, state.acceptance, files):
            # A small model shown a module often sends it back unchanged: say what it still lacks.
            note += (
                f"\nStill missing: {path} defines no `{name}`, which the tests import. Reply with {path} "
                f"on one line and a code block holding only `{name}`: it is added to the module."
            )
        return note

    def _execute(self, state: _State, call: toolcalls.ToolCall) -> tuple[str, bool, bool]:
        """Run one call: its answer, whether it worked, and whether it changed a file."""
        began = time.monotonic()
        before = _target_bytes(state.sandbox, call) if call.name in WRITES else None
        text, ok = self._run(state, call)
        state.tally.tools_s += time.monotonic() - began
        after = _target_bytes(state.sandbox, call) if call.name in WRITES and ok else before
        changed = after != before
        if changed:
            path = _relative(state.sandbox, call)
            state.tries.written.add(path)  # put back when the try ends, whatever changed
            if self._tests_decide and same_code(path, before, after):  # a Librarian's docstrings are its work
                changed = False
                text += "\nIts code is the same as before: only docstrings, comments or layout differ."
            else:
                state.repeats.changed()
        state.trace.write(
            "tool", name=call.name, arguments=call.arguments, ok=ok, result=tail(text, 4000), source=call.source
        )
        return text, ok, changed

    def _run(self, state: _State, call: toolcalls.ToolCall) -> tuple[str, bool]:
        args = dict(call.arguments)
        sandbox = state.sandbox
        try:
            if call.name == "run_tests":
                if not sandbox.test_command:
                    raise ToolError("this rig has no test command")
                found, broken = self._tests(state)
                note = (
                    f"\nThese passed before the bead started and fail now: {', '.join(broken[:10])}" if broken else ""
                )
                return f"{found.summary()}\n{found.shown}{note}", True
            if call.name == "ask_crew":
                assert self.crew is not None
                return self.crew(str(args.get("question", ""))), True
            method = getattr(sandbox, call.name)
            return str(method(**args)), True
        except ToolError as error:
            return f"error: {error}", False
        except TypeError as error:
            return f"error: {call.name}: {error}", False
        except OSError as error:
            return f"error: {call.name}: {error.strerror or error}", False

    def _answer(self, conv: prompts.Conversation, call: toolcalls.ToolCall, text: str, answered: set[str]) -> None:
        if call.source == "structured" and call.id:
            conv.add({"role": "tool", "tool_call_id": call.id, "content": text})
            answered.add(call.id)
        else:
            conv.add({"role": "user", "content": f"[result of {call.name}]\n{text}"})

    # ---- after the loop --------------------------------------------------------

    def _finish(self, state: _State, worktree: Worktree, summary: str, started: float) -> Outcome:
        self._keep_best(state)
        bead, tally, trace = state.bead, state.tally, state.trace
        tests: dict[str, Any] = {}
        found = state.passed
        if found is None and self.rig.test_command:
            began = time.monotonic()
            found = state.check.run()
            tally.tests_s += time.monotonic() - began
            trace.write("tests", exit_code=found.run.exit_code, counts=found.counts, timed_out=found.run.timed_out)
        broken: list[str] = []
        if found is not None:
            broken = state.check.regressions(found)
            tests = {**found.counts, "exit_code": found.run.exit_code, "output_tail": tail(found.shown, 3000)}
            if state.check.acceptance:
                tests["acceptance"] = list(state.check.acceptance)
        changed = worktree.changed_files()
        if self.role != "refinery":
            touched = _touched_tests(self.rig, worktree, changed)
            if touched:
                result = {
                    "summary": summary,
                    "outcome": "refused",
                    "tests": tests,
                    **tally.result(started, trace, self.client.spec.name),
                }
                return Outcome("failed", f"changed the Refinery's test files: {', '.join(touched)}", result)
        message = (
            f"{bead.title}\n\n{summary or 'work on ' + bead.id}\n\n"
            f"Bead: {bead.id}\nRole: {self.role}\nModel: {', '.join(tally.models)}\n"
        )
        commit = worktree.commit(message, f"{self.role}")
        trace.write("commit", sha=commit, changed=changed)
        result = {
            "summary": summary or "no summary given",
            "branch": worktree.branch,
            "commits": [commit] if commit else [],
            **({"tests": tests} if tests else {}),
            **tally.result(started, trace, self.client.spec.name),
        }
        if self.prompt.done_when == "tests-pass":
            if not self.rig.test_command:
                ok, why = commit is not None, "no changes were made"
            else:
                ok, why = _verdict(found, broken, tests)
        else:
            ok, why = commit is not None, "no files were written"
        if not ok and tally.refused:
            why += f" (finish was refused {tally.refused} times)"
        if tally.stuck:
            result["stuck"] = 1
            if not (ok and self._tests_decide):  # passing tests outweigh a loop at the end
                ok, why = False, f"stuck: {tally.stuck}" + ("" if ok else f"; {why}")
        result["outcome"] = "passed" if ok else "failed"
        return Outcome("done" if ok else "failed", "" if ok else why, result)


def _touched_tests(rig: Rig, worktree: Worktree, changed: Sequence[str]) -> list[str]:
    """The Refinery's files among ``changed``: tests, files that decide how tests are
    collected, and a ``pyproject.toml`` whose pytest tables changed."""
    touched = [p for p in changed if rig.is_protected(p)]
    for path in changed:
        if PurePosixPath(path).name == "pyproject.toml":
            old = worktree.repo.read_at(worktree.base, path)
            new = _read_bytes(worktree.path / path)
            if pytest_setup_changed(old, None if new is None else new.decode(errors="replace")):
                touched.append(f"{path} (its pytest settings)")
    return touched


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError:
        return None


def _rig_python(command: Sequence[str]) -> tuple[str, ...]:
    """The interpreter a rig's tests run on, when it is not the one gastown runs on."""
    if not command or not re.fullmatch(r"python[\d.]*", Path(command[0]).name):
        return ()
    found = shutil.which(command[0])
    if found is None or Path(found).resolve() == Path(sys.executable).resolve():
        return ()
    return (found,)


def _describe(call: toolcalls.ToolCall) -> str:
    args = ", ".join(f"{k}={str(v)[:40]!r}" for k, v in call.arguments.items() if k not in ("content", "new", "old"))
    return f"{call.name}({args})"


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


def _verdict(found: checks.TestRun | None, broken: list[str], tests: Mapping[str, Any]) -> tuple[bool, str]:
    if found is None:
        return False, "the tests did not run"
    if found.run.timed_out:
        return False, "the tests timed out"
    if broken:
        return False, f"tests that passed before now fail: {', '.join(broken[:5])}"
    if not found.passed:
        failing = [t for t, outcome in found.outcomes.items() if outcome in ("FAILED", "ERROR")]
        names = f": {', '.join(failing[:5])}" if failing else ""
        return False, (
            f"tests failed (exit {found.run.exit_code}: {tests.get('failed', 0)} failed, "
            f"{tests.get('errors', 0)} errors){names}"
        )
    return True, ""


def _assistant(reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content or ""}
    if reply.tool_calls:
        message["tool_calls"] = reply.tool_calls
    return message
