"""What one answer may bring in: the total deadline, the decoded-body cap, the answer-size limit and deep
JSON, against support.fault_server's hostile servers over loopback HTTP (and the body reader alone)."""

from __future__ import annotations

import asyncio
import gzip
import random
import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from support.fake_model_server import FakeModelServer, FakeReply
from support.fault_server import (
    Sent,
    deep_json,
    endless_stream,
    gzip_bomb,
    gzip_bomb_body,
    oversized,
    trickle,
)

from pipeline.model.body import STEP, decoded, read_error_text
from pipeline.model.client import ChatClient
from pipeline.model.completion import Completion
from pipeline.model.errors import (
    AnswerTooLarge,
    DeadlineExceeded,
    MalformedResponse,
    RetriesExhausted,
    ServerError,
)
from pipeline.model.limits import (
    BODY_OVERHEAD,
    JSON_BYTES_PER_TOKEN,
    SLOWEST_TOKENS_PER_SECOND,
    SSE_BYTES_PER_TOKEN,
    AnswerLimits,
)
from pipeline.model.request import ModelSettings
from pipeline.model.sse import lines

KEY = "sk-hostile-test-key-51c2"
USER = [{"role": "user", "content": "Refactor:\n```python\nx = 1\n```"}]
MAX_TOKENS = 512
CAP = MAX_TOKENS * JSON_BYTES_PER_TOKEN + BODY_OVERHEAD


def call(server: FakeModelServer, *replies: FakeReply, **settings: Any) -> Completion:
    """Queue `replies` and make one request (max_tokens 512) through a fresh client."""
    server.enqueue(*replies)
    model_settings = ModelSettings(base_url=server.base_url, **{"max_attempts": 1, **settings})

    async def run() -> Completion:
        async with ChatClient(model_settings, api_key=KEY) as client:
            return await client.complete(USER, max_tokens=MAX_TOKENS)

    return asyncio.run(run())


def last_error(server: FakeModelServer, *replies: FakeReply, **settings: Any) -> BaseException:
    """The error the one attempt ended with (the retries exhausted unwrapped)."""
    with pytest.raises(RetriesExhausted) as info:
        call(server, *replies, **settings)
    return info.value.last


def test_the_deadline_is_derived_from_max_tokens_unless_set() -> None:
    settings = ModelSettings(connect_timeout=10.0, read_timeout=600.0)
    limits = AnswerLimits.of(settings, 8192, stream=False)
    assert limits.deadline == 10.0 + 600.0 + 8192 / SLOWEST_TOKENS_PER_SECOND
    assert limits.body_bytes == 8192 * JSON_BYTES_PER_TOKEN + BODY_OVERHEAD
    assert AnswerLimits.of(settings, None, stream=True).tokens == settings.context_tokens
    assert AnswerLimits.of(ModelSettings(request_deadline=2.5), 8192, stream=True).deadline == 2.5


def test_a_trickling_answer_ends_at_the_deadline(fake_model: FakeModelServer) -> None:
    sent = Sent()
    answer = FakeReply.completion("```python\nx = 1\n```")
    error = last_error(fake_model, trickle(answer, 0.05, sent), request_deadline=0.5)
    assert isinstance(error, DeadlineExceeded) and "deadline of 0.5 s" in str(error)
    assert 0 < sent.bytes < len(answer.body)  # it was still trickling when the client gave up


def test_a_trickle_is_retried_like_any_timeout(fake_model: FakeModelServer) -> None:
    slow = trickle(FakeReply.completion("late"), 0.05)
    result = call(
        fake_model, slow, FakeReply.completion("ok"), request_deadline=0.5, max_attempts=2
    )
    assert result.answer == "ok" and len(fake_model.requests) == 2


def test_an_endless_stream_ends_at_the_deadline(fake_model: FakeModelServer) -> None:
    sent = Sent()
    error = last_error(fake_model, endless_stream(0.05, sent), request_deadline=0.5, stream=True)
    assert isinstance(error, DeadlineExceeded)
    assert sent.bytes > 0  # events kept coming: the idle timeout alone never trips


@pytest.mark.parametrize("stream", [False, True])
def test_deep_json_is_a_malformed_answer(fake_model: FakeModelServer, stream: bool) -> None:
    error = last_error(fake_model, deep_json(20_000, stream=stream), stream=stream)
    assert isinstance(error, MalformedResponse) and "nested too deeply" in str(error)


def test_a_deep_error_body_is_still_the_status_error(fake_model: FakeModelServer) -> None:
    nested = b"[" * 20_000 + b"]" * 20_000
    error = last_error(fake_model, FakeReply(status=503, body=nested))
    assert isinstance(error, ServerError) and error.status_code == 503


