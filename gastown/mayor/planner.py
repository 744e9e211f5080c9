"""The Mayor's planner: a feature becomes a plan document and a convoy of beads.

Planning asks the Mayor's model for a plan document and a convoy (JSON Schema
structured output where the endpoint takes it, else a forced tool call), checks it
against ``schemas/plan.schema.json`` and the AeroBeat order, sends the problems back a
bounded number of times, and commits the plan, the convoy and its beads in one commit.
The model decodes under a grammar-safe copy of the schema (``schema.grammar_safe``:
shapes, no long counts, which llama.cpp cannot build into a grammar); lengths, counts and
patterns are checked on the answer, and what fails goes back to the model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gastown.agents import callargs, prompts, toolcalls
from gastown.agents.rig import Rig
from gastown.errors import InvalidBead, Refused, Unavailable, UsageError
from gastown.machine.providers import ModelClient, ModelRejected
from gastown.town import convoy as convoymod
from gastown.town import dag, events, ids, schema
from gastown.town.bead import Bead, Dependency, named_like_tests, new_bead, semantic_problems
from gastown.town.store import GitStore, Snapshot, Update
from gastown.town.times import iso

MAX_PLAN_ATTEMPTS = 3
PLAN_TOOL = "submit_plan"
PLAN = "plan"

PLAN_INSTRUCTIONS = """
Return the plan as one JSON object:
{"title": "...", "plan": "<the plan document in Markdown>",
 "beads": [{"key": "t1", "title": "...", "role": "refinery", "kind": "tests",
            "description": "...", "acceptance_criteria": "...", "estimated_tokens": 3000,
            "depends_on": [], "files": ["tests/test_x.py"]},
           {"key": "c1", "title": "...", "role": "polecat", "kind": "code",
            "description": "...", "acceptance_criteria": "...", "estimated_tokens": 4000,
            "depends_on": ["t1"], "files": ["src/x.py"], "acceptance_tests": ["tests/test_x.py"]}, ...]}
