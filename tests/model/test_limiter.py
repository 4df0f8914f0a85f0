"""The run-wide Limiter: the global cap (measured at the server), AIMD, rpm/tpm windows, threads."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from support.fake_model_server import FakeModelServer

from pipeline.model.client import ChatClient
from pipeline.model.limiter import Limiter
from pipeline.model.request import ModelSettings

USER = [{"role": "user", "content": "```python\nx = 1\n```"}]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_global_cap_is_never_exceeded_at_the_server() -> None:
    limiter = Limiter(5)
    with FakeModelServer(latency=0.03) as server:
        settings = ModelSettings(base_url=server.base_url)

        async def run() -> None:
            async with ChatClient(settings, api_key="k", limiter=limiter) as client:
                await asyncio.gather(*(client.complete(USER) for _ in range(60)))

        asyncio.run(run())
        assert len(server.requests) == 60
        assert server.peak_in_flight == 5  # saturated, never above
    assert limiter.peak_in_flight == 5 and limiter.in_flight == 0


def test_global_cap_holds_across_threads_with_their_own_loops() -> None:
    limiter = Limiter(6)
    errors: list[BaseException] = []
    with FakeModelServer(latency=0.03) as server:
        settings = ModelSettings(base_url=server.base_url)

        async def shard() -> None:
            async with ChatClient(settings, api_key="k", limiter=limiter) as client:
                await asyncio.gather(*(client.complete(USER) for _ in range(15)))

        def thread_main() -> None:
            try:
                asyncio.run(shard())
            except BaseException as exc:  # re-raised below through the assertion
                errors.append(exc)

        threads = [threading.Thread(target=thread_main) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert len(server.requests) == 60
        assert server.peak_in_flight <= 6
    assert limiter.peak_in_flight == 6 and limiter.in_flight == 0


def test_aimd_halves_once_per_window_and_regrows_by_one_per_window() -> None:
    clock = FakeClock()
    limiter = Limiter(16, min_limit=2, window=5.0, clock=clock)
    limiter.on_rate_limited()
    assert limiter.current_limit == 8
    limiter.on_rate_limited()  # same burst of 429s: no second halving
    assert limiter.current_limit == 8
    for expected in (4, 2, 2):
        clock.now += 5.0
        limiter.on_rate_limited()
        assert limiter.current_limit == expected
    assert limiter.rate_limited_count == 5
    limiter.on_success()  # too soon after the last decrease
    assert limiter.current_limit == 2
    grown = []
    for _ in range(20):
        clock.now += 5.0
        limiter.on_success()
        limiter.on_success()  # a second success in the same window adds nothing
        grown.append(limiter.current_limit)
    assert grown[:3] == [3, 4, 5] and grown[-1] == 16 and max(grown) == 16


def test_a_shrunk_limit_holds_back_new_requests_and_regrowth_admits_them() -> None:
    clock = FakeClock()
    limiter = Limiter(4, window=1.0, clock=clock)

    async def run() -> None:
        for _ in range(4):
            await limiter.acquire()
        limiter.on_rate_limited()  # 4 -> 2 while 4 are in flight
        waiter = asyncio.create_task(limiter.acquire())
        limiter.release()
        limiter.release()  # 2 in flight, limit 2: still no room
        await asyncio.sleep(0.02)
        assert not waiter.done() and limiter.in_flight == 2
        clock.now += 1.0
        limiter.on_success()  # limit 3: the waiter gets in without any release
        await asyncio.wait_for(waiter, 1.0)
        assert limiter.in_flight == 3 and limiter.current_limit == 3

    asyncio.run(run())


def test_rpm_cap_spreads_requests_over_the_window() -> None:
    limiter = Limiter(10, rpm=4, rate_window=0.3)
    sent: list[float] = []

    async def one() -> None:
        async with limiter.slot():
            sent.append(time.monotonic())

    async def run() -> None:
        await asyncio.gather(*(one() for _ in range(12)))

    started = time.monotonic()
    asyncio.run(run())
    assert len(sent) == 12
    assert time.monotonic() - started >= 0.6 - 0.02  # three windows' worth for 12 at 4 per window
    sent.sort()
    for i in range(len(sent) - 4):
        assert sent[i + 4] - sent[i] >= 0.3 - 0.02  # never 5 sends inside one window


def test_tpm_cap_delays_a_request_that_would_overflow_the_window() -> None:
    limiter = Limiter(10, tpm=100, rate_window=0.3)

    async def run() -> float:
        async with limiter.slot(60):
            pass
        started = time.monotonic()
        async with limiter.slot(60):
            return time.monotonic() - started

    assert asyncio.run(run()) >= 0.25


def test_a_cancelled_waiter_does_not_leak_a_slot() -> None:
    limiter = Limiter(1)

    async def run() -> None:
        await limiter.acquire()
        waiter = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        limiter.release()
        assert limiter.in_flight == 0
        await asyncio.wait_for(limiter.acquire(), 1.0)  # the slot is free again
        limiter.release()

    asyncio.run(run())


def test_bad_settings_and_misuse_are_refused() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        Limiter(0)
    with pytest.raises(ValueError, match="min_limit"):
        Limiter(4, min_limit=5)
    with pytest.raises(ValueError, match="rpm"):
        Limiter(4, rpm=0)
    with pytest.raises(RuntimeError, match="more times"):
        Limiter(2).release()
