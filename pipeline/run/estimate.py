"""The cost forecast of a run, asking nothing of the model: plan, selectors, context window, cache.

`codemill estimate` and `codemill run --estimate` print it; `--max-cost` refuses a run whose forecast is
over the limit (or cannot be priced) before the first request, unless `--force`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pipeline import repository
from pipeline.config import ConfigError, RunConfig
from pipeline.engines.spend import usd
from pipeline.model.cache import ResponseCache
from pipeline.model.context import fit_max_tokens
from pipeline.model.errors import ContextTooLong
from pipeline.model.forecast import TokenForecast, forecast_request
from pipeline.model.prices import Prices, prices_for
from pipeline.paths import default_cache_path, state_file
from pipeline.recipes.loading import Recipe, load_recipe
from pipeline.run import state
from pipeline.run.steps import FilePlan, plan_run
from pipeline.source.cutter import estimate_tokens


class ForecastOverLimit(ConfigError):
    """The forecast is over --max-cost, or --max-cost cannot be checked: the run is refused."""


def run_prices(config: RunConfig) -> Prices | None:
    """The prices of the run's model: the flags, [tool.codemill.prices], or its list prices; None if
    nobody priced it (its cost is then unknown)."""
    return prices_for(
        config.model,
        price_input=config.price_input,
        price_output=config.price_output,
        table=config.prices,
    )


@dataclass(frozen=True)
class Forecast:
    """What one recipe's run would send and what it would cost."""

    recipe: str
    chunks: int = 0
    to_send: int = 0
    cache_hits: int = 0
    not_selected: int = 0
    too_long: int = 0
    tokens: TokenForecast = field(default_factory=TokenForecast)
    cost: float | None = 0.0  # None: no price for the model

    def line(self) -> str:
        """One line for the console."""
        cost = "cost unknown (no price for the model)" if self.cost is None else usd(self.cost)
        return (
            f"{self.recipe}: {self.to_send} of {self.chunks} chunks to send, {self.cache_hits} cache "
            f"hits, {self.not_selected} not selected, {self.too_long} too long; "
            f"~{self.tokens.prompt_tokens:,} prompt + ~{self.tokens.completion_tokens:,} completion "
            f"tokens; {cost}"
        )


def forecast_run(
    config: RunConfig,
    recipe: Recipe,
    files: Sequence[FilePlan],
    cache: ResponseCache | None,
) -> Forecast:
    """Render every selected chunk's prompt as the engine would and count what would be sent."""
    counts = {"chunks": 0, "to_send": 0, "cache_hits": 0, "not_selected": 0, "too_long": 0}
    tokens = TokenForecast()
    params = recipe.params.request_fields()
    for chunk in (chunk for plan in files for chunk in plan.chunks):
        counts["chunks"] += 1
        if not recipe.selects(chunk):
            counts["not_selected"] += 1
            continue
        messages = recipe.render_messages(chunk, target_python=config.target_python)
        try:
            fit_max_tokens(
                messages,
                recipe.params.max_tokens,
                config.context_tokens,
                estimate_tokens(chunk.text),
            )
        except ContextTooLong:
            counts["too_long"] += 1
            continue
        if cache is not None and not config.refresh_cache:
            key = cache.key(
                base_url=config.base_url, model=config.model, params=params, messages=messages
            )
            if cache.get(key) is not None:
                counts["cache_hits"] += 1
                continue
        counts["to_send"] += 1
        tokens += forecast_request(messages, chunk.text)
    prices = run_prices(config)
    cost = None if prices is None else prices.cost(tokens.as_usage())
    return Forecast(recipe.name, **counts, tokens=tokens, cost=cost)


def total(forecasts: Iterable[Forecast]) -> Forecast:
    """The sum of several recipes' forecasts; its cost is unknown if any part's is."""
    out = Forecast("total")
    for f in forecasts:
        cost = None if out.cost is None or f.cost is None else out.cost + f.cost
        out = Forecast(
            "total",
            out.chunks + f.chunks,
            out.to_send + f.to_send,
            out.cache_hits + f.cache_hits,
            out.not_selected + f.not_selected,
            out.too_long + f.too_long,
            out.tokens + f.tokens,
            cost,
        )
    return out


def check_max_cost(forecast: Forecast, config: RunConfig, *, force: bool) -> None:
    """Refuse the run up front when its forecast is over --max-cost, or cannot be priced."""
    limit = config.max_cost
    if limit is None or force or not forecast.to_send:
        return
    if forecast.cost is None:
        raise ForecastOverLimit(
            f"--max-cost {usd(limit)} cannot be checked: model {config.model} has no price; "
            "give --price-input/--price-output (USD per million tokens) or --force"
        )
    if forecast.cost > limit:
        raise ForecastOverLimit(
            f"the forecast cost {usd(forecast.cost)} of {forecast.to_send} chunks is over --max-cost "
            f"{usd(limit)}: narrow the run (--include, --since) or give --force to run anyway"
        )


def forecast_lines(
    config: RunConfig, paths: Sequence[str], env: Mapping[str, str], *, engine: str = "llm"
) -> list[str]:
    """`codemill run --estimate`: the forecast for the engine the run would use (`engine`, chosen by
    the run's setup), nothing sent. A codemod run asks no model: there is nothing to pay."""
    recipe = load_recipe(config.recipe)
    if engine == "codemod":
        why = "" if config.engine == "codemod" else f": {config.api_key_env} is not set"
        return [
            f"forecast for engine codemod (libcst codemods, offline{why}): recipe {recipe.name} "
            "asks no model, so there is nothing to pay and nothing to send"
        ]
    base = repository.resolve_base(repository.open_repository(config.repo), config.base)
    last = state.load_last_run(state_file(config.repo, recipe.name, env))
    since = state.resolve_since(config.since, last, config.repo, base)
    plan = plan_run(config, paths, only=since.only)
    cache = None if config.no_cache else ResponseCache(config.cache_path or default_cache_path(env))
    try:
        forecast = forecast_run(config, recipe, plan.files, cache)
        hybrid = _hybrid(config, recipe, plan.files, cache) if engine == "hybrid" else None
    finally:
        if cache is not None:
            cache.close()
    prices = run_prices(config)
    priced = f"at {prices.source}" if prices else f"model {config.model} has no price"
    where = f"model {config.model} at {config.base_url}"
    if hybrid is None:
        return [
            f"forecast for engine llm, {where}",
            forecast.line(),
            f"{total([forecast]).line()} ({priced}; nothing was sent)",
        ]
    return [
        f"forecast for engine hybrid (the recipe's rewrites first, then {where})",
        hybrid.line(),
        f"{total([hybrid]).line()} ({priced}; nothing was sent)",
        f"with --engine llm (every selected chunk to the model): {forecast.line()}",
    ]


def _hybrid(
    config: RunConfig, recipe: Recipe, files: Sequence[FilePlan], cache: ResponseCache | None
) -> Forecast:
    """The hybrid's smaller bill: the model only for what the recipe's rewrites leave."""
    from pipeline.run.hybrid_run import forecast_hybrid  # the codemod engine: libcst, ruff

    return forecast_hybrid(config, recipe, files, cache)
