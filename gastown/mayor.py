"""The Mayor: a feature becomes a plan and a convoy; the history becomes decisions.

Planning asks the Mayor's model for a plan document and a convoy (JSON Schema
structured output where the endpoint takes it, else a forced tool call), checks it
against ``schemas/plan.schema.json`` and the AeroBeat order, sends the problems back a
bounded number of times, and commits the plan, the convoy and its beads in one commit.
The model decodes under a grammar-safe copy of the schema (``schema.grammar_safe``:
shapes, no long counts, which llama.cpp cannot build into a grammar); lengths, counts and
patterns are checked on the answer, and what fails goes back to the model.

Reconciling reads the history incrementally (``gastown.reconcile``) and acts: expired
leases are released (a recovery), a failed bead is retried with the role's fallback
model or, past ``max_attempts``, marked ``needs-human`` with the reason. Inconsistencies
are reported, never silently fixed. Every decision is a commit with trailers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gastown import convoy as convoymod
from gastown import dag, events, ids, prompts, schema, toolcalls
from gastown.bead import CLAIMED, FAILED, Bead, Dependency, new_bead, semantic_problems
from gastown.errors import InvalidBead, Refused, Unavailable, UsageError
from gastown.providers import ModelClient, ModelRejected
from gastown.reconcile import Ledger, bring_up_to_date
from gastown.rig import Rig
from gastown.roster import Roster
from gastown.store import GitStore, Snapshot, Update
from gastown.times import iso

MAX_PLAN_ATTEMPTS = 3
PLAN_TOOL = "submit_plan"
DECIDE = "decide"
PLAN = "plan"
NEEDS_HUMAN = "needs-human"
SPLIT = "split"

SPLIT_INSTRUCTIONS = """
A bead failed because it is too large for the small model that works it. Split it into
2 to 6 smaller beads of the same role that together do exactly the same work, each small
enough for a small model (estimated_tokens under the limit given). Return one JSON
object: {"title": "...", "plan": "<why and how it was split>", "beads": [{"key", "title",
"role", "kind", "description", "acceptance_criteria", "estimated_tokens", "depends_on",
"files"}]}. Every bead has the role of the bead being split.
""".strip()

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


def _order_problems(items: Sequence[Mapping[str, Any]]) -> list[str]:
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
    return _order_problems(data["beads"])


def _test_file(path: str, is_test: Callable[[str], bool] | None) -> bool:
    """Whether ``path`` holds tests: named like a test (not a conftest or fixture) where the rig keeps them."""
    file = path.split("::")[0]
    name = file.rsplit("/", 1)[-1].lower()
    named = name.startswith("test_") or name.rsplit(".", 1)[0].endswith(("_test", "_spec"))
    return named and (is_test is None or is_test(file))


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


def _ask(client: ModelClient, messages: list[dict[str, Any]]) -> tuple[Any, str, dict[str, Any]]:
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
        return toolcalls._first_json_object(text)


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
            data, how, used = _ask(client, messages)
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


# ---- reconcile ---------------------------------------------------------------------


@dataclass
class Decision:
    bead: str
    kind: str  # "release-expired", "retry", "retry-fallback", "needs-human"
    reason: str


@dataclass
class Reconciled:
    """What a reconcile found and did."""

    commit: str | None
    beads: int
    decisions: list[Decision] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    recoveries: int = 0
    rewritten: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "beads": self.beads,
            "recoveries": self.recoveries,
            "rewritten": self.rewritten,
            "decisions": [d.__dict__ for d in self.decisions],
            "problems": self.problems,
        }


def _too_big(bead: Bead, roster: Roster) -> bool:
    """Whether a failed bead looks too large for the role's local models."""
    rule = roster.rule(bead.role)
    local = [b.max_tokens for b in rule.bands if roster.models.get(b.model) and roster.models[b.model].local]
    if (bead.estimated_tokens or 0) > max(local, default=10**9):
        return True
    return "context" in (bead.close_reason or "").lower()


