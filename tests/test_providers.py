"""The model client against a real HTTP server on 127.0.0.1 speaking the OpenAI chat API."""

import time
from typing import Any

import pytest
from fake_llm import Answer, FakeLLM, error, script, text, tool, validation_error

from gastown.errors import ConfigError, Unavailable
from gastown.machine.providers import FormatRejected, ModelClient, ModelRejected, Reply, _usage
from gastown.town import tokens
from gastown.town.roster import ModelSpec

MESSAGES = [{"role": "user", "content": "hello"}]
SHAPE = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "answer", "schema": SHAPE}}


def spec(*urls, **fields):
    return ModelSpec(
        name="fake",
        model="fake",
        endpoints=tuple(urls),
        retries=fields.pop("retries", 3),
        timeout_s=fields.pop("timeout_s", 5),
        **fields,
    )


def client(*urls, **fields):
    return ModelClient(spec(*urls, **fields), sleep=lambda _s: None)


def test_text_and_structured_tool_calls_stream_with_usage():
    with FakeLLM(script([text("hi there"), tool("read_file", path="a.py")])) as llm:
        c = client(llm.url)
        first = c.chat(MESSAGES)
        assert first.content == "hi there" and first.tool_calls == [] and first.finish_reason == "stop"
        assert first.usage.tokens_in > 0 and first.usage.tokens_out > 0 and not first.usage.estimated
        assert first.usage.first_token_s is not None and first.usage.prefill_tps
        assert not first.usage.prefill_timed  # no timings from this server: tokens over the time to the first
        second = c.chat(MESSAGES, tools=[{"type": "function", "function": {"name": "read_file"}}])
        assert second.tool_calls[0]["function"]["name"] == "read_file"
        assert second.tool_calls[0]["function"]["arguments"] == '{"path": "a.py"}'
        assert llm.requests[1]["stream"] is True and llm.requests[1]["tools"]


def test_a_servers_own_timings_are_its_prefill_figure_and_marked_so():
    """llama-server times what it prefilled; without timings the figure is tokens over the
    time to the first token, a cached prompt counted as prefilled."""
    timed = _usage(None, {"prompt_per_second": 70.5, "predicted_per_second": 15.0}, MESSAGES, "hi", [], 3.0, 2.0)
    assert timed.prefill_tps == 70.5 and timed.decode_tps == 15.0 and timed.prefill_timed
    guessed = _usage(None, None, MESSAGES, "hi", [], 3.0, 2.0)
    assert guessed.prefill_tps == guessed.tokens_in / 2.0 and not guessed.prefill_timed


def test_a_models_sampling_goes_with_every_request_and_none_without_it():
    with FakeLLM(script([text("a"), text("b")])) as llm:
        client(llm.url, sampling={"top_p": 0.8, "top_k": 20, "min_p": 0.05}).chat(MESSAGES, temperature=0.7)
        client(llm.url).chat(MESSAGES)
    sampled, plain = llm.requests
    assert (sampled["top_p"], sampled["top_k"], sampled["min_p"], sampled["temperature"]) == (0.8, 20, 0.05, 0.7)
    assert sampled["cache_prompt"] is True and plain["cache_prompt"] is True  # llama.cpp's, beside them
    assert not {"top_p", "top_k", "min_p"} & set(plain)


def test_a_seeded_model_sends_one_seed_a_call_counting_up_from_its_own():
    with FakeLLM(script([text("a"), text("b"), text("c"), text("d")])) as llm:
        seeded = client(llm.url, sampling={"seed": 41, "top_k": 20})
        seeded.chat(MESSAGES)
        seeded.chat(MESSAGES, sampling={"top_k": 40})  # a request's own sampling keeps the seed
        client(llm.url, sampling={"seed": 2**32 - 1}).chat(MESSAGES)
        client(llm.url).chat(MESSAGES)
    first, second, wrapped, unseeded = llm.requests
    assert (first["seed"], second["seed"], second["top_k"]) == (41, 42, 40)
    assert wrapped["seed"] == 2**32 - 1 and "seed" not in unseeded


