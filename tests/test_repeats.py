"""Noticing a model that repeats itself: what the next request is sampled with."""

from gastown.agents.repeats import Repeats


def test_only_a_request_that_must_differ_widens_the_nucleus_and_only_the_limits_the_model_sets():
    repeats = Repeats(limit=3)
    qwen = {"top_p": 0.8, "top_k": 20, "repeat_penalty": 1.1}
    assert repeats.sampling(qwen) == {}  # the first try may say the likeliest thing
    repeats.start_over(0.7)
    assert repeats.sampling(qwen) == {"top_p": 0.95, "top_k": 40}
    assert repeats.sampling({"top_p": 0.98, "top_k": 0}) == {}  # wider already; top_k 0 sets no limit
    assert repeats.sampling({}) == {}  # the server's own defaults
