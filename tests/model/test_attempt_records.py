"""Every attempt is on the record (issue 24 found `attempts: 0`, `latency_s: 0`, `turns: []` on a chunk
that failed after six): a chunk's row counts each HTTP attempt, its status, latency, max_tokens and the
server's token counts, the total latency of all of them, and a turn even when no answer came."""

from __future__ import annotations

import asyncio
import json

import pytest
from support.fake_model_server import FakeModelServer, FakeReply

from pipeline.engines.model_engine import LLMEngine
from pipeline.engines.proposal import Proposal
from pipeline.judge.policy import Policy
from pipeline.judge.verdicts import Reason, Status
from pipeline.model.client import ChatClient
from pipeline.model.request import ModelSettings
from pipeline.recipes.loading import load_recipe
from pipeline.records.ledger import LedgerRow
from pipeline.source.chunking import Chunk

GREET = Chunk(
    "pkg/m.py", 0, 0, 1, 2, "function", "greet", 'def greet(name):\n    return "hi %s" % name\n'
)


def refactor(server: FakeModelServer, max_attempts: int) -> Proposal:
    settings = ModelSettings(
        base_url=server.base_url, max_attempts=max_attempts, backoff_base=0.01, context_tokens=8192
    )
    recipe = load_recipe("modernize")

    async def run() -> Proposal:
        async with ChatClient(settings, api_key=None) as client:
            engine = LLMEngine(client, recipe, Policy(recipe.allowances, (3, 11)), repair_turns=0)
            return await engine.refactor(GREET)

    return asyncio.run(run())


def row_of(proposal: Proposal) -> dict[str, object]:
    """The proposal as its ledger row's JSON, read back as the ledger file holds it."""
    row = LedgerRow.for_chunk(
        "run1",
        proposal.chunk,
        proposal.verdict,
        usage=proposal.usage,
        requests=proposal.requests,
        turns=proposal.turns,
    )
    data = json.loads(json.dumps(row.to_json()))
    assert LedgerRow.from_json(dict(data)).requests == proposal.requests
    return data


def test_a_chunk_answered_on_its_third_attempt_has_three_attempts_and_their_latency(
    fake_model: FakeModelServer,
) -> None:
    fake_model.enqueue(
        FakeReply(status=503, body=b"{}", delay=0.05),
        FakeReply(status=503, body=b"{}", delay=0.05),
        FakeReply.completion(
            "```python\ndef greet(name):\n    return f'hi {name}'\n```", delay=0.05
        ),
    )

    row = row_of(refactor(fake_model, max_attempts=3))

    requests = row["requests"]
    assert isinstance(requests, list) and len(requests) == 3
    assert [(a["outcome"], a["retried"]) for a in requests] == [
        ("ServerError", True),
        ("ServerError", True),
        ("ok", False),
    ]
    assert all(a["latency_s"] >= 0.05 for a in requests)
    assert row["attempts"] == 3
    assert row["latency_s"] == pytest.approx(sum(a["latency_s"] for a in requests), abs=0.02)
    sent = [a["max_tokens"] for a in requests]
    assert sent[0] and sent == [sent[0]] * 3  # each attempt's max_tokens, as sent
    assert (requests[-1]["prompt_tokens"], requests[-1]["completion_tokens"]) == (
        row["prompt_tokens"],
        row["completion_tokens"],
    )
    assert requests[-1]["prompt_tokens"] > 0 and requests[0]["prompt_tokens"] == 0
    assert [t["turn"] for t in row["turns"]] == ["answer"]  # type: ignore[index, union-attr]


def test_a_chunk_that_failed_every_attempt_keeps_them_all(fake_model: FakeModelServer) -> None:
    fake_model.enqueue(*[FakeReply(status=502, body=b"{}", delay=0.05) for _ in range(3)])

    proposal = refactor(fake_model, max_attempts=3)
    row = row_of(proposal)

    assert (proposal.verdict.status, proposal.verdict.reason) == (
        Status.FAILED,
        Reason.PROVIDER_ERROR,
    )
    assert row["attempts"] == 3 and len(row["requests"]) == 3  # type: ignore[arg-type]
    assert row["latency_s"] >= 0.15  # type: ignore[operator]
    assert [(t["turn"], t["verdict"]) for t in row["turns"]] == [  # type: ignore[index, union-attr]
        ("answer", "provider-error")
    ]