def test_town_toml_takes_a_sampling_seed_and_refuses_a_bad_one():
    from gastown.town import roster

    mine = roster.parse_model("mine", {"endpoint": "http://127.0.0.1:1/v1", "sampling": {"seed": 7}})
    assert dict(mine.sampling) == {"seed": 7}
    with pytest.raises(ConfigError, match="seed"):
        roster.parse_model("mine", {"endpoint": "http://127.0.0.1:1/v1", "sampling": {"seed": -1}})


START = "a.py\n```python\ndef double(x):\n"
CONVERSATION = [{"role": "system", "content": "You write code."}, {"role": "user", "content": "Add double."}]


def test_a_started_reply_goes_as_a_text_completion_that_begins_with_it():
    """A model with a template gastown renders: the conversation as ChatML, the assistant's
    turn opened and begun with the start; the reply is the start and what the model wrote."""
    with FakeLLM(script([text("    return 2 * x\n```")])) as llm:
        reply = client(llm.url, template="chatml", sampling={"seed": 3}).chat(CONVERSATION, start=START)
    (asked,) = llm.requests
    assert "messages" not in asked and asked["stream"] is True and asked["seed"] == 3
    assert asked["prompt"] == (
        "<|im_start|>system\nYou write code.<|im_end|>\n<|im_start|>user\nAdd double.<|im_end|>\n"
        "<|im_start|>assistant\n" + START
    )
    assert asked["stop"] == ["<|im_end|>", "<|endoftext|>"]
    assert reply.content == START + "    return 2 * x\n```" and reply.finish_reason == "stop" and reply.begun
    assert reply.usage.tokens_out > 0 and reply.usage.first_token_s is not None


def test_a_start_is_not_sent_where_it_cannot_be_rendered_or_held():
    """No template, tools, a schema-held reply, or no system message to render: by chat, as always."""
    tools = [{"type": "function", "function": {"name": "finish"}}]
    with FakeLLM(script([text("x")] * 4)) as llm:
        client(llm.url).chat(CONVERSATION, start=START)
        client(llm.url, template="chatml").chat(CONVERSATION, tools=tools, start=START)
        client(llm.url, template="chatml").chat(CONVERSATION, response_format={"type": "json_object"}, start=START)
        client(llm.url, template="chatml").chat(CONVERSATION[1:], start=START)
    assert all("messages" in asked and "prompt" not in asked for asked in llm.requests)


def test_a_server_without_text_completions_is_asked_by_chat_from_then_on():
    asked_paths = []

    def respond(request):
        asked_paths.append("prompt" if "prompt" in request else "chat")
        return error(404) if "prompt" in request else text("    return 2 * x")

    with FakeLLM(respond) as llm:
        model = client(llm.url, template="chatml")
        first = model.chat(CONVERSATION, start=START)
        model.chat(CONVERSATION, start=START)
    assert first.content == "    return 2 * x" and first.attempts == 1  # the refusal is no failed attempt
    assert not first.begun and asked_paths == ["prompt", "chat", "chat"]


def test_a_text_completion_refused_for_its_length_is_not_taken_for_a_server_without_them():
    asked_paths = []

    def respond(request):
        asked_paths.append("prompt" if "prompt" in request else "chat")
        return error(400, body={"error": {"message": "the prompt exceeds the context window"}})

    with FakeLLM(respond) as llm:
        with pytest.raises(ModelRejected, match="400"):
            client(llm.url, template="chatml").chat(CONVERSATION, start=START)
    assert asked_paths == ["prompt"]  # refused as any request too long is, and not asked by chat


def test_the_known_qwen_coders_are_sampled_as_their_makers_suggest():
    from gastown.town import roster

    qwen = roster.load({}, {}).model("qwen2.5-coder-1.5b")
    assert dict(qwen.sampling) == {"top_p": 0.8, "top_k": 20}
    mine = roster.parse_model("mine", {"endpoint": "http://127.0.0.1:1/v1", "sampling": {"top_k": 40}})
    assert dict(mine.sampling) == {"top_k": 40}


