"""The model engine's part of a run: one client, one cache, one limiter, one breaker, every shard concurrent.

How each shard is executed is the `Steps`' business; what stops the run (a fatal provider error, an
unreachable endpoint, the cost limit) is decided here and handed back as a `ModelStop`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from pipeline import repository
from pipeline.config import RunConfig
from pipeline.engines.model_engine import LLMEngine
from pipeline.engines.proposal import Proposal
from pipeline.engines.spend import RunStop, SpendMeter, usd
from pipeline.gates.combined import GateSettings
from pipeline.gates.repair import RepairReport, repair_after_gates
from pipeline.judge.policy import Policy
from pipeline.model.attempts import AttemptObserver
from pipeline.model.breaker import CircuitBreaker
from pipeline.model.cache import ResponseCache
from pipeline.model.client import ChatClient
from pipeline.model.completion import Usage
from pipeline.model.limiter import Limiter
from pipeline.model.request import ModelSettings, api_key_from_env
from pipeline.paths import default_cache_path
from pipeline.recipes.loading import Recipe
from pipeline.run.estimate import check_max_cost, forecast_run, run_prices
from pipeline.run.executor import Steps
from pipeline.run.parallel import worker_pool
from pipeline.run.result import ModelStop
from pipeline.run.steps import FilePlan, Plan, Record, worker_count


def open_cache(config: RunConfig, env: Mapping[str, str]) -> ResponseCache | None:
    """The run's response cache, or None with --no-cache."""
    if config.no_cache:
        return None
    return ResponseCache(config.cache_path or default_cache_path(env))


def refuse_over_budget(
    config: RunConfig, recipe: Recipe, plan: Plan, env: Mapping[str, str]
) -> None:
    """Refuse the run before any request when its cost forecast is over --max-cost (unless --force)."""
    if config.max_cost is None or config.force:
        return
    cache = open_cache(config, env)
    try:
        check_max_cost(forecast_run(config, recipe, plan.files, cache), config, force=config.force)
    finally:
        if cache is not None:
            cache.close()


def repair_with_model(
    config: RunConfig,
    recipe: Recipe,
    policy: Policy,
    base_commit: str,
    before: Mapping[str, bytes],
    proposals: Sequence[Proposal],
    env: Mapping[str, str],
    observer: AttemptObserver,
) -> RepairReport:
    """Gate turns for the model chunks the gates dropped: one client for them all, on a loop of its own
    (the run's steps after refactoring are synchronous)."""

    async def repair() -> RepairReport:
        settings = ModelSettings.from_config(config)
        spent = sum((p.usage for p in proposals), Usage()).cost_usd
        cache = open_cache(config, env)
        limiter = Limiter(config.concurrency, rpm=config.rpm, tpm=config.tpm)
        key = api_key_from_env(settings, env)
        try:
            async with ChatClient(
                settings, api_key=key, limiter=limiter, observer=observer
            ) as client:
                meter = SpendMeter(config.max_cost, spent)
                engine = LLMEngine.from_config(
                    client,
                    recipe,
                    policy,
                    config,
                    cache=cache,
                    meter=meter,
                    prices=run_prices(config),
                )
                return await repair_after_gates(
                    engine,
                    repository.open_repository(config.repo),
                    base_commit,
                    before,
                    proposals,
                    GateSettings.for_run(config, "llm"),
                    rounds=config.gate_repairs,
                    base_run=None,
                )
        finally:
            if cache is not None:
                cache.close()

    with ThreadPoolExecutor(1, thread_name_prefix="codemill-gate-repairs") as pool:
        return pool.submit(asyncio.run, repair()).result()


async def refactor_with_model(
    config: RunConfig,
    recipe: Recipe,
    policy: Policy,
    limiter: Limiter,
    shards: list[list[FilePlan]],
    record: Record,
    steps: Steps,
    env: Mapping[str, str],
    observer: AttemptObserver,
) -> ModelStop:
    """Every shard on this loop through the run's one client; how the model part ended."""
    settings = ModelSettings.from_config(config)
    cache = open_cache(config, env)
    meter, stop, breaker = SpendMeter(config.max_cost), RunStop(), CircuitBreaker()
    key = api_key_from_env(settings, env)
    client = ChatClient(settings, api_key=key, limiter=limiter, breaker=breaker, observer=observer)
    judging = worker_pool(max(1, worker_count(config) - 1))  # this process keeps the loop
    try:
        async with client:
            with judging as judges:
                engine = LLMEngine.from_config(
                    client,
                    recipe,
                    policy,
                    config,
                    cache=cache,
                    meter=meter,
                    stop=stop,
                    prices=run_prices(config),
                    judges=judges,
                )
                shard_runs = (
                    steps.refactor_llm(engine, i, s, record) for i, s in enumerate(shards)
                )
                await asyncio.gather(*shard_runs)
    finally:
        if cache is not None:
            cache.close()
    if stop.reason is not None:
        return ModelStop(stop.reason, fatal=True, unreachable=breaker.tripped)
    if meter.exhausted:
        limit = usd(meter.max_cost or 0.0)
        return ModelStop(f"max cost {limit} reached: no new request was sent after it")
    return ModelStop()
