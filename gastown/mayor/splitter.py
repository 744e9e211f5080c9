"""The Mayor's splitter: a bead too large for the small models, split into smaller ones.

The Mayor's model proposes the split (asked like a plan, ``planner.ask``); the answer is
checked and sent back a bounded number of times until usable. Committing the split is
a decision: ``gastown.mayor.decisions`` does it when it reconciles.
"""

from __future__ import annotations

import json
from typing import Any

from gastown.agents import prompts
from gastown.agents.rig import Rig
from gastown.errors import InvalidBead
from gastown.machine.providers import ModelClient
from gastown.mayor.planner import MAX_PLAN_ATTEMPTS, ask, order_problems
from gastown.town import schema
from gastown.town.bead import Bead

SPLIT_INSTRUCTIONS = """
A bead failed because it is too large for the small model that works it. Split it into
2 to 6 smaller beads of the same role that together do exactly the same work, each small
enough for a small model (estimated_tokens under the limit given). Return one JSON
object: {"title": "...", "plan": "<why and how it was split>", "beads": [{"key", "title",
"role", "kind", "description", "acceptance_criteria", "estimated_tokens", "depends_on",
"files"}]}. Every bead has the role of the bead being split.
""".strip()


def split_problems(data: Any, role: str) -> list[str]:
    """Why ``data`` is not a usable split of a ``role`` bead."""
    found = schema.problems("plan", data)
    if found:
        return found
    items = data["beads"]
    problems = [p for p in order_problems(items) if "no code (Polecat) bead" not in p]
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
        data, _how, _usage = ask(client, messages)
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