def test_a_tool_name_repeated_in_every_chunk_is_read_once():
    repeated = tool("submit_plan", title="a plan that takes several chunks to stream")
    repeated.repeat_name = True
    with FakeLLM(script([repeated])) as llm:
        reply = client(llm.url).chat(MESSAGES, tools=[{"type": "function", "function": {"name": "submit_plan"}}])
    assert reply.tool_calls[0]["function"]["name"] == "submit_plan"
    assert reply.tool_calls[0]["function"]["arguments"] == '{"title": "a plan that takes several chunks to stream"}'


def test_429_and_500_are_retried_then_answered():
    with FakeLLM(script([error(429, headers={"retry-after": "0"}), error(500), text("finally")])) as llm:
        reply = client(llm.url).chat(MESSAGES)
        assert reply.content == "finally" and reply.attempts == 3
        assert len(llm.requests) == 3


def test_retries_run_out_into_unavailable_with_the_last_reason():
    with FakeLLM(script([error(503)] * 10)) as llm:
        with pytest.raises(Unavailable, match="unavailable after 3 attempts: server error 503") as caught:
            client(llm.url, retries=2).chat(MESSAGES)
        assert "gt up" in caught.value.hint and "bead" not in caught.value.hint  # the caller says what it did


def test_a_bad_request_is_not_retried():
    with FakeLLM(script([error(400), text("never")])) as llm:
        with pytest.raises(ModelRejected, match="refused the request .400."):
            client(llm.url).chat(MESSAGES)
        assert len(llm.requests) == 1


def test_malformed_streams_and_slow_streams_are_retried():
    with FakeLLM(script([Answer(malformed=True), Answer(content="x" * 200, chunk_delay=0.05), text("ok")])) as llm:
        reply = client(llm.url, timeout_s=0.4).chat(MESSAGES)
        assert reply.content == "ok" and reply.attempts == 3


def test_a_hanging_server_times_out():
    with FakeLLM(script([Answer(hang=3), text("ok")])) as llm:
        started = time.monotonic()
        reply = client(llm.url, timeout_s=0.5).chat(MESSAGES)
        assert reply.content == "ok" and time.monotonic() - started < 2.5


def test_a_dead_node_is_skipped_for_the_live_one():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    with FakeLLM(script([text("a"), text("b"), text("c")])) as llm:
        c = client(dead, llm.url)
        answers = [c.chat(MESSAGES) for _ in range(3)]
        assert [a.content for a in answers] == ["a", "b", "c"]
        assert all(a.endpoint == llm.url for a in answers)
        assert answers[0].attempts in (1, 2) and answers[1].attempts == 1  # the dead node is skipped now


def test_a_dead_endpoint_is_unavailable():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(Unavailable, match="APIConnectionError"):
        client(f"http://127.0.0.1:{port}/v1", retries=1).chat(MESSAGES)


def test_cloud_keys_come_from_the_environment_only():
    with FakeLLM(script([text("ok")])) as llm:
        needs_key = spec(llm.url, api_key_env="FAKE_CLOUD_KEY")
        with pytest.raises(ConfigError, match="FAKE_CLOUD_KEY is not set"):
            ModelClient(needs_key, env={}).chat(MESSAGES)
        reply = ModelClient(needs_key, env={"FAKE_CLOUD_KEY": "sk-test-123456"}).chat(MESSAGES)
        assert reply.content == "ok"


def by_format(json_schema: Answer, json_object: Answer, plain: Answer | None = None):
    """A server answering each request by the response_format it carries."""

    def respond(request):
        kind = (request.get("response_format") or {}).get("type")
        return {"json_schema": json_schema, "json_object": json_object}.get(kind) or plain or text("plain")

    return respond


