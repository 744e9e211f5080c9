"""The one door to the models: every call goes through the ``openai`` client.

A model may answer at several endpoints (one ``llama-server`` per GPU or per host); a
call goes to the live endpoint with the most free slots, and an endpoint that refuses
connections is skipped for a while and tried again later. Calls stream, so the time to
the first token (prefill) and the decode rate are measured on every call; llama.cpp's
``timings`` are used when the server sends them (with how much of the prompt came from
its cache). Connection errors, timeouts, 429 and 5xx are retried with backoff; what is
still failing afterwards raises ``Unavailable``: the caller hands the bead back rather
than blaming it. API keys come from the environment variable the roster names and go
nowhere else.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gastown.errors import ConfigError, GastownError, Unavailable
from gastown.roster import ModelSpec

log = logging.getLogger(__name__)

DOWN_SECONDS = 15.0  # how long an endpoint that refused a connection is skipped
MAX_BACKOFF = 8.0


class ModelRejected(GastownError):
    """The endpoint answered but refused the request (a 4xx other than 429)."""


@dataclass(frozen=True)
class Usage:
    """What one call cost and how fast it ran."""

    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
    first_token_s: float | None = None
    cached_tokens: int | None = None
    prefill_tps: float | None = None
    decode_tps: float | None = None
    estimated: bool = False  # the server sent no usage; tokens were counted from text

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Reply:
    """A model's answer: text and/or structured tool calls, with its usage."""

    content: str | None
    tool_calls: list[dict[str, Any]]
    finish_reason: str | None
    usage: Usage
    model: str
    endpoint: str
    attempts: int = 1


@dataclass
class _Endpoint:
    url: str
    inflight: int = 0
    down_until: float = 0.0