def test_a_gzip_bomb_is_too_large_and_never_retried(fake_model: FakeModelServer) -> None:
    with pytest.raises(AnswerTooLarge) as info:
        call(fake_model, gzip_bomb(64 << 20), max_attempts=3)
    assert f"more than {CAP:,} bytes" in str(info.value) and "512 tokens" in str(info.value)
    assert info.value.completion is None and len(fake_model.requests) == 1


def test_a_streamed_gzip_bomb_stops_at_the_stream_cap(fake_model: FakeModelServer) -> None:
    with pytest.raises(AnswerTooLarge) as info:
        call(fake_model, gzip_bomb(64 << 20), stream=True)
    cap = MAX_TOKENS * SSE_BYTES_PER_TOKEN + BODY_OVERHEAD  # one line with no end is held whole
    assert f"more than {cap:,} bytes" in str(info.value)


def test_an_answer_longer_than_max_tokens_allow_is_too_large_its_cost_kept(
    fake_model: FakeModelServer,
) -> None:
    with pytest.raises(AnswerTooLarge) as info:
        call(fake_model, oversized("x = 1\n", 20_000), max_attempts=3)
    kept = info.value.completion
    assert kept is not None and kept.content == "" and kept.usage.completion_tokens == 167
    assert kept.cost_usd == 0.0012 and len(fake_model.requests) == 1
    assert "characters, more than 512 tokens can hold" in str(info.value)


def test_a_streamed_answer_is_stopped_once_too_large(fake_model: FakeModelServer) -> None:
    letters = random.Random(7)
    pieces = ["".join(letters.choices("abcdefgh ", k=1000)) for _ in range(40)]  # no loop
    with pytest.raises(AnswerTooLarge) as info:
        call(fake_model, FakeReply.stream(pieces=pieces), stream=True)
    assert info.value.completion is None


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_compressed_answers_within_the_cap_are_read(
    fake_model: FakeModelServer, coding: str
) -> None:
    plain = FakeReply.completion("```python\nx = 1\n```")
    packed = gzip.compress(plain.body) if coding == "gzip" else zlib.compress(plain.body)
    reply = FakeReply(body=packed, headers={"content-encoding": coding})
    assert call(fake_model, reply).answer == "```python\nx = 1\n```"
    assert fake_model.requests[0].headers["accept-encoding"] == "gzip, deflate"


def test_an_encoding_not_asked_for_is_malformed(fake_model: FakeModelServer) -> None:
    reply = FakeReply.completion("ok")
    reply.headers["content-encoding"] = "br"
    error = last_error(fake_model, reply)
    assert isinstance(error, MalformedResponse) and "'br'" in str(error)


class Pulled(httpx.AsyncByteStream):
    """A raw body handed over in 16 KiB pieces, counting what the reader pulled."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.body), 16 * 1024):
            piece = self.body[start : start + 16 * 1024]
            self.pulled += len(piece)
            yield piece


def test_the_body_is_cut_off_at_the_cap_in_bounded_pieces() -> None:
    bomb = gzip_bomb_body(1 << 30)  # a gigabyte once inflated
    raw = Pulled(bomb)
    response = httpx.Response(200, headers={"content-encoding": "gzip"}, stream=raw)
    sizes: list[int] = []

    async def read() -> None:
        async for piece in decoded(response, CAP, lambda: AnswerTooLarge("cap")):
            sizes.append(len(piece))

    with pytest.raises(AnswerTooLarge):
        asyncio.run(read())
    assert sum(sizes) <= CAP and max(sizes) <= STEP
    assert raw.pulled <= 16 * 1024  # one network read of the bomb, not a megabyte of it


def test_an_error_body_is_read_only_as_far_as_its_message() -> None:
    raw = Pulled(gzip_bomb_body(64 << 20))
    response = httpx.Response(500, headers={"content-encoding": "gzip"}, stream=raw)
    text = asyncio.run(read_error_text(response, 4096))
    assert text.startswith('{"id": "bomb"') and len(text) <= 4096


async def _pieces(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.parametrize(
    ("parts", "first"),
    [
        ((b"data: a\r", b"\ndata: b\n", b"data: c"), "data: a"),
        ((b"data: a\rdata: b\r\n\r\ndata: c",), "data: a"),
        ((b"data: \xc3", b"\xa9a\ndata: b\ndata: c\n"), "data: \u00e9a"),  # a character split
    ],
)
def test_stream_lines_end_at_any_eol_split_anywhere(parts: tuple[bytes, ...], first: str) -> None:
    async def collect() -> list[str]:
        return [line async for line in lines(_pieces(*parts)) if line]

    assert asyncio.run(collect()) == [first, "data: b", "data: c"]
