import subprocess

from gastown.town import events


def test_subject_reads_like_the_design_says():
    event = events.Event(events.CLAIM, ("gt-3k9x2",), "polecat@host-1", "Add beat scoring")
    assert event.subject() == "claim gt-3k9x2 polecat@host-1: Add beat scoring"
    many = events.Event(events.ADD, ("gt-aaaaa", "gt-bbbbb"), None, "2 beads")
    assert many.subject() == "add 2 beads: 2 beads"
    long = events.Event(events.ADD, ("gt-aaaaa",), None, "x" * 300)
    assert len(long.subject()) == events.SUBJECT_LIMIT


def test_trailers_round_trip_and_git_reads_them_the_same_way(tmp_path):
    event = events.Event(
        events.CLAIM,
        ("gt-3k9x2",),
        "polecat@host-1",
        "Add beat scoring",
        events.trailer_pairs([("Role", "polecat"), ("Generation", 3), ("Skipped", None), ("Note", "two\nlines")]),
    )
    message = event.message(body="Longer explanation.")
    pairs = events.parse_trailers(message)
    assert pairs == [
        ("Bead", "gt-3k9x2"),
        ("Event", "claim"),
        ("Agent", "polecat@host-1"),
        ("Role", "polecat"),
        ("Generation", "3"),
        ("Note", "two lines"),
    ]
    parsed_by_git = subprocess.run(
        ["git", "interpret-trailers", "--parse"],
        input=message,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert [tuple(line.split(": ", 1)) for line in parsed_by_git.splitlines()] == pairs
    assert events.first(pairs, "generation") == "3"
    assert events.every(pairs, "Bead") == ["gt-3k9x2"]


def test_a_message_without_trailers_has_none():
    assert events.parse_trailers("just a subject") == []
    assert events.parse_trailers("subject\n\nnot: a trailer\nbecause this line is prose") == []
