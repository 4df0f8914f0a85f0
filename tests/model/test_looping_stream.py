"""A streamed answer that loops (`dt1=None, dt2=None, ...`, as SmolLM2 did for minutes in issue 24) is
stopped within a few hundred tokens: the client closes the stream, and the chunk is rejected `degenerate`
(a repair turn may follow, its conversation holding only what was read)."""

from __future__ import annotations

import asyncio
import time

from support.fake_model_server import FakeModelServer
from support.fault_server import Sent, looping_stream

from pipeline.engines.model_engine import LLMEngine
from pipeline.engines.proposal import Proposal
from pipeline.judge.policy import Policy
from pipeline.judge.verdicts import Reason, Status
from pipeline.model.client import ChatClient
from pipeline.model.request import ModelSettings
from pipeline.recipes.loading import load_recipe
from pipeline.source.chunking import Chunk

CHUNK = Chunk("m.py", 0, 0, 1, 2, "function", "f", "def f(dt1=None):\n    return dt1\n")
BYTES_PER_TOKEN = 1.74  # SmolLM2 on `dt437=None, ` (bench/RESULTS.md, issue 24)


def refactor(server: FakeModelServer) -> Proposal:
    settings = ModelSettings(base_url=server.base_url, stream=True, max_attempts=1)
    recipe = load_recipe("modernize")

    async def run() -> Proposal:
        async with ChatClient(settings, api_key=None) as client:
            engine = LLMEngine(client, recipe, Policy(recipe.allowances, (3, 11)), repair_turns=0)
            return await engine.refactor(CHUNK)

    return asyncio.run(run())


def test_a_looping_stream_is_stopped_within_a_few_hundred_tokens_and_rejected_degenerate(
    fake_model: FakeModelServer,
) -> None:
    sent = Sent()
    fake_model.enqueue(looping_stream(sent, limit=20_000))

    started = time.monotonic()
    proposal = refactor(fake_model)

    assert (proposal.verdict.status, proposal.verdict.reason) == (
        Status.REJECTED,
        Reason.DEGENERATE,
    )
    read = proposal.conversation[-1]["content"]
    assert read.startswith("```python\ndef f(dt1=None, dt2=None, ")
    assert len(read) / BYTES_PER_TOKEN < 600  # tokens read before the stop: a few hundred
    deadline = time.monotonic() + 5
    while not sent.closed_early and time.monotonic() < deadline:
        time.sleep(0.05)  # the server notices the closed connection at its next write
    assert sent.closed_early and sent.bytes < 2_000  # of 20,000 events it would have sent
    assert time.monotonic() - started < 10
    [attempt] = proposal.requests
    assert attempt.ok and [t["verdict"] for t in proposal.turns] == ["degenerate"]
