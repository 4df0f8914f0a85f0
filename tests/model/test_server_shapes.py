"""What llama.cpp's server, vLLM and Ollama actually send, read by the client and priced by the engine:
no base_resp, no cost, usage missing or partial, reasoning in its own field, streams without usage,
context-length refusals. Missing counts and costs are unknown, never zero."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from support.fake_model_server import FakeModelServer, FakeReply
from support.fault_server import recorded

from pipeline.engines.model_engine import NO_ROOM, LLMEngine
from pipeline.engines.proposal import Proposal
from pipeline.judge.policy import Policy
from pipeline.judge.verdicts import Reason, Status
from pipeline.model.client import ChatClient
from pipeline.model.completion import Completion, Usage
from pipeline.model.errors import BadRequest, ContextTooLong
from pipeline.model.prices import MINIMAX_M2_1, cost_text, prices_for
from pipeline.model.request import ModelSettings
from pipeline.recipes.loading import load_recipe
from pipeline.source.chunking import Chunk

DATA = Path(__file__).parents[1] / "data" / "servers"
USER = [{"role": "user", "content": "Refactor:\n```python\nx = 1\n```"}]
GREET = Chunk(
    "pkg/m.py", 0, 0, 1, 2, "function", "greet", 'def greet(name):\n    return "hi %s" % name\n'
)
NEW = 'def greet(name):\n    return f"hi {name}"\n'


def complete(server: FakeModelServer, reply: FakeReply, **settings: Any) -> Completion:
    server.enqueue(reply)
    config = ModelSettings(base_url=server.base_url, max_attempts=1, **settings)

    async def run() -> Completion:
        async with ChatClient(config, api_key=None) as client:
            return await client.complete(USER, max_tokens=512)

    return asyncio.run(run())


def refactor(
    server: FakeModelServer, model: str, *chunks: Chunk, repair_turns: int = 0, **settings: Any
) -> list[Proposal]:
    config = ModelSettings(base_url=server.base_url, model=model, max_attempts=2, **settings)
    recipe = load_recipe("modernize")
    policy = Policy(recipe.allowances, (3, 11))

    async def run() -> list[Proposal]:
        async with ChatClient(config, api_key=None) as client:
            engine = LLMEngine(client, recipe, policy, repair_turns=repair_turns)
            return [await engine.refactor(chunk) for chunk in chunks]

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("name", "reasoning", "prompt", "completion"),
    [
        ("llamacpp-chat.json", "The function formats with %", 212, 31),
        ("vllm-chat.json", "An f-string keeps the behaviour.", 198, 64),
        ("ollama-chat.json", "The %-format becomes an f-string.", 205, 48),
    ],
)
def test_a_servers_answer_has_its_reasoning_apart_and_no_cost(
    fake_model: FakeModelServer, name: str, reasoning: str, prompt: int, completion: int
) -> None:
    result = complete(fake_model, recorded(name))

    assert result.reasoning.startswith(reasoning) and result.answer.startswith("```python")
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (prompt, completion)
    assert result.usage.unreported == 0 and result.finish_reason == "stop"
    assert result.cost_usd is None and result.credits is None  # no base_resp, no meta: no figure


@pytest.mark.parametrize(
    ("name", "usage_sent"),
    [("llamacpp-stream.sse", True), ("vllm-stream.sse", False), ("ollama-stream.sse", False)],
)
def test_a_stream_without_usage_leaves_the_counts_unknown(
    fake_model: FakeModelServer, name: str, usage_sent: bool
) -> None:
    result = complete(fake_model, recorded(name), stream=True)

    assert "An f-string" in result.reasoning or "f-string" in result.reasoning
    assert 'return f"hi {name}"' in result.answer and result.finish_reason == "stop"
    assert result.usage.unreported == (0 if usage_sent else 1)
    assert (result.usage.prompt_tokens > 0) is usage_sent  # never a made-up count


def test_an_unpriced_model_costs_unknown_not_minimaxs_list_price(
    fake_model: FakeModelServer,
) -> None:
    fake_model.enqueue(recorded("llamacpp-chat.json"))
    [local] = refactor(fake_model, "SmolLM2-135M-Instruct", GREET)
    fake_model.enqueue(recorded("llamacpp-chat.json"))
    [minimax] = refactor(fake_model, "minimax/m2-1", GREET)

    assert local.verdict.status is Status.ACCEPTED
    assert (local.usage.cost_usd, local.usage.unpriced) == (0.0, 1)
    shown = cost_text(local.usage.cost_usd, local.usage.unpriced)
    assert shown.startswith("unknown (1 answer with no price")
    expected = MINIMAX_M2_1.cost(Usage(212, 31))
    assert minimax.usage.unpriced == 0 and minimax.usage.cost_usd == pytest.approx(expected)


def test_a_stream_without_usage_makes_even_a_priced_models_cost_unknown(
    fake_model: FakeModelServer,
) -> None:
    fake_model.enqueue(recorded("vllm-stream.sse"))
    [proposal] = refactor(fake_model, "minimax/m2-1", GREET, stream=True)

    usage = proposal.usage
    assert (usage.unreported, usage.unpriced, usage.cost_usd) == (1, 1, 0.0)


def test_prices_come_from_flags_then_the_table_then_the_list() -> None:
    table = [("qwen3:0.6b", 0.05, 0.1)]
    assert prices_for("qwen3:0.6b", table=table) is not None
    assert prices_for("qwen3:0.6b") is None
    assert prices_for("MiniMax-M2.1") == MINIMAX_M2_1
    flags = prices_for("qwen3:0.6b", price_input=1.0, price_output=2.0, table=table)
    assert flags is not None and (flags.input, flags.output) == (1.0, 2.0)


@pytest.mark.parametrize("name", ["llamacpp-context.json", "vllm-context.json"])
def test_a_context_refusal_rejects_that_chunk_and_the_run_goes_on(
    fake_model: FakeModelServer, name: str
) -> None:
    fake_model.enqueue(recorded(name), FakeReply.completion(f"```python\n{NEW}```"))
    first, second = refactor(fake_model, "minimax/m2-1", GREET, GREET)

    assert (first.verdict.status, first.verdict.reason) == (Status.REJECTED, Reason.TOO_LONG)
    assert "context" in first.verdict.detail and len(fake_model.requests) == 2
    assert second.verdict.status is Status.ACCEPTED


def test_base_resp_1039_is_too_long_and_a_missing_model_still_stops_the_run(
    fake_model: FakeModelServer,
) -> None:
    with pytest.raises(ContextTooLong):
        complete(fake_model, FakeReply.provider_error(1039, "token limit"))
    with pytest.raises(BadRequest, match="not found"):
        complete(fake_model, recorded("ollama-missing-model.json"))


def test_a_chunk_that_cannot_fit_the_window_is_skipped_before_sending(
    fake_model: FakeModelServer,
) -> None:
    [proposal] = refactor(fake_model, "minimax/m2-1", GREET, context_tokens=300)

    assert (proposal.verdict.status, proposal.verdict.reason) == (Status.SKIPPED, Reason.TOO_LONG)
    assert "not sent" in proposal.verdict.detail and fake_model.requests == []


def test_an_answer_cut_off_at_the_window_keeps_its_reason_when_no_repair_turn_fits(
    fake_model: FakeModelServer,
) -> None:
    rambling = "```python\ndef greet(name):\n    return " + "name + " * 1500
    fake_model.enqueue(FakeReply.completion(rambling, finish_reason="length"))
    [proposal] = refactor(fake_model, "minimax/m2-1", GREET, repair_turns=1, context_tokens=3000)

    assert len(fake_model.requests) == 1  # the repair turn could not fit, so it was not sent
    assert proposal.verdict.status is Status.REJECTED
    assert proposal.verdict.reason is Reason.DEGENERATE  # the real reason: the answer looped
    assert proposal.verdict.detail.endswith(f"; {NO_ROOM}")


def test_max_tokens_is_lowered_so_prompt_and_answer_fit_the_window(
    fake_model: FakeModelServer,
) -> None:
    fake_model.enqueue(FakeReply.completion(f"```python\n{NEW}```"))
    refactor(fake_model, "minimax/m2-1", GREET, context_tokens=2048)

    [request] = fake_model.requests
    size = sum(len(m["content"].encode()) for m in request.body["messages"])
    assert request.body["max_tokens"] < 2048 - size // 4  # the recipe asks 8192: lowered
    assert request.body["max_tokens"] > 0
