"""The one door to the models: every call goes through the ``openai`` client.

A model may answer at several endpoints (one ``llama-server`` per GPU or per host); a
call goes to the live endpoint with the most free slots, and an endpoint that refuses
connections is skipped for a while and tried again later. Calls stream, so the time to
the first token (prefill) and the decode rate are measured on every call; llama.cpp's
``timings`` are used when the server sends them (with how much of the prompt came from
its cache). Connection errors, timeouts, 429 and 5xx are retried with backoff; what is
still failing afterwards raises ``Unavailable`` (a caller holding a bead hands it back
rather than blaming it). A request the server refuses as malformed -- a 4xx, or a 500
whose body is a request-validation error (llama-cpp-python) -- raises ``ModelRejected``
and is never retried.

A schema-held ``response_format`` goes the way the endpoint takes: ``json_schema``
(OpenAI, llama-server) or ``{"type": "json_object", "schema": ...}`` (llama-cpp-python).
An endpoint that refuses one way is remembered and asked the other way at once; one that
takes neither raises ``FormatRejected`` (without a request, once known), and the caller
falls back to a forced tool call.

A local server gastown started may die mid-request (llama.cpp aborts on some grammars):
the ``revive`` hook its runner gives the client restarts it and the request is sent once
more; a second death is reported with the last lines of the server's log. Its ``hold``
hook marks the server in use for the whole call, so no process stops it to make room for
another model meanwhile. API keys come from the environment variable the roster names and
go nowhere else.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

from gastown.errors import ConfigError, GastownError, Unavailable
from gastown.machine import loops, templates
from gastown.town import tokens
from gastown.town.roster import SEEDS, ModelSpec

log = logging.getLogger(__name__)

DOWN_SECONDS = 15.0  # how long an endpoint that refused a connection is skipped
LOOP_CHECK_CHUNKS = 16  # a streamed reply is checked for a loop every this many chunks
LOOPING = "looping"  # the finish reason of a reply cut where it began repeating itself
ECHOED = "echoed"  # the finish reason of a reply cut where it began copying the prompt (``cut_at``)
ENOUGH = "enough"  # the finish reason of a reply read as far as it answers (``enough``)
MAX_BACKOFF = 8.0


# what a server without text completions answers one (a cloud API's chat-only endpoint)
NO_COMPLETIONS = (404, 405, 501)
JSON_SCHEMA = "json_schema"
JSON_OBJECT = "json_object"
# How a 500 says the request itself was malformed (FastAPI/pydantic behind llama-cpp-python's server).
_VALIDATION = re.compile(
    r"validation error|literal_error|input should be|extra_forbidden|field required|unprocessable", re.IGNORECASE
)

Revive = Callable[[str, bool], str | None]
"""``revive(url, again)``, from the runner that started the model's server: after a failed
connection to ``url``, None when the server still runs there (an ordinary failure), else
the URL of the restarted server; raises ``Unavailable`` with the server log's last lines
when it cannot come back, or when ``again`` (it already died once during this request)."""


class PastDeadline(Exception):
    """The caller's time ran out before the reply ended: the call was cut off (not a fault of
    the model's, and nothing to retry)."""


class ModelRejected(GastownError):
    """The endpoint answered but refused the request (a 4xx other than 429, or a validation 500)."""

    default_hint = "the server refused this request as malformed; retrying it would not help"


class FormatRejected(ModelRejected):
    """The endpoint takes no schema-held ``response_format``: ask with a forced tool call instead."""

    default_hint = "set structured_output = false for this model in town.toml to skip asking"


MIN_DECODE_SAMPLE = 16  # reply tokens below which a call's decode speed is noise


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
    # prefill_tps is the server's own figure (its timings); else it is the prompt's tokens over
    # the time to the first token, where a prompt the server had cached counts as prefilled
    prefill_timed: bool = False

    @property
    def decode_rate(self) -> float | None:
        """``decode_tps`` where the reply says something of the speed: of at least
        MIN_DECODE_SAMPLE tokens. One cut where it began to repeat itself kept 1 token of
        12 s of decode, "0.08 tokens a second", and its bead stopped at 155 s of 255 for a
        next call of "3,496 s"."""
        return self.decode_tps if self.decode_tps and self.tokens_out >= MIN_DECODE_SAMPLE else None

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
    begun: bool = False  # its content starts with the ``start`` the call gave (a text completion)


