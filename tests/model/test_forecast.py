"""The cost forecast: a request's tokens from its rendered prompt and its chunk, the run's total and price,
and --max-cost refusing a run up front (or letting --force through). Real recipes rendered over real
chunks of a committed repository; the calibration itself is measured in bench/forecast.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.gitrepo import make_repo

from pipeline.config import RunConfig
from pipeline.model.forecast import (
    BYTES_PER_TOKEN,
    MESSAGE_TOKENS,
    TokenForecast,
    forecast_request,
    text_tokens,
)
from pipeline.recipes.loading import load_recipe
from pipeline.run.estimate import Forecast, ForecastOverLimit, check_max_cost, forecast_run, total
from pipeline.run.steps import plan_run

FUNCTIONS = "".join(f'def f{i}(x):\n    return "v{i} %s" % x\n\n\n' for i in range(3))


def test_text_tokens_count_utf8_bytes_not_characters() -> None:
    assert text_tokens("a" * 36) == round(36 / BYTES_PER_TOKEN)
    assert text_tokens("é" * 18) == text_tokens("a" * 36)  # two bytes each


def test_a_request_forecast_is_its_messages_and_an_answer_longer_than_the_chunk() -> None:
    chunk = "def f(x):\n    return x\n" * 10
    messages = [{"role": "system", "content": "You refactor."}, {"role": "user", "content": chunk}]
    forecast = forecast_request(messages, chunk)
    content = text_tokens("You refactor.") + text_tokens(chunk)
    assert forecast.prompt_tokens == content + 2 * MESSAGE_TOKENS
    assert forecast.completion_tokens > text_tokens(chunk)  # the chunk, its fence and the thinking
    longer = forecast_request(messages, chunk * 2)
    assert longer.completion_tokens > forecast.completion_tokens


def test_forecasts_add_up_and_price_like_an_answer() -> None:
    summed = TokenForecast(100, 20) + TokenForecast(50, 5)
    assert summed == TokenForecast(150, 25)
    usage = summed.as_usage()
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (150, 25, 175)
    assert summed.to_json() == {"prompt_tokens": 150, "completion_tokens": 25}


def run_forecast(tmp_path: Path, **settings: Any) -> tuple[RunConfig, Forecast]:
    repo = make_repo(tmp_path / "repo", {"many.py": FUNCTIONS})
    config = RunConfig(repo=repo, engine="llm", jobs=1, **settings)
    recipe = load_recipe(config.recipe)
    return config, forecast_run(config, recipe, plan_run(config, ["."]).files, cache=None)


def test_the_run_forecast_counts_every_selected_chunk_at_the_model_prices(tmp_path: Path) -> None:
    config, forecast = run_forecast(tmp_path)
    assert (forecast.chunks, forecast.to_send, forecast.cache_hits) == (3, 3, 0)
    assert forecast.tokens.prompt_tokens > 3 * text_tokens(FUNCTIONS) // 3
    assert forecast.cost is not None and forecast.cost > 0  # MiniMax-M2.1's list prices
    assert total([forecast, forecast]).tokens == forecast.tokens + forecast.tokens
    check_max_cost(forecast, config, force=False)  # no --max-cost: nothing to refuse


def test_max_cost_refuses_a_forecast_over_it_unless_forced(tmp_path: Path) -> None:
    config, forecast = run_forecast(tmp_path, max_cost=1e-9)
    with pytest.raises(ForecastOverLimit, match=r"over --max-cost .*--force"):
        check_max_cost(forecast, config, force=False)
    check_max_cost(forecast, config, force=True)


def test_max_cost_cannot_be_checked_for_a_model_without_a_price(tmp_path: Path) -> None:
    config, forecast = run_forecast(tmp_path, max_cost=1.0, model="SmolLM2-135M-Instruct")
    assert forecast.cost is None and "cost unknown" in forecast.line()
    with pytest.raises(ForecastOverLimit, match="has no price"):
        check_max_cost(forecast, config, force=False)
