"""How long the next model call of a bead will take, judged by the calls so far.

A call's time is its prefill (the prompt tokens the server has not cached, at the server's
prompt speed) plus its decode (the reply's tokens, at its generation speed). The first
call of a bead pays its whole prompt; a later call pays only what was added since (a tool's
answer) — so "as long as the last call" overstates a later call by the whole prompt and
stops a bead with minutes left. The speeds are the slowest seen (a busy machine slows
them), the reply as long as the longest so far. Without timings from the server, the
last call's time is the measure.

Near the end of the budget a call whose longest-reply estimate would not fit may still
run with its reply capped to what fits (``reply_room``): most replies are shorter than the
longest (a repair is a function, not a module), and a minute left is a try.
"""

from __future__ import annotations

from dataclasses import dataclass

from gastown.providers import Usage


@dataclass
class Pace:
    """The speeds and sizes of one bead's calls so far."""

    prefill_tps: float | None = None  # prompt tokens a second: the slowest seen
    decode_tps: float | None = None  # reply tokens a second: the slowest seen
    longest_reply: int = 0
    last_seconds: float = 0.0
    _sent: int = 0  # the prompt tokens of the last call plus its reply: what the server holds now

    def saw(self, usage: Usage, prompt_tokens: int) -> None:
        """One finished call, whose prompt was ``prompt_tokens`` long by the same measure
        ``next_call`` is given (the loop's own estimate: a server may count differently)."""
        self.last_seconds = usage.seconds
        self.longest_reply = max(self.longest_reply, usage.tokens_out)
        fresh = prompt_tokens - self._sent if self._sent else prompt_tokens  # what was not cached
        if usage.first_token_s and usage.first_token_s > 0.5 and fresh > 50:
            rate = fresh / usage.first_token_s
            self.prefill_tps = rate if self.prefill_tps is None else min(self.prefill_tps, rate)
        if usage.decode_tps:
            self.decode_tps = usage.decode_tps if self.decode_tps is None else min(self.decode_tps, usage.decode_tps)
        self._sent = prompt_tokens + usage.tokens_out

    def rewind(self, cached_tokens: int) -> None:
        """The conversation started over: the server holds only ``cached_tokens`` of the next
        prompt (the part the old one shares with it)."""
        self._sent = cached_tokens

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
