"""ChatClient against the loopback fake server: bodies, parsing, costs, streaming, key hygiene."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from support.fake_model_server import FakeModelServer, FakeReply

from pipeline.model.client import ChatClient
from pipeline.model.completion import Completion, Usage
from pipeline.model.errors import ConnectionDropped, ModelTimeout, RetriesExhausted
from pipeline.model.limiter import Limiter
from pipeline.model.request import ModelSettings, api_key_from_env, build_request_body
from pipeline.model.responses import parse_retry_after

SCHEMA_FILE = Path(__file__).parents[1] / "data" / "aimlapi-minimax-m2-1.openapi.json"
KEY = "sk-test-0123456789abcdef-SECRET"
USER = [{"role": "user", "content": "Refactor:\n```python\nx = 1\n```"}]


async def _no_sleep(delay: float) -> None:
    return None


def _openapi_to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0 `nullable: true` becomes a JSON-Schema type list that admits null."""
    if isinstance(node, dict):
        out = {k: _openapi_to_jsonschema(v) for k, v in node.items() if k != "nullable"}
        if node.get("nullable") and "type" in node:
            out["type"] = [node["type"], "null"]
        return out
    if isinstance(node, list):
        return [_openapi_to_jsonschema(v) for v in node]
    return node


@pytest.fixture(scope="module")
def request_schema() -> dict[str, Any]:
    spec = json.loads(SCHEMA_FILE.read_text())
    post = spec["paths"]["/v1/chat/completions"]["post"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert "$ref" not in json.dumps(schema)  # inline schema: nothing left to resolve
    converted: dict[str, Any] = _openapi_to_jsonschema(schema)
    return converted


MESSAGE_SETS = {
    "user": USER,
    "system+user": [{"role": "system", "content": "You refactor Python."}, *USER],
    "repair-turn": [
        {"role": "system", "content": "You refactor Python."},
        *USER,
        {"role": "assistant", "content": "<think>\nrename x\n</think>\n\n```python\ny = 1\n```"},
        {"role": "user", "content": "That removed `x`; keep the name."},
    ],
}


def test_every_request_body_validates_against_the_published_schema(
    request_schema: dict[str, Any],
) -> None:
    validator = jsonschema.Draft7Validator(request_schema)
    allowed = set(request_schema["properties"])
    combos = itertools.product(
        MESSAGE_SETS.values(),
        (None, 1, 8192),
        (None, 0.01, 1.0),
        (None, 0.95),
        (None, 1, 42),
        (False, True),
    )
    count = 0
    for messages, max_tokens, temperature, top_p, seed, stream in combos:
        body = build_request_body(
            ModelSettings(),
            messages,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            stream=stream,
        )
        validator.validate(body)
        assert set(body) <= allowed
        assert not {"stop", "n", "top_k", "max_completion_tokens"} & set(body)
        count += 1
    assert count == 3 * 3 * 3 * 2 * 3 * 2


def test_request_body_keeps_the_think_block_and_only_set_params() -> None:
    body = build_request_body(
        ModelSettings(), MESSAGE_SETS["repair-turn"], temperature=0.3, stream=True
    )
    assert body["messages"][2]["content"].startswith("<think>\nrename x\n</think>")
    assert body["temperature"] == 0.3
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert "max_tokens" not in body and "seed" not in body and "top_p" not in body


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": 2.5}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"seed": 0}, "seed"),
    ],
)
def test_out_of_range_params_are_refused_with_a_clear_error(
    kwargs: dict[str, Any], needle: str
) -> None:
    with pytest.raises(ValueError, match=needle):
        build_request_body(ModelSettings(), USER, **kwargs)


def test_bad_messages_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one message"):
        build_request_body(ModelSettings(), [])
    with pytest.raises(ValueError, match="role 'robot'"):
        build_request_body(ModelSettings(), [{"role": "robot", "content": "x"}])


def test_completion_fields_headers_and_think_split(fake_model: FakeModelServer) -> None:
    fake_model.enqueue(FakeReply.completion("<think>\nplan\n</think>\n\n```python\ny = 2\n```"))
    settings = ModelSettings(base_url=fake_model.base_url)

    async def run() -> Completion:
        async with ChatClient(settings, api_key=KEY) as client:
            return await client.complete(USER, max_tokens=4096, temperature=0.2, seed=7)

    result = asyncio.run(run())
    assert result.reasoning == "plan"
    assert result.answer == "```python\ny = 2\n```"
    assert result.finish_reason == "stop"
    assert result.usage == Usage(39, 167, 55, 32, 206)
    assert result.cost_usd == pytest.approx(0.0012) and result.credits == 447
    assert result.model == "MiniMax-M2.1" and result.request_id and not result.from_cache
    sent = fake_model.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert len(sent.headers["x-client-request-id"]) == 32
    assert sent.body == {
        "model": "minimax/m2-1",
        "messages": USER,
        "max_tokens": 4096,
        "temperature": 0.2,
        "seed": 7,
    }


