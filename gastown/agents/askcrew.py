"""``ask_crew``: a question from a bead's loop (or a question bead) put to the Crew.

The Crew answers from the rig's files, with the crew role's model when town.toml names one
and it can be had now, else with the excerpts alone (``gastown.agents.crew``). The model
is looked up at each question: town.toml may change while a watcher runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gastown.agents import crew
from gastown.agents.calls import Crew
from gastown.errors import GastownError, Unavailable
from gastown.machine.machine import Machine
from gastown.town.config import TownConfig


def asker(root: Path, machine: Machine, config: Callable[[], TownConfig]) -> Crew:
    """``ask_crew`` for the files under ``root``: the answer, and the model that gave it (None: excerpts)."""

    def ask(question: str) -> tuple[str, str | None]:
        client = None
        name = config().roster.model_for("crew")
        if name:
            try:
                client = machine.named(name)
            except GastownError:
                client = None
        try:
            found = crew.answer(root, question, client)
        except Unavailable:
            return crew.answer(root, question, None).render(), None
        return found.render(), client.spec.name if client is not None and found.usage else None  # a model answered

    return ask
