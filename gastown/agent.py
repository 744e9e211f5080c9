"""Working one bead: the tool loop, the rig's tests, the code commit, the result.

The loop asks the model, parses its tool calls (strictly, then leniently), runs them in
the sandbox and feeds the results back, until the model calls ``finish``, runs out of
turns, or keeps failing to produce a usable call. Then the rig's tests run, the
Refinery's test files are checked untouched (for every role but the Refinery), and the
work is committed on ``bead/<id>`` with a ``Bead:`` trailer. Every request, reply, tool
call and timing goes to the bead's trace (JSON lines, secrets redacted).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gastown import prompts, toolcalls
from gastown.bead import Bead
from gastown.errors import Unavailable
from gastown.hardware import EnergyMeter
from gastown.providers import ModelClient, ModelRejected, Reply
from gastown.rig import Rig, RolePrompt
from gastown.tools import Run, Sandbox, ToolError, call_schema, describe, openai_tools, parser_specs, redact, tail
from gastown.worktree import Worktree

log = logging.getLogger(__name__)

BASE_TOOLS = (
    "read_file",
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
    max_turns: int = 24
    max_failed_in_a_row: int = 4
    max_prose_in_a_row: int = 3
    max_reply_tokens: int = 1024


@dataclass
class Outcome:
    """How a bead ended: ``done``, ``failed`` (the work's fault) or ``released`` (not its fault)."""

    status: str
    reason: str
    result: dict[str, Any] = field(default_factory=dict)


class Trace:
    """The bead's full trace as JSON lines, outside the tasks branch."""

    def __init__(self, path: Path, secrets: list[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._secrets = secrets
        self._file = path.open("a", encoding="utf-8")
        self._started = time.monotonic()

    def write(self, kind: str, **data: Any) -> None:
        record = {"t": round(time.monotonic() - self._started, 4), "kind": kind, **data}
        line = redact(json.dumps(record, ensure_ascii=False, default=str), self._secrets)
        self._file.write(line + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


@dataclass
class Tally:
    """What the loop used: tokens, time, tool calls."""

    tokens_in: int = 0
    tokens_out: int = 0
    model_s: float = 0.0
    prefill: list[float] = field(default_factory=list)
    decode: list[float] = field(default_factory=list)
    cached: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    recovered: int = 0
    models: list[str] = field(default_factory=list)
    tools_s: float = 0.0
    tests_s: float = 0.0
    meters: set[Any] = field(default_factory=set)

    by_model: dict[str, dict[str, float]] = field(default_factory=dict)

    def add(self, reply: Reply, joules: float = 0.0) -> None:
        usage = reply.usage
        row = self.by_model.setdefault(reply.model, {"tokens_in": 0, "tokens_out": 0, "model_s": 0.0, "energy_j": 0.0})
        row["tokens_in"] += usage.tokens_in
        row["tokens_out"] += usage.tokens_out
        row["model_s"] += usage.seconds
        row["energy_j"] += joules
        self.tokens_in += usage.tokens_in
        self.tokens_out += usage.tokens_out
        self.model_s += usage.seconds
        self.cached += usage.cached_tokens or 0
        if usage.prefill_tps:
            self.prefill.append(usage.prefill_tps)
        if usage.decode_tps:
            self.decode.append(usage.decode_tps)
        if reply.model not in self.models:
            self.models.append(reply.model)


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

    def work(self, bead: Bead, worktree: Worktree, trace: Trace) -> Outcome:
        started = time.monotonic()
        protect = self.role != "refinery"
        sandbox = Sandbox(
            worktree.path,
            protected=self.rig.is_test_path if protect else (lambda _p: False),
            allowed_commands=self.rig.allowed_commands,
            shell_timeout=self.rig.shell_timeout,
            test_command=self.rig.test_command,
            test_timeout=self.rig.test_timeout,
            **({"env": self.env} if self.env is not None else {}),
        )
        names = BASE_TOOLS + (("ask_crew",) if self.crew else ())
        tally = Tally()
        summary, ended = self._loop(bead, sandbox, names, tally, trace)
        if ended is not None:
            ended.result.update(self._result(tally, started, trace))
            return ended
        return self._finish(bead, worktree, sandbox, summary, tally, started, trace)

    # ---- the loop --------------------------------------------------------------

    def _head(self, bead: Bead, sandbox: Sandbox) -> list[dict[str, Any]]:
        docs = prompts.read_docs(sandbox.root, self.rig.docs)
        protected = list(self.rig.test_paths) if self.role != "refinery" else []
        note = (
            "When the project's tests pass, call finish with a short summary."
            if self.prompt.done_when == "tests-pass"
            else "When your files are written, call finish with a short summary."
        )
        return [
            {"role": "system", "content": prompts.system_text(self.prompt.text, docs)},
            {"role": "user", "content": prompts.bead_text(bead.to_dict(), protected, note)},
        ]

    def _loop(
        self, bead: Bead, sandbox: Sandbox, names: tuple[str, ...], tally: Tally, trace: Trace
    ) -> tuple[str, Outcome | None]:
        client = self.client
        reply_tokens = min(self.limits.max_reply_tokens, client.spec.max_output_tokens)
        turns = min(self.limits.max_turns, client.spec.max_turns or self.limits.max_turns)
        budget = int(client.spec.context * 0.75) - reply_tokens
        specs = parser_specs(names)
        schema_mode = client.spec.tool_mode == "schema"
        tools = openai_tools(names)
        head = self._head(bead, sandbox)
        if schema_mode:  # the tools go in the prompt; the server's grammar keeps replies to one call
            head[0] = {**head[0], "content": head[0]["content"] + "\n" + describe(names) + "\n"}
            shape = {"type": "json_object", "schema": call_schema(names)}
        conv = prompts.Conversation(head, max(budget, 512))
        conv.overhead = 0 if schema_mode else prompts.estimate_tokens(json.dumps(tools))
        shrinks = 0
        failed_in_a_row = prose_in_a_row = 0
        for turn in range(1, turns + 1):
            if self.stop.is_set():
                return "", Outcome("released", "the watcher was told to stop")
            messages = conv.messages()
            sent = conv.estimate()
            trace.write(
                "request",
                turn=turn,
                model=client.spec.name,
                messages=len(messages),
                stubbed=conv.stubbed,
            )
            meter = self.meter(client)
            if meter is not None:
                meter.begin()
            try:
                if schema_mode:
                    reply = client.chat(messages, response_format=shape, max_tokens=reply_tokens)
                else:
                    reply = client.chat(messages, tools=tools, tool_choice="auto", max_tokens=reply_tokens)
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
            if not reply.usage.estimated:
                conv.observe(sent, reply.usage.tokens_in)
            parsed = toolcalls.parse(reply.tool_calls, reply.content, specs)
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
            conv.add(_assistant(reply))
            answered: set[str] = set()
            for call in parsed.calls:
                tally.calls[call.name] = tally.calls.get(call.name, 0) + 1
                if call.name == "finish":
                    summary = str(call.arguments.get("summary", "")).strip()
                    self._answer(conv, call, "finished", answered)
                    trace.write("finish", summary=summary)
                    return summary, None
                began = time.monotonic()
                text, ok = self._run(call, sandbox)
                tally.tools_s += time.monotonic() - began
                if not ok:
                    tally.failed += 1
                trace.write(
                    "tool",
                    name=call.name,
                    arguments=call.arguments,
                    ok=ok,
                    result=tail(text, 4000),
                    source=call.source,
                )
                self._answer(conv, call, text, answered)
            for raw in reply.tool_calls:  # every structured call needs an answer
                if raw["id"] not in answered:
                    conv.add(
                        {
                            "role": "tool",
                            "tool_call_id": raw["id"],
                            "content": "error: not run (see below)",
                        }
                    )
            if parsed.errors:
                tally.failed += len(parsed.errors)
                failed_in_a_row += 1
                conv.add(
                    {
                        "role": "user",
                        "content": "Your tool call could not be used:\n- "
                        + "\n- ".join(parsed.errors)
                        + "\nCall one tool, with its arguments as a JSON object.",
                    }
                )
                if failed_in_a_row >= self.limits.max_failed_in_a_row:
                    return "", Outcome(
                        "failed",
                        f"the model failed to produce a usable tool call {failed_in_a_row} times in a row: "
                        f"{parsed.errors[-1]}",
                    )
                continue
            failed_in_a_row = 0
            if not parsed.calls:
                prose_in_a_row += 1
                if prose_in_a_row >= self.limits.max_prose_in_a_row:
                    break
                conv.add({"role": "user", "content": "Use the tools to do the work, then call finish."})
            else:
                prose_in_a_row = 0
        return "", None  # out of turns: the tests decide

    def _run(self, call: toolcalls.ToolCall, sandbox: Sandbox) -> tuple[str, bool]:
        args = dict(call.arguments)
        try:
            if call.name == "run_tests":
                return sandbox.run_tests()[0], True
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

    def _finish(
        self,
        bead: Bead,
        worktree: Worktree,
        sandbox: Sandbox,
        summary: str,
        tally: Tally,
        started: float,
        trace: Trace,
    ) -> Outcome:
        tests: dict[str, Any] = {}
        run: Run | None = None
        if self.rig.test_command:
            began = time.monotonic()
            text, run, counts = sandbox.run_tests()
            tally.tests_s += time.monotonic() - began
            tests = {**counts, "exit_code": run.exit_code, "output_tail": tail(run.output, 3000)}
            trace.write("tests", exit_code=run.exit_code, counts=counts, timed_out=run.timed_out)
        changed = worktree.changed_files()
        if self.role != "refinery":
            touched = [p for p in changed if self.rig.is_test_path(p)]
            if touched:
                result = {
                    "summary": summary,
                    "outcome": "refused",
                    "tests": tests,
                    **self._result(tally, started, trace),
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
            **self._result(tally, started, trace),
        }
        passed = run is not None and run.exit_code == 0 and not run.timed_out
        if self.prompt.done_when == "tests-pass":
            if not self.rig.test_command:
                ok, why = commit is not None, "no changes were made"
            else:
                ok, why = passed, _test_failure(tests, run)
        else:
            ok, why = commit is not None, "no files were written"
        result["outcome"] = "passed" if ok else "failed"
        return Outcome("done" if ok else "failed", "" if ok else why, result)

    def _result(self, tally: Tally, started: float, trace: Trace) -> dict[str, Any]:
        def mean(values: list[float]) -> float | None:
            return round(sum(values) / len(values), 2) if values else None

        data: dict[str, Any] = {
            "model": ", ".join(tally.models) or self.client.spec.name,
            "tokens_in": tally.tokens_in,
            "tokens_out": tally.tokens_out,
            "wall_s": round(time.monotonic() - started, 3),
            "model_s": round(tally.model_s, 3),
            "tools_s": round(tally.tools_s, 3),
            "tests_s": round(tally.tests_s, 3),
            "tool_calls": dict(tally.calls),
            "tool_calls_failed": tally.failed,
            "tool_calls_recovered": tally.recovered,
            "trace": str(trace.path),
        }
        for key, value in (
            ("prefill_tps", mean(tally.prefill)),
            ("decode_tps", mean(tally.decode)),
        ):
            if value is not None:
                data[key] = value
        data["by_model"] = {
            name: {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}
            for name, row in tally.by_model.items()
        }
        joules = sum(m.joules for m in tally.meters)
        sources = {m.source for m in tally.meters if m.source}
        if sources:
            data["energy_j"] = round(joules, 3)
            data["energy_source"] = sources.pop() if len(sources) == 1 else "mixed"
        return data


def _assistant(reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content or ""}
    if reply.tool_calls:
        message["tool_calls"] = reply.tool_calls
    return message


def _test_failure(tests: Mapping[str, Any], run: Run | None) -> str:
    if run is None:
        return "the tests did not run"
    if run.timed_out:
        return "the tests timed out"
    return f"tests failed (exit {run.exit_code}: {tests.get('failed', 0)} failed, {tests.get('errors', 0)} errors)"
