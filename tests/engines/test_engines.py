"""LLMEngine against the loopback fake model: turns, verdicts, the response cache, costs and stops."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from support.fake_model_server import FakeModelServer, FakeReply

from pipeline.engines.model_engine import LLMEngine
from pipeline.engines.proposal import FatalProposalError, Proposal
from pipeline.engines.spend import RunStop, SpendMeter, usd
from pipeline.judge.policy import Policy
from pipeline.judge.verdicts import Reason, Status
from pipeline.model.cache import ResponseCache
from pipeline.model.client import ChatClient
from pipeline.model.errors import FatalModelError
from pipeline.model.limiter import Limiter
from pipeline.model.request import ModelSettings
from pipeline.recipes.loading import load_recipe
from pipeline.source.chunking import Chunk, chunk_module

KEY = "sk-test-engines-0123456789-SECRET"
SOURCE = '''"""Greetings."""

import os


def greet(name):
    return "Hello, %s!" % name


def shout(name):
    return "HEY %s" % name.upper()


def plain(x):
    return x + 1


HOME = os.environ.get("HOME", "")
'''
CHUNKS = {c.name: c for c in chunk_module("greetings.py", SOURCE)}
GREET, SHOUT, PLAIN = CHUNKS["greet"], CHUNKS["shout"], CHUNKS["plain"]
GREET_NEW = 'def greet(name):\n    return f"Hello, {name}!"\n'
SHOUT_NEW = 'def shout(name):\n    return f"HEY {name.upper()}"\n'
LAZY = (
    "<think>\nKeep it short.\n</think>\n\n"
    "```python\ndef greet(name):\n    # rest of code unchanged\n    ...\n```"
)
RECIPE = load_recipe("modernize")
POLICY = Policy(RECIPE.allowances, (3, 11))
# default_usage() of the fake server: 39 prompt (32 cached), 167 completion (55 reasoning) tokens.
LIST_PRICE = (7 * 0.30 + 32 * 0.03 + 167 * 1.20) / 1_000_000


def answer(code: str, **kwargs: Any) -> FakeReply:
    """A completion holding a think block and one python block."""
    return FakeReply.completion(f"<think>\nRewrite.\n</think>\n\n```python\n{code}```", **kwargs)


def echo(body: dict[str, Any], **kwargs: Any) -> FakeReply:
    """The chunk sent, answered back unchanged."""
    code = body["messages"][1]["content"].rsplit("```python\n", 1)[1].rsplit("```", 1)[0]
    return FakeReply.completion(f"```python\n{code}```", **kwargs)


async def _no_sleep(delay: float) -> None:
    return None


@asynccontextmanager
async def engine_for(
    server: FakeModelServer, *, concurrency: int | None = None, **kwargs: Any
) -> AsyncIterator[LLMEngine]:
    """An LLMEngine on one ChatClient to the fake server (a limiter when `concurrency` is given)."""
    limiter = Limiter(concurrency) if concurrency else None
    settings = ModelSettings(base_url=server.base_url, max_attempts=1)
    async with ChatClient(settings, api_key=KEY, limiter=limiter, sleep=_no_sleep) as client:
        yield LLMEngine(client, RECIPE, POLICY, **kwargs)


def refactor(server: FakeModelServer, *chunks: Chunk, **kwargs: Any) -> list[Proposal]:
    """Each chunk in turn through one engine."""

    async def go() -> list[Proposal]:
        async with engine_for(server, **kwargs) as engine:
            return [await engine.refactor(chunk) for chunk in chunks]

    return asyncio.run(go())


def test_accepted_on_the_first_answer(fake_model: FakeModelServer) -> None:
    fake_model.enqueue(answer(GREET_NEW))
    [proposal] = refactor(fake_model, GREET)

    assert proposal.verdict.status is Status.ACCEPTED
    assert proposal.new_text == GREET_NEW
    assert (proposal.usage.attempts, proposal.usage.cost_usd, proposal.usage.from_cache) == (
        1,
        0.0012,
        False,
    )
    assert (proposal.usage.prompt_tokens, proposal.usage.completion_tokens) == (39, 167)
    assert (proposal.usage.reasoning_tokens, proposal.usage.cached_tokens) == (55, 32)
    assert proposal.model == "MiniMax-M2.1" and proposal.usage.latency_s > 0
    [request] = fake_model.requests
    assert request.body["messages"] == RECIPE.render_messages(GREET, target_python=(3, 11))
    assert (request.body["max_tokens"], request.body["temperature"]) == (8192, 0.2)
    assert request.headers["authorization"] == f"Bearer {KEY}"


def test_a_lazy_answer_gets_a_repair_turn_holding_the_whole_first_reply(
    fake_model: FakeModelServer,
) -> None:
    fake_model.enqueue(FakeReply.completion(LAZY), answer(GREET_NEW))
    [proposal] = refactor(fake_model, GREET)

    assert proposal.verdict.status is Status.ACCEPTED and proposal.new_text == GREET_NEW
    assert proposal.usage.attempts == 2
    assert proposal.usage.prompt_tokens == 78 and proposal.usage.cost_usd == pytest.approx(0.0024)
    first, second = (r.body["messages"] for r in fake_model.requests)
    assert second[:2] == first
    assert second[2] == {"role": "assistant", "content": LAZY}  # think block included, verbatim
    repair = second[3]
    assert repair["role"] == "user"
    assert repair["content"].startswith("Your previous answer was rejected: Line 7 elides code")
    assert "`# rest of code unchanged`" in repair["content"]


def test_without_repair_turns_a_lazy_answer_stays_rejected(fake_model: FakeModelServer) -> None:
    fake_model.enqueue(FakeReply.completion(LAZY), answer(GREET_NEW))
    [proposal] = refactor(fake_model, GREET, repair_turns=0)

    assert (proposal.verdict.status, proposal.verdict.reason) == (Status.REJECTED, Reason.LAZY)
    assert proposal.new_text is None and proposal.usage.attempts == 1
    assert len(fake_model.requests) == 1


@pytest.mark.parametrize(
    ("content", "finish_reason", "reason"),
    [
        ("You could use an f-string here.", "stop", Reason.NO_CODE),
        ("<think>\nAn f-string would do.\n</think>\n\n", "stop", Reason.THINK_ONLY),
        ("<think>\nAn f-string would do, and then", "stop", Reason.THINK_ONLY),
        (f"```python\n{GREET_NEW}```", "length", Reason.CUT_OFF),
        ("```python\ndef greet(name:\n    return name\n```", "stop", Reason.SYNTAX),
    ],
    ids=["no-code", "think-only", "unterminated-think", "truncated", "syntax"],
)
def test_unusable_answers_are_rejected_with_their_reason(
    fake_model: FakeModelServer, content: str, finish_reason: str, reason: Reason
) -> None:
    fake_model.enqueue(FakeReply.completion(content, finish_reason=finish_reason))
    [proposal] = refactor(fake_model, GREET, repair_turns=0)

    assert (proposal.verdict.status, proposal.verdict.reason) == (Status.REJECTED, reason)
    assert proposal.verdict.detail and proposal.new_text is None
    assert proposal.usage.attempts == 1 and proposal.usage.cost_usd == 0.0012


def test_an_unchanged_answer_has_no_new_text(fake_model: FakeModelServer) -> None:
    [proposal] = refactor(fake_model, PLAIN)  # the echo handler returns the chunk as it was
    assert proposal.verdict.status is Status.UNCHANGED
    assert proposal.new_text is None and proposal.usage.attempts == 1


def test_a_rerun_is_answered_from_the_cache_and_refresh_bypasses_it(
    fake_model: FakeModelServer, tmp_path: Path
) -> None:
    cache = ResponseCache(tmp_path / "responses.sqlite3")
    fake_model.handler = lambda body, headers: answer(GREET_NEW)
    [first] = refactor(fake_model, GREET, cache=cache)
    [again] = refactor(fake_model, GREET, cache=cache)

    assert len(fake_model.requests) == 1 and len(cache) == 1
    assert first.usage.from_cache is False and first.usage.cost_usd == 0.0012
    assert (
        again.usage.from_cache is True
        and again.usage.cost_usd == 0.0
        and again.usage.latency_s == 0.0
    )
    assert again.verdict.status is Status.ACCEPTED and again.new_text == GREET_NEW
    assert again.usage.attempts == 1

    [fresh] = refactor(fake_model, GREET, cache=cache, refresh_cache=True)
    assert len(fake_model.requests) == 2
    assert fresh.usage.from_cache is False and fresh.usage.cost_usd == 0.0012
    cache.close()


def test_a_repaired_conversation_is_replayed_from_the_cache(
    fake_model: FakeModelServer, tmp_path: Path
) -> None:
    cache = ResponseCache(tmp_path / "responses.sqlite3")
    fake_model.enqueue(FakeReply.completion(LAZY), answer(GREET_NEW))
    [first] = refactor(fake_model, GREET, cache=cache)
    [again] = refactor(fake_model, GREET, cache=cache)

    assert len(fake_model.requests) == 2 and len(cache) == 2
    assert first.usage.attempts == again.usage.attempts == 2
    assert again.usage.from_cache is True and again.usage.cost_usd == 0.0
    assert again.verdict.status is Status.ACCEPTED and again.new_text == GREET_NEW
    cache.close()


@pytest.mark.parametrize("finish_reason", ["length", "content_filter", None])
def test_only_complete_answers_are_cached(
    fake_model: FakeModelServer, tmp_path: Path, finish_reason: str | None
) -> None:
    cache = ResponseCache(tmp_path / "responses.sqlite3")
    fake_model.handler = lambda body, headers: answer(GREET_NEW, finish_reason=finish_reason)
    refactor(fake_model, GREET, cache=cache, repair_turns=0)
    [again] = refactor(fake_model, GREET, cache=cache, repair_turns=0)

    assert len(cache) == 0 and len(fake_model.requests) == 2
    assert again.usage.from_cache is False


def test_a_refused_key_stops_the_run_and_later_chunks_are_never_sent(
    fake_model: FakeModelServer,
) -> None:
    fake_model.handler = lambda body, headers: FakeReply.error(401, f"Invalid key {KEY}")

    async def go() -> tuple[str, list[Proposal], str | None]:
        async with engine_for(fake_model) as engine:
            with pytest.raises(FatalModelError) as info:
                await engine.refactor(GREET)
            assert isinstance(info.value, FatalProposalError)
            assert info.value.proposal.verdict.reason is Reason.PROVIDER_ERROR
            assert info.value.proposal.chunk is GREET and info.value.status_code == 401
            later = [await engine.refactor(c) for c in (SHOUT, PLAIN)]
            return str(info.value), later, engine.stop.reason

    message, later, reason = asyncio.run(go())

    assert "AIMLAPI_API_KEY" in message and KEY not in message
    assert reason == message
    assert len(fake_model.requests) == 1
    for proposal in later:
        assert (proposal.verdict.status, proposal.verdict.reason) == (
            Status.SKIPPED,
            Reason.FATAL_STOP,
        )
        assert proposal.verdict.detail == f"not sent: {message}"
        assert proposal.usage.attempts == 0 and proposal.usage.cost_usd == 0.0


def test_a_rejected_request_fails_its_chunk_and_the_run_goes_on(
    fake_model: FakeModelServer,
) -> None:
    fake_model.enqueue(FakeReply.provider_error(1026, "input new_sensitive"), answer(SHOUT_NEW))
    rejected, accepted = refactor(fake_model, GREET, SHOUT)

    assert (rejected.verdict.status, rejected.verdict.reason) == (
        Status.FAILED,
        Reason.PROVIDER_ERROR,
    )
    assert "1026" in rejected.verdict.detail and rejected.new_text is None
    assert accepted.verdict.status is Status.ACCEPTED and accepted.new_text == SHOUT_NEW
    assert len(fake_model.requests) == 2


def test_the_cost_limit_sends_exactly_the_requests_until_it_is_reached(
    fake_model: FakeModelServer,
) -> None:
    source = "".join(f'def f{i}(x):\n    return "v{i} %s" % x\n\n\n' for i in range(8))
    chunks = chunk_module("many.py", source)
    fake_model.handler = lambda body, headers: echo(body, usd=0.01)
    meter = SpendMeter(max_cost=0.025)

    async def go() -> list[Proposal]:
        async with engine_for(fake_model, concurrency=1, meter=meter) as engine:
            return list(await asyncio.gather(*(engine.refactor(c) for c in chunks)))

    proposals = asyncio.run(go())

    assert len(fake_model.requests) == 3  # 0.01 + 0.01 < 0.025; the third reaches it
    assert meter.spent == pytest.approx(0.03) and meter.exhausted
    sent = [p for p in proposals if p.usage.attempts]
    budget = [p for p in proposals if not p.usage.attempts]
    assert len(sent) == 3 and all(p.verdict.status is Status.UNCHANGED for p in sent)
    assert len(budget) == 5
    for proposal in budget:
        assert (proposal.verdict.status, proposal.verdict.reason) == (Status.SKIPPED, Reason.BUDGET)
        assert proposal.verdict.detail == "not sent: the run reached its cost limit of $0.025."


@pytest.mark.parametrize(
    ("max_cost", "usd", "sent"), [(0.1, 0.01, 10), (0.8, 0.1, 8), (0.015, 0.01, 2)]
)
def test_the_cost_limit_holds_when_float_sums_fall_just_short(
    fake_model: FakeModelServer, max_cost: float, usd: float, sent: int
) -> None:
    # Ten $0.01 answers add up to 0.09999999999999999 in floats: the limit of $0.10 is reached all
    # the same, and an eleventh request would overspend it.
    source = "".join(f'def f{i}(x):\n    return "v{i} %s" % x\n\n\n' for i in range(12))
    fake_model.handler = lambda body, headers: echo(body, usd=usd)
    meter = SpendMeter(max_cost=max_cost)
    refactor(fake_model, *chunk_module("many.py", source), concurrency=1, meter=meter)

    assert len(fake_model.requests) == sent
    assert meter.exhausted


def test_a_repair_turn_over_the_cost_limit_keeps_the_rejection(
    fake_model: FakeModelServer,
) -> None:
    fake_model.enqueue(FakeReply.completion(LAZY, usd=0.01), answer(GREET_NEW))
    meter = SpendMeter(max_cost=0.01)
    [proposal] = refactor(fake_model, GREET, meter=meter)

    assert len(fake_model.requests) == 1
    assert (proposal.verdict.status, proposal.verdict.reason) == (Status.REJECTED, Reason.LAZY)
    assert proposal.usage.attempts == 1 and proposal.usage.cost_usd == 0.01


@pytest.mark.parametrize(
    ("reply", "cost"),
    [
        (answer(GREET_NEW, cost_in="none"), LIST_PRICE),
        (answer(GREET_NEW, usd=None), LIST_PRICE),
        (answer(GREET_NEW, cost_in="headers", usd=0.5), 0.5),
        (answer(GREET_NEW, usd=0.25), 0.25),
    ],
    ids=["no-cost", "null-usd", "cost-in-headers", "cost-in-body"],
)
def test_cost_is_the_providers_figure_else_the_list_price_estimate(
    fake_model: FakeModelServer, reply: FakeReply, cost: float
) -> None:
    fake_model.enqueue(reply)
    meter = SpendMeter()
    [proposal] = refactor(fake_model, GREET, meter=meter)

    assert proposal.usage.cost_usd == pytest.approx(cost)
    assert meter.spent == pytest.approx(cost)


def test_run_stop_and_meter_keep_the_first_reason_and_add_across_threads() -> None:
    stop = RunStop()
    stop.set("first")
    stop.set("second")
    assert stop.stopped and stop.reason == "first"

    meter = SpendMeter(max_cost=2000.0)
    threads = [
        threading.Thread(target=lambda: [meter.add(0.5) for _ in range(1000)]) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert meter.spent == 2000.0 and meter.exhausted  # halves add exactly: no update lost
    assert not SpendMeter().exhausted and SpendMeter(max_cost=0.0).exhausted


def test_dollar_amounts_keep_their_sub_cent_digits() -> None:
    assert [usd(x) for x in (0.025, 1.0, 0.1, 12.5, 0.004)] == [
        "$0.025",
        "$1.00",
        "$0.10",
        "$12.50",
        "$0.004",
    ]


# --- judging off the event loop ---------------------------------------------------------------------


class Recording(ThreadPoolExecutor):
    """A judge pool that notes the thread each piece of work ran on."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.threads: list[int] = []

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        def noted() -> Any:
            self.threads.append(threading.get_ident())
            return fn(*args, **kwargs)

        return super().submit(noted)


