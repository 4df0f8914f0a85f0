"""A run's steps as plain functions: plan, refactor a shard, assemble, gate, report (commits: run.landing).

`pipeline.run.execute` sequences them and makes every decision; a `pipeline.run.runner.Runner` says how each
one is executed (in-process, or as a Prefect task). Keeping them here means a whole run is testable without
Prefect.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline import repository
from pipeline.config import RunConfig
from pipeline.engines.codemod_files import CodemodFileEngine
from pipeline.engines.proposal import FatalProposalError, Proposal
from pipeline.gates.base_tests import BaseTests
from pipeline.gates.combined import GateSettings, run_gates
from pipeline.judge.names import ModuleNames, module_names
from pipeline.judge.verdicts import Reason, Status, Verdict
from pipeline.recipes.loading import Recipe
from pipeline.records.ledger import Ledger, LedgerRow
from pipeline.report import directory as reports
from pipeline.run.landing import (
    ApplyRequest as ApplyRequest,
)  # re-exported: the commit step's input
from pipeline.run.landing import Commits as Commits  # re-exported: the commit step's output
from pipeline.run.parallel import available_cores, ordered_map
from pipeline.run.setup import CODEMOD_MODEL as CODEMOD_MODEL  # re-exported: run setup
from pipeline.run.setup import RunSetup as RunSetup
from pipeline.run.setup import choose_engine as choose_engine
from pipeline.run.setup import prepare_run as prepare_run
from pipeline.run.setup import repo_root as repo_root
from pipeline.source.chunking import Chunk, plan_file
from pipeline.source.files import SkippedFile, SkipReason, SourceFile, list_sources
from pipeline.source.splicing import splice

if TYPE_CHECKING:
    from pipeline.engines.model_engine import LLMEngine  # the model's side, imported by its run

Record = Callable[[Proposal], None]
# the model's half of a shard: refactor_shard_llm, or a hybrid run's (pipeline.run.hybrid_run)
ShardWork = Callable[["LLMEngine", Sequence["FilePlan"], Record], Awaitable[None]]
LeftOut = Callable[[SkippedFile], None]  # told of each file the engine left out, with its reason
Changes = dict[str, tuple[bytes, bytes]]  # repo-relative path -> (bytes before, bytes after)


@dataclass(frozen=True)
class FilePlan:
    """One file of the run with every chunk it was cut into."""

    source: SourceFile
    chunks: tuple[Chunk, ...]


@dataclass
class Plan:
    """What a run will look at: chunked files, files left out (with why), and the base commit."""

    base_commit: str
    files: list[FilePlan]
    skipped: list[SkippedFile]
    uncommitted: list[str] = field(default_factory=list)
    chunked: bool = True  # False: files are cut later, in the codemod engine's workers

    @property
    def chunk_count(self) -> int:
        return sum(len(f.chunks) for f in self.files)


def plan_run(
    config: RunConfig,
    paths: Sequence[str],
    *,
    only: Iterable[str] | None = None,
    chunk: bool = True,
) -> Plan:
    """List the run's files at the base commit and cut each into chunks; unusable files are skipped.

    The files are cut on `config.jobs` worker processes. `chunk=False` (the codemod engine) lists them
    only: each is cut in the worker that runs the codemods, after its trigger test, from the same parse.
    """
    sources = list_sources(
        config.repo,
        paths,
        base=config.base,
        include=config.include,
        exclude=config.exclude,
        max_bytes=config.max_bytes,
        only=None if only is None else set(only),
    )
    skipped = list(sources.skipped)
    if not chunk:
        files = [FilePlan(source, ()) for source in sources.files]
        return Plan(sources.base_commit, files, skipped, list(sources.uncommitted), chunked=False)
    files = []
    cut = functools.partial(plan_file, budget=config.budget)
    planned = ordered_map(cut, sources.files, jobs=worker_count(config), crashed=_crashed_cutting)
    for source, chunks in zip(sources.files, planned, strict=True):
        if isinstance(chunks, SkippedFile):
            skipped.append(chunks)
        else:
            files.append(FilePlan(source, tuple(chunks)))
    return Plan(sources.base_commit, files, skipped, list(sources.uncommitted))


def worker_count(config: RunConfig) -> int:
    """How many worker processes the run's per-file work uses: `--jobs`, else every core."""
    return config.jobs or available_cores()


def _crashed_cutting(source: SourceFile) -> SkippedFile:
    detail = "the worker process died while cutting this file into chunks"
    return SkippedFile(source.path, SkipReason.CRASHED, detail)


def shard_files(files: Sequence[FilePlan], shards: int) -> list[list[FilePlan]]:
    """Split files into at most `shards` groups of similar chunk counts (largest files first)."""
    count = max(1, min(shards, len(files)))
    groups: list[list[FilePlan]] = [[] for _ in range(count)]
    loads = [0] * count
    for plan in sorted(files, key=lambda f: len(f.chunks), reverse=True):
        least = loads.index(min(loads))
        groups[least].append(plan)
        loads[least] += len(plan.chunks)
    return [g for g in groups if g]


def not_selected(chunk: Chunk, recipe: Recipe) -> Proposal:
    """The proposal for a chunk the recipe's selectors ruled out: never sent."""
    return Proposal(
        chunk,
        Verdict(Status.SKIPPED, Reason.NOT_SELECTED, f"not a candidate for recipe {recipe.name}"),
    )


async def refactor_shard_llm(engine: LLMEngine, files: Sequence[FilePlan], record: Record) -> None:
    """Every chunk of the shard as a coroutine; the engine's client carries the run's one limiter."""

    async def work(chunk: Chunk, names: ModuleNames) -> Proposal:
        if not await engine.selects(chunk):
            return not_selected(chunk, engine.recipe)
        return await engine.refactor(chunk, names=names)

    await each_chunk(files, work, record)