def test_cost_falls_back_to_headers_and_separate_reasoning_field(
    fake_model: FakeModelServer,
) -> None:
    fake_model.enqueue(
        FakeReply.completion(
            "print(1)",
            cost_in="headers",
            usd=0.5,
            credits=9,
            reasoning_content="thought apart",
            extra={"surprise": {"unknown": True}},
        )
    )
    settings = ModelSettings(base_url=fake_model.base_url)

    async def run() -> Completion:
        async with ChatClient(settings, api_key=None) as client:
            return await client.complete(USER)

    result = asyncio.run(run())
    assert (result.cost_usd, result.credits) == (0.5, 9.0)
    assert result.reasoning == "thought apart" and result.answer == "print(1)"
    assert "authorization" not in fake_model.requests[0].headers  # no key: a local server


def test_no_cost_anywhere_is_none(fake_model: FakeModelServer) -> None:
    fake_model.enqueue(FakeReply.completion("a", cost_in="none"))

    async def run() -> Completion:
        async with ChatClient(ModelSettings(base_url=fake_model.base_url), api_key=None) as c:
            return await c.complete(USER)

    result = asyncio.run(run())
    assert result.cost_usd is None and result.credits is None


def test_completion_json_round_trip() -> None:
    original = Completion("c", "r", "a", "stop", Usage(1, 2, 3, 4, 5), 0.1, 2.0, "id", 1.5, "M")
    assert Completion.from_json(original.to_json()) == original


def test_api_key_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = ModelSettings(api_key_env="CODEMILL_TEST_KEY")
    monkeypatch.delenv("CODEMILL_TEST_KEY", raising=False)
    assert api_key_from_env(settings, os.environ) is None
    monkeypatch.setenv("CODEMILL_TEST_KEY", "  ")
    assert api_key_from_env(settings, os.environ) is None
    monkeypatch.setenv("CODEMILL_TEST_KEY", KEY)
    assert api_key_from_env(settings, os.environ) == KEY


def test_reprs_never_show_the_key() -> None:
    settings = ModelSettings()
    client = ChatClient(settings, api_key=KEY)
    try:
        assert (
            KEY not in repr(client) and KEY not in repr(settings) and KEY not in str(vars(settings))
        )
        assert "api_key=set" in repr(client)
    finally:
        asyncio.run(client.aclose())


def test_retry_after_parsing() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412500.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412500.0) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


# --- streaming ---------------------------------------------------------------------------------


def _stream_settings(server: FakeModelServer, **kwargs: Any) -> ModelSettings:
    return ModelSettings(base_url=server.base_url, stream=True, **kwargs)


def test_stream_with_think_tags_split_across_events(fake_model: FakeModelServer) -> None:
    pieces = ["<thi", "nk>\nweigh ", "options\n</th", "ink>\n\n```python\n", "z = 3\n```"]
    fake_model.enqueue(FakeReply.stream(pieces=pieces, usd=0.25, credits=12, finish_reason="stop"))

    async def run() -> Completion:
        async with ChatClient(_stream_settings(fake_model), api_key=KEY) as client:
            return await client.complete(USER, max_tokens=100)

    result = asyncio.run(run())
    assert result.content == "".join(pieces)
    assert result.reasoning == "weigh options"
    assert result.answer == "```python\nz = 3\n```"
    assert result.finish_reason == "stop"
    assert result.usage.total_tokens == 206 and result.usage.reasoning_tokens == 55
    assert (result.cost_usd, result.credits) == (0.25, 12.0)
    body = fake_model.requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_stream_default_slicing_splits_tags_and_reports_length(fake_model: FakeModelServer) -> None:
    content = "<think>\nlong reasoning that never ends"
    fake_model.enqueue(FakeReply.stream(content, finish_reason="length"))

    async def run() -> Completion:
        async with ChatClient(_stream_settings(fake_model), api_key=KEY) as client:
            return await client.complete(USER)

    result = asyncio.run(run())
    assert result.finish_reason == "length"
    assert result.answer == "" and result.reasoning == "long reasoning that never ends"
    assert len(fake_model.requests) == 1  # a truncated answer is returned, never retried


def test_stream_idle_timeout_then_retry(fake_model: FakeModelServer) -> None:
    # The stall (0.6 s) is longer than the idle limit (0.2 s) while the whole stream is short:
    # an idle timeout, not a total one, trips.
    fake_model.enqueue(FakeReply.stream(stall_after=2, stall=0.6), FakeReply.stream("ok"))
    settings = _stream_settings(fake_model, stream_idle_timeout=0.2)

    async def run() -> Completion:
        async with ChatClient(settings, api_key=KEY, sleep=_no_sleep) as client:
            return await client.complete(USER)

    assert asyncio.run(run()).answer == "ok"
    assert len(fake_model.requests) == 2


