"""A hybrid run's two halves: the deterministic rewrites over every file first (the codemod engine on the
--jobs workers, ruff once for the run), then the model, through the run's one session, for the chunks
they leave; and the forecast of that smaller bill (`--estimate`, `--max-cost`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from pipeline.config import RunConfig, model_key_hidden
from pipeline.engines.codemod_files import CodemodFileEngine
from pipeline.engines.hybrid_engine import HybridEngine, asked_chunk
from pipeline.engines.model_engine import LLMEngine
from pipeline.engines.proposal import Proposal
from pipeline.judge.names import ModuleNames
from pipeline.judge.policy import Policy
from pipeline.model.cache import ResponseCache
from pipeline.recipes.loading import Recipe
from pipeline.run import steps
from pipeline.run.estimate import Forecast, forecast_run
from pipeline.run.steps import FilePlan, LeftOut, Record, ShardWork
from pipeline.source.chunking import Chunk

ChunkKey = tuple[str, int, int]  # path, start and end byte: a chunk of the run, as cut


def chunk_key(chunk: Chunk) -> ChunkKey:
    return chunk.path, chunk.start_byte, chunk.end_byte


@dataclass
class Rewritten:
    """The rewrites' half of a hybrid run: each file with the chunks they cut it into, and each
    chunk's first proposal (unchanged, or the rewrites' change proven)."""

    files: list[FilePlan]
    first: dict[ChunkKey, Proposal]

    def asked(self) -> list[FilePlan]:
        """Each file's chunks as the model would be asked about them (the rewrites' text where they
        changed one): what a forecast of the model's half counts."""
        return [
            FilePlan(plan.source, tuple(asked_chunk(self.first[chunk_key(c)]) for c in plan.chunks))
            for plan in self.files
        ]


def rewrite_files(
    config: RunConfig,
    recipe: Recipe,
    policy: Policy,
    files: Sequence[FilePlan],
    left_out: LeftOut,
) -> Rewritten:
    """Every file through the recipe's rewrites (every chunk kept: the model may be asked about any)."""
    engine = CodemodFileEngine.from_config(recipe, policy, config, every_chunk=True)
    by_path: dict[str, list[Proposal]] = {}

    def collect(proposal: Proposal) -> None:
        by_path.setdefault(proposal.chunk.path, []).append(proposal)

    jobs = steps.worker_count(config)
    steps.refactor_codemod(engine, files, collect, left_out, jobs=jobs)
    kept = [
        FilePlan(plan.source, tuple(p.chunk for p in by_path[plan.source.path]))
        for plan in files
        if plan.source.path in by_path
    ]
    first = {chunk_key(p.chunk): p for found in by_path.values() for p in found}
    return Rewritten(kept, first)


def shard_work(first: Mapping[ChunkKey, Proposal]) -> ShardWork:
    """The model half of a shard, for `ModelSession.refactor(through=...)`."""

    async def work(engine: LLMEngine, files: Sequence[FilePlan], record: Record) -> None:
        await refactor_shard_hybrid(HybridEngine(engine), files, first, record)

    return work


async def refactor_shard_hybrid(
    engine: HybridEngine,
    files: Sequence[FilePlan],
    first: Mapping[ChunkKey, Proposal],
    record: Record,
) -> None:
    """Every chunk of the shard as a coroutine: its final proposal from its first one."""

    async def work(chunk: Chunk, names: ModuleNames) -> Proposal:
        return await engine.refactor(first[chunk_key(chunk)], names=names)

    await steps.each_chunk(files, work, record)


def forecast_hybrid(
    config: RunConfig, recipe: Recipe, files: Sequence[FilePlan], cache: ResponseCache | None
) -> Forecast:
    """What a hybrid run would send: the recipe's rewrites run (offline, the model's key hidden from
    them), then the chunks that still match the selectors forecast as the model engine's would be."""
    policy = Policy(recipe.allowances, config.target_python)
    with model_key_hidden(config):
        rewritten = rewrite_files(config, recipe, policy, files, lambda item: None)
    forecast = forecast_run(config, recipe, rewritten.asked(), cache)
    return replace(forecast, recipe=f"{recipe.name} (hybrid: the rewrites first)")