async def each_chunk(
    files: Sequence[FilePlan],
    work: Callable[[Chunk, ModuleNames], Awaitable[Proposal]],
    record: Record,
) -> None:
    """`work` on every chunk of the files at once (a coroutine each, the module's names read once per
    file), each proposal recorded as it comes; a run-ending provider error's too, with what it cost."""

    async def one(chunk: Chunk, names: ModuleNames) -> None:
        try:
            proposal = await work(chunk, names)
        except FatalProposalError as exc:  # the run stops; this chunk's record keeps what it cost
            proposal = exc.proposal
        record(proposal)

    names = {plan.source.path: module_names(plan.source.text) for plan in files}  # once per file
    await asyncio.gather(*(one(c, names[plan.source.path]) for plan in files for c in plan.chunks))


def refactor_codemod(
    engine: CodemodFileEngine,
    files: Sequence[FilePlan],
    record: Record,
    left_out: LeftOut,
    *,
    jobs: int,
) -> None:
    """Every file through the codemods on `jobs` worker processes, largest first, recorded in that order.

    A run waits for its slowest worker, so the costliest files (size is the cost's proxy) go out first and
    the small ones fill in after them; the order is the same with any number of jobs. A file whose chunks
    are judged gives `record` one proposal per chunk; a file left out (no trigger matched, it does not
    parse, its worker died) gives `left_out` its reason: every file is recorded. ruff's fixes (for a
    recipe with ruff rules) are found first, in one batch over all the files.
    """
    sources = largest_first([plan.source for plan in files])
    engine.find_ruff_fixes(sources)  # once, over every file, before any is worked
    for outcome in ordered_map(engine.refactor_source, sources, jobs=jobs, crashed=engine.crashed):
        if outcome.skipped is not None:
            left_out(outcome.skipped)
        for proposal in outcome.proposals:
            record(proposal)


def largest_first(sources: Sequence[SourceFile]) -> list[SourceFile]:
    """The files by size, largest first (then by path): the order the codemod engine works them in."""
    return sorted(sources, key=lambda source: (-len(source.data), source.path))


def assemble(
    files: Sequence[FilePlan], proposals: Sequence[Proposal]
) -> dict[str, tuple[bytes, bytes]]:
    """Splice accepted proposals into their files: path -> (bytes before, bytes after), changed only."""
    accepted: dict[str, list[tuple[Chunk, str]]] = {}
    for proposal in proposals:
        if proposal.verdict.status is Status.ACCEPTED and proposal.new_text is not None:
            accepted.setdefault(proposal.chunk.path, []).append((proposal.chunk, proposal.new_text))
    changes: dict[str, tuple[bytes, bytes]] = {}
    for plan in files:
        replacements = accepted.get(plan.source.path)
        if not replacements:
            continue
        after = splice(plan.source.data, replacements)
        if after != plan.source.data:
            changes[plan.source.path] = (plan.source.data, after)
    return changes


def ledger_row(
    run_id: str, proposal: Proposal, *, engine: str, concurrency_limit: int | None
) -> LedgerRow:
    """The ledger's record of one proposal; `engine` is the run's, unless the proposal names its own."""
    return LedgerRow.for_chunk(
        run_id,
        proposal.chunk,
        proposal.verdict,
        engine=proposal.engine or engine,
        rule=",".join(proposal.rules),
        model=proposal.model,
        usage=proposal.usage,
        concurrency_limit=concurrency_limit,
        gates=dict(proposal.gates),
        shadow_calls=proposal.shadow_calls,
        shadow_equal=proposal.shadow_equal,
        new_text=proposal.new_text,
        requests=list(proposal.requests),
        forecast=proposal.forecast,
        turns=list(proposal.turns),
        evidence=proposal.evidence,
    )


def record_gates(
    ledger: Ledger, run_id: str, proposals: Iterable[Proposal], *, engine: str
) -> None:
    """Amend the ledger rows of the proposals a gate decided on (its decision may overturn the verdict)."""
    limits = {(r.path, r.chunk, r.start_line): r.concurrency_limit for r in ledger.rows}
    for proposal in proposals:
        if proposal.gates or proposal.evidence is not None:
            chunk = proposal.chunk
            limit = limits.get((chunk.path, chunk.name, chunk.start_line))
            ledger.amend(ledger_row(run_id, proposal, engine=engine, concurrency_limit=limit))


def record_skipped(run_id: str, ledger: Ledger, skipped: Iterable[SkippedFile]) -> None:
    """One ledger row per file the run left out, with its reason."""
    for item in skipped:
        ledger.append(LedgerRow.for_skipped_file(run_id, item.path, str(item.reason), item.detail))


def gate(
    config: RunConfig,
    engine: str,
    base_commit: str,
    changes: Changes,
    proposals: list[Proposal],
    ledger: Ledger,
    base_tests: BaseTests | None = None,
) -> Changes:
    """Import check and test gate over the assembled changes; the ledger records every decision.

    `base_tests`: the test command's base run, started with the run (`start_base_tests`)."""
    repo = repository.open_repository(config.repo)
    settings = GateSettings.for_run(config, engine)
    report = run_gates(repo, base_commit, changes, proposals, settings, base_tests)
    record_gates(ledger, ledger.meta.run_id, proposals, engine=engine)
    ledger.meta.gates.update(report.summary)
    return report.changes


def report(report_dir: Path, ledger: Ledger, changes: Changes, patch: str) -> reports.ReportPaths:
    """Write the run's report directory: patch, summary, ledger, JUnit and HTML."""
    return reports.write_report_dir(report_dir, ledger, changes, patch=patch)