def test_stream_slow_but_steady_is_not_an_idle_timeout(fake_model: FakeModelServer) -> None:
    # 12 events 0.05 s apart: 0.6 s in all, above the 0.2 s idle limit, never idle that long.
    fake_model.enqueue(FakeReply.stream("x" * 70, event_delay=0.05))
    settings = _stream_settings(fake_model, stream_idle_timeout=0.2, max_attempts=1)

    async def run() -> Completion:
        async with ChatClient(settings, api_key=KEY) as client:
            return await client.complete(USER)

    assert asyncio.run(run()).answer == "x" * 70


def test_stream_cut_before_the_end_is_a_dropped_connection(fake_model: FakeModelServer) -> None:
    reply = FakeReply.stream("abc", done=False)
    assert reply.events is not None
    reply.events = reply.events[:-1]  # no final event, no [DONE]
    fake_model.enqueue(reply)
    settings = _stream_settings(fake_model, max_attempts=1)

    async def run() -> Completion:
        async with ChatClient(settings, api_key=KEY) as client:
            return await client.complete(USER)

    with pytest.raises(RetriesExhausted) as info:
        asyncio.run(run())
    assert isinstance(info.value.last, ConnectionDropped)


# --- fine control through httpx.MockTransport ---------------------------------------------------


def _mock_client(handler: Any, **settings: Any) -> ChatClient:
    return ChatClient(
        ModelSettings(**settings),
        api_key=KEY,
        transport=httpx.MockTransport(handler),
        sleep=_no_sleep,
    )


def test_null_fields_and_unknown_fields_are_tolerated() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "choices": [
                    {"message": {"content": None, "tool_calls": []}, "finish_reason": "tool_calls"}
                ],
                "usage": {"prompt_tokens": None, "completion_tokens_details": None},
                "meta": None,
                "base_resp": None,
                "new_field": [1, 2],
            },
        )

    async def run() -> Completion:
        async with _mock_client(handler) as client:
            return await client.complete(USER)

    result = asyncio.run(run())
    assert result.content == "" and result.finish_reason == "tool_calls"
    assert result.usage == Usage(unreported=1)  # null counts are unknown, not zero


def test_read_timeout_maps_to_model_timeout() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async def run() -> Completion:
        async with _mock_client(handler, max_attempts=2) as client:
            return await client.complete(USER)

    with pytest.raises(RetriesExhausted) as info:
        asyncio.run(run())
    assert isinstance(info.value.last, ModelTimeout) and info.value.attempts == 2


def test_logs_and_errors_never_contain_the_key(caplog: pytest.LogCaptureFixture) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        # A misbehaving server that echoes the Authorization header into its error message.
        echoed = request.headers["authorization"]
        return httpx.Response(500, json={"message": f"bad header {echoed}", "statusCode": "500"})

    async def run() -> Completion:
        async with _mock_client(handler, max_attempts=3) as client:
            return await client.complete(USER)

    with (
        caplog.at_level(logging.DEBUG, logger="codemill.model"),
        pytest.raises(RetriesExhausted) as info,
    ):
        asyncio.run(run())
    assert "bad header" in str(info.value)
    assert KEY not in str(info.value) and KEY not in repr(info.value.last)
    assert caplog.records and all(KEY not in r.getMessage() for r in caplog.records)


def _json_body(request: httpx.Request) -> Mapping[str, Any]:
    body: Mapping[str, Any] = json.loads(request.content)
    return body


def test_mock_transport_sees_the_same_body_as_build_request_body() -> None:
    seen: list[Mapping[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(_json_body(request))
        return httpx.Response(
            200, json={"choices": [{"message": {"content": "a"}, "finish_reason": "stop"}]}
        )

    async def run() -> None:
        async with _mock_client(handler, base_url="http://vllm.local:8000/v1/") as client:
            await client.complete(USER, top_p=0.9)

    asyncio.run(run())
    assert seen == [build_request_body(ModelSettings(), USER, top_p=0.9)]


@pytest.mark.parametrize("stream", [False, True])
def test_sharded_pool_serves_full_concurrency_and_reuses_connections(stream: bool) -> None:
    limiter = Limiter(24)  # three pools of 8 connections behind one AsyncClient
    with FakeModelServer(
        latency=0.5
    ) as server:  # long enough that all 24 overlap on a loaded machine
        settings = ModelSettings(base_url=server.base_url, stream=stream)

        async def run() -> None:
            async with ChatClient(settings, api_key=KEY, limiter=limiter) as client:
                await asyncio.gather(*(client.complete(USER) for _ in range(96)))

        asyncio.run(run())
        assert server.peak_in_flight == 24  # no request queued inside a small pool
        ports = {request.client_port for request in server.requests}
        assert (
            len(server.requests) == 96 and len(ports) <= 24
        )  # keep-alive: 4 requests per connection
