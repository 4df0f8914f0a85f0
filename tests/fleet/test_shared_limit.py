"""One provider limit across runs: each run's limiter holds a slot of the shared limit inside its own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from support.fake_model_server import FakeModelServer

from pipeline.model.client import ChatClient
from pipeline.model.errors import RateLimited
from pipeline.model.limiter import SHARED_SLOT, Limiter
from pipeline.model.request import ModelSettings

USER = [{"role": "user", "content": "```python\nx = 1\n```"}]


class SharedLimit:
    """A stand-in for the fleet's global limit: at most `size` slots over every run."""

    def __init__(self, size: int) -> None:
        self.semaphore = asyncio.Semaphore(size)
        self.taken = 0

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        async with self.semaphore:
            self.taken += 1
            yield


def test_two_runs_never_pass_the_shared_limit_at_the_server() -> None:
    with FakeModelServer(latency=0.15) as server:
        settings = ModelSettings(base_url=server.base_url)

        async def fleet() -> SharedLimit:
            shared = SharedLimit(3)

            async def one_run() -> None:
                limiter = Limiter(4, shared=shared.hold)
                async with ChatClient(settings, api_key="k", limiter=limiter) as client:
                    await asyncio.gather(*(client.complete(USER) for _ in range(8)))
                assert limiter.in_flight == 0

            await asyncio.gather(one_run(), one_run())
            return shared

        shared = asyncio.run(fleet())
    assert shared.taken == 16 and len(server.requests) == 16
    assert server.peak_in_flight == 3  # 8 allowed by the two runs' own limits; 3 by the shared one


def test_a_limiter_made_where_a_fleet_member_set_the_shared_slot_uses_it() -> None:
    shared = SharedLimit(1)

    async def run() -> None:
        token = SHARED_SLOT.set(shared.hold)
        try:
            limiter = Limiter(4)  # the run builds its limiter knowing nothing of the fleet
        finally:
            SHARED_SLOT.reset(token)
        async with limiter.slot():
            assert shared.semaphore.locked()
        assert Limiter(4)._shared is None

    asyncio.run(run())
    assert shared.taken == 1


def test_a_429_keeps_the_shared_slot_so_every_run_slows_down() -> None:
    shared = SharedLimit(1)

    async def concurrent() -> float:
        told = Limiter(4, shared=shared.hold)  # the run that hits the 429
        other = Limiter(4, shared=shared.hold)  # a run on another worker

        async def hit() -> None:
            with pytest.raises(RateLimited):
                async with told.slot():
                    raise RateLimited(retry_after=0.3)

        task = asyncio.create_task(hit())
        await asyncio.sleep(0.05)  # the 429 came back; its run is cooling down
        started = time.monotonic()
        async with other.slot():
            waited = time.monotonic() - started
        await task
        return waited

    assert asyncio.run(concurrent()) >= 0.2  # the other run waited for the cool-down
