"""A loopback fake of an OpenAI-compatible chat server (AI/ML API flavour) for tests and bench.

A small asyncio HTTP/1.1 server (keep-alive, chunked SSE) in a background thread, on 127.0.0.1 and
an ephemeral port. It serves `POST /v1/chat/completions` and `GET /v1/models`, records every
request, and answers from, in order: the queue of scripted replies, the handler, or the default echo
handler (which returns the last ```python block of the last user message, so an end-to-end run
changes nothing).

Scripting a test:

    with FakeModelServer() as server:
        server.enqueue(FakeReply.rate_limited("2"), FakeReply.completion("```python\\nx = 1\\n```"))
        settings = ModelSettings(base_url=server.base_url)
        ...
        assert server.requests[0].body["model"] == "minimax/m2-1"

or pass `handler=lambda body, headers: FakeReply.completion(...)` to decide per request. As a
script: `python tests/fake_model_server.py --port 8000 --latency 0.2` (echo handler, until Ctrl-C).
Other tests import it as `from fake_model_server import FakeModelServer, FakeReply` (tests/ is on
sys.path under pytest) or use the `fake_model` fixture of tests/conftest.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

Handler = Callable[[dict[str, Any], dict[str, str]], "FakeReply"]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_PY_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


@dataclass
class FakeReply:
    """One scripted answer: a status and body, SSE events, a delay, or a dropped connection."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line is sent
    drop: bool = False  # close the socket without any response
    events: list[bytes] | None = None  # SSE `data:` payloads, sent chunked
    event_delay: float = 0.0  # pause before each SSE event
    content_type: str = "application/json"
    stall_at: int = -1  # index of the SSE event before which the server goes silent...
    stall: float = 0.0  # ...for this many seconds (to trip an idle timeout)
    cut_at: int = -1  # index of the SSE event before which the server closes the connection
    # sends the whole response itself, then the connection closes (support/fault_server.py's faults)
    write: Callable[[asyncio.StreamWriter], Awaitable[None]] | None = None

    @classmethod
    def json(cls, status: int, payload: Any, **kwargs: Any) -> FakeReply:
        return cls(status=status, body=json.dumps(payload).encode(), **kwargs)

    @classmethod
    def completion(
        cls,
        content: str = "<think>\nThinking.\n</think>\n\nDone.",
        *,
        finish_reason: str | None = "stop",
        usage: Mapping[str, Any] | None = None,
        usd: float | None = 0.0012,
        credits: float | None = 447,
        cost_in: str = "body",  # "body" (meta.usage), "headers" (x-aimlapi-*), or "none"
        base_resp: tuple[int, str] = (0, ""),
        model: str = "MiniMax-M2.1",
        reasoning_content: str | None = None,
        extra: Mapping[str, Any] | None = None,
        delay: float = 0.0,
    ) -> FakeReply:
        """A normal non-streaming chat completion, shaped like the AI/ML API's."""
        message: dict[str, Any] = {"role": "assistant", "content": content, "name": "MiniMax AI"}
        if reasoning_content is not None:
            message["reasoning_content"] = reasoning_content
        payload: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "finish_reason": finish_reason, "message": message}],
            "usage": dict(usage) if usage is not None else default_usage(),
            "base_resp": {"status_code": base_resp[0], "status_msg": base_resp[1]},
        }
        headers: dict[str, str] = {}
        if cost_in == "body":
            payload["meta"] = {"usage": {"credits_used": credits, "usd_spent": usd}}
        elif cost_in == "headers":
            headers["x-aimlapi-usd-spent"] = str(usd)
            headers["x-aimlapi-credits-used"] = str(credits)
        payload.update(extra or {})
        return cls.json(200, payload, headers=headers, delay=delay)

    @classmethod
    def provider_error(cls, code: int, message: str = "error") -> FakeReply:
        """HTTP 200 whose MiniMax base_resp carries an error code, and no choices."""
        payload = {
            "id": "",
            "choices": None,
            "base_resp": {"status_code": code, "status_msg": message},
        }
        return cls.json(200, payload)

    @classmethod
    def error(
        cls, status: int, message: str = "error", *, headers: Mapping[str, str] | None = None
    ) -> FakeReply:
        """An HTTP error with the AI/ML API error body (statusCode as a string)."""
        payload = {
            "message": message,
            "path": "/v1/chat/completions",
            "requestId": uuid.uuid4().hex,
            "statusCode": str(status),
            "timestamp": "2025-12-24T03:45:33.000Z",
        }
        return cls.json(status, payload, headers=dict(headers or {}))

    @classmethod
    def rate_limited(cls, retry_after: str | None = None) -> FakeReply:
        """A 429, with a Retry-After header (seconds or HTTP date) when given."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return cls.error(429, "Too many requests, add retries with backoff", headers=headers)

    @classmethod
    def dropped(cls, delay: float = 0.0) -> FakeReply:
        """Close the connection without sending anything."""
        return cls(drop=True, delay=delay)

    @classmethod
    def malformed(cls, text: str = '{"choices": [') -> FakeReply:
        """HTTP 200 with a body that is not valid JSON."""
        return cls(status=200, body=text.encode())

    @classmethod
    def stream(
        cls,
        content: str = "<think>\nThinking.\n</think>\n\nDone.",
        *,
        pieces: list[str] | None = None,
        finish_reason: str = "stop",
        usage: Mapping[str, Any] | None = None,
        usd: float | None = 0.0012,
        credits: float | None = 447,
        model: str = "MiniMax-M2.1",
        event_delay: float = 0.0,
        done: bool = True,
        stall_after: int | None = None,
        stall: float = 0.0,
    ) -> FakeReply:
        """An SSE answer: `pieces` as deltas, then finish_reason + usage + meta.usage, then [DONE].

        `pieces` defaults to `content` cut in 7-char slices (so think tags split across events).
        With `stall_after=k` the server sleeps `stall` s before event k (trips an idle timeout).
        """
        parts = (
            pieces
            if pieces is not None
            else [content[i : i + 7] for i in range(0, len(content), 7)]
        )
        base = {"id": uuid.uuid4().hex, "object": "chat.completion.chunk", "model": model}
        events: list[bytes] = []
        for index, part in enumerate(parts):
            delta: dict[str, Any] = {"content": part}
            if index == 0:
                delta["role"] = "assistant"
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            events.append(json.dumps(chunk).encode())
        last = {
            **base,
            "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": finish_reason}],
            "usage": dict(usage) if usage is not None else default_usage(),
            "meta": {"usage": {"credits_used": credits, "usd_spent": usd}},
        }
        events.append(json.dumps(last).encode())
        if done:
            events.append(b"[DONE]")
        return cls(
            events=events,
            event_delay=event_delay,
            content_type="text/event-stream",
            stall_at=-1 if stall_after is None else stall_after,
            stall=stall,
        )


def default_usage() -> dict[str, Any]:
    """A usage object like the AI/ML API's, reasoning and cache details included."""
    return {
        "prompt_tokens": 39,
        "completion_tokens": 167,
        "total_tokens": 206,
        "completion_tokens_details": {"reasoning_tokens": 55},
        "prompt_tokens_details": {"cached_tokens": 32},
    }