@pytest.mark.parametrize("refusal", [validation_error(), error(400)], ids=["validation-500", "400"])
def test_a_server_refusing_json_schema_is_asked_with_json_object_from_then_on(refusal):
    slept = []
    with FakeLLM(by_format(refusal, text('{"a": "yes"}'))) as llm:
        c = ModelClient(spec(llm.url, retries=3), sleep=slept.append)
        first = c.chat(MESSAGES, response_format=JSON_SCHEMA)
        second = c.chat(MESSAGES, response_format=JSON_SCHEMA)
        kinds = [r["response_format"]["type"] for r in llm.requests]
    assert first.content == second.content == '{"a": "yes"}' and first.attempts == second.attempts == 1
    assert kinds == ["json_schema", "json_object", "json_object"]  # detected once, remembered
    assert llm.requests[1]["response_format"] == {"type": "json_object", "schema": SHAPE}
    assert slept == []  # a refusal is not an outage: no backoff, no retries


def test_a_server_taking_neither_format_says_so_once_then_without_asking():
    with FakeLLM(by_format(error(400), validation_error())) as llm:
        c = client(llm.url)
        with pytest.raises(FormatRejected, match="takes no schema-held response_format") as caught:
            c.chat(MESSAGES, response_format=JSON_SCHEMA)
        assert "json_object: 500" in caught.value.message and "json_schema: 400" in caught.value.message
        assert len(llm.requests) == 2
        with pytest.raises(FormatRejected):
            c.chat(MESSAGES, response_format=JSON_SCHEMA)
        assert len(llm.requests) == 2  # known now: the caller goes to a forced tool call at once
        assert c.chat(MESSAGES).content == "plain"  # other requests are untouched


def test_a_validation_500_is_a_rejection_not_an_outage():
    with FakeLLM(script([validation_error("tools.0.type", "'function'"), text("never")])) as llm:
        with pytest.raises(ModelRejected, match=r"refused the request \(500\): .*validation error") as caught:
            client(llm.url, retries=3).chat(MESSAGES)
        assert not isinstance(caught.value, Unavailable) and len(llm.requests) == 1
        assert "bead" not in caught.value.hint and "unavailable" not in caught.value.message


@pytest.mark.parametrize(
    "refusal, said",
    [
        (error(400, body={"error": {"message": "Requested tokens (9000) exceed context window of 4096"}}), "context"),
        (error(401, body={"error": {"message": "Incorrect API key provided"}}), "API key"),
    ],
    ids=["context", "key"],
)
def test_other_refusals_with_a_format_are_not_taken_for_a_format_refusal(refusal, said):
    with FakeLLM(script([refusal, text('{"a": "b"}')])) as llm:
        c = client(llm.url)
        with pytest.raises(ModelRejected, match=said) as caught:
            c.chat(MESSAGES, response_format=JSON_SCHEMA)
        assert not isinstance(caught.value, FormatRejected)
        assert c.chat(MESSAGES, response_format=JSON_SCHEMA).content == '{"a": "b"}'
        assert [r["response_format"]["type"] for r in llm.requests] == ["json_schema", "json_schema"]


LOOP = '''def truncate(text, width=70):
    """Shorten text to width, whole words, then a placeholder that says more was there."""
    words = text.split()
    kept = []
    for word in words:
        if len(" ".join(kept + [word])) > width:
            break
        kept.append(word)
    return " ".join(kept)


'''


def cut_short(llm: FakeLLM, **asked: Any) -> tuple[ModelClient, Reply, float]:
    """A client's second call, made with ``asked`` (its first, answered "warm", imports and
    connects: not part of what is timed): the client, the reply and its seconds. The server
    must have seen the client go: it stops decoding."""
    c = client(llm.url, timeout_s=30)
    c.chat(MESSAGES)
    began = time.monotonic()
    reply = c.chat(MESSAGES, **asked)
    took = time.monotonic() - began
    assert llm.left.wait(5)
    return c, reply, took


def test_a_streamed_reply_that_repeats_itself_is_cut_where_the_repeat_began_and_the_stream_closed():
    looping = "textkit/wrap.py\n```python\nimport re\n\n\n" + LOOP * 12  # on to the token limit
    with FakeLLM(script([text("warm"), Answer(content=looping, chunk_delay=0.005)])) as llm:
        _c, reply, took = cut_short(llm)
    assert reply.finish_reason == "looping"
    assert reply.content == "textkit/wrap.py\n```python\nimport re\n\n\n" + LOOP.rstrip() + "\n```\n"
    assert took < len(looping) / 12 * 0.005 / 2, took  # not the whole reply's time
    # its tokens are what it decoded before the cut, not the part kept: its decode speed holds
    assert reply.usage.tokens_out > tokens.chars_to_tokens(len(reply.content)) * 1.5, reply.usage


