"""Usage: the one record of tokens, cost, attempts, cache hits and latency that every layer adds."""

from __future__ import annotations

import dataclasses

from pipeline.engines.spend import answer_usage
from pipeline.model.completion import Completion, Usage
from pipeline.model.prices import MINIMAX_M2_1


def _completion(*, from_cache: bool = False, cost: float | None = 0.5) -> Completion:
    usage = Usage(prompt_tokens=10, completion_tokens=4, reasoning_tokens=2, cached_tokens=3)
    return Completion(
        "x", "", "x", "stop", usage, cost_usd=cost, latency_s=2.0, from_cache=from_cache
    )


def test_adding_sums_every_field() -> None:
    a = Usage(1, 2, 3, 4, 5, 0.25, 1, 1, 0.5)
    b = Usage(10, 20, 30, 40, 50, 0.5, 2, 0, 1.5)
    assert a + b == Usage(11, 22, 33, 44, 55, 0.75, 3, 1, 2.0)
    assert sum([a, b], Usage()) == a + b
    assert [f.name for f in dataclasses.fields(Usage)][:5] == [
        "prompt_tokens",
        "completion_tokens",
        "reasoning_tokens",
        "cached_tokens",
        "total_tokens",
    ]


def test_tokens_and_from_cache_are_derived() -> None:
    assert Usage(prompt_tokens=7, completion_tokens=3, reasoning_tokens=2).tokens == 10
    assert Usage(attempts=2, cache_hits=2).from_cache
    assert not Usage(attempts=2, cache_hits=1).from_cache
    assert not Usage().from_cache  # nothing asked, nothing served


def test_json_round_trip_ignores_unknown_fields() -> None:
    usage = Usage(1, 2, 3, 4, 5, 0.25, 1, 1, 0.5)
    assert Usage.from_json(usage.to_json()) == usage
    assert Usage.from_json({"prompt_tokens": 3, "surprise": 1}) == Usage(prompt_tokens=3)


def test_an_answer_counts_one_attempt_its_cost_and_its_wait() -> None:
    fresh = answer_usage(_completion())
    assert (fresh.attempts, fresh.cache_hits, fresh.cost_usd, fresh.latency_s) == (1, 0, 0.5, 2.0)
    assert (fresh.prompt_tokens, fresh.reasoning_tokens) == (10, 2)
    cached = answer_usage(_completion(from_cache=True))
    assert (cached.attempts, cached.cache_hits, cached.cost_usd, cached.latency_s) == (
        1,
        1,
        0.0,
        0.0,
    )
    estimated = answer_usage(_completion(cost=None), MINIMAX_M2_1)
    assert 0 < estimated.cost_usd < 0.001  # list prices for 7 fresh + 3 cached input, 4 output
    assert estimated.unpriced == 0
    unknown = answer_usage(_completion(cost=None))  # no figure, no price: unknown, not zero
    assert (unknown.cost_usd, unknown.unpriced) == (0.0, 1)
