"""A scripted OpenAI-compatible HTTP server for tests, built on the standard library only.

It is deliberately a different implementation from any SDK, so the real `openai` client can
be tested against it end to end:

    with ScriptedOpenAI([Reply.text('{"title": "t"}'), Reply.rate_limited(retry_after=2)]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-test")
        ...
        assert server.chat_requests[0].headers["authorization"] == "Bearer sk-test"

Routes: `POST /v1/chat/completions` (a JSON completion, or server-sent events when the request
says `"stream": true`, with usage in a final chunk when `stream_options.include_usage` is set)
and `GET /v1/models`. Replies come from a queue (`replies`, `push`) or from a function of the
request (`handler`); with neither, a request gets a 418 that names the problem (non-retryable,
so a test that forgot to script a reply fails fast instead of retrying).

The replies, their faults and the usage counted for them are in scripted_replies.py
(`Reply` and `RecordedRequest` are importable from here too). Every usage the server reported
is kept in `reported_usage`, every request in `requests`; `finished_streams` counts the streams
sent to their end.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Also when loaded by its path alone (`agentnas bench llm` runs this server from a checkout).
if os.path.dirname(os.path.abspath(__file__)) not in sys.path:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from scripted_replies import RecordedRequest, Reply, as_reply, split_text, usage  # noqa: E402

__all__ = ["DEFAULT_MODEL", "Blackhole", "RecordedRequest", "Reply", "ScriptedOpenAI", "free_port", "wait_until"]

DEFAULT_MODEL = "scripted-model"


class ScriptedOpenAI:
    """The server. Use as a context manager, or `start()` / `stop()`."""

    def __init__(self, replies: Iterable[Reply | str] = (), *,
                 handler: Callable[[RecordedRequest], Reply | str] | None = None,
                 models: Iterable[str] = (DEFAULT_MODEL,), models_status: int = 200,
                 strict_models: bool = False, refuse_formats: dict[str, int] | None = None) -> None:
        """`strict_models`: a chat request for a model not in `models` gets vLLM's 404 "does not exist".
        `refuse_formats`: response_format type -> the status a request carrying it gets (llama-cpp-python
        answers an unknown type with 500, most servers with 400)."""
        self._queue: deque[Reply] = deque(as_reply(r) for r in replies)
        self.handler = handler
        self.models = list(models)
        self.models_status = models_status
        self.strict_models = strict_models
        self.refuse_formats = dict(refuse_formats or {})
        self.requests: list[RecordedRequest] = []
        self.reported_usage: list[dict[str, int]] = []
        self.errors: list[str] = []  # exceptions in handlers, other than clients hanging up
        self.finished_streams = 0  # streams sent to their end ([DONE]); a client that stopped reading leaves one short
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting ---------------------------------------------------------------------------
    def push(self, *replies: Reply | str) -> None:
        with self._lock:
            self._queue.extend(as_reply(r) for r in replies)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.handler is not None:
            return as_reply(self.handler(request))
        return Reply.error(418, "scripted_openai: no reply queued for this request")

    # -- life cycle --------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> ScriptedOpenAI:
        server = _Server(("127.0.0.1", 0), _handler_class(self))
        server.owner = self
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="scripted-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a scripted delay
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def refusal(self, body: dict[str, Any], model: str) -> tuple[int, str] | None:
        """(status, message) for a request this server refuses before answering, or None."""
        if self.strict_models and model not in self.models:
            return 404, f"The model `{model}` does not exist."
        fmt = body.get("response_format")
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind in self.refuse_formats:
            return self.refuse_formats[str(kind)], f"1 validation error: response_format.type {kind!r} not allowed"
        return None

    # -- used by the handler -----------------------------------------------------------------
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _usage(self, request: RecordedRequest, reply: Reply) -> dict[str, int]:
        reported = usage(request, reply)
        with self._lock:
            self.reported_usage.append(reported)
        return reported

    def _wait(self, seconds: float) -> bool:
        """Sleep unless the server is stopping; True when it is."""
        return self._stopping.wait(seconds) if seconds > 0 else self._stopping.is_set()


class _Server(ThreadingHTTPServer):
    owner: ScriptedOpenAI

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # a client that timed out or hung up: expected in fault tests
            return
        with self.owner._lock:
            self.owner.errors.append(traceback.format_exc())


def free_port() -> int:
    """A port nothing listens on (bound, read, released): for unreachable-endpoint tests."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Blackhole:
    """A socket that accepts connections into its backlog and never answers (a hung endpoint)."""

    def __enter__(self) -> Blackhole:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"

    def __exit__(self, *exc: object) -> None:
        self._sock.close()


