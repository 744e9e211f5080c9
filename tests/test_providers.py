"""The model client against a real HTTP server on 127.0.0.1 speaking the OpenAI chat API."""

import time

import pytest
from fake_llm import Answer, FakeLLM, error, script, text, tool

from gastown.errors import ConfigError, Unavailable
from gastown.providers import ModelClient, ModelRejected
from gastown.roster import ModelSpec

MESSAGES = [{"role": "user", "content": "hello"}]


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
        second = c.chat(MESSAGES, tools=[{"type": "function", "function": {"name": "read_file"}}])
        assert second.tool_calls[0]["function"]["name"] == "read_file"
        assert second.tool_calls[0]["function"]["arguments"] == '{"path": "a.py"}'
        assert llm.requests[1]["stream"] is True and llm.requests[1]["tools"]


def test_429_and_500_are_retried_then_answered():
    with FakeLLM(script([error(429, headers={"retry-after": "0"}), error(500), text("finally")])) as llm:
        reply = client(llm.url).chat(MESSAGES)
        assert reply.content == "finally" and reply.attempts == 3
        assert len(llm.requests) == 3


def test_retries_run_out_into_unavailable_with_the_last_reason():
    with FakeLLM(script([error(503)] * 10)) as llm:
        with pytest.raises(Unavailable, match="unavailable after 3 attempts: server error 503") as caught:
            client(llm.url, retries=2).chat(MESSAGES)
        assert "handed back" in caught.value.hint


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