@dataclass
class ModelClient:
    """Calls one model of the roster over its endpoints."""

    spec: ModelSpec
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    sleep: Callable[[float], None] = time.sleep
    _endpoints: list[_Endpoint] = field(default_factory=list, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _clients: dict[str, Any] = field(default_factory=dict, init=False)
    _plain: set[str] = field(default_factory=set, init=False)  # endpoints that cannot stream tools

    def __post_init__(self) -> None:
        if not self.spec.endpoints:
            raise ConfigError(
                f"model {self.spec.name}: no endpoint configured",
                "set endpoints in town.toml, or start it with `gt up`",
            )
        self._endpoints = [_Endpoint(url) for url in self.spec.endpoints]

    # ---- endpoints -------------------------------------------------------------

    def _api_key(self) -> str:
        var = self.spec.api_key_env
        if not var:
            return "not-needed"  # local servers ignore it; the client insists on one
        value = self.env.get(var)
        if not value:
            raise ConfigError(
                f"model {self.spec.name}: the environment variable {var} is not set",
                f"export {var}=... (keys are read from the environment only)",
            )
        return value

    def _client(self, url: str) -> Any:
        client = self._clients.get(url)
        if client is None:
            import openai

            client = openai.OpenAI(base_url=url, api_key=self._api_key(), max_retries=0, timeout=self.spec.timeout_s)
            self._clients[url] = client
        return client

    def _pick(self) -> _Endpoint:
        now = time.monotonic()
        with self._lock:
            live = [e for e in self._endpoints if e.down_until <= now] or self._endpoints
            best = min(live, key=lambda e: (e.inflight, e.down_until))
            best.inflight += 1
            return best

    def _done(self, endpoint: _Endpoint, down: bool) -> None:
        with self._lock:
            endpoint.inflight -= 1
            if down:
                endpoint.down_until = time.monotonic() + DOWN_SECONDS

    # ---- calling ---------------------------------------------------------------

    def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None,
        response_format: Mapping[str, Any] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = 0.2,
    ) -> Reply:
        """One chat completion, retried across endpoints; Unavailable when it cannot be had."""
        import openai

        attempts = self.spec.retries + 1
        last = "no attempt made"
        for attempt in range(1, attempts + 1):
            endpoint = self._pick()
            down = False
            try:
                request = self._request(messages, tools, tool_choice, response_format, max_tokens, temperature)
                if tools and endpoint.url in self._plain:
                    reply = self._complete(endpoint.url, request)
                else:
                    try:
                        reply = self._stream(endpoint.url, request)
                    except _Empty:
                        if not tools:
                            raise
                        # Some servers (llama-cpp-python) cannot stream with tools: ask plainly.
                        self._plain.add(endpoint.url)
                        reply = self._complete(endpoint.url, request)
                return Reply(**{**reply.__dict__, "attempts": attempt})
            except openai.RateLimitError as error:
                last = f"rate limited (429) by {endpoint.url}"
                wait = _retry_after(error) or _backoff(attempt)
            except (openai.APIConnectionError, openai.APITimeoutError, _StreamTimeout) as error:
                down = isinstance(error, openai.APIConnectionError) and not isinstance(error, openai.APITimeoutError)
                last = f"{type(error).__name__} from {endpoint.url}: {_short(error)}"
                wait = _backoff(attempt)
            except openai.APIStatusError as error:
                if error.status_code < 500:
                    raise ModelRejected(
                        f"model {self.spec.name} refused the request ({error.status_code}): {_short(error)}"
                    ) from None
                last = f"server error {error.status_code} from {endpoint.url}"
                wait = _backoff(attempt)
            except (openai.APIResponseValidationError, ValueError, _Malformed) as error:
                last = f"a malformed response from {endpoint.url}: {_short(error)}"
                wait = _backoff(attempt)
            finally:
                self._done(endpoint, down)
            log.info("model %s attempt %d/%d failed: %s", self.spec.name, attempt, attempts, last)
            if attempt < attempts:
                self.sleep(wait)
        raise Unavailable(
            f"model {self.spec.name} is unavailable after {attempts} attempts: {last}",
            "check the endpoint (gt models, gt up); the bead was handed back, not failed",
        )

    def _request(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None,
        tool_choice: Any,
        response_format: Mapping[str, Any] | None,
        max_tokens: int | None,
        temperature: float | None,
    ) -> dict[str, Any]:
        request: dict[str, Any] = {"model": self.spec.model, "messages": list(messages)}
        if tools:
            request["tools"] = list(tools)
            if tool_choice is not None:
                request["tool_choice"] = tool_choice
        if response_format is not None:
            request["response_format"] = dict(response_format)
        if max_tokens is not None:
            request["max_tokens"] = max_tokens
        if temperature is not None:
            request["temperature"] = temperature
        if self.spec.local:
            request["extra_body"] = {"cache_prompt": True}  # llama.cpp: reuse the stable prefix
        return request

    def _complete(self, url: str, request: dict[str, Any]) -> Reply:
        """One answer without streaming (only the total time is measured)."""
        started = time.monotonic()
        response = self._client(url).chat.completions.create(**request)
        seconds = time.monotonic() - started
        if not response.choices:
            raise _Malformed("the response had no choices")
        choice = response.choices[0]
        message = choice.message
        calls = [
            {
                "id": c.id or f"call_{i}",
                "type": "function",
                "function": {"name": c.function.name, "arguments": c.function.arguments or ""},
            }
            for i, c in enumerate(message.tool_calls or ())
        ]
        timings = (getattr(response, "model_extra", None) or {}).get("timings")
        usage = _usage(response.usage, timings, request["messages"], message.content, calls, seconds, None)
        return Reply(message.content, calls, choice.finish_reason, usage, self.spec.name, url)

    def _stream(self, url: str, request: dict[str, Any]) -> Reply:
        request = {**request, "stream": True, "stream_options": {"include_usage": True}}
        messages = request["messages"]
        started = time.monotonic()
        deadline = started + self.spec.timeout_s
        first: float | None = None
        chunks = 0
        content: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        finish = None
        usage = None
        timings = None
        stream = self._client(url).chat.completions.create(**request)
        try:
            for chunk in stream:
                chunks += 1
                now = time.monotonic()
                if now > deadline:
                    raise _StreamTimeout(f"no complete answer within {self.spec.timeout_s:.0f}s")
                extra = getattr(chunk, "model_extra", None) or {}
                if extra.get("timings"):
                    timings = extra["timings"]
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices or ():
                    delta = choice.delta
                    if delta is not None and (delta.content or delta.tool_calls) and first is None:
                        first = now - started
                    if delta is not None and delta.content:
                        content.append(delta.content)
                    for part in (delta.tool_calls if delta is not None else None) or ():
                        slot = calls.setdefault(part.index or 0, {"id": "", "name": "", "arguments": ""})
                        slot["id"] = part.id or slot["id"]
                        if part.function is not None:
                            slot["name"] += part.function.name or ""
                            slot["arguments"] += part.function.arguments or ""
                    if choice.finish_reason:
                        finish = choice.finish_reason
        finally:
            stream.close()
        seconds = time.monotonic() - started
        text = "".join(content) or None
        tool_calls = [
            {
                "id": c["id"] or f"call_{i}",
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for i, c in sorted(calls.items())
        ]
        if chunks == 0:
            raise _Empty("the stream ended before its first chunk")
        if finish is None and not content and not calls:
            raise _Malformed("the stream ended without an answer")
        return Reply(
            text,
            tool_calls,
            finish,
            _usage(usage, timings, messages, text, tool_calls, seconds, first),
            self.spec.name,
            url,
        )


class _StreamTimeout(Exception):
    """The stream kept trickling past the model's timeout."""


class _Malformed(Exception):
    """The stream ended without anything a chat completion must have."""


class _Empty(_Malformed):
    """The stream closed with no chunk at all (the server failed after its headers)."""


def _usage(
    usage: Any,
    timings: Mapping[str, Any] | None,
    messages: Sequence[Mapping[str, Any]],
    text: str | None,
    calls: list[dict[str, Any]],
    seconds: float,
    first: float | None,
) -> Usage:
    if usage is not None and usage.prompt_tokens is not None:
        tokens_in, tokens_out, estimated = usage.prompt_tokens, usage.completion_tokens or 0, False
        details = getattr(usage, "prompt_tokens_details", None)
        cached = getattr(details, "cached_tokens", None) if details is not None else None
    else:  # count roughly from the text: ~4 characters a token
        chars_in = sum(len(str(m.get("content") or "")) for m in messages)
        chars_out = len(text or "") + sum(len(c["function"]["arguments"]) for c in calls)
        tokens_in, tokens_out, estimated, cached = chars_in // 4, chars_out // 4, True, None
    prefill = decode = None
    if timings:
        prefill = _positive(timings.get("prompt_per_second"))
        decode = _positive(timings.get("predicted_per_second"))
        cached = timings.get("cache_n", cached)
    if prefill is None and first:
        prefill = tokens_in / first if first > 0 else None
    if decode is None and first is not None and seconds > first and tokens_out:
        decode = tokens_out / (seconds - first)
    elif decode is None and first is None and seconds > 0 and tokens_out:
        decode = tokens_out / seconds  # not streamed: prefill is inside this figure
    return Usage(tokens_in, tokens_out, round(seconds, 4), first, cached, prefill, decode, estimated)


def _positive(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def _retry_after(error: Any) -> float | None:
    try:
        value = float(error.response.headers.get("retry-after"))
    except (AttributeError, TypeError, ValueError):
        return None
    return min(max(value, 0.0), MAX_BACKOFF * 4)


def _backoff(attempt: int) -> float:
    return float(min(MAX_BACKOFF, 0.25 * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2))


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 300 else text[:297] + "..."