def _handler_class(owner: ScriptedOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive like a real server; streams use chunked encoding

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in separate writes: without this, Nagle's algorithm and delayed
            # ACKs add ~40 ms to every reply, which would swamp any latency measured against this server.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _read_request(self) -> RecordedRequest:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            request = RecordedRequest(self.command, self.path.split("?")[0],
                                      {k.lower(): v for k, v in self.headers.items()}, body)
            owner._record(request)
            return request

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None,
                  content_type: str = "application/json") -> None:
            self.send_response(status)
            sent = {k.lower() for k in (headers or {})}
            if "content-type" not in sent:
                self.send_header("Content-Type", content_type)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(obj).encode(), headers)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            request = self._read_request()
            if request.path.rstrip("/") == "/v1/models":
                if owner.models_status != 200:
                    self._send_json(owner.models_status, {"error": {"message": "models listing not available"}})
                    return
                data = [{"id": m, "object": "model", "created": 0, "owned_by": "scripted"} for m in owner.models]
                self._send_json(200, {"object": "list", "data": data})
                return
            self._send_json(404, {"error": {"message": f"no route {request.path}"}})

        def do_POST(self) -> None:  # noqa: N802
            request = self._read_request()
            if request.path.rstrip("/") != "/v1/chat/completions":
                self._send_json(404, {"error": {"message": f"no route {request.path}"}})
                return
            reply = owner._next_reply(request)
            if owner._wait(reply.delay_s):
                return
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                self._answer(request, reply)

        def _answer(self, request: RecordedRequest, reply: Reply) -> None:
            if reply.disconnect:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if reply.raw_body is not None:
                self._send(reply.status, reply.raw_body, reply.headers, content_type="text/plain")
                return
            if reply.json_body is not None or reply.status != 200:
                self._send_json(reply.status, reply.json_body, reply.headers)
                return
            body = request.body if isinstance(request.body, dict) else {}
            model = str(body.get("model") or DEFAULT_MODEL)
            refusal = owner.refusal(body, model)  # a real server refuses a streamed request the same way
            if refusal is not None:
                self._send_json(refusal[0], {"error": {"message": refusal[1], "type": "invalid_request_error"}})
                return
            if body.get("stream"):
                include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                self._stream(request, reply, model, include_usage and not reply.omit_usage)
                return
            message: dict[str, Any] = {"role": "assistant", "content": reply.content}
            if reply.tool_call:
                message = {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call-0", "type": "function", "function": {"name": "reply", "arguments": reply.content}}]}
            completion: dict[str, Any] = {
                "id": f"chatcmpl-scripted-{len(owner.requests)}", "object": "chat.completion", "created": 0,
                "model": model,
                "choices": [{"index": 0, "finish_reason": reply.finish_reason, "message": message}],
            }
            if not reply.omit_usage:
                completion["usage"] = owner._usage(request, reply)
            self._send_json(200, completion, reply.headers)

        def _stream(self, request: RecordedRequest, reply: Reply, model: str, include_usage: bool) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.end_headers()
            base = {"id": "chatcmpl-scripted-stream", "object": "chat.completion.chunk", "created": 0, "model": model}
            pieces = split_text(reply.content, reply.stream_pieces)
            events: list[dict[str, Any]] = [
                {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                      "finish_reason": None}]}]
            if reply.tool_call:
                events += [{**base, "choices": [{"index": 0, "delta": {"content": None, "tool_calls": [
                    {"index": 0, "function": {"arguments": p}}]}, "finish_reason": None}]} for p in pieces]
            else:
                events += [{**base, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}
                           for p in pieces]
            events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}]})
            if include_usage:
                events.append({**base, "choices": [], "usage": owner._usage(request, reply)})
            for event in events:
                self._chunk(f"data: {json.dumps(event)}\n\n".encode())
                if owner._wait(reply.chunk_delay_s):
                    return
            self._chunk(b"data: [DONE]\n\n")
            self._chunk(b"")  # the terminating zero-length chunk
            with owner._lock:
                owner.finished_streams += 1

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    return Handler


def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Poll `predicate` until it holds or `timeout_s` passes (for requests still in flight)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
