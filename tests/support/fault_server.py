"""Hostile model servers: the protocol faults a run must survive, over real loopback HTTP.

Each fault is a FakeReply for support.fake_model_server.FakeModelServer (queue it, or answer with it
from a handler); those that must pace or stream their own bytes send them through the reply's `write`
hook, then close the connection:

* trickle(reply, interval)   a normal answer, one byte every `interval` seconds (no read timeout trips)
* endless_stream(interval)   SSE events every `interval` seconds, never a finish reason nor [DONE]
* gzip_bomb(size)            a 200 JSON answer whose gzip body inflates to `size` bytes (~1 KB per MB)
* deep_json(depth)           a 200 body of `depth` nested arrays (json raises RecursionError)
* oversized(code, size)      a well-formed answer: `code` with a `size`-character comment in its fence
* recorded(name)             a real server's answer recorded in tests/data/servers (JSON or SSE)
* looping_stream(sent)       a streamed answer repeating `dt1=None, dt2=None, ...` until the client goes

`faulty(fault, marker)` is a handler that answers the chunks whose text holds `marker` with the fault
and every other request like the echo handler, so a run shows the other chunks going on.

As a script (bench/RESULTS.md measures a run against it):
`cd tests && python -m support.fault_server --fault gzip-bomb --marker "def bad" --port 8765`.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.fake_model_server import (
    FakeModelServer,
    FakeReply,
    _chunk_of,
    echo_handler,
    serve_until_interrupted,
)

Fault = Callable[[dict[str, Any]], FakeReply]  # the request's body -> the hostile reply
DATA = Path(__file__).resolve().parents[1] / "data" / "servers"
_BLOCK = 1 << 20
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # deflate, no name, no mtime, max level


class Sent:
    """How many body bytes a fault wrote before the client went away (the cap's proof)."""

    def __init__(self) -> None:
        self.bytes = 0
        self.closed_early = False


def _head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode("latin-1")


async def _send(writer: asyncio.StreamWriter, data: bytes, sent: Sent | None) -> bool:
    """Write and drain; False once the client has gone (the fault then stops)."""
    if writer.is_closing():
        if sent is not None:
            sent.closed_early = True
        return False
    try:
        writer.write(data)
        await writer.drain()
    except ConnectionError:
        if sent is not None:
            sent.closed_early = True
        return False
    if sent is not None:
        sent.bytes += len(data)
    return True


def trickle(reply: FakeReply, interval: float = 1.0, sent: Sent | None = None) -> FakeReply:
    """`reply`'s status, headers and body, the body one byte every `interval` seconds."""

    async def write(writer: asyncio.StreamWriter) -> None:
        headers = {"content-type": reply.content_type, "content-length": str(len(reply.body))}
        if not await _send(writer, _head("200 OK", {**headers, **reply.headers}), None):
            return
        for index in range(len(reply.body)):
            await asyncio.sleep(interval)
            if not await _send(writer, reply.body[index : index + 1], sent):
                return

    return FakeReply(write=write)


def endless_stream(interval: float = 1.0, sent: Sent | None = None) -> FakeReply:
    """An SSE answer that sends one small delta every `interval` seconds and never ends."""
    event = {"object": "chat.completion.chunk", "model": "MiniMax-M2.1"}
    delta = {"choices": [{"index": 0, "delta": {"content": "."}, "finish_reason": None}]}
    data = b"data: " + json.dumps({**event, **delta}).encode() + b"\n\n"
    chunk = f"{len(data):x}\r\n".encode() + data + b"\r\n"

    async def write(writer: asyncio.StreamWriter) -> None:
        headers = {"content-type": "text/event-stream", "transfer-encoding": "chunked"}
        if not await _send(writer, _head("200 OK", headers), None):
            return
        while await _send(writer, chunk, sent):
            await asyncio.sleep(interval)

    return FakeReply(write=write)


@functools.cache
def gzip_bomb_body(size: int) -> bytes:
    """A gzip member inflating to a `size`-byte chat completion whose content is all `a`.

    After a full flush deflate starts afresh, so one compressed megabyte of `a` repeats verbatim:
    a gigabyte costs about a megabyte and no gigabyte is ever built here.
    """
    prefix = (
        b'{"id": "bomb", "object": "chat.completion", "model": "MiniMax-M2.1", "choices": '
        b'[{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "'
    )
    suffix = b'"}}]}'
    repeats, rest = divmod(size - len(prefix) - len(suffix), _BLOCK)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = deflate.compress(prefix) + deflate.flush(zlib.Z_FULL_FLUSH)
    piece = deflate.compress(b"a" * _BLOCK) + deflate.flush(zlib.Z_FULL_FLUSH)
    tail = deflate.compress(b"a" * rest + suffix) + deflate.flush()
    crc = zlib.crc32(prefix)
    block = b"a" * _BLOCK
    for _ in range(repeats):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(b"a" * rest + suffix, crc)
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return _GZIP_HEADER + head + piece * repeats + tail + trailer


def gzip_bomb(size: int = 1 << 30, sent: Sent | None = None) -> FakeReply:
    """A 200 JSON answer, gzip-encoded, that inflates to `size` bytes."""
    body = gzip_bomb_body(size)

    async def write(writer: asyncio.StreamWriter) -> None:
        headers = {
            "content-type": "application/json",
            "content-encoding": "gzip",
            "content-length": str(len(body)),
        }
        if not await _send(writer, _head("200 OK", headers), None):
            return
        for start in range(0, len(body), 16 * 1024):
            if not await _send(writer, body[start : start + 16 * 1024], sent):
                return

    return FakeReply(write=write)


def deep_json(depth: int = 100_000, *, stream: bool = False) -> FakeReply:
    """A 200 answer of `depth` nested JSON arrays: the body, or one SSE event when `stream`."""
    nested = b"[" * depth + b"]" * depth
    if stream:
        return FakeReply(events=[nested], content_type="text/event-stream")
    return FakeReply(status=200, body=nested)


def oversized(code: str, size: int) -> FakeReply:
    """A well-formed answer: `code` in a python fence, with a comment line of `size` characters."""
    comment = "# " + "x" * max(0, size - 2)
    return FakeReply.completion(f"<think>\nOK.\n</think>\n\n```python\n{code}{comment}\n```")


def recorded(name: str) -> FakeReply:
    """A recorded answer: a JSON file (status + body) or an SSE body (sent as it is)."""
    path = DATA / name
    if path.suffix == ".sse":  # sent as recorded: data lines, and llama.cpp's error lines
        return FakeReply(body=path.read_bytes(), content_type="text/event-stream")
    data = json.loads(path.read_text(encoding="utf-8"))
    return FakeReply.json(data["status"], data["body"])


def looping_stream(sent: Sent | None = None, limit: int = 20_000) -> FakeReply:
    """An SSE answer that opens a python fence, then sends `dt1=None, ` `dt2=None, ` ... one event (one
    or two tokens) each, up to `limit` events or until the client goes; `sent.bytes` counts the events."""

    def event(text: str) -> bytes:
        delta = {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
        data = b"data: " + json.dumps(delta).encode() + b"\n\n"
        return f"{len(data):x}\r\n".encode() + data + b"\r\n"

    async def write(writer: asyncio.StreamWriter) -> None:
        headers = {"content-type": "text/event-stream", "transfer-encoding": "chunked"}
        if not await _send(writer, _head("200 OK", headers), None):
            return
        await _send(writer, event("```python\ndef f("), None)
        for number in range(1, limit + 1):
            await asyncio.sleep(0.001)  # a fast server's pace: the client's close is seen
            if not await _send(writer, event(f"dt{number}=None, "), None):
                if sent is not None:
                    sent.closed_early = True
                return
            if sent is not None:
                sent.bytes = number  # events sent, here
        await _send(writer, b"0\r\n\r\n", None)

    return FakeReply(write=write)


def faulty(fault: Fault, marker: str) -> Callable[[dict[str, Any], dict[str, str]], FakeReply]:
    """A handler: the fault for a chunk holding `marker`, the echo handler's answer for the rest."""

    def handler(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
        if marker in _chunk_of(body):
            return fault(body)
        return echo_handler(body, headers)

    return handler


FAULTS: dict[str, Fault] = {
    "trickle": lambda body: trickle(FakeReply.completion("```python\nx = 1\n```")),
    "endless-stream": lambda body: endless_stream(),
    "gzip-bomb": lambda body: gzip_bomb(),
    "deep-json": lambda body: deep_json(),
    "oversized": lambda body: oversized(_chunk_of(body), 50_000_000),
    "looping-stream": lambda body: looping_stream(),
    "llamacpp-kv": lambda body: recorded("llamacpp-kv.json"),
}


def main() -> None:
    """Script mode: serve one fault (for chunks holding --marker, the echo for the rest)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--fault", choices=sorted(FAULTS), required=True)
    parser.add_argument("--marker", default="", help="answer only chunks holding this text badly")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    args = parser.parse_args()
    server = FakeModelServer(faulty(FAULTS[args.fault], args.marker), port=args.port)
    serve_until_interrupted(server, f"{args.fault} server on {{url}}")


if __name__ == "__main__":
    main()
