"""The SSE reader alone (lines in, Completion or typed error out) and its key hygiene through ChatClient."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest
from support.fake_model_server import FakeModelServer, FakeReply

from pipeline.model.client import ChatClient
from pipeline.model.completion import Completion, Usage
from pipeline.model.errors import (
    AuthenticationError,
    ConnectionDropped,
    MalformedResponse,
    ProviderBusy,
    RequestRejected,
    RetriesExhausted,
    ServerError,
)
from pipeline.model.request import ModelSettings
from pipeline.model.sse import StreamState

KEY = "sk-sse-test-91ab-SECRET"
USER = [{"role": "user", "content": "Refactor:\n```python\nx = 1\n```"}]


def _event(**fields: object) -> str:
    return "data: " + json.dumps(fields)


def _delta(content: str, finish_reason: str | None = None) -> str:
    return _event(choices=[{"delta": {"content": content}, "finish_reason": finish_reason}])


def test_only_data_lines_are_events_and_nothing_counts_after_done() -> None:
    state = StreamState("AIMLAPI_API_KEY")
    lines = ["", ": keep-alive", "event: message", _delta("<thi"), _delta("nk>a</think>b", "stop")]
    assert [state.feed_line(line) for line in lines] == [False, False, False, True, True]
    assert state.feed_line("data: [DONE]") is True and state.done
    assert state.feed_line(_delta("late")) is False
    completion = state.completion(httpx.Headers({"x-inference-id": "r1"}), started=0.0)
    assert (completion.content, completion.reasoning, completion.answer) == (
        "<think>a</think>b",
        "a",
        "b",
    )
    assert completion.finish_reason == "stop" and completion.request_id == "r1"


def test_usage_model_reasoning_field_and_cost_from_the_last_meta_event() -> None:
    state = StreamState("AIMLAPI_API_KEY")
    state.feed_line(_event(model="MiniMax-M2.1", choices=[{"delta": {"reasoning_content": "why"}}]))
    state.feed_line(_delta("x = 1", "stop"))
    state.feed_line(
        _event(
            choices=[],
            usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
            meta={"usage": {"usd_spent": 0.5, "credits_used": 7}},
        )
    )
    completion = state.completion(httpx.Headers(), started=0.0)
    assert completion.model == "MiniMax-M2.1"
    assert (completion.reasoning, completion.answer) == ("why", "x = 1")
    assert completion.usage == Usage(prompt_tokens=3, completion_tokens=2, total_tokens=5)
    assert (completion.cost_usd, completion.credits) == (0.5, 7.0)


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("data: {not json", MalformedResponse),
        ("data: [1, 2]", MalformedResponse),
        (_event(error={"message": "overloaded"}), ServerError),
        (_event(base_resp={"status_code": 1004, "status_msg": "bad key"}), AuthenticationError),
        (_event(base_resp={"status_code": 1026, "status_msg": "sensitive"}), RequestRejected),
    ],
)
def test_a_bad_event_is_a_typed_error(line: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        StreamState("AIMLAPI_API_KEY").feed_line(line)


def test_a_stream_that_stops_early_is_a_dropped_connection() -> None:
    state = StreamState("AIMLAPI_API_KEY")
    state.feed_line(_delta("half an ans"))
    with pytest.raises(ConnectionDropped):
        state.completion(httpx.Headers(), started=0.0)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"error": {"message": f"invalid key {KEY}"}}, ServerError),
        ({"base_resp": {"status_code": 1002, "status_msg": f"slow down {KEY}"}}, ProviderBusy),
    ],
)
def test_an_echoed_key_in_a_stream_error_is_masked(
    fake_model: FakeModelServer,
    payload: dict[str, object],
    error: type[Exception],
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = json.dumps({"choices": [{"delta": {"content": "x"}}]}).encode()
    reply = FakeReply(
        events=[first, json.dumps(payload).encode()], content_type="text/event-stream"
    )
    fake_model.enqueue(reply)
    settings = ModelSettings(base_url=fake_model.base_url, stream=True, max_attempts=1)

    async def run() -> Completion:
        async with ChatClient(settings, api_key=KEY) as client:
            return await client.complete(USER)

    with caplog.at_level(logging.DEBUG), pytest.raises(RetriesExhausted) as info:
        asyncio.run(run())
    assert isinstance(info.value.last, error)
    assert "***" in str(info.value.last)
    assert KEY not in str(info.value) and KEY not in repr(info.value.last)
    assert KEY not in caplog.text
