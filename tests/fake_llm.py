"""A scripted OpenAI-compatible chat server on 127.0.0.1, for tests.

It speaks ``POST /v1/chat/completions`` (streamed as server-sent events, or plain JSON),
``POST /v1/completions`` (a text completion of a ``prompt``, streamed), ``GET /v1/models``
and ``GET /health``, and answers from a script: structured tool calls,
tool calls written as text, plain text, HTTP errors, delays, trickling streams, broken
JSON, or silence. Every request is kept for the test to inspect.

Run as a script (``python fake_llm.py --port N``) it is a model server a runner starts
from a ``launch`` template; ``--hold-first`` and ``--crash`` make it die mid-request.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    """One scripted response."""

    content: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before anything is sent
    chunk_delay: float = 0.0  # between streamed chunks
    malformed: bool = False  # send a chunk that is not JSON
    hang: float = 0.0  # accept, then say nothing for this long
    usage: tuple[int, int] | None = None  # (prompt, completion) tokens; default: counted
    finish_reason: str | None = None
    body: dict[str, Any] | None = None  # an error's JSON body (default: a scripted message)
    repeat_name: bool = False  # stream a tool's name in every chunk, as llama-cpp-python does
    no_chunks: bool = False  # a stream with no chunk, as llama-cpp-python answers a streamed request with tools


def tool(name: str, **arguments: Any) -> Answer:
    return Answer(
        tool_calls=[
            {
                "id": f"call_{uuid.uuid4().hex[:8]}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
        ]
    )


def text(content: str, **kwargs: Any) -> Answer:
    return Answer(content=content, **kwargs)


def error(status: int, **kwargs: Any) -> Answer:
    return Answer(status=status, **kwargs)


def validation_error(field: str = "response_format.type", expected: str = "'text' or 'json_object'") -> Answer:
    """The 500 llama-cpp-python's server sends for a request its pydantic model refuses."""
    where = ", ".join(repr(part) for part in ("body", *field.split(".")))
    message = (
        f"1 validation error:\n  {{'type': 'literal_error', 'loc': ({where}), 'msg': \"Input should be {expected}\", "
        f"'input': 'json_schema', 'ctx': {{'expected': \"{expected}\"}}}}\n\n"
        '  File "llama_cpp/server/app.py", line 376, in create_chat_completion\n    POST /v1/chat/completions'
    )
    body = {"error": {"message": message, "type": "internal_server_error", "param": None, "code": None}}
    return Answer(status=500, body=body)


Responder = Callable[[dict[str, Any]], Answer]


def script(answers: Sequence[Answer], then: Answer | None = None) -> Responder:
    """Answers in order; ``then`` (default: finish) once the script runs out."""
    queue = list(answers)
    lock = threading.Lock()

    def respond(_request: dict[str, Any]) -> Answer:
        with lock:
            if queue:
                return queue.pop(0)
        return then or tool("finish", summary="script finished")

    return respond


def bead_of(request: dict[str, Any]) -> str | None:
    """The bead a request works on (from the head of its conversation)."""
    for message in request.get("messages", []):
        content = message.get("content") or ""
        if isinstance(content, str) and content.startswith("# Bead "):
            return content.split()[2].rstrip(":")
    return None


def per_bead(make: Callable[[str], Responder]) -> Responder:
    """A fresh script per bead (per claim generation, if the head changes)."""
    scripts: dict[str, Responder] = {}
    lock = threading.Lock()

    def respond(request: dict[str, Any]) -> Answer:
        bead = bead_of(request) or "?"
        with lock:
            if bead not in scripts:
                scripts[bead] = make(bead)
        return scripts[bead](request)

    return respond


class FakeLLM:
    """The server; ``url`` is the base URL to put in a roster (``.../v1``)."""

    def __init__(self, responder: Responder | None = None) -> None:
        self.responder: Responder = responder or script([])
        self.requests: list[dict[str, Any]] = []
        self.left = threading.Event()  # a client closed a stream before its end
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/") in ("/v1/models", "/health"):
                    self._json(
                        200,
                        {"object": "list", "data": [{"id": "fake", "object": "model"}]}
                        if "models" in self.path
                        else {"status": "ok"},
                    )
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with outer._lock:
                    outer.requests.append(body)
                answer = outer.responder(body)
                if answer.hang:
                    time.sleep(answer.hang)
                    self.close_connection = True
                    return
                if answer.delay:
                    time.sleep(answer.delay)
                if answer.status != 200:
                    self._json(
                        answer.status,
                        answer.body or {"error": {"message": f"scripted {answer.status}", "type": "scripted"}},
                        answer.headers,
                    )
                    return
                if self.path.rstrip("/").endswith("/v1/completions"):
                    self._stream(body, answer, _text_chunks(body, answer))
                elif body.get("stream"):
                    self._stream(body, answer, _chunks(body, answer))
                else:
                    self._json(200, _completion(body, answer))

            def _json(self, status: int, data: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(raw)

            def _stream(self, body: dict[str, Any], answer: Answer, chunks: list[Any]) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                self.send_header("connection", "close")
                self.end_headers()
                self.close_connection = True
                try:
                    for chunk in [] if answer.no_chunks else chunks:
                        if answer.chunk_delay:
                            time.sleep(answer.chunk_delay)
                        data = chunk if isinstance(chunk, str) else json.dumps(chunk)
                        self.wfile.write(f"data: {data}\n\n".encode())
                        self.wfile.flush()
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    outer.left.set()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _usage(body: dict[str, Any], answer: Answer) -> dict[str, int]:
    if answer.usage:
        prompt, completion = answer.usage
    else:
        prompt = sum(len(str(m.get("content") or "")) for m in body.get("messages", [])) // 4
        completion = (
            len(answer.content or "") + sum(len(c["function"]["arguments"]) for c in answer.tool_calls)
        ) // 4 + 1
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _completion(body: dict[str, Any], answer: Answer) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.content}
    if answer.tool_calls:
        message["tool_calls"] = answer.tool_calls
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": answer.finish_reason or ("tool_calls" if answer.tool_calls else "stop"),
            }
        ],
        "usage": _usage(body, answer),
    }


