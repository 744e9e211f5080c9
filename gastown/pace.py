"""How long the next model call of a bead will take, judged by the calls so far.

A call's time is its prefill (the prompt tokens the server has not cached, at the server's
prompt speed) plus its decode (the reply's tokens, at its generation speed). The first
call of a bead pays its whole prompt; a later call pays only what was added since (a tool's
answer) — so "as long as the last call" overstates a later call by the whole prompt and
stops a bead with minutes left. The speeds are the slowest seen (a busy machine slows
them), the reply as long as the longest so far. Without timings from the server, the
last call's time is the measure.
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

    def next_call(self, prompt_tokens: int) -> float:
        """Seconds the next call will take, its prompt ``prompt_tokens`` long (0 before any call)."""
        if self.prefill_tps is None or self.decode_tps is None:
            return self.last_seconds
        fresh = max(0, prompt_tokens - self._sent)
        return fresh / self.prefill_tps + self.longest_reply / self.decode_tps