@dataclass
class _Endpoint:
    url: str
    inflight: int = 0
    down_until: float = 0.0
    plain: bool = False  # cannot stream with tools (llama-cpp-python): asked without streaming
    refused: dict[str, str] = field(default_factory=dict)  # response_format way -> the server's refusal
    chat_only: bool = False  # refused a text completion (a started reply): asked by chat from then on


@dataclass
class ModelClient:
    """Calls one model of the roster over its endpoints."""

    spec: ModelSpec
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    sleep: Callable[[float], None] = time.sleep
    revive: Revive | None = None  # set by the runner for a server it started and can restart
    hold: Callable[[], AbstractContextManager[None]] | None = None  # likewise: "in use" for a call
    _endpoints: list[_Endpoint] = field(default_factory=list, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _clients: dict[str, Any] = field(default_factory=dict, init=False)
    _asked: int = field(default=0, init=False)  # chat() calls so far: the n-th is seeded ``seed + n - 1``

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
        until: float | None = None,
        sampling: Mapping[str, float] | None = None,
        cut_at: Sequence[str] = (),
        start: str = "",
        enough: Callable[[str], str | None] | None = None,
    ) -> Reply:
        """One chat completion, retried across endpoints; Unavailable when it cannot be had.
        ``until`` (a ``time.monotonic()`` instant) is when the caller's time runs out: a reply
        still coming then is cut off (PastDeadline), and no attempt starts after it.
        ``sampling`` overrides the model's own (``top_p``, ``top_k``, ...) for this request.
        ``cut_at``: lines of the prompt that only a reply copying it back writes; a reply
        that writes one ends before that line (finish reason ECHOED, the stream closed).
        ``enough``: what of the reply so far answers the question (its text up to there), or
        None while it does not yet; a reply ends there (finish reason ENOUGH), the stream
        closed before any more is decoded. A streamed reply is cut only while no tool call
        has begun (one that would come after the cut is never decoded); one read plainly
        keeps its tool calls, its text cut the same way.

        A model whose ``sampling`` has a ``seed`` is sampled reproducibly: this client's
        n-th call sends ``seed + n - 1`` (its retries the same), so the same questions in the
        same order get the same answers from a server that honours seeds (llama.cpp's do),
        and no two calls of a client share one. A watcher asks a bead's questions through
        one client (a new one when the model's server was restarted or swapped out).

        ``start``: the first text of the reply, for a model whose chat ``template`` gastown
        knows (templates.py): the conversation goes as a text completion that begins the
        assistant's turn with it, and the reply holds it, followed by what the model wrote
        after it. Other models, tool calls and schema-held replies are asked by chat and
        ``start`` is not sent (the prompt can still show it)."""
        with self._lock:
            self._asked += 1
            number = self._asked
        base = self.spec.sampling.get("seed")
        seed = None if base is None else (int(base) + number - 1) % SEEDS
        with self.hold() if self.hold is not None else nullcontext():
            return self._chat(
                messages,
                tools,
                tool_choice,
                response_format,
                max_tokens,
                temperature,
                until,
                sampling,
                cut_at,
                seed,
                start,
                enough,
            )

    def _chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None,
        tool_choice: Any,
        response_format: Mapping[str, Any] | None,
        max_tokens: int | None,
        temperature: float | None,
        until: float | None,
        sampling: Mapping[str, float] | None,
        cut_at: Sequence[str],
        seed: int | None,
        start: str,
        enough: Callable[[str], str | None] | None,
    ) -> Reply:
        import openai

        attempts = self.spec.retries + 1
        last = "no attempt made"
        attempt = 0
        revived = False
        while attempt < attempts:
            attempt += 1
            endpoint = self._pick()
            down = False
            way: str | None = None
            started = False
            try:
                way, shaped = self._shape(endpoint, response_format)
                request = self._request(messages, tools, tool_choice, shaped, max_tokens, temperature, sampling, seed)
                if start and not tools and shaped is None and not endpoint.chat_only:
                    begun = templates.begun(request, self.spec.template, start)
                    started, request = begun is not None, begun or request
                sent = self._send(endpoint, request, bool(tools), until, cut_at, start if started else "", enough)
                return replace(sent, attempts=attempt)
            except openai.RateLimitError as error:
                last = f"rate limited (429) by {endpoint.url}"
                wait = _retry_after(error) or _backoff(attempt)
            except (openai.APIConnectionError, openai.APITimeoutError, _StreamTimeout) as error:
                timed_out = isinstance(error, (openai.APITimeoutError, _StreamTimeout))
                if timed_out and until is not None and time.monotonic() >= until - 0.05:
                    raise PastDeadline(f"model {self.spec.name}'s reply did not end in the time left") from None
                last = f"{type(error).__name__} from {endpoint.url}: {_short(error)}"
                if not timed_out and self._revived(endpoint, revived):
                    revived, attempt = True, attempt - 1  # the restarted server gets the request at once
                    continue
                down = not timed_out
                wait = _backoff(attempt)
            except openai.APIStatusError as error:
                if started and error.status_code in NO_COMPLETIONS:  # (a cloud API): the same question by chat
                    with self._lock:
                        endpoint.chat_only = True
                    log.info(
                        "model %s at %s has no text completions (%s): %s; asking by chat",
                        self.spec.name,
                        endpoint.url,
                        error.status_code,
                        _short(error),
                    )
                    attempt -= 1
                    continue
                if not _refused(error):
                    last = f"server error {error.status_code} from {endpoint.url}: {_short(error)}"
                    wait = _backoff(attempt)
                elif way is not None and _format_refusal(error):
                    self._refuse(endpoint, way, error)
                    attempt -= 1  # asked the wrong way, not a failure: ask the next way at once
                    continue
                else:
                    raise ModelRejected(
                        f"model {self.spec.name} refused the request ({error.status_code}): {_short(error)}"
                    ) from None
            except (openai.APIResponseValidationError, ValueError, _Malformed) as error:
                last = f"a malformed response from {endpoint.url}: {_short(error)}"
                if self._revived(endpoint, revived):  # a server killed mid-stream can end it cleanly
                    revived, attempt = True, attempt - 1
                    continue
                wait = _backoff(attempt)
            finally:
                self._done(endpoint, down)
            log.info("model %s attempt %d/%d failed: %s", self.spec.name, attempt, attempts, last)
            if until is not None and time.monotonic() + wait >= until:
                raise PastDeadline(f"no time left for another attempt ({last})")
            if attempt < attempts:
                self.sleep(wait)
        raise Unavailable(
            f"model {self.spec.name} is unavailable after {attempts} attempts: {last}",
            "check that the model's server runs (gt models, gt up) and its endpoint in town.toml",
        )

    def _send(
        self,
        endpoint: _Endpoint,
        request: dict[str, Any],
        tools: bool,
        until: float | None,
        cut_at: Sequence[str],
        start: str = "",
        enough: Callable[[str], str | None] | None = None,
    ) -> Reply:
        if tools and endpoint.plain:
            return self._complete(endpoint.url, request, until, cut_at, enough)
        try:
            return self._stream(endpoint.url, request, until, cut_at, start, enough)
        except _Empty:
            if not tools:
                raise
            # Some servers (llama-cpp-python) cannot stream with tools: ask plainly.
            endpoint.plain = True
            return self._complete(endpoint.url, request, until, cut_at, enough)

    def _timed(self, url: str, until: float | None) -> Any:
        """The client for ``url``, waiting no longer than the model's timeout nor past ``until``."""
        client = self._client(url)
        if until is None:
            return client
        left = until - time.monotonic()
        if left <= 0:
            raise PastDeadline(f"model {self.spec.name}: no time left for a call")
        return client.with_options(timeout=min(self.spec.timeout_s, left))

    def _shape(
        self, endpoint: _Endpoint, response_format: Mapping[str, Any] | None
    ) -> tuple[str | None, Mapping[str, Any] | None]:
        """The way to send ``response_format`` to ``endpoint`` (None: as given), and the format itself."""
        schema = _schema_of(response_format)
        if response_format is None or schema is None:
            return None, response_format
        asked = str(response_format.get("type"))
        for way in (asked, JSON_OBJECT if asked == JSON_SCHEMA else JSON_SCHEMA):
            if way in endpoint.refused:
                continue
            if way == asked:
                return way, response_format
            if way == JSON_OBJECT:
                return way, {"type": JSON_OBJECT, "schema": schema}
            return way, {"type": JSON_SCHEMA, "json_schema": {"name": "answer", "schema": schema}}
        said = "; ".join(f"{way}: {why}" for way, why in sorted(endpoint.refused.items()))
        raise FormatRejected(f"model {self.spec.name} at {endpoint.url} takes no schema-held response_format ({said})")

    def _refuse(self, endpoint: _Endpoint, way: str, error: Any) -> None:
        with self._lock:
            endpoint.refused[way] = f"{error.status_code} {_short(error)[:160]}"
        log.info(
            "model %s at %s refuses response_format %s (%s): %s; asking another way",
            self.spec.name,
            endpoint.url,
            way,
            error.status_code,
            _short(error),
        )

    def _revived(self, endpoint: _Endpoint, again: bool) -> bool:
        """Whether the endpoint's server had died and was restarted (at a URL it now has)."""
        if self.revive is None:
            return False
        url = self.revive(endpoint.url, again)  # Unavailable, with the server's log, when it cannot be
        if url is None:
            return False
        with self._lock:
            endpoint.url, endpoint.down_until = url, 0.0
        log.warning("model %s: its server died during a request and was restarted; asking again", self.spec.name)
        return True

    def _request(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None,
        tool_choice: Any,
        response_format: Mapping[str, Any] | None,
        max_tokens: int | None,
        temperature: float | None,
        sampling: Mapping[str, float] | None,
        seed: int | None = None,
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
        sampled = {**self.spec.sampling, **(sampling or {})}
        sampled.pop("seed", None)  # the call's own, from chat()
        if seed is not None:
            request["seed"] = seed
        if "top_p" in sampled:
            request["top_p"] = sampled.pop("top_p")
        extra = {"cache_prompt": True} if self.spec.local else {}  # llama.cpp: reuse the stable prefix
        if extra or sampled:
            request["extra_body"] = extra | sampled  # top_k, min_p, repeat_penalty: not OpenAI's
        return request

    def _complete(
        self,
        url: str,
        request: dict[str, Any],
        until: float | None = None,
        cut_at: Sequence[str] = (),
        enough: Callable[[str], str | None] | None = None,
    ) -> Reply:
        """One answer without streaming (only the total time is measured)."""
        started = time.monotonic()
        response = self._timed(url, until).chat.completions.create(**request)
        seconds = time.monotonic() - started
        if not response.choices:
            raise _Malformed("the response had no choices")
        choice = response.choices[0]
        message = choice.message
        text, finish = message.content, choice.finish_reason
        cut = loops.cut_loop(text) if text and "response_format" not in request else None
        if cut is not None:
            text, finish = cut, LOOPING
        echo = loops.cut_echo(text, cut_at) if text and cut_at and "response_format" not in request else None
        if echo is not None:
            text, finish = echo or None, ECHOED
        answer = enough(text) if text and enough is not None else None
        if answer is not None:
            text, finish = answer, ENOUGH
        calls = [
            {
                "id": c.id or f"call_{i}",
                "type": "function",
                "function": {"name": c.function.name, "arguments": c.function.arguments or ""},
            }
            for i, c in enumerate(message.tool_calls or ())
        ]
        timings = (getattr(response, "model_extra", None) or {}).get("timings")
        usage = _usage(response.usage, timings, request["messages"], text, calls, seconds, None)
        return Reply(text, calls, finish, usage, self.spec.name, url)

    def _stream(
        self,
        url: str,
        request: dict[str, Any],
        until: float | None = None,
        cut_at: Sequence[str] = (),
        start: str = "",
        enough: Callable[[str], str | None] | None = None,
    ) -> Reply:
        """One streamed answer: a chat completion, or a text completion (``prompt``) whose
        text follows ``start``, which begins the reply (``begun``)."""
        request = {**request, "stream": True, "stream_options": {"include_usage": True}}
        text_only = "prompt" in request
        messages = [{"content": request["prompt"]}] if text_only else request["messages"]
        started = time.monotonic()
        deadline = started + self.spec.timeout_s
        first: float | None = None
        chunks = 0
        content: list[str] = [start] if start else []
        wrote = False  # any text from the model (the start is not the model's)
        calls: dict[int, dict[str, Any]] = {}
        finish = None
        streamed: str | None = None  # all a cut reply decoded, past where it was cut
        usage = None
        timings = None
        client = self._timed(url, until)
        stream = (client.completions if text_only else client.chat.completions).create(**request)
        try:
            for chunk in stream:
                chunks += 1
                now = time.monotonic()
                if until is not None and now > until:  # closing the stream stops the server's decode
                    raise PastDeadline(f"model {self.spec.name}'s reply did not end in the time left")
                if now > deadline:
                    raise _StreamTimeout(f"no complete answer within {self.spec.timeout_s:.0f}s")
                extra = getattr(chunk, "model_extra", None) or {}
                if extra.get("timings"):
                    timings = extra["timings"]
                if chunk.usage is not None:
                    usage = chunk.usage
                had = len(content)
                for choice in chunk.choices or ():
                    if text_only:
                        if choice.text and first is None:
                            first = now - started
                        if choice.text:
                            content.append(choice.text)
                            wrote = True
                        finish = choice.finish_reason or finish
                        continue
                    delta = choice.delta
                    if delta is not None and (delta.content or delta.tool_calls) and first is None:
                        first = now - started
                    if delta is not None and delta.content:
                        content.append(delta.content)
                        wrote = True
                    for part in (delta.tool_calls if delta is not None else None) or ():
                        slot = calls.setdefault(part.index or 0, {"id": "", "name": "", "arguments": ""})
                        slot["id"] = part.id or slot["id"]
                        if part.function is not None:
                            name = part.function.name or ""
                            if name != slot["name"]:  # llama-cpp-python repeats the whole name in every chunk
                                slot["name"] += name
                            slot["arguments"] += part.function.arguments or ""
                    if choice.finish_reason:
                        finish = choice.finish_reason
                if enough is not None and not calls and len(content) > had:
                    so_far = "".join(content)
                    answer = enough(so_far)
                    if answer is not None:  # closing the stream stops the server's decode
                        content, finish, streamed = [answer], ENOUGH, so_far
                        break
                if chunks % LOOP_CHECK_CHUNKS == 0 and content and "response_format" not in request:
                    so_far = "".join(content)
                    cut = loops.cut_loop(so_far)
                    if cut is not None:  # closing the stream stops the server's decode
                        content, finish, streamed = [cut], LOOPING, so_far
                        break
                    echo = loops.cut_echo(so_far, cut_at) if cut_at and not calls else None
                    if echo is not None:  # (a native call begun: it ends whole, the text cut after it)
                        content, finish, streamed = [echo], ECHOED, so_far
                        break
        finally:
            stream.close()
        seconds = time.monotonic() - started
        checked = cut_at and finish not in (LOOPING, ECHOED) and "response_format" not in request
        echo = loops.cut_echo("".join(content), cut_at) if checked else None
        if echo is not None:  # written after the last check: the reply ended before it could be cut
            content, finish = [echo], ECHOED
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
        if finish is None and not wrote and not calls:
            raise _Malformed("the stream ended without an answer")
        # what the model wrote, for an estimate of its tokens: all it decoded, a cut reply's cut-off
        # part too (counted from the 1 token it kept, 12 s of decode read as 0.08 tokens a second)
        decoded = text if streamed is None else streamed
        written = decoded[len(start) :] if decoded and start else decoded
        return Reply(
            text,
            tool_calls,
            finish,
            _usage(usage, timings, messages, written, tool_calls, seconds, first),
            self.spec.name,
            url,
            begun=bool(start),
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
    else:  # count roughly from the text
        chars_in = sum(len(str(m.get("content") or "")) for m in messages)
        chars_out = len(text or "") + sum(len(c["function"]["arguments"]) for c in calls)
        tokens_in, tokens_out = tokens.chars_to_tokens(chars_in), tokens.chars_to_tokens(chars_out)
        estimated, cached = True, None
    prefill = decode = None
    if timings:
        prefill = _positive(timings.get("prompt_per_second"))
        decode = _positive(timings.get("predicted_per_second"))
        cached = timings.get("cache_n", cached)
    timed = prefill is not None
    if prefill is None and first:
        prefill = tokens_in / first if first > 0 else None
    if decode is None and first is not None and seconds > first and tokens_out:
        decode = tokens_out / (seconds - first)
    elif decode is None and first is None and seconds > 0 and tokens_out:
        decode = tokens_out / seconds  # not streamed: prefill is inside this figure
    return Usage(tokens_in, tokens_out, round(seconds, 4), first, cached, prefill, decode, estimated, timed)


def _schema_of(response_format: Mapping[str, Any] | None) -> Any:
    """The JSON Schema a ``response_format`` holds the answer to, if any."""
    if not response_format:
        return None
    if response_format.get("type") == JSON_SCHEMA:
        inner = response_format.get("json_schema")
        return inner.get("schema") if isinstance(inner, Mapping) else None
    if response_format.get("type") == JSON_OBJECT:
        return response_format.get("schema")
    return None


def _refused(error: Any) -> bool:
    """A refusal of the request itself: a 4xx but 429, or a 500 whose body is a validation error."""
    if error.status_code == 429:
        return False
    if error.status_code < 500:
        return True
    return error.status_code == 500 and _VALIDATION.search(str(error.message)) is not None


def _format_refusal(error: Any) -> bool:
    """Whether a refusal may be of the ``response_format`` (not of a key, a model name or a long prompt)."""
    return error.status_code in (400, 422, 500) and "context" not in str(error.message).lower()


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
