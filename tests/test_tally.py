"""What a bead's tally reports of its model calls."""

from gastown.agents.tally import Tally
from gastown.machine.providers import Reply, Usage


def _call(prefill: float, timed: bool) -> Reply:
    usage = Usage(3000, 100, 10.0, 1.0, None, prefill, 20.0, prefill_timed=timed)
    return Reply("x", [], "stop", usage, "qwen", "http://127.0.0.1:1")


def test_without_server_timings_a_beads_prefill_is_its_slowest_call_not_a_mean_of_cached_prompts():
    tally = Tally()
    for rate in (53.0, 11000.0, 9000.0):  # the first prompt, then two fresh tries the server had cached
        tally.add(_call(rate, timed=False))
    assert tally.prefill_tps() == 53.0
    timed = Tally()
    for rate in (60.0, 80.0):  # the server's own figures count only what it prefilled
        timed.add(_call(rate, timed=True))
    timed.add(_call(11000.0, timed=False))
    assert timed.prefill_tps() == 70.0
    assert Tally().prefill_tps() is None


def test_a_reply_of_a_few_tokens_sets_no_decode_figure():
    tally = Tally()
    tally.add(Reply("x", [], "stop", Usage(3000, 120, 10.0, 1.0, None, 50.0, 14.0), "qwen", "http://127.0.0.1:1"))
    tally.add(Reply("x", [], "looping", Usage(3000, 1, 13.0, 1.0, None, 50.0, 0.08), "qwen", "http://127.0.0.1:1"))
    assert tally.decode == [14.0]