def test_answers_are_selected_and_judged_off_the_event_loop(fake_model: FakeModelServer) -> None:
    fake_model.enqueue(answer(GREET_NEW), FakeReply.completion(LAZY), answer(GREET_NEW))
    judges = Recording()

    async def go() -> tuple[list[Proposal], int]:
        async with engine_for(fake_model, judges=judges) as engine:
            assert await engine.selects(GREET) and not await engine.selects(PLAIN)
            done = [await engine.refactor(GREET), await engine.refactor(GREET)]
            return done, threading.get_ident()

    with judges:
        (first, repaired), loop_thread = asyncio.run(go())
    assert first.new_text == GREET_NEW and repaired.verdict.status is Status.ACCEPTED
    assert len(judges.threads) == 2 + 3  # two selections, three answers judged
    assert loop_thread not in judges.threads


def test_a_dead_judge_process_costs_no_chunk(fake_model: FakeModelServer) -> None:
    fake_model.enqueue(answer(GREET_NEW))
    with ProcessPoolExecutor(1) as judges:
        judges.submit(os._exit, 1)  # the judge process dies: the pool is broken from now on
        with pytest.raises(BrokenExecutor):
            judges.submit(int).result()
        [proposal] = refactor(fake_model, GREET, judges=judges)
    assert proposal.verdict.status is Status.ACCEPTED and proposal.new_text == GREET_NEW


def test_a_judge_process_gives_the_verdict_judged_here(fake_model: FakeModelServer) -> None:
    replies = [answer(GREET_NEW), answer(SHOUT_NEW), FakeReply.completion(LAZY), answer("x = (\n")]
    fake_model.enqueue(*replies)
    here = [(p.verdict, p.new_text) for p in refactor(fake_model, GREET, SHOUT, GREET)]
    fake_model.enqueue(*replies)
    with ProcessPoolExecutor(1) as judges:
        there = [
            (p.verdict, p.new_text)
            for p in refactor(fake_model, GREET, SHOUT, GREET, judges=judges)
        ]
    assert there == here
    assert [v.status for v, _ in here] == [Status.ACCEPTED, Status.ACCEPTED, Status.REJECTED]
