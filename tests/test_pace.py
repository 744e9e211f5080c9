"""The next model call judged by the calls so far: a later call pays only the new prompt."""

import time

from gastown.agents.pace import MIN_REPLY_TOKENS, NEXT_CALL_MARGIN, BeadBudget, Pace
from gastown.machine.providers import MIN_DECODE_SAMPLE, Usage


def test_a_later_call_is_judged_by_its_new_tokens_not_the_whole_prompt():
    pace = Pace()
    assert pace.next_call(3000) == 0.0  # nothing to go on before the first call
    # the first call: 3000 prompt tokens in 100 s (30 a second), 600 reply tokens at 10 a second
    pace.saw(Usage(tokens_in=3000, tokens_out=600, seconds=160.0, first_token_s=100.0, decode_tps=10.0), 3000)
    # the next prompt holds that one, its reply and a 600-token tool answer: 20 s + 60 s
    assert pace.next_call(3000 + 600 + 600) == 80.0
    assert pace.next_call(3000 + 600 + 600) < pace.last_seconds  # "as long as the last" would say 160


def test_the_prompt_speed_over_all_calls_the_slowest_decode_and_the_longest_reply_are_the_measure():
    pace = Pace()
    pace.saw(Usage(tokens_in=1000, tokens_out=100, seconds=30.0, first_token_s=20.0, decode_tps=10.0), 1000)
    pace.saw(Usage(tokens_in=1600, tokens_out=300, seconds=40.0, first_token_s=25.0, decode_tps=15.0), 1600)
    # prefill: (1000 + 500) new tokens in 20 + 25 s; decode: the slower, 10 a second; longest reply 300
    assert pace.prefill_tps == 1500 / 45 and pace.decode_tps == 10.0 and pace.longest_reply == 300
    assert pace.next_call(1900 + 400) == 400 / (1500 / 45) + 300 / 10


def test_a_few_new_tokens_waiting_on_their_first_token_do_not_make_every_prompt_look_slow():
    """A toolz bead: its first prompt at 70 tokens a second, then a fresh try's 300-token note
    whose first token came after 7.8 s; taken as the speed, the next call's 2,000 new tokens
    of test output looked like a minute more than they took, and the bead stopped early."""
    pace = Pace()
    pace.saw(Usage(tokens_in=2733, tokens_out=56, seconds=44.1, first_token_s=39.0, decode_tps=11.0), 2733)
    pace.rewind(2733)  # a fresh try: the server holds the first prompt
    pace.saw(Usage(tokens_in=3033, tokens_out=56, seconds=11.4, first_token_s=7.8, decode_tps=15.6), 3033)
    assert pace.prefill_tps is not None and pace.prefill_tps > 60  # not 300 / 7.8 = 38


def test_a_start_over_before_the_first_call_leaves_that_call_its_whole_prompt_to_pay():
    """A bug fix asks about its first suspect line at its first turn (sweep.begin): the try
    starts over before any call, and the server holds nothing of the prompt it shares."""
    pace = Pace()
    pace.rewind(2733)  # the line's ask shares the first prompt, which no call has sent
    pace.saw(Usage(tokens_in=2800, tokens_out=16, seconds=41.0, first_token_s=40.0, decode_tps=11.0), 2800)
    assert pace.prefill_tps == 2800 / 40.0  # the whole prompt over its time to the first token


def test_without_timings_the_last_call_is_the_measure():
    pace = Pace()
    pace.saw(Usage(tokens_in=1000, tokens_out=100, seconds=12.5), 1000)
    assert pace.next_call(5000) == 12.5


def test_the_prompt_is_measured_the_same_way_on_both_sides_whatever_the_server_counts():
    pace = Pace()
    # the server counted 2068 tokens; the loop's estimate (tools included) was 3400
    pace.saw(Usage(tokens_in=2068, tokens_out=120, seconds=80.0, first_token_s=68.0, decode_tps=12.0), 3400)
    # the next prompt adds a 500-token answer by the loop's measure: 500 / 50 + 120 / 12
    assert pace.next_call(3400 + 120 + 500) == 500 / 50 + 120 / 12


