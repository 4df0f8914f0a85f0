"""The model engine's part of a run: one session (client, cache, limiter, breaker) for every shard and
every gate turn.

How each shard is executed is the `Runner`'s business; what stops the run (a fatal provider error, an
unreachable endpoint, the cost limit) is decided here and handed back as a `ModelStop`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack

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
from pipeline.model.limiter import Limiter, SharedSlot
from pipeline.model.request import ModelSettings, api_key_from_env
from pipeline.paths import default_cache_path
from pipeline.recipes.loading import Recipe
from pipeline.run.estimate import check_max_cost, forecast_run, run_prices
from pipeline.run.parallel import worker_pool
from pipeline.run.result import ModelStop
from pipeline.run.runner import Runner
from pipeline.run.steps import (
    FilePlan,
    Plan,
    Record,
    ShardWork,
    refactor_shard_llm,
    worker_count,
)


def open_cache(config: RunConfig, env: Mapping[str, str]) -> ResponseCache | None:
    """The run's response cache, or None with --no-cache."""
    if config.no_cache:
        return None
    return ResponseCache(config.cache_path or default_cache_path(env))


def refuse_over_max_cost(
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


class ModelSession:
    """The run's one model session: client, response cache, limiter, circuit breaker, spend meter and
    judge processes, for the refactoring and the gate turns alike (one limit, one bill, one breaker).

    `shared_slot` is a limit shared with other runs (a fleet's): every request of the session, gate
    turns included, holds one of its slots inside the run's own."""

    def __init__(
        self,
        config: RunConfig,
        recipe: Recipe,
        policy: Policy,
        env: Mapping[str, str],
        observer: AttemptObserver,
        shared_slot: SharedSlot | None = None,
    ) -> None:
        self.config = config
        self.limiter = Limiter(
            config.concurrency, rpm=config.rpm, tpm=config.tpm, shared=shared_slot
        )
        self.meter = SpendMeter(config.max_cost)
        self.stop = RunStop()
        self.breaker = CircuitBreaker()
        settings = ModelSettings.from_config(config)
        key = api_key_from_env(settings, env)
        self.client = ChatClient(
            settings, api_key=key, limiter=self.limiter, breaker=self.breaker, observer=observer
        )
        self.cache = open_cache(config, env)
        self._recipe, self._policy = recipe, policy
        self._stack = AsyncExitStack()
        self.engine: LLMEngine | None = None

    async def __aenter__(self) -> ModelSession:
        await self._stack.enter_async_context(self.client)
        if self.cache is not None:
            self._stack.callback(self.cache.close)
        pool = worker_pool(max(1, worker_count(self.config) - 1))  # this process keeps the loop
        judges = self._stack.enter_context(pool)
        self.engine = LLMEngine.from_config(
            self.client,
            self._recipe,
            self._policy,
            self.config,
            cache=self.cache,
            meter=self.meter,
            stop=self.stop,
            prices=run_prices(self.config),
            judges=judges,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    def _engine(self) -> LLMEngine:
        if self.engine is None:
            raise RuntimeError("the model session is used outside its `async with`")
        return self.engine

    async def refactor(
        self,
        shards: list[list[FilePlan]],
        record: Record,
        runner: Runner,
        through: ShardWork = refactor_shard_llm,
    ) -> ModelStop:
        """Every shard on this loop through the session's client, each a step of the runner (`through`
        its work: the model engine's, or a hybrid run's); how the model part ended."""
        engine = self._engine()

        def shard(files: list[FilePlan]) -> Callable[[], Awaitable[None]]:
            return lambda: through(engine, files, record)

        await asyncio.gather(
            *(runner.shard(f"refactor-shard-{i}", shard(s)) for i, s in enumerate(shards))
        )
        if self.stop.reason is not None:
            return ModelStop(self.stop.reason, fatal=True, unreachable=self.breaker.tripped)
        if self.meter.exhausted:
            limit = usd(self.meter.max_cost or 0.0)
            return ModelStop(f"max cost {limit} reached: no new request was sent after it")
        return ModelStop()

    async def repair(
        self, base_commit: str, before: Mapping[str, bytes], proposals: Sequence[Proposal]
    ) -> RepairReport:
        """Gate turns for the model chunks the gates dropped, through the same client and limits."""
        return await repair_after_gates(
            self._engine(),
            repository.open_repository(self.config.repo),
            base_commit,
            before,
            proposals,
            GateSettings.for_run(self.config, "llm"),
            rounds=self.config.gate_repairs,
            base_run=None,
        )
