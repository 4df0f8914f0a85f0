"""One provider limit across runs: each run's limiter holds a slot of the shared limit inside its own."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from support.fake_model_server import FakeModelServer, FakeReply
from support.gitrepo import make_repo
from support.samples import SHAPES, tidy_recipe

from pipeline.config import RunConfig
from pipeline.model.client import ChatClient
from pipeline.model.errors import RateLimited
from pipeline.model.limiter import Limiter
from pipeline.model.request import ModelSettings
from pipeline.run.execute import execute_run
from pipeline.run.runner import LocalRunner, QuietView

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


def test_a_limiter_holds_the_shared_slot_it_is_given_and_no_other() -> None:
    shared = SharedLimit(1)

    async def run() -> None:
        limiter = Limiter(4, shared=shared.hold)
        async with limiter.slot():
            assert shared.semaphore.locked()
        assert Limiter(4)._shared is None  # nothing shared unless it is passed

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


def test_a_fleet_members_gate_turns_hold_the_fleets_slot(tmp_path: Path) -> None:
    """Every request of a run, the gate turns after its test gate included, holds the shared slot the
    run was given: one model session for the whole run (the turns once had a client of their own)."""
    repo = make_repo(tmp_path / "repo", SHAPES)
    (tmp_path / "tidy.md").write_text(tidy_recipe())
    shared = SharedLimit(1)

    def handler(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
        messages = body["messages"]
        chunk = re.findall(r"```python\n(.*?)```", messages[1]["content"], re.DOTALL)[-1]
        if "def area" not in chunk:
            return FakeReply.completion(f"```python\n{chunk}```")
        if len(messages) == 2:  # passes the per-chunk proof, breaks test_area
            return FakeReply.completion("```python\ndef area(w, h):\n    return w * h + 1\n```")
        return FakeReply.completion("```python\ndef area(w, h):\n    return int(w * h)\n```")

    test_cmd = f"{sys.executable} -m pytest -q -p no:cacheprovider tests"
    env = {"AIMLAPI_API_KEY": "sk-test", "CODEMILL_STATE_DIR": str(tmp_path / "state")}
    with FakeModelServer(handler=handler) as server:
        config = RunConfig(
            repo=repo,
            recipe=str(tmp_path / "tidy.md"),
            base_url=server.base_url,
            test_cmd=test_cmd,
            dry_run=True,
            no_cache=True,
        )
        run = execute_run(
            config, ["."], runner=LocalRunner(), view=QuietView(), env=env, shared_slot=shared.hold
        )
        result = asyncio.run(run)

    gate_turns = [r for r in server.requests if len(r.body["messages"]) > 2]
    assert result.totals.by_status.get("accepted") == 1 and len(gate_turns) == 1  # area, repaired
    assert shared.taken == len(server.requests) == 5  # four chunks and the gate turn