Order (enforced): Refinery beads of kind "tests" first; each Polecat bead (kind "code")
depends on the tests it must pass; Librarian beads (kind "docs") depend on the code they
document; one last Refinery bead of kind "review" depends on everything else.
Acceptance tests: each tests bead names the test files it will write in "files"; each code
bead lists in "acceptance_tests" those of its tests beads' files (or pytest ids such as
tests/test_x.py::test_y) that its code must make pass. Paths are relative to the rig root.
Keep every bead small (estimated_tokens under 14000). Keys are short and unique.
""".strip()


@dataclass
class Planned:
    """A validated plan, before or after it was committed."""

    title: str
    document: str
    beads: list[Bead]
    convoy: convoymod.Convoy
    attempts: int
    usage: dict[str, Any] = field(default_factory=dict)
    commit: str | None = None


def order_problems(items: Sequence[Mapping[str, Any]]) -> list[str]:
    problems: list[str] = []
    keys = [str(item["key"]) for item in items]
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            problems.append(f"$.beads: the key {key!r} is used twice")
        seen.add(key)
    by_key = {str(item["key"]): item for item in items}
    for item in items:
        for dep in item.get("depends_on", ()):
            if dep not in by_key:
                problems.append(f"$.beads[{item['key']}].depends_on: {dep!r} is not a key of this plan")
            elif dep == item["key"]:
                problems.append(f"$.beads[{item['key']}].depends_on: a bead cannot depend on itself")
        kind = _kind(item)
        if kind == "tests":
            for dep in item.get("depends_on", ()):
                if dep in by_key and _kind(by_key[dep]) == "code":
                    problems.append(
                        f"$.beads[{item['key']}]: tests come first; they cannot depend on code bead {dep!r}"
                    )
    cycle = dag.find_cycle(keys, lambda k: by_key.get(k, {}).get("depends_on", ()))
    if cycle:
        problems.append(f"$.beads: dependency cycle {' -> '.join(cycle)}")
    if not any(_kind(i) == "code" for i in items):
        problems.append("$.beads: the plan has no code (Polecat) bead")
    for item in items:
        for test in item.get("acceptance_tests", ()):
            if ".." in test.split("::")[0].split("/"):
                problems.append(
                    f"$.beads[{item['key']}].acceptance_tests: {test!r} climbs out of the rig; name a path inside it"
                )
    return problems


def _kind(item: Mapping[str, Any]) -> str:
    if item.get("kind"):
        return str(item["kind"])
    return {"refinery": "tests", "polecat": "code", "librarian": "docs", "crew": "question"}.get(
        str(item.get("role")), "code"
    )


def check_plan(data: Any) -> list[str]:
    """Every reason ``data`` is not an acceptable plan (empty when it is)."""
    found = schema.problems("plan", data)
    if found:
        return found
    return order_problems(data["beads"])


def _test_file(path: str, is_test: Callable[[str], bool] | None) -> bool:
    """Whether ``path`` holds tests: named like a test (not a conftest or fixture) where the rig keeps them."""
    return named_like_tests(path) and (is_test is None or is_test(path.split("::")[0]))


def normalize(data: dict[str, Any], is_test: Callable[[str], bool] | None = None, feature: str = "") -> dict[str, Any]:
    """The AeroBeat order made whole: code waits for the tests, a review bead closes the convoy.

    A code bead that names no acceptance tests gets the test files of the tests beads it
    waits for (``is_test``: the rig's own test paths); a test id it names in a file a tests
    bead of the plan writes, but that bead does not name, is a guess and becomes the file.
    A bead with no description gets the feature: a small model's beads often say only
    which files, and the worker then does not know what to build.
    """
    items = [dict(item) for item in data["beads"]]
    tests = [i["key"] for i in items if _kind(i) == "tests"]
    by_key = {i["key"]: i for i in items}
    named = {t for k in tests for t in (*by_key[k].get("acceptance_tests", ()), *by_key[k].get("files", ()))}
    for item in items:
        item["kind"] = _kind(item)
        if feature.strip() and not str(item.get("description", "")).strip():
            item["description"] = f"Part of: {feature.strip()}"
        if item["kind"] == "code" and item.get("acceptance_tests"):
            guessed = [
                t.split("::")[0] if "::" in t and t not in named and t.split("::")[0] in named else t
                for t in item["acceptance_tests"]
            ]
            item["acceptance_tests"] = list(dict.fromkeys(guessed))
        deps = list(item.get("depends_on", ()))
        if item["kind"] == "code" and tests and not set(deps) & set(tests):
            deps = tests + deps
        item["depends_on"] = deps
        if item["kind"] == "code" and not item.get("acceptance_tests"):
            written = [
                path
                for dep in deps
                if dep in tests
                for path in (*by_key[dep].get("acceptance_tests", ()), *by_key[dep].get("files", ()))
                if _test_file(path, is_test)
            ]
            if written:
                item["acceptance_tests"] = list(dict.fromkeys(written))
    if not any(i["kind"] == "review" for i in items):
        key = "review"
        while key in {i["key"] for i in items}:
            key += "_"
        items.append(
            {
                "key": key,
                "title": f"Review and merge: {data['title']}"[:200],
                "role": "refinery",
                "kind": "review",
                "description": "Check the coverage guideline and merge the convoy's integration branch.",
                "estimated_tokens": 1000,
                "depends_on": [i["key"] for i in items if i["kind"] in ("tests", "code", "docs")],
            }
        )
    else:
        for item in items:
            if item["kind"] == "review":
                others = [i["key"] for i in items if i["kind"] != "review"]
                item["depends_on"] = sorted(set(item["depends_on"]) | set(others), key=others.index)
    return {**data, "beads": items}


def _messages(feature: str, rig: Rig, role_prompt: str, docs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    system = prompts.system_text(f"{role_prompt}\n\n{PLAN_INSTRUCTIONS}", docs)
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": f"# Feature for rig {rig.name}\n\n{feature.strip()}\n"},
    ]


def ask(client: ModelClient, messages: list[dict[str, Any]]) -> tuple[Any, str, dict[str, Any]]:
    """One answer from the Mayor's model, as parsed JSON (or None), how it came, and usage."""
    # Decoding holds the answer to the plan's shape only; check_plan judges the rest.
    plan_schema = schema.grammar_safe(schema.schema_of("plan"))
    if client.spec.structured_output:
        try:
            reply = client.chat(
                messages,
                response_format={"type": "json_schema", "json_schema": {"name": "plan", "schema": plan_schema}},
                max_tokens=8000,
                temperature=0.2,
            )
            return _json_of(reply.content), "structured", reply.usage.to_dict()
        except ModelRejected:
            pass  # the endpoint takes no schema-held response_format (remembered): use a forced tool call
    tool = {
        "type": "function",
        "function": {"name": PLAN_TOOL, "description": "Submit the plan.", "parameters": plan_schema},
    }
    reply = client.chat(
        messages, tools=[tool], tool_choice={"type": "function", "function": {"name": PLAN_TOOL}}, max_tokens=8000
    )
    specs = {PLAN_TOOL: toolcalls.ToolSpec(PLAN_TOOL)}
    parsed = toolcalls.parse(reply.tool_calls, reply.content, specs)
    if parsed.calls:
        return dict(parsed.calls[0].arguments), "tool", reply.usage.to_dict()
    return _json_of(reply.content), "text", reply.usage.to_dict()


def _json_of(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return callargs.first_json_object(text)


def plan(
    store: GitStore,
    feature: str,
    rig: Rig,
    client: ModelClient,
    role_prompt: str,
    dry_run: bool = False,
    agent: str = "mayor",
) -> Planned:
    """Ask for a plan until it is valid (bounded), then commit it unless ``dry_run``."""
    if not feature.strip():
        raise UsageError("the feature is empty: say what to build")
    docs = prompts.read_docs(rig.path, rig.docs)
    messages = _messages(feature, rig, role_prompt, docs)
    usage: dict[str, Any] = {"tokens_in": 0, "tokens_out": 0}
    problems: list[str] = []
    for attempt in range(1, MAX_PLAN_ATTEMPTS + 1):
        try:
            data, how, used = ask(client, messages)
        except Unavailable as error:
            what = error.hint or f"start the model (gt up) or fix [models.{client.spec.name}] in town.toml"
            raise Unavailable(
                f"the Mayor's model could not be reached: {error.message}",
                f"nothing was planned or committed; {what}, then plan again",
            ) from None
        usage["tokens_in"] += used.get("tokens_in", 0)
        usage["tokens_out"] += used.get("tokens_out", 0)
        problems = ["$: the answer was not a JSON object"] if not isinstance(data, dict) else check_plan(data)
        if not problems:
            planned = _build(
                store.snapshot(), normalize(data, rig.is_test_path, feature), rig, attempt, usage, client.spec.name
            )
            if not dry_run:
                planned.commit = _commit(store, planned, agent, client.spec.name)
            return planned
        messages = [
            *messages,
            {"role": "assistant", "content": json.dumps(data) if data is not None else ""},
            {
                "role": "user",
                "content": "The plan is not valid:\n- "
                + "\n- ".join(problems[:20])
                + "\nSend the whole corrected plan.",
            },
        ]
    raise InvalidBead(
        [f"the Mayor's plan (after {MAX_PLAN_ATTEMPTS} tries): {p}" for p in problems],
        "try again, give the Mayor a smaller feature, or write the convoy by hand and push it",
    )


def _build(snap: Snapshot, data: dict[str, Any], rig: Rig, attempts: int, usage: dict[str, Any], model: str) -> Planned:
    now = time.time()
    prefix = snap.config().prefix
    taken: set[str] = set()
    convoy_id = ids.new_id(
        f"{prefix}-cv", f"{data['title']}\0{now}", lambda c: c in taken or snap.read(convoymod.path_of(c)) is not None
    )
    keys: dict[str, str] = {}
    for item in data["beads"]:
        keys[item["key"]] = ids.new_id(prefix, f"{item['title']}\0{now}", lambda c: snap.has(c) or c in taken)
        taken.add(keys[item["key"]])
    beads = []
    for item in data["beads"]:
        description = item.get("description", "")
        if item.get("files"):
            description += "\n\nFiles: " + ", ".join(item["files"])
        bead = new_bead(
            keys[item["key"]],
            item["title"],
            now,
            role=item["role"],
            rig=rig.name,
            convoy=convoy_id,
            description=description.strip(),
            acceptance_criteria=item.get("acceptance_criteria", ""),
            acceptance_tests=tuple(item.get("acceptance_tests", ())),
            estimated_tokens=item["estimated_tokens"],
            priority=item.get("priority", {"tests": 0, "code": 1, "docs": 3, "review": 2}.get(item["kind"], 2)),
            issue_type="question" if item["kind"] == "question" else "task",
            labels=(item["kind"],),
            dependencies=tuple(Dependency(keys[d]) for d in item.get("depends_on", ())),
            metadata={"plan_key": item["key"]},
        )
        found = schema.problems("bead", bead.to_dict()) + semantic_problems(bead)
        if found:
            raise InvalidBead([f"planned bead {item['key']}: {p}" for p in found])
        beads.append(bead)
    convoy = convoymod.Convoy(
        convoy_id,
        data["title"],
        tuple(b.id for b in beads),
        rig.name,
        f"plans/{convoy_id}.md",
        target_branch=f"convoy/{convoy_id}",
        created_at=iso(now),
        created_by="mayor",
        metadata={"model": model, "plan_attempts": attempts},
    )
    table = "\n".join(
        f"| {b.id} | {b.metadata['plan_key']} | {b.role} | {b.labels[0]} | {b.estimated_tokens} | "
        f"{', '.join(d.id for d in b.dependencies) or '-'} | {b.title} |"
        for b in beads
    )
    document = (
        f"# {data['title']}\n\nConvoy {convoy_id} for rig {rig.name}, planned by {model}.\n\n{data['plan'].strip()}\n\n"
        "## Beads\n\n| id | key | role | kind | tokens | blocked by | title |\n"
        f"|---|---|---|---|---|---|---|\n{table}\n"
    )
    return Planned(data["title"], document, beads, convoy, attempts, usage)


def _commit(store: GitStore, planned: Planned, agent: str, model: str) -> str:
    def decide(snap: Snapshot) -> Update:
        clash = [b.id for b in planned.beads if snap.has(b.id)]
        if clash:
            raise Refused(f"bead ids {', '.join(clash)} appeared meanwhile; plan again")
        trailers = events.trailer_pairs(
            [
                ("Convoy", planned.convoy.id),
                ("Planned", len(planned.beads)),
                ("Model", model),
                ("Tokens-In", planned.usage.get("tokens_in")),
                ("Tokens-Out", planned.usage.get("tokens_out")),
                ("Attempts", planned.attempts),
                ("Role", "mayor"),
            ]
        )
        event = events.Event(PLAN, tuple(b.id for b in planned.beads), agent, planned.title, trailers)
        files = {
            convoymod.path_of(planned.convoy.id): planned.convoy.to_json(),
            planned.convoy.plan or f"plans/{planned.convoy.id}.md": planned.document.encode(),
        }
        return Update(event, planned.beads, files)

    return store.update(decide)
