"""Every HTTP attempt is seen: in the chunk's ledger row (latency, outcome, error) and, as it ends, by the
run's live display; a stream the server cuts off is diagnosed in one sentence."""

from __future__ import annotations

import asyncio

from support.fake_model_server import FakeModelServer, FakeReply

from pipeline.engines.model_engine import LLMEngine
from pipeline.engines.proposal import Proposal
from pipeline.judge.policy import Policy
from pipeline.judge.verdicts import Reason, Status
from pipeline.model.attempts import Attempt
from pipeline.model.client import ChatClient
from pipeline.model.request import ModelSettings
from pipeline.recipes.loading import load_recipe
from pipeline.run.progress import RunCounter
from pipeline.run.steps import ledger_row
from pipeline.source.chunking import Chunk

GREET = Chunk(
    "pkg/m.py", 0, 0, 1, 2, "function", "greet", 'def greet(name):\n    return "hi %s" % name\n'
)
NEW = 'def greet(name):\n    return f"hi {name}"\n'


async def _no_sleep(delay: float) -> None:
    return None


def refactor(server: FakeModelServer, heard: list[Attempt], **settings: object) -> Proposal:
    config = ModelSettings(base_url=server.base_url, max_attempts=3, **settings)  # type: ignore[arg-type]
    recipe = load_recipe("modernize")

    async def run() -> Proposal:
        async with ChatClient(
            config, api_key=None, sleep=_no_sleep, observer=heard.append
        ) as client:
            engine = LLMEngine(client, recipe, Policy(recipe.allowances, (3, 11)), repair_turns=0)
            return await engine.refactor(GREET)

    return asyncio.run(run())


def test_a_timed_out_attempt_is_in_the_ledger_and_seen_at_once(fake_model: FakeModelServer) -> None:
    fake_model.enqueue(FakeReply(delay=1.0), FakeReply.completion(f"```python\n{NEW}```"))
    heard: list[Attempt] = []
    proposal = refactor(fake_model, heard, read_timeout=0.2)

    assert proposal.verdict.status is Status.ACCEPTED
    row = ledger_row("run", proposal, engine="llm", concurrency_limit=None)
    first, second = row.to_json()["requests"]
    assert (first["outcome"], first["retried"], first["number"]) == ("ModelTimeout", True, 1)
    assert "did not answer in time" in first["error"] and 0.15 < first["latency_s"] < 1.0
    assert (second["outcome"], second["error"], second["number"]) == ("ok", "", 2)
    assert first["request_id"] == second["request_id"]  # one request, two attempts

    counter = RunCounter()
    for attempt in heard:  # what the client's observer told the display while the run went on
        counter.attempt(attempt)
    snap = counter.snapshot()
    assert (snap.failed_attempts, snap.timeouts) == (1, 1)
    assert "1 failed attempts (1 timeouts), last: the model did not answer in time" in snap.line()


def test_a_failed_chunk_keeps_every_attempt_and_its_last_error(fake_model: FakeModelServer) -> None:
    fake_model.enqueue(*[FakeReply.error(503, "overloaded")] * 3)
    proposal = refactor(fake_model, [])

    assert (proposal.verdict.status, proposal.verdict.reason) == (
        Status.FAILED,
        Reason.PROVIDER_ERROR,
    )
    assert [a.outcome for a in proposal.requests] == ["ServerError"] * 3
    assert [a.retried for a in proposal.requests] == [True, True, False]


def test_a_stream_cut_mid_answer_names_concurrent_streams(fake_model: FakeModelServer) -> None:
    cut = FakeReply.stream(f"```python\n{NEW}```")
    cut.cut_at = 2
    fake_model.enqueue(cut, cut, cut)
    proposal = refactor(fake_model, [], stream=True)

    assert proposal.verdict.status is Status.FAILED
    assert [a.outcome for a in proposal.requests] == ["StreamCut"] * 3
    detail = proposal.verdict.detail
    assert "incomplete chunked read" in detail and "lower --concurrency or drop --stream" in detail