def echo_handler(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
    """Answer with the last ```python block of the last user message, after a short think block."""
    user = [m for m in body.get("messages", []) if m.get("role") == "user"]
    text = str(user[-1].get("content", "")) if user else ""
    blocks = _PY_BLOCK.findall(text)
    code = blocks[-1] if blocks else ""
    content = f"<think>\nNothing to change.\n</think>\n\n```python\n{code}```"
    if body.get("stream"):
        return FakeReply.stream(content)
    return FakeReply.completion(content)


def _chunk_of(body: dict[str, Any]) -> str:
    """The chunk the request asks about: the last ```python block of the first user message."""
    user = [m for m in body.get("messages", []) if m.get("role") == "user"]
    blocks = _PY_BLOCK.findall(str(user[0].get("content", ""))) if user else []
    return blocks[-1] if blocks else ""


def _into_body(code: str, lines: str) -> str:
    """`lines` inserted as the first statements of the chunk's first block (indented like it)."""
    match = re.search(r":[ \t]*\n([ \t]+)(?=\S)", code)
    if match is None:
        return code + lines
    indent = match.group(1)
    body = "".join(indent + line + "\n" for line in lines.splitlines())
    return code[: match.end(0) - len(indent)] + body + code[match.end(0) - len(indent) :]


def _into_first_function(code: str, lines: str) -> str:
    """`lines` inserted as the first statements of the chunk's first function body (else its first block)."""
    match = re.search(r"^[ \t]*(?:async[ \t]+)?def [^\n]*:[ \t]*\n", code, flags=re.M)
    if match is None:
        return _into_body(code, lines)
    return code[: match.start()] + _into_body(code[match.start() :], lines)


def _fenced(code: str) -> str:
    return f"<think>\nDone.\n</think>\n\n```python\n{code.rstrip(chr(10))}\n```"


BROKEN_ANSWERS: dict[str, Callable[[str], str]] = {
    "syntax-error": lambda code: _fenced(code + "def (:\n"),
    "definition-removed": lambda code: _fenced("pass\n"),
    "elided-body": lambda code: _fenced(
        re.sub(
            r"(:[ \t]*\n)([ \t]+)\S.*",
            r"\1\2pass  # rest of code unchanged\n",
            code,
            count=1,
            flags=re.S,
        )
    ),
    "prose-only": lambda code: (
        "I would rename a few variables and add comments to make this clearer."
    ),
    "think-only": lambda code: "<think>\nThe function is fine as it is.\n</think>",
    "renamed-parameter": lambda code: _fenced(
        re.sub(r"(def \w+\((?:self, )?)(\w+)", r"\1\2_renamed", code, count=1)
    ),
    "async-def": lambda code: _fenced(re.sub(r"^def ", "async def ", code, count=1, flags=re.M)),
    "dropped-decorator": lambda code: _fenced(re.sub(r"^@.*\n", "", code, flags=re.M)),
    "new-helper": lambda code: _fenced(code + "\n\ndef codemill_helper():\n    return 1\n"),
    "two-blocks": lambda code: _fenced(code) + "\n\nOr:\n\n" + _fenced(code + "# variant\nx = 1\n"),
    "think-draft": lambda code: (
        f"<think>\nA draft:\n```python\ndef broken(:\n```\n</think>\n\n{_fenced(code)}"
    ),
    "undefined-name": lambda code: _fenced(_into_body(code, "codemill_undefined_name()")),
    "tabs": lambda code: _fenced(
        re.sub(r"^((?:    )+)", lambda m: "\t" * (len(m.group(1)) // 4), code, flags=re.M)
    ),
    "type-statement": lambda code: _fenced("type CodemillAlias = int\n" + code),
    "out-of-scope": lambda code: _fenced(
        _into_body(code, '"""Do the thing."""\ncodemill_local = 0')
    ),
    "out-of-scope-in-a-method": lambda code: _fenced(
        _into_first_function(code, "codemill_local = 0")
    ),
}
"""One way of answering every chunk badly, by name: the chunk asked about -> the whole reply."""


def broken_answer_handler(mode: str) -> Handler:
    """A handler answering every chunk in the broken way `mode` names (see BROKEN_ANSWERS).

    `truncated` answers the chunk itself but with finish_reason "length".
    """

    def handler(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
        code = _chunk_of(body)
        if mode == "truncated":
            return FakeReply.completion(_fenced(code), finish_reason="length")
        return FakeReply.completion(BROKEN_ANSWERS[mode](code))

    return handler


@dataclass
class RecordedRequest:
    """What the server received: method, path, headers (lower-cased names) and the JSON body."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes
    client_port: int = 0  # tells connections apart: a reused keep-alive connection keeps its port


class FakeModelServer:
    """The fake server; a context manager that runs it on a background thread."""

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.handler = handler
        self.latency = latency
        self.host = host
        self.port = port
        self.requests: list[
            RecordedRequest
        ] = []  # chat requests (and any other route but /tokenize)
        self.replies: deque[FakeReply] = deque()
        # `/tokenize` (llama.cpp's body shape): None answers 404, like a server without a tokenizer;
        # else text -> token count. Its requests are kept apart, in `tokenize_requests`.
        self.tokenizer: Callable[[str], int] | None = None
        self.tokenize_requests: list[str] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def enqueue(self, *replies: FakeReply) -> None:
        """Queue replies, served in order before the handler is consulted."""
        with self._lock:
            self.replies.extend(replies)

    def __enter__(self) -> FakeModelServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fake-model-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake model server did not start within 10 s")

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        server = loop.run_until_complete(
            asyncio.start_server(self._serve, self.host, self.port, backlog=1024)
        )
        self._server = server
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            for writer in list(self._writers):
                writer.close()
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while await self._one_exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client went away, or the server is stopping
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _one_exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Read one request and answer it; False when the connection should close."""
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if path == "/tokenize":
            await self._write(writer, self._tokenize(body))
            return True
        with self._lock:
            port = writer.get_extra_info("peername")[1]
            self.requests.append(RecordedRequest(method, path, headers, body, raw, port))
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            reply = self._reply_for(method, path, body, headers)
            if self.latency or reply.delay:
                await asyncio.sleep(self.latency + reply.delay)
            if reply.drop:
                writer.transport.abort()
                return False
            if reply.write is not None:
                await reply.write(writer)
                return False
            await self._write(writer, reply)
        finally:
            with self._lock:
                self.in_flight -= 1
        return headers.get("connection", "").lower() != "close"

    def _tokenize(self, body: Any) -> FakeReply:
        text = body.get("content") if isinstance(body, dict) else None
        with self._lock:
            self.tokenize_requests.append(str(text))
        if self.tokenizer is None or not isinstance(text, str):
            return FakeReply.error(404, "File Not Found")
        return FakeReply.json(200, {"tokens": list(range(self.tokenizer(text)))})

    def _reply_for(self, method: str, path: str, body: Any, headers: dict[str, str]) -> FakeReply:
        if method == "GET" and path.rstrip("/") == "/v1/models":
            return FakeReply.json(200, {"object": "list", "data": [{"id": "minimax/m2-1"}]})
        if method != "POST" or path.rstrip("/") != "/v1/chat/completions":
            return FakeReply.error(404, f"Cannot {method} {path}")
        if not isinstance(body, dict):
            return FakeReply.error(400, "body must be a JSON object")
        with self._lock:
            queued = self.replies.popleft() if self.replies else None
        if queued is not None:
            return queued
        return (self.handler or echo_handler)(body, headers)

    async def _write(self, writer: asyncio.StreamWriter, reply: FakeReply) -> None:
        status = f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Status')}\r\n"
        headers = {
            "content-type": reply.content_type,
            "x-inference-id": uuid.uuid4().hex,
            **{name.lower(): value for name, value in reply.headers.items()},
        }
        if reply.events is None:
            headers["content-length"] = str(len(reply.body))
            head = status + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
            writer.write(head.encode("latin-1") + reply.body)
            await writer.drain()
            return
        headers["transfer-encoding"] = "chunked"
        head = status + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        writer.write(head.encode("latin-1"))
        await writer.drain()
        for index, payload in enumerate(reply.events):
            if reply.event_delay:
                await asyncio.sleep(reply.event_delay)
            if index == reply.stall_at:
                await asyncio.sleep(reply.stall)
            if index == reply.cut_at:  # mid-answer, no terminating chunk: llama.cpp under load
                writer.transport.abort()
                return
            data = b"data: " + payload + b"\n\n"
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()


def main() -> None:
    """Script mode: serve the echo handler on a fixed port and latency until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    args = parser.parse_args()
    server = FakeModelServer(latency=args.latency, host=args.host, port=args.port)
    serve_until_interrupted(server, f"fake model server on {{url}} (latency {args.latency} s)")


def serve_until_interrupted(server: FakeModelServer, banner: str) -> None:
    """Start `server`, print `banner` (its `{url}` filled in), serve until Ctrl-C, then stop it."""
    server.start()
    print(banner.format(url=server.base_url), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
