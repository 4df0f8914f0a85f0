"""A server's context or KV-cache overflow answer ends the chunk `too-long` at once: one request, no retry,
whatever the status (llama.cpp's 400 and 500, vLLM's 400, Ollama's 500), replayed from tests/data/servers.
After an answer, the same overflow on a repair turn leaves that answer's reason standing (NO_ROOM). A
request's attempts together are bounded in time: a server that fails slowly is not tried six times."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from support.fake_model_server import FakeModelServer, FakeReply
from support.fault_server import recorded

from pipeline.engines.model_engine import NO_ROOM, LLMEngine
from pipeline.engines.proposal import Proposal
from pipeline.judge.policy import Policy
from pipeline.judge.verdicts import Reason, Status
from pipeline.model.client import ChatClient
from pipeline.model.errors import RetriesExhausted, ServerError
from pipeline.model.limits import REQUEST_DEADLINES, AnswerLimits
from pipeline.model.request import ModelSettings
from pipeline.recipes.loading import load_recipe
from pipeline.source.chunking import Chunk

GREET = Chunk(
    "pkg/m.py", 0, 0, 1, 2, "function", "greet", 'def greet(name):\n    return "hi %s" % name\n'
)
OVERFLOWS = [
    "llamacpp-overflow.json",
    "llamacpp-overflow-stream.sse",
    "llamacpp-kv.json",
    "llamacpp-context.json",
    "vllm-context.json",
    "ollama-context.json",
]


def refactor(server: FakeModelServer, repair_turns: int = 0, **settings: Any) -> Proposal:
    config = ModelSettings(  # streams when the recorded answer is one
        base_url=server.base_url, **{"max_attempts": 6, "backoff_base": 0.01, **settings}
    )
    recipe = load_recipe("modernize")

    async def run() -> Proposal:
        async with ChatClient(config, api_key=None) as client:
            engine = LLMEngine(
                client, recipe, Policy(recipe.allowances, (3, 11)), repair_turns=repair_turns
            )
            return await engine.refactor(GREET)

    return asyncio.run(run())


@pytest.mark.parametrize("name", OVERFLOWS)
def test_a_servers_overflow_answer_ends_the_chunk_too_long_in_one_request(
    fake_model: FakeModelServer, name: str
) -> None:
    fake_model.enqueue(recorded(name), recorded(name))  # a retry would get the same answer

    proposal = refactor(fake_model, stream=name.endswith(".sse"))

    assert (proposal.verdict.status, proposal.verdict.reason) == (
        Status.REJECTED,
        Reason.TOO_LONG,
    )
    assert len(fake_model.requests) == 1
    [attempt] = proposal.requests
    assert (attempt.outcome, attempt.retried) == ("ContextTooLong", False)
    assert [t["verdict"] for t in proposal.turns] == ["too-long"]
    assert proposal.usage.attempts == 1 and proposal.usage.latency_s == attempt.latency_s


def test_an_overflow_on_the_repair_turn_leaves_the_answers_reason_standing(
    fake_model: FakeModelServer,
) -> None:
    fake_model.enqueue(
        FakeReply.completion("```python\ndef greet(name):\n    return undefined_thing\n```"),
        recorded("llamacpp-kv.json"),
    )

    proposal = refactor(fake_model, repair_turns=1)

    assert len(fake_model.requests) == 2
    first = proposal.turns[0]["verdict"]
    assert (proposal.verdict.status, str(proposal.verdict.reason)) == (Status.REJECTED, first)
    assert proposal.verdict.detail.endswith(f"; {NO_ROOM}")
    assert [t["verdict"] for t in proposal.turns] == [first, "too-long"]


def test_a_server_error_that_is_not_an_overflow_is_still_retried(
    fake_model: FakeModelServer,
) -> None:
    fake_model.enqueue(FakeReply.error(500, "the slot crashed"))  # then the echo answers

    proposal = refactor(fake_model)

    assert len(fake_model.requests) == 2
    assert [a.outcome for a in proposal.requests] == ["ServerError", "ok"]


def test_a_request_that_fails_slowly_is_not_tried_past_its_time(
    fake_model: FakeModelServer,
) -> None:
    # Each attempt takes 0.3 s to fail; the total is two deadlines of 1 s (no backoff budget): once
    # less than a deadline is left, no attempt is sent (six were, 140 s each, in issue 24).
    slow = [FakeReply(status=503, body=b"{}", delay=0.3) for _ in range(6)]
    fake_model.enqueue(*slow)
    settings = ModelSettings(
        base_url=fake_model.base_url, request_deadline=1.0, max_total_wait=0.0, backoff_base=0.0
    )
    assert AnswerLimits.of(settings, 64, stream=False).total == REQUEST_DEADLINES * 1.0

    async def run() -> None:
        async with ChatClient(settings, api_key=None) as client:
            await client.complete([{"role": "user", "content": "hi"}], max_tokens=64)

    with pytest.raises(RetriesExhausted) as info:
        asyncio.run(run())
    assert isinstance(info.value.last, ServerError)
    assert 2 <= len(fake_model.requests) <= 4