def test_a_plain_reply_that_repeats_itself_is_cut_too_and_one_that_does_not_is_kept_whole():
    tools = [{"type": "function", "function": {"name": "x"}}]
    with FakeLLM(script([Answer(no_chunks=True), Answer(content=LOOP * 5), Answer(content=LOOP)])) as llm:
        c = client(llm.url)
        looping = c.chat(MESSAGES, tools=tools)  # streamed with no chunk: asked again plainly
        whole = c.chat(MESSAGES, tools=tools)
        assert [r.get("stream", False) for r in llm.requests] == [True, False, False]
    assert looping.finish_reason == "looping" and looping.content == LOOP.rstrip() + "\n"
    assert whole.finish_reason == "stop" and whole.content == LOOP


def first_block(so_far: str) -> str | None:
    """A reply so far up to the end of its first code block; None before one closes."""
    opened = so_far.find("```")
    closed = so_far.find("```", so_far.find("\n", opened) + 1) if opened >= 0 else -1
    return so_far[: closed + 3] + "\n" if closed >= 0 and "\n" in so_far[opened:] else None


def test_a_reply_read_as_far_as_it_answers_ends_there_and_the_stream_closed():
    corrected = "```python\nreturn backend.pop(0)\n```"
    told = corrected + "\n\nThis takes the first entry, the highest priority, " + "since the list is sorted. " * 80
    tools = [{"type": "function", "function": {"name": "x"}}]
    answers = [text("warm"), Answer(content=told, chunk_delay=0.005), Answer(content=told)]
    answers += [Answer(no_chunks=True), Answer(content=told), Answer(content="Here:\n" + corrected)]
    with FakeLLM(script(answers)) as llm:
        c, cut, took = cut_short(llm, enough=first_block)
        whole = c.chat(MESSAGES)  # nothing said to be enough: the same reply is kept whole
        plain = c.chat(MESSAGES, tools=tools, enough=first_block)  # streamed with no chunk: asked again plainly
        ended = c.chat(MESSAGES, enough=first_block)  # the block is the reply's end: nothing after it to spare
    assert cut.finish_reason == "enough" and cut.content == corrected + "\n"
    assert took < len(told) / 12 * 0.005 / 2, took  # not the whole reply's time
    assert whole.finish_reason == "stop" and whole.content == told
    assert plain.finish_reason == "enough" and plain.content == corrected + "\n"
    assert ended.finish_reason == "enough" and ended.content == "Here:\n" + corrected + "\n"


ECHO_MARKS = ("Bead gt-abcde: wrap", "(a test: read it, never change it)", "Your task\nMake the acceptance tests pass")
COPIED_TEST = "```python\n# tests/test_wrap.py (a test: read it, never change it)\n" + "def test_it():\n    pass\n" * 80


def test_a_streamed_reply_that_starts_copying_the_prompt_back_is_cut_before_that_line_and_the_stream_closed():
    fixed = "textkit/wrap.py\n```python\ndef wrap(text):\n    return text\n```\n\n"
    answers = [text("warm"), Answer(content=COPIED_TEST, chunk_delay=0.005)]
    answers += [Answer(content=fixed + "# Bead gt-abcde: wrap\n" + "## Description\n" * 100, chunk_delay=0.005)]
    answers += [text(COPIED_TEST)]
    with FakeLLM(script(answers)) as llm:
        c, copied, took = cut_short(llm, cut_at=ECHO_MARKS)
        after_a_change = c.chat(MESSAGES, cut_at=ECHO_MARKS)
        unmarked = c.chat(MESSAGES)  # no marks given: the same reply is kept whole
    assert copied.finish_reason == "echoed" and copied.content is None  # the block held nothing before it
    assert took < len(COPIED_TEST) / 12 * 0.005, took  # not the whole reply's time
    assert after_a_change.finish_reason == "echoed" and after_a_change.content == fixed.rstrip() + "\n"
    assert unmarked.finish_reason == "stop" and unmarked.content == COPIED_TEST


