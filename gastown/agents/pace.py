"""How long the next model call of a bead will take, judged by the calls so far.

A call's time is its prefill (the prompt tokens the server has not cached, at the server's
prompt speed) plus its decode (the reply's tokens, at its generation speed). The first
call of a bead pays its whole prompt; a later call pays only what was added since (a tool's
answer) — so "as long as the last call" overstates a later call by the whole prompt and
stops a bead with minutes left. The prompt speed is over all the calls so far (the new
tokens over their times to the first token): a fresh try adds a few hundred tokens whose
first token waits on more than their prefill, and taken alone, as the slowest, it made a
toolz bead's next call look like two minutes and stopped the bead with 95 s left. The
reply speed is the slowest seen (a busy machine slows it) over replies of 16 tokens and
more (``Usage.decode_rate``), the reply as long as the longest so far. Without timings
from the server, the last call's time is the measure.

Near the end of the budget a call whose longest-reply estimate would not fit may still
run with its reply capped to what fits (``reply_room``): most replies are shorter than the
longest (a fix is a function, not a module), and a minute left is a try.

``BeadBudget`` holds a bead's token and wall-time limits: the reply cap, and why no further
call may start (one that would not end in time, its test run counted).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from gastown.machine.providers import Usage

MIN_REPLY_TOKENS = 160  # a reply capped to the time left gets at least this many tokens (a short function)
NEXT_CALL_MARGIN = 1.25  # the next model call is assumed this much slower than its estimate


@dataclass
class Pace:
    """The speeds and sizes of one bead's calls so far."""

    prefill_tps: float | None = None  # prompt tokens a second: the new tokens over their times so far
    decode_tps: float | None = None  # reply tokens a second: the slowest seen
    longest_reply: int = 0
    last_seconds: float = 0.0
    _sent: int = 0  # the prompt tokens of the last call plus its reply: what the server holds now
    _prefilled: tuple[int, float] = (0, 0.0)  # new prompt tokens so far, and their seconds to the first token

    def saw(self, usage: Usage, prompt_tokens: int) -> None:
        """One finished call, whose prompt was ``prompt_tokens`` long by the same measure
        ``next_call`` is given (the loop's own estimate: a server may count differently)."""
        self.last_seconds = usage.seconds
        self.longest_reply = max(self.longest_reply, usage.tokens_out)
        fresh = prompt_tokens - self._sent if self._sent else prompt_tokens  # what was not cached
        if usage.first_token_s and usage.first_token_s > 0.5 and fresh > 50:
            tokens, seconds = self._prefilled
            self._prefilled = (tokens + fresh, seconds + usage.first_token_s)
            self.prefill_tps = self._prefilled[0] / self._prefilled[1]
        if usage.decode_rate:
            self.decode_tps = usage.decode_rate if self.decode_tps is None else min(self.decode_tps, usage.decode_rate)
        self._sent = prompt_tokens + usage.tokens_out

    def rewind(self, cached_tokens: int) -> None:
        """The conversation started over: the server holds at most ``cached_tokens`` of the
        next prompt (the part the old one shares with it), and none before the first call."""
        self._sent = min(self._sent, cached_tokens)

    def next_call(self, prompt_tokens: int, reply_tokens: int | None = None) -> float:
        """Seconds the next call will take, its prompt ``prompt_tokens`` long and its reply
        at most ``reply_tokens`` (0 before any call)."""
        if self.prefill_tps is None or self.decode_tps is None:
            return self.last_seconds
        fresh = max(0, prompt_tokens - self._sent)
        reply = self.longest_reply if reply_tokens is None else min(self.longest_reply, reply_tokens)
        return fresh / self.prefill_tps + reply / self.decode_tps

    def reply_room(self, seconds: float, prompt_tokens: int) -> int | None:
        """How many reply tokens a call whose prompt is ``prompt_tokens`` long can decode
        within ``seconds``, its prefill paid first (None without the server's timings)."""
        if self.prefill_tps is None or self.decode_tps is None:
            return None
        prefill = max(0, prompt_tokens - self._sent) / self.prefill_tps
        return max(0, int((seconds - prefill) * self.decode_tps))


@dataclass(frozen=True)
class BeadBudget:
    """One bead's token and wall-time budget, counted from when its loop began."""

    max_tokens: int | None = None  # tokens in + out for the whole bead
    max_wall_s: float | None = None
    began: float = field(default_factory=time.monotonic)

    @property
    def deadline(self) -> float | None:
        """When the time budget runs out (``time.monotonic()``), or None without one."""
        return None if self.max_wall_s is None else self.began + self.max_wall_s

    def reply_cap(self, pace: Pace, prompt_tokens: int, reply_tokens: int, test_s: float = 0.0) -> int:
        """The next call's reply limit: ``reply_tokens``, or fewer when only that many fit in
        the time left after the test run its change will need (``test_s``) — but never fewer
        than MIN_REPLY_TOKENS (then ``spent`` stops the loop as before)."""
        if self.max_wall_s is None:
            return reply_tokens
        left = self.max_wall_s - (time.monotonic() - self.began) - test_s
        room = pace.reply_room(left / NEXT_CALL_MARGIN, prompt_tokens)
        if room is None or room < MIN_REPLY_TOKENS:
            return reply_tokens
        return min(reply_tokens, room)

    def next_call(self, pace: Pace, prompt_tokens: int, reply_tokens: int, test_s: float = 0.0) -> float:
        """Seconds the next call and the test run after it will take, with a margin."""
        return pace.next_call(prompt_tokens, reply_tokens) * NEXT_CALL_MARGIN + test_s

    def spent(self, used_tokens: int, next_call: float = 0.0) -> str:
        """Why no further model call may start ("" when one may). A call is not started when
        it would not end within the time budget (``next_call``: its seconds, as the method of
        that name says): the done check and the commit must run before whoever set the
        budget stops the process, or the work is lost."""
        if self.max_tokens is not None and used_tokens >= self.max_tokens:
            return f"the bead's token budget is spent ({used_tokens} of {self.max_tokens})"
        if self.max_wall_s is not None:
            spent = time.monotonic() - self.began
            if spent >= self.max_wall_s:
                return f"the bead's time budget is spent ({self.max_wall_s:.0f}s)"
            if spent + next_call > self.max_wall_s:
                return (
                    f"another model call (about {next_call:.0f}s with the test run after it, as the calls so far ran) "
                    "would not end within "
                    f"the bead's time budget ({spent:.0f}s of {self.max_wall_s:.0f}s spent)"
                )
        return ""