def _chunks(body: dict[str, Any], answer: Answer) -> list[Any]:
    base = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return dict(base, choices=[{"index": 0, "delta": delta, "finish_reason": finish}])

    chunks: list[Any] = [chunk({"role": "assistant"})]
    if answer.malformed:
        chunks.append('{"choices": [ {"delta": ')
        return chunks
    content = answer.content or ""
    chunks += [chunk({"content": content[at : at + 12]}) for at in range(0, len(content), 12)]
    for index, call in enumerate(answer.tool_calls):
        function = {"name": call["function"]["name"], "arguments": ""}
        chunks.append(
            chunk({"tool_calls": [{"index": index, "id": call["id"], "type": "function", "function": function}]})
        )
        args = call["function"]["arguments"]
        for at in range(0, len(args), 20):
            part = {"arguments": args[at : at + 20], **({"name": function["name"]} if answer.repeat_name else {})}
            chunks.append(chunk({"tool_calls": [{"index": index, "function": part}]}))
    chunks.append(chunk({}, answer.finish_reason or ("tool_calls" if answer.tool_calls else "stop")))
    if body.get("stream_options", {}).get("include_usage"):
        chunks.append(dict(base, choices=[], usage=_usage(body, answer)))
    return chunks


def _text_chunks(body: dict[str, Any], answer: Answer) -> list[Any]:
    """A text completion's stream: the answer's content as ``text``, 12 characters a chunk."""
    base = {"id": "cmpl-fake", "object": "text_completion", "created": int(time.time()), "model": body.get("model")}
    content = answer.content or ""
    chunks: list[Any] = [
        dict(base, choices=[{"index": 0, "text": content[at : at + 12], "finish_reason": None}])
        for at in range(0, len(content), 12)
    ]
    chunks.append(dict(base, choices=[{"index": 0, "text": "", "finish_reason": answer.finish_reason or "stop"}]))
    if body.get("stream_options", {}).get("include_usage"):
        prompt, completion = answer.usage or (len(body.get("prompt", "")) // 4, len(content) // 4 + 1)
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        chunks.append(dict(base, choices=[], usage=usage))
    return chunks


def main() -> None:
    """``python fake_llm.py --port N``: a standalone server answering ``finish``.

    ``--hold-first FILE``: the first chat request of all the processes sharing FILE is held
    (someone kills the server meanwhile); ``--crash MESSAGE``: every chat request prints
    MESSAGE to the log and the server kills itself (SIGKILL), as llama.cpp aborting would;
    ``--start-once FILE``: only the first process sharing FILE starts, later ones fail.
    ``--write PATH=FILE``: a conversation's first request is answered by writing FILE's text
    to PATH (``write_file``), the next by ``finish``: a stand-in model that does the work.
    ``--slow-start S``: listen only after S seconds, as a big model's load takes.
    """
    import argparse
    import os
    import signal as signals
    import sys

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hold-first", metavar="FILE")
    parser.add_argument("--crash", metavar="MESSAGE")
    parser.add_argument("--start-once", metavar="FILE")
    parser.add_argument("--slots", type=int, default=1, help="ignored: shows the slots it was started with")
    parser.add_argument("--write", metavar="PATH=FILE")
    parser.add_argument("--slow-start", type=float, default=0.0, metavar="S", help="load for S seconds first")
    args = parser.parse_args()
    if args.start_once:
        try:
            open(args.start_once, "x").close()
        except FileExistsError:
            print("fake_llm: refusing to start a second time", file=sys.stderr, flush=True)
            raise SystemExit(1) from None

    def respond(_request: dict[str, Any]) -> Answer:
        print("chat request", flush=True)
        if args.crash:
            print(args.crash, file=sys.stderr, flush=True)
            os.kill(os.getpid(), signals.SIGKILL)
        if args.hold_first:
            try:
                with open(args.hold_first, "x") as mark:
                    mark.write(str(os.getpid()))
            except FileExistsError:
                pass
            else:
                print("holding the first request", flush=True)
                return Answer(hang=120)
        if args.write and not any(m.get("role") == "tool" for m in _request.get("messages", [])):
            path, source = args.write.split("=", 1)
            with open(source) as handle:
                return tool("write_file", path=path, content=handle.read())
        return tool("finish", summary="fake server")

    time.sleep(args.slow_start)
    llm = FakeLLM(respond)
    llm._server.server_close()
    llm._server = ThreadingHTTPServer(("127.0.0.1", args.port), llm._server.RequestHandlerClass)
    signals.signal(signals.SIGTERM, lambda *_: (_ for _ in ()).throw(SystemExit(0)))
    llm._server.serve_forever()


if __name__ == "__main__":
    main()