def test_a_reply_that_only_quotes_a_line_of_the_prompt_or_holds_it_in_a_call_is_not_cut():
    quoted = "The test (a test: read it, never change it) checks wrap.\n# Your task is this:\nwrap(x)\n"
    call = tool("write_file", path="notes.md", content="# Bead gt-abcde: wrap\n(a test: read it, never change it)\n")
    schema = {"type": "json_object", "schema": {"type": "object"}}
    answers = [text(quoted), call, text('{"answer": "(a test: read it, never change it)"}')]
    with FakeLLM(script(answers)) as llm:
        c = client(llm.url)
        prose = c.chat(MESSAGES, cut_at=ECHO_MARKS)
        native = c.chat(MESSAGES, tools=[{"type": "function", "function": {"name": "write_file"}}], cut_at=ECHO_MARKS)
        shaped = c.chat(MESSAGES, response_format=schema, cut_at=ECHO_MARKS)
    assert prose.finish_reason == "stop" and prose.content == quoted
    assert native.tool_calls[0]["function"]["arguments"].endswith('never change it)\\n"}')
    assert shaped.finish_reason == "stop" and shaped.content.endswith('never change it)"}')


def test_a_plain_reply_that_copies_the_prompt_back_is_cut_there_too():
    tools = [{"type": "function", "function": {"name": "x"}}]
    halfway = "I will fix it.\n```python\nimport re\n# tests/test_wrap.py (a test: read it, never change it)\nx = 1\n"
    with FakeLLM(script([Answer(no_chunks=True), Answer(content=halfway)])) as llm:
        c = client(llm.url)
        reply = c.chat(MESSAGES, tools=tools, cut_at=ECHO_MARKS)  # streamed with no chunk: asked again plainly
    assert reply.finish_reason == "echoed"
    assert reply.content == "I will fix it.\n```python\nimport re\n```\n"  # the block it cut open is closed


NUMBERED = (
    "1. **Line 116 of `toolz/functoolz.py`:**\n   ```python\n   return func(*args)\n   ```\n\n"
    "2. **File path:**\n   `toolz/functoolz.py`\n\n"
)
ITEM = (
    "{n}. **Change the code: a file's path on one line, then a code block with the functions you change:**\n"
    "{pad}- File path: `toolz/functoolz.py`\n{pad}- Code block:\n{pad}  ```python\n"
    "{pad}  def evalform_back(val, form):\n{pad}      if callable(form):\n{pad}          return form(val)\n"
    "{pad}  ```\n\n{m}. **The tests run after every change:**\n{pad}The tests should now pass without errors.\n\n"
)


def test_a_numbered_list_that_repeats_its_items_under_new_numbers_is_a_loop_cut_at_its_first_repeat():
    from gastown.machine import loops

    items = [ITEM.format(n=n, m=n + 1, pad=" " * (3 if n + 1 < 10 else 4)) for n in range(3, 18, 2)]
    reply = NUMBERED + "".join(items)
    cut = loops.cut_loop(reply)
    assert cut is not None
    assert cut == (NUMBERED + items[0]).rstrip() + "\n"  # one whole item kept, from the first repeat on cut
    assert loops.cut_loop(NUMBERED + "".join(items[:2])) is None  # two items are no loop yet


def test_real_code_that_never_repeats_a_long_stretch_is_not_a_loop():
    from pathlib import Path

    from gastown.agents import imports, repeats
    from gastown.machine import loops

    for module in (imports, repeats):
        source = Path(module.__file__).read_text()
        assert len(source) > 2000
        assert all(loops.cut_loop(source[:end]) is None for end in range(640, len(source), 12))  # as streamed
    edit = f"beatscore/scoring.py\n```python\n{LOOP}```\nbecomes\n```python\n{LOOP.replace('70', '72')}```\n"
    assert loops.cut_loop(edit) is None  # an edit's old and new text share most of their lines: not a loop