def test_a_reply_capped_to_the_time_left_fits_in_it():
    pace = Pace()
    assert pace.reply_room(60.0, 3000) is None  # no timings yet: nothing to size a reply by
    pace.saw(Usage(tokens_in=3000, tokens_out=600, seconds=160.0, first_token_s=100.0, decode_tps=10.0), 3000)
    # 70 s left for a prompt that adds 600 tokens: 20 s of prefill, then 50 s of decode at 10 a second
    assert pace.reply_room(70.0, 3000 + 600 + 600) == 500
    assert pace.next_call(3000 + 600 + 600) == 80.0  # the longest reply would not fit in 70 s
    assert pace.next_call(3000 + 600 + 600, reply_tokens=500) == 70.0  # capped, it does
    assert pace.reply_room(10.0, 3000 + 600 + 600) == 0  # not even the prefill fits


def _paced() -> Pace:
    pace = Pace()  # 30 prompt tokens a second, 10 reply tokens a second, the longest reply 600
    pace.saw(Usage(tokens_in=3000, tokens_out=600, seconds=160.0, first_token_s=100.0, decode_tps=10.0), 3000)
    return pace


def test_a_budget_caps_the_reply_to_the_time_left_after_the_next_test_run():
    pace = _paced()
    budget = BeadBudget(max_wall_s=300.0, began=time.monotonic() - 200.0)  # about 100 s left
    prompt = 3000 + 600 + 600  # 600 new tokens: 20 s of prefill
    uncapped = budget.reply_cap(pace, prompt, 1024)
    with_tests = budget.reply_cap(pace, prompt, 1024, test_s=30.0)
    # (100 / margin - 20) * 10 without the test run; 30 s less with it
    assert abs(uncapped - (100 / NEXT_CALL_MARGIN - 20) * 10) <= 2
    assert abs(with_tests - (70 / NEXT_CALL_MARGIN - 20) * 10) <= 2
    assert BeadBudget().reply_cap(pace, prompt, 1024) == 1024  # no time budget: no cap
    # too little room for a useful reply: the full limit, and the budget check stops the loop
    nearly_over = BeadBudget(max_wall_s=300.0, began=time.monotonic() - 290.0)
    assert nearly_over.reply_cap(pace, prompt, 1024) == 1024
    assert (15 / NEXT_CALL_MARGIN - 20) * 10 < MIN_REPLY_TOKENS


def test_a_budget_says_why_no_call_may_start():
    pace = _paced()
    assert BeadBudget(max_tokens=5000).spent(5000).startswith("the bead's token budget is spent (5000 of 5000)")
    assert BeadBudget(max_tokens=5000).spent(4999) == ""
    assert (
        BeadBudget(max_wall_s=10.0, began=time.monotonic() - 11.0).spent(0) == "the bead's time budget is spent (10s)"
    )
    budget = BeadBudget(max_wall_s=300.0, began=time.monotonic() - 200.0)
    next_call = budget.next_call(pace, 3000 + 600 + 600, 600, test_s=30.0)
    assert next_call == 80.0 * NEXT_CALL_MARGIN + 30.0  # the call with a margin, then the test run
    assert "would not end within the bead's time budget" in budget.spent(0, next_call)
    assert budget.spent(0, 50.0) == ""


def test_a_reply_of_a_few_tokens_does_not_set_the_decode_speed():
    """A reply cut where it began to repeat itself kept 1 token of 12 s of decode: taken as
    the speed, the next call looked like an hour and the bead stopped at 155 s of 255."""
    pace = Pace()
    pace.saw(Usage(tokens_in=3640, tokens_out=120, seconds=80.7, first_token_s=72.0, decode_tps=13.7), 3640)
    pace.saw(Usage(tokens_in=3898, tokens_out=1, seconds=20.5, first_token_s=8.0, decode_tps=0.08), 3898)
    assert pace.decode_tps == 13.7 and MIN_DECODE_SAMPLE > 1
    assert pace.next_call(3898 + 300) < 60