def reconcile(
    store: GitStore,
    roster: Roster,
    act: bool = True,
    agent: str = "mayor",
    now: float | None = None,
    splitter: Any = None,
) -> Reconciled:
    """Read what is new in the history, report inconsistencies, and decide on stuck work.

    ``splitter(bead) -> Split`` (the Mayor's model) lets a failed bead that is too large
    for the role's local models be split rather than retried as it is.
    """
    now = time.time() if now is None else now
    snap = store.snapshot()
    ledger = bring_up_to_date(store.git, snap.commit, store.town.state_dir / "mayor")
    result = Reconciled(snap.commit, len(snap.index), rewritten=ledger.rewritten)
    result.problems = _problems(ledger, snap)
    result.recoveries = ledger.recoveries()
    ledger.close()
    max_attempts = snap.config().queue.max_attempts
    for entry in list(snap.index):
        if entry.status == CLAIMED and entry.expires is not None and entry.expires <= now:
            result.decisions.append(Decision(entry.id, "release-expired", f"the lease of {entry.agent} expired"))
        elif entry.status == FAILED:
            bead = snap.bead(entry.id)
            if NEEDS_HUMAN in bead.labels:
                continue
            if SPLIT in bead.labels:
                continue
            rule = roster.rule(bead.role)
            if bead.attempts < (rule.max_attempts or max_attempts):
                if splitter is not None and _too_big(bead, roster):
                    why = f"{bead.estimated_tokens} tokens is too much for a local {bead.role} ({bead.close_reason})"
                    result.decisions.append(Decision(bead.id, SPLIT, why))
                    continue
                kind, model = ("retry-fallback", rule.fallback) if rule.fallback else ("retry", "the same model")
                why = f"attempt {bead.attempts} failed ({bead.close_reason}); retry with {model}"
                result.decisions.append(Decision(bead.id, kind, why))
            else:
                result.decisions.append(
                    Decision(bead.id, NEEDS_HUMAN, f"failed {bead.attempts} times; last: {bead.close_reason}")
                )
    if act:
        for decision in result.decisions:
            if decision.kind == SPLIT:
                _split(store, decision, splitter, agent)
            else:
                _act(store, decision, agent)
    return result


def _problems(ledger: Ledger, snap: Snapshot) -> list[str]:
    found = []
    for line in ledger.timelines(only_with_problems=True):
        found += [f"{line.bead}: {p}" for p in line.problems]
    for entry in snap.index:
        if entry.status == CLAIMED and entry.expires is None:
            found.append(f"{entry.id}: claimed with no lease expiry")
    return found


def _act(store: GitStore, decision: Decision, agent: str) -> None:
    def decide(snap: Snapshot) -> Update:
        bead = snap.bead(decision.bead)
        now = time.time()
        trailers: list[tuple[str, object]] = [
            ("Decision", decision.kind),
            ("Reason", decision.reason),
            ("Role", "mayor"),
        ]
        if decision.kind == "release-expired":
            if bead.status != CLAIMED or bead.claim is None or bead.claim.expires() > now:
                raise _Moot()
            new = bead.released(now)
            trailers += [("Generation", bead.generation), ("Previous-Agent", bead.claim.agent), ("Recovery", "yes")]
        elif decision.kind in ("retry", "retry-fallback"):
            if bead.status != FAILED:
                raise _Moot()
            new = bead.reopened(now)
            trailers.append(("Attempts", bead.attempts))
        else:
            if bead.status != FAILED:
                raise _Moot()
            note = f"needs a person: {decision.reason}"
            new = replace(
                bead,
                labels=tuple(sorted({*bead.labels, NEEDS_HUMAN})),
                notes=(bead.notes + "\n" + note).strip(),
                updated_at=iso(now),
            )
        event = events.Event(
            DECIDE, (bead.id,), agent, f"{decision.kind}: {bead.title}", events.trailer_pairs(trailers)
        )
        return Update(event, [new])

    try:
        store.update(decide)
    except _Moot:
        pass  # someone acted first; the next reconcile sees the new state


def split_problems(data: Any, role: str) -> list[str]:
    """Why ``data`` is not a usable split of a ``role`` bead."""
    found = schema.problems("plan", data)
    if found:
        return found
    items = data["beads"]
    problems = [p for p in _order_problems(items) if "no code (Polecat) bead" not in p]
    if len(items) < 2:
        problems.append("$.beads: a split needs at least two beads")
    for item in items:
        if item["role"] != role:
            problems.append(f"$.beads[{item['key']}].role: must be {role!r}, like the bead being split")
    return problems


