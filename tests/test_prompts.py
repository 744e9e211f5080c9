from gastown.agents.prompts import Conversation, bead_text, system_text


def test_the_head_never_changes_and_old_tool_output_is_stubbed_from_the_middle():
    head = [
        {"role": "system", "content": system_text("ROLE", [("README.md", "readme")])},
        {"role": "user", "content": "# Bead gt-abcde: t"},
    ]
    conv = Conversation([dict(m) for m in head], budget_tokens=400)
    for n in range(8):
        conv.add({"role": "assistant", "content": f"step {n}"})
        conv.add({"role": "tool", "tool_call_id": f"c{n}", "content": f"output {n} " + "x" * 400})
    first = conv.messages()
    assert first[:2] == head  # the head is untouched
    assert conv.stubbed > 0
    assert first[-1]["content"].startswith("output 7")  # the latest turns stay
    assert "dropped to fit the context" in first[3]["content"]  # the oldest went first
    conv.add({"role": "assistant", "content": "more"})
    second = conv.messages()
    # Stubs are for good: the prefix up to the last stub is identical, so it stays cached.
    last_stub = max(i for i, m in enumerate(first) if "dropped to fit" in str(m.get("content")))
    assert second[: last_stub + 1] == first[: last_stub + 1]


def test_bead_text_names_what_must_not_change():
    text = bead_text(
        {"id": "gt-abcde", "title": "Add scoring", "description": "Do it."},
        ["tests/**"],
        "Run the tests.",
    )
    assert text.startswith("# Bead gt-abcde: Add scoring") and "tests/**" in text and "Do it." in text
