"""Working one bead: the first prompt, the tool loop, the commit and the result.

Before the first turn the bead's acceptance tests are found (see ``checks``) and run,
with the suite once to learn which tests already pass; the first prompt shows the model
those tests, the rig files they import and how they fail now (see ``briefing``), so a
small model can start at turn one. The loop then asks the model, parses its tool calls
(strictly, then leniently; a lone code block is a write of the file it can only mean) and
runs them (see ``calls``): every change is checked by the bead's done condition (see
``donecheck``), which ends the bead when it holds and judges every ``finish``. A
repeated call or reply is pointed out, then ends the bead (see ``repeats``); a change
whose tests fail starts the bead over from its first prompt, hotter (see ``tries``); a bug
fix's first tries, before any answer of its own, and a near miss's once a fresh try was
shown it, ask about one suspect line each, found by a traced run of its tests (see
``sweep`` and ``suspects``), and take the reply as that line corrected.
Turn, token and wall-time budgets bound the rest, and no model call starts that would
outlast the time budget (see ``pace``). Then the best files of any try are kept, the
Refinery's test files are checked untouched (for every role but the Refinery), and the
work is committed on ``bead/<id>`` with a ``Bead:`` trailer. Every request, reply, tool
call and timing goes to the bead's trace (JSON lines, secrets redacted).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from gastown.agents import briefing, checks, focus, lineask, prompts, sweep, toolcalls
from gastown.agents.calls import Calls, Crew, State, pathless_write
from gastown.agents.donecheck import PAIRED, DoneCheck, touched_tests, verdict
from gastown.agents.jail import INSTALL_HINT, Jail
from gastown.agents.pace import BeadBudget, Pace
from gastown.agents.repeats import Repeats, Stuck
from gastown.agents.rig import Rig, RolePrompt
from gastown.agents.tally import Tally, Trace
from gastown.agents.tools import Sandbox
from gastown.agents.toolspecs import call_schema, openai_tools, parser_specs
from gastown.agents.tries import FRESH_TEMPERATURE, Tries, score_of, text_of
from gastown.agents.worktree import Worktree
from gastown.errors import Unavailable
from gastown.machine.hardware import EnergyMeter
from gastown.machine.providers import ECHOED, ModelClient, ModelRejected, PastDeadline, Reply
from gastown.town import schema, tokens
from gastown.town.bead import Bead
from gastown.town.secrets import Secrets

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


@dataclass(frozen=True)
class Limits:
    """How long one bead may go on."""

    max_turns: int = 24  # model turns for one bead; a suspect line's ask is none (sweep.py)
    max_failed_in_a_row: int = 4
    max_prose_in_a_row: int = 4  # replies with no call and no code; counted on across tries
    prose_per_try: int = 2  # of those, after which a try starts over (where the tests decide)
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
        crew: Crew | None = None,
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
            env=dict(os.environ) if self.env is None else self.env,
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
        now_s = 0.0  # how long the bead's tests ran as it starts: the first change's run will take as long
        first_s: float | None = None  # the slowest of those runs: a change's run that takes far longer is cut
        if self._tests_decide:
            began = time.monotonic()
            check.baseline()
            if not bead.acceptance_tests:  # found from the text: a whole file may be more than the bead
                acceptance = briefing.narrow(sandbox.root, check, acceptance, texts)
            ran = time.monotonic()
            now = check.run()
            now_s = time.monotonic() - ran
            if not now.run.timed_out:  # a bug that is itself an endless loop: only the rig's timeout holds
                first_s = max(ran - began, now_s)
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
        state.done.test_s = now_s
        state.done.first_s = first_s
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
    ) -> State:
        spec = self.client.spec
        budget = briefing.prompt_budget(spec, min(self.limits.max_reply_tokens, spec.max_output_tokens))
        wanted = briefing.wanted_files(bead, acceptance, self.rig) if self.role == "refinery" else ()
        first = briefing.first_messages(
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
        sandbox.outlined(dict(first.unseen))  # what the outlines showed as stubs: not to be rewritten unread
        conv = prompts.Conversation([dict(m) for m in first.messages], budget)
        conv.overhead = briefing.tools_overhead(spec, names)
        start = None if now is None else score_of(now.counts, 0)
        blind = None if first.blind is None else ([dict(m) for m in first.blind.messages], first.blind.function)
        tries = Tries(sandbox.root, [dict(m) for m in first.messages], start=start, blind=blind)
        texts = briefing.texts_of(bead)
        done = DoneCheck(
            sandbox,
            check,
            tries,
            tally,
            trace,
            tests_decide=self._tests_decide,
            acceptance=acceptance,
            files=tuple(files),
            wanted=wanted,
            named=frozenset(focus.bead_names(texts, checks.CODE_NAME_RE)),
            texts=texts,
        )
        done.started(now)
        repeats = Repeats(self.limits.max_repeats)
        return State(
            bead,
            sandbox,
            done,
            tally,
            trace,
            conv,
            repeats,
            tries,
            fix_start=first.fix_start,
            fix_file=first.fix_file,
            unseen=dict(first.unseen),
        )

    # ---- the loop --------------------------------------------------------------

    def _loop(self, state: State, names: tuple[str, ...]) -> tuple[str, Outcome | None]:
        client = self.client
        tally, trace, conv = state.tally, state.trace, state.conv
        reply_tokens = min(self.limits.max_reply_tokens, client.spec.max_output_tokens)
        turns = min(self.limits.max_turns, client.spec.max_turns or self.limits.max_turns)
        specs = parser_specs(names)
        mode = client.spec.tool_mode  # the head was written for it: a fallback model is asked the same way
        tools = openai_tools(names)
        shape = {"type": "json_object", "schema": schema.grammar_safe(call_schema(names))}
        budget = BeadBudget(self.limits.max_tokens, self.limits.max_wall_s)
        state.done.until = budget.deadline  # the last run (``final``), of the files kept, has the rig's timeout
        pace = Pace()  # how long the next call will take, from the calls so far
        shrinks = 0
        failed_in_a_row = prose_in_a_row = 0
        unusable: str | None = None  # the last unusable reply
        traced = 0  # messages already in the trace: each request records only what is new
        calls = Calls(state, self.crew)
        echoes = prompts.echo_marks(state.bead.to_dict())  # a reply is cut where it copies one
        turn = 0
        sweep.begin(state, mode)  # a bug fix's suspect lines, before an answer of its own
        while turn - state.tries.line_tries < turns:  # a suspect line's ask is no turn of these (sweep.py)
            turn += 1
            if self.stop.is_set():
                return "", Outcome("released", "the watcher was told to stop")
            if state.tries.start_over and state.done.pair_up():  # two tries' files, together, pass
                return PAIRED, None
            if state.tries.start_over:
                self._start_over(state, pace)
                conv = state.conv
                # the first prompt, as the fresh try's note changed it (all of it, when no request was traced yet)
                traced = min(traced, len(state.tries.head) - 1)
            if calls.crew_asked(client.spec.name):
                pace.rewind(0)  # the Crew's question ran on this model's server: its prompt took the cache
            # the next call, and the test run its change will need (as long as the last one): that
            # run comes off the time left for the reply
            test_s = state.done.test_s
            asked = lineask.LINE_REPLY_TOKENS if state.tries.line is not None else reply_tokens  # a line or two
            cap = budget.reply_cap(pace, conv.estimate(), min(asked, reply_tokens), test_s)
            spent = budget.spent(
                tally.tokens_in + tally.tokens_out, budget.next_call(pace, conv.estimate(), cap, test_s)
            )
            if spent:
                trace.write("budget", reason=spent)
                return "", None  # the done check decides
            messages = conv.messages()
            sent = conv.estimate()
            heat = state.repeats.temperature
            wide = state.repeats.sampling(client.spec.sampling)
            start = prompts.reply_start(messages)  # begun for the model where its server lets us
            asking, root = state.tries.line, state.sandbox.root  # a line's try: its reply ends at its answer
            trace.write(
                "request",
                turn=turn,
                model=client.spec.name,
                messages=len(messages),
                stubbed=conv.stubbed,
                temperature=heat,
                sampling=wide,
                max_tokens=cap,
                new=[{"role": m["role"], "content": m.get("content") or ""} for m in messages[traced:]],
            )
            traced = len(messages)
            meter = self.meter(client)
            if meter is not None:
                meter.begin()
            try:
                ask = partial(
                    client.chat,
                    messages,
                    max_tokens=cap,
                    temperature=heat,
                    until=budget.deadline,
                    sampling=wide,
                    cut_at=echoes,
                    start=start,
                    enough=None if asking is None else partial(lineask.answered, asking, text_of(root / asking.path)),
                )
                if mode == "schema":
                    reply = ask(response_format=shape)
                elif mode == "text":  # the tools are in the system prompt
                    reply = ask()
                else:
                    reply = ask(tools=tools, tool_choice="auto")
            except PastDeadline as error:  # slower than the calls so far: cut off, so the work is still committed
                if meter is not None:
                    meter.end()
                trace.write("budget", reason=f"the call was cut off at the end of the bead's time budget: {error}")
                return "", None
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
            parsed = toolcalls.parse(reply.tool_calls, reply.content, specs, state.sandbox.module_file)
            line = state.tries.line
            edit = (
                None if line is None else lineask.as_edit(line, reply.content, text_of(state.sandbox.root / line.path))
            )
            if edit is not None:  # the one line this try asked about, corrected (or not)
                parsed = toolcalls.Parsed(calls=[edit])
            if not parsed.calls and not parsed.errors:
                parsed.calls += pathless_write(state, self.role == "refinery", reply.content)
            if mode == "schema":  # held to the schema by the server: not a call recovered from prose
                parsed.calls = [replace(c, source="schema") for c in parsed.calls]
            recovered = parsed.recovered if mode == "native" else 0  # in text mode text is what was asked for
            tally.recovered += recovered
            trace.write(
                "reply",
                turn=turn,
                content=reply.content,
                tool_calls=reply.tool_calls,
                finish=reply.finish_reason,
                usage=reply.usage.to_dict(),
                endpoint=reply.endpoint,
                recovered=recovered,
                errors=parsed.errors,
                **({"begun": start} if reply.begun else {}),  # the reply's first lines were gastown's
            )
            if conv.stubbed != state.stubbed:  # old output was dropped: reading it again is not a loop
                state.stubbed = conv.stubbed
                state.repeats.changed()
            conv.add(_assistant(reply))
            answer = None if edit is None else edit.arguments
            untested = "" if answer is None else state.tries.line_answer(answer["path"], answer["old"], answer["new"])
            if untested:  # the line as it was, or an answer it was given before
                trace.write("tool", name="edit_file", arguments=answer, ok=False, result=untested, source="line")
                continue
            if line is not None and not parsed.calls:  # nothing to run: not counted as an unusable reply either
                state.tries.end("the reply held no corrected line")
                continue
            try:
                finished = calls.run(parsed, reply)
            except Stuck as stuck:  # the loop ends; the done check still judges what was written
                trace.write("stuck", what=str(stuck))
                tally.stuck = str(stuck)
                return "", None
            if finished is not None:
                return finished, None
            if line is not None:  # one reply a line, whatever it held: on to the next line
                state.tries.end("the reply held no corrected line")  # (or the first reason it ended for)
                continue
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
                if prose_in_a_row % self.limits.prose_per_try == 0 and self._tests_decide:
                    # nudged once, a small model that answered without code drifts further from
                    # it (the 1.5B: a block, a path alone, the block again; the bead ended with
                    # 140 s left); the first prompt asked again is what got code from it
                    state.tries.end(f"{prose_in_a_row} replies in a row without a call or code: a new answer")
                if reply.finish_reason == "length" and self._tests_decide:
                    # C11's `lfu-touch`: its class cut open at 1,024 tokens, nudged for the change, it
                    # was still writing at the bead's end; a new answer begins instead
                    state.tries.end("the reply ran to its length limit with no change in it: a new answer")
                if not state.tries.start_over:  # a try that starts over is asked afresh
                    done, echoed = state.done, reply.finish_reason == ECHOED
                    begin = None if echoed else state.fix_start  # a bug fix's code, begun at its function
                    nudge = briefing.nudge(
                        done.acceptance, done.wanted, self._tests_decide, reply.content, begin, calls.reply_note
                    )
                    conv.add({"role": "user", "content": f"{briefing.ECHO_NOTE} {nudge}" if echoed else nudge})
            else:
                prose_in_a_row = 0
        return "", None  # out of turns: the done check decides

    def _start_over(self, state: State, pace: Pace) -> None:
        """A fresh try (see ``tries``): the conversation back to the first prompt (or a bug
        fix's blind one), with a note of how the best try failed and what it left undone,
        sampled hotter."""
        held = state.tries.head  # the head the last try started from: the server holds at least that
        sweep.near(state, self.client.spec.tool_mode)  # a near miss's, once a try was shown it
        head, why, hint = state.tries.begin_again(state.done.failing)
        state.tally.tries = state.tries.number
        old = state.conv
        state.conv = prompts.Conversation(head, old.budget_tokens, scale=old.scale, overhead=old.overhead)
        state.stubbed = 0  # the new conversation has dropped nothing yet
        state.sandbox.outlined(state.unseen)  # nor read anything
        common = os.path.commonprefix([held[-1].get("content") or "", head[-1].get("content") or ""])
        shared = [*held[:-1], {**held[-1], "content": common}]  # a new head (tries.BLIND_FROM) shares less
        cached = prompts.Conversation(shared, old.budget_tokens, overhead=old.overhead)
        pace.rewind(cached.estimate())  # unscaled, the measure Pace.saw is given
        state.repeats.start_over(FRESH_TEMPERATURE)
        trace, asked = state.trace, state.tries.line
        trace.write(
            "try",
            number=state.tries.number,
            why=why,
            asks=None if asked is None else f"{asked.path}:{asked.first}",  # a suspect line's, or none: an answer
            hint=hint,
            temperature=state.repeats.temperature,
            body_left_out=state.tries.body_left_out,
        )

    # ---- after the loop --------------------------------------------------------

    def _finish(self, state: State, worktree: Worktree, summary: str, started: float) -> Outcome:
        if state.done.pair_up():  # the loop ended mid-try: two tries' files may still pass together
            summary = PAIRED
        state.done.keep_best()
        bead, tally, trace = state.bead, state.tally, state.trace
        found, broken, tests = state.done.final()
        changed = worktree.changed_files()
        if self.role != "refinery":
            touched = touched_tests(self.rig, worktree, changed)
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
                ok, why = verdict(found, broken, tests)
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


def _rig_python(command: Sequence[str]) -> tuple[str, ...]:
    """The interpreter a rig's tests run on, when it is not the one gastown runs on."""
    if not command or not re.fullmatch(r"python[\d.]*", Path(command[0]).name):
        return ()
    found = shutil.which(command[0])
    if found is None or Path(found).resolve() == Path(sys.executable).resolve():
        return ()
    return (found,)


def _assistant(reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content or ""}
    if reply.tool_calls:
        message["tool_calls"] = reply.tool_calls
    return message