def ask_split(client: ModelClient, bead: Bead, rig: Rig, role_prompt: str, limit: int) -> dict[str, Any]:
    """The Mayor's model splits ``bead``; the answer is checked and sent back (bounded) until usable."""
    docs = prompts.read_docs(rig.path, rig.docs)
    task = json.dumps(
        {
            k: bead.to_dict()[k]
            for k in ("id", "title", "description", "acceptance_criteria", "estimated_tokens", "role")
        }
    )
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": prompts.system_text(f"{role_prompt}\n\n{SPLIT_INSTRUCTIONS}", docs)},
        {
            "role": "user",
            "content": f"Bead to split (limit {limit} tokens each):\n{task}\nIt failed: {bead.close_reason}",
        },
    ]
    problems: list[str] = []
    for _ in range(MAX_PLAN_ATTEMPTS):
        data, _how, _usage = _ask(client, messages)
        problems = (
            ["$: the answer was not a JSON object"] if not isinstance(data, dict) else split_problems(data, bead.role)
        )
        if not problems:
            return dict(data)
        messages += [
            {"role": "assistant", "content": json.dumps(data) if data is not None else ""},
            {
                "role": "user",
                "content": "The split is not usable:\n- " + "\n- ".join(problems[:20]) + "\nSend it again, corrected.",
            },
        ]
    raise InvalidBead([f"the Mayor's split of {bead.id}: {p}" for p in problems])


def _split(store: GitStore, decision: Decision, splitter: Any, agent: str) -> None:
    """Children replace the failed bead: they inherit its place in the convoy and its dependents."""
    snap = store.snapshot()
    bead = snap.bead(decision.bead)
    if bead.status != FAILED or SPLIT in bead.labels:
        return
    data = splitter(bead)

    def decide(snap: Snapshot) -> Update:
        current = snap.bead(bead.id)
        if current.status != FAILED or SPLIT in current.labels:
            raise _Moot()
        now = time.time()
        prefix = snap.config().prefix
        keys: dict[str, str] = {}
        taken: set[str] = set()
        for item in data["beads"]:
            keys[item["key"]] = ids.new_id(
                prefix, f"{bead.id}\0{item['title']}\0{now}", lambda c: snap.has(c) or c in taken
            )
            taken.add(keys[item["key"]])
        children = [
            new_bead(
                keys[item["key"]],
                item["title"],
                now,
                role=bead.role,
                rig=bead.rig,
                convoy=bead.convoy,
                priority=bead.priority,
                description=(
                    item.get("description", "")
                    + (f"\n\nFiles: {', '.join(item['files'])}" if item.get("files") else "")
                ).strip(),
                acceptance_criteria=item.get("acceptance_criteria", ""),
                acceptance_tests=tuple(item.get("acceptance_tests", ())),
                estimated_tokens=item["estimated_tokens"],
                labels=tuple(label for label in bead.labels if label != NEEDS_HUMAN),
                dependencies=(
                    *bead.dependencies,
                    *(Dependency(keys[d]) for d in item.get("depends_on", ())),
                    Dependency(bead.id, "discovered-from"),
                ),
            )
            for item in data["beads"]
        ]
        note = f"split into {', '.join(c.id for c in children)}: {decision.reason}"
        changed = [
            *children,
            replace(
                current,
                labels=tuple(sorted({*current.labels, SPLIT})),
                notes=(current.notes + "\n" + note).strip(),
                updated_at=iso(now),
            ),
        ]
        for entry in snap.index:  # what waited on the failed bead now waits on its children
            if bead.id in entry.blocks:
                other = snap.bead(entry.id)
                deps = [d for d in other.dependencies if not (d.id == bead.id and d.type == "blocks")]
                deps += [Dependency(c.id) for c in children]
                changed.append(replace(other, dependencies=tuple(deps), updated_at=iso(now)))
        files = {}
        if bead.convoy and snap.read(convoymod.path_of(bead.convoy)) is not None:
            found = convoymod.load(snap, bead.convoy)
            files[convoymod.path_of(bead.convoy)] = replace(
                found, beads=found.beads + tuple(c.id for c in children)
            ).to_json()
        trailers = events.trailer_pairs(
            [("Decision", SPLIT), ("Reason", decision.reason), ("Planned", len(children)), ("Role", "mayor")]
        )
        event = events.Event(DECIDE, (bead.id, *(c.id for c in children)), agent, f"split: {bead.title}", trailers)
        return Update(event, changed, files)

    try:
        store.update(decide)
    except _Moot:
        pass


class _Moot(Exception):
    """The bead changed since the decision was made."""
