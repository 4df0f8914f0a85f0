"""The circuit breaker: consecutive unreachable attempts stop all sending, fast; any answer resets it."""

from __future__ import annotations

import asyncio
import time

import pytest
from support.fake_model_server import FakeModelServer
from support.prefect_server import free_port

from pipeline.model.breaker import CircuitBreaker, ProviderUnreachable
from pipeline.model.client import ChatClient
from pipeline.model.errors import FatalModelError
from pipeline.model.request import ModelSettings

MESSAGES = [{"role": "user", "content": "hi"}]


def test_the_breaker_trips_after_n_in_a_row_and_an_answer_resets_the_count() -> None:
    breaker = CircuitBreaker(trip_after=3)
    for _ in range(2):
        breaker.unreachable("ConnectError")
    breaker.reached()
    for _ in range(2):
        breaker.unreachable("ConnectError")
    breaker.check()  # 2 in a row: not yet
    breaker.unreachable("ConnectError: refused")
    with pytest.raises(ProviderUnreachable, match="3 connection attempts in a row") as raised:
        breaker.check()
    assert isinstance(raised.value, FatalModelError)
    assert int(raised.value.exit_code) == 5


def test_a_closed_port_stops_every_request_within_seconds() -> None:
    settings = ModelSettings(base_url=f"http://127.0.0.1:{free_port()}/v1", backoff_base=0.05)

    async def go() -> list[BaseException]:
        async with ChatClient(settings, api_key="k") as client:
            tasks = [client.complete(MESSAGES) for _ in range(20)]
            return [r for r in await asyncio.gather(*tasks, return_exceptions=True)]  # type: ignore[misc]

    started = time.monotonic()
    errors = asyncio.run(go())
    assert time.monotonic() - started < 10
    assert all(isinstance(e, ProviderUnreachable) for e in errors), errors


def test_a_reachable_server_that_errors_never_trips_it() -> None:
    with FakeModelServer() as server:
        settings = ModelSettings(base_url=server.base_url, max_attempts=1)
        breaker = CircuitBreaker(trip_after=1)

        async def go() -> None:
            async with ChatClient(settings, api_key="k", breaker=breaker) as client:
                await client.complete(MESSAGES)

        asyncio.run(go())
    assert not breaker.tripped
