"""The `refactor_repo` Prefect flow: plan -> refactor shards -> assemble -> apply -> report.

Thin by design: every step is a function of `pipeline.run.steps`; this module says what runs as which task.
A task per shard of files (never per model call: a Prefect task costs ~6 ms), the model calls as coroutines
inside it, and one limiter and one HTTP client for the whole run, shared by every shard on the flow's loop.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar, cast
from uuid import UUID

from prefect import flow, task
from prefect.artifacts import (
    acreate_progress_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.cache_policies import NONE
from prefect.utilities.annotations import quote

from flows.console import ProgressDisplay, announce_start
from pipeline import repository
from pipeline.config import RunConfig
from pipeline.engines.codemod_files import CodemodFileEngine
from pipeline.engines.model_engine import LLMEngine
from pipeline.engines.proposal import Proposal
from pipeline.engines.spend import RunStop, SpendMeter, usd
from pipeline.gates.combined import GateSettings, run_gates
from pipeline.judge.policy import Policy
from pipeline.model.attempts import AttemptObserver
from pipeline.model.cache import ResponseCache
from pipeline.model.client import ChatClient, ModelSettings, api_key_from_env
from pipeline.model.limiter import Limiter
from pipeline.paths import default_cache_path, default_report_dir, private_dir
from pipeline.recipes.loading import Recipe
from pipeline.report import directory as reports
from pipeline.report.patch import unified_patch
from pipeline.run import state
from pipeline.run.estimate import Forecast, check_max_cost, forecast_run, run_prices
from pipeline.run.ledger import Ledger, RunMeta, Totals
from pipeline.run.progress import RunCounter
from pipeline.run.state import LastRun
from pipeline.run.steps import (
    FilePlan,
    Plan,
    Record,
    assemble,
    ledger_row,
    plan_run,
    prepare_run,
    record_gates,
    record_skipped,
    refactor_shard_codemod,
    refactor_shard_llm,
    shard_files,
)

T = TypeVar("T")

FILES_PER_SHARD = 64
MAX_SHARDS = 16


@dataclass
class RunResult:
    """What the CLI needs to tell the user and choose an exit code."""

    run_id: str
    recipe: str
    engine: str
    model: str
    report_dir: Path
    totals: Totals
    changed_files: list[str]
    skipped_files: int
    uncommitted: list[str]
    branch: str | None = None
    commits: list[str] = field(default_factory=list)
    pushed: bool = False
    stop_reason: str | None = None
    fatal: bool = False
    since_note: str = ""  # which files --since let the run touch, in one phrase
    same_as: LastRun | None = None  # the last run whose change this one repeated: no new branch


def opaque(value: T) -> T:
    """Hide a large or live object (files, engine, ledger) from Prefect's parameter introspection."""
    return cast(T, quote(value))


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique, path-safe run id: UTC time plus random hex."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


@task(name="plan", cache_policy=NONE)
def plan_task(config: RunConfig, paths: Sequence[str], only: frozenset[str] | None = None) -> Plan:
    """List the files at the base commit (only `only`, when given) and cut them into chunks."""
    return plan_run(config, paths, only=only)


@task(name="refactor-shard-llm", cache_policy=NONE, task_run_name="refactor-shard-{index}")
async def llm_shard_task(
    engine: LLMEngine, index: int, files: list[FilePlan], record: Record
) -> None:
    """One shard's chunks as concurrent coroutines through the run's shared client and limiter."""
    await refactor_shard_llm(engine, files, record)


@task(name="refactor-shard-codemod", cache_policy=NONE, task_run_name="refactor-shard-{index}")
def codemod_shard_task(
    engine: CodemodFileEngine, index: int, files: list[FilePlan], record: Record
) -> None:
    """One shard's files through the recipe's codemods."""
    refactor_shard_codemod(engine, files, record)


@task(name="assemble", cache_policy=NONE)
def assemble_task(
    files: list[FilePlan], proposals: list[Proposal]
) -> dict[str, tuple[bytes, bytes]]:
    """Splice every accepted chunk back into its file."""
    return assemble(files, proposals)


@task(name="gate", cache_policy=NONE)
def gate_task(
    config: RunConfig,
    engine: str,
    base_commit: str,
    changes: dict[str, tuple[bytes, bytes]],
    proposals: list[Proposal],
    ledger: Ledger,
) -> dict[str, tuple[bytes, bytes]]:
    """Import check and test gate over the assembled changes; the ledger records every decision."""
    repo = repository.open_repository(config.repo)
    settings = GateSettings.for_run(config, engine)
    report = run_gates(repo, base_commit, changes, proposals, settings)
    record_gates(ledger, ledger.meta.run_id, proposals, engine=engine)
    ledger.meta.gates.update(report.summary)
    return report.changes


@task(name="apply", cache_policy=NONE)
def apply_task(
    config: RunConfig,
    branch: str,
    base_commit: str,
    changes: dict[str, tuple[bytes, bytes]],
    recipe: str,
    model: str,
    run_id: str,
) -> repository.CommitResult:
    """Commit the accepted files on a new branch in a separate worktree (and push if asked)."""
    repo = repository.open_repository(config.repo)
    return repository.commit_changes(
        repo,
        base=base_commit,
        branch=branch,
        changes={path: after for path, (_, after) in changes.items()},
        recipe=recipe,
        model=model,
        run_id=run_id,
        commit_per=config.commit_per,
        force_branch=config.force_branch,
        push=config.push,
    )


@task(name="report", cache_policy=NONE)
def report_task(
    report_dir: Path, ledger: Ledger, changes: dict[str, tuple[bytes, bytes]], patch: str
) -> reports.ReportPaths:
    """Write the patch, summary, ledger and JUnit files, and publish the summary as Prefect artifacts."""
    paths = reports.write_report_dir(report_dir, ledger, changes, patch=patch)
    summary = paths.summary.read_text(encoding="utf-8")
    create_markdown_artifact(summary, key="codemill-summary", description="codemill run summary")
    table = [
        {
            "path": r.path,
            "chunk": r.chunk,
            "lines": f"{r.start_line}-{r.end_line}",
            "status": str(r.status),
            "reason": "" if r.reason is None else str(r.reason),
            "cost_usd": None if r.usage.unpriced else round(r.usage.cost_usd, 6),
        }
        for r in ledger.rows
    ]
    create_table_artifact(table, key="codemill-chunks", description="one row per chunk")
    return paths


def _report_dir(config: RunConfig, run_id: str) -> Path:
    if config.report_dir is not None:
        return Path(config.report_dir) / run_id
    return default_report_dir(config.repo, run_id, os.environ)


@flow(name="refactor_repo", validate_parameters=False, persist_result=False, log_prints=False)
async def refactor_repo(
    config: RunConfig,
    paths: list[str],
    run_id: str | None = None,
    show_progress: bool = True,
    since: str | None = None,
) -> RunResult:
    """Refactor the Python files under `paths` of `config.repo` with `config.recipe`.

    `since` ("last-run" or a git ref) limits the run to the files changed since then.
    """
    run_id = run_id or new_run_id()
    setup = prepare_run(config, since, os.environ, datetime.now(UTC))
    recipe, engine_name, model = setup.recipe, setup.engine, setup.model
    base_commit, branch, last, scope = setup.base_commit, setup.branch, setup.last, setup.scope
    plan = plan_task(config, paths, scope.only)
    if engine_name == "llm" and config.max_cost is not None and not config.force:
        check_max_cost(_forecast(config, recipe, plan), config, force=config.force)
    report_dir = _report_dir(config, run_id)
    private_dir(report_dir)
    meta = RunMeta(run_id, recipe.name, engine_name, model, base_commit, budget=config.budget)
    ledger = Ledger(meta, stream_to=report_dir / "ledger.jsonl")
    record_skipped(run_id, ledger, plan.skipped)
    announce_start(config, recipe.name, engine_name, plan)

    counter = RunCounter()
    counter.start(plan.chunk_count)
    proposals: list[Proposal] = []
    policy = Policy(recipe.allowances, config.target_python)
    limiter: Limiter | None = None

    def record(proposal: Proposal) -> None:
        limit = limiter.current_limit if limiter is not None else None
        proposals.append(proposal)
        ledger.append(ledger_row(run_id, proposal, engine=engine_name, concurrency_limit=limit))
        counter.add(proposal, limit)

    shards = shard_files(plan.files, min(MAX_SHARDS, 1 + len(plan.files) // FILES_PER_SHARD))
    stop_reason: str | None = None
    fatal = False
    progress_id = await _progress_artifact()
    with ProgressDisplay(counter, enabled=show_progress, artifact_id=progress_id):
        if engine_name == "llm":
            limiter = Limiter(config.concurrency, rpm=config.rpm, tpm=config.tpm)
            stop_reason, fatal = await _run_llm(
                config, recipe, policy, limiter, shards, record, counter.attempt
            )
        else:
            codemods = CodemodFileEngine(recipe, policy, budget=config.budget)
            for index, shard in enumerate(shards):
                codemod_shard_task(opaque(codemods), index, opaque(shard), opaque(record))

    changes = assemble_task(opaque(plan.files), opaque(proposals))
    if changes:  # a run stopped by a provider error still reports only changes that pass the gates
        changes = gate_task(
            config, engine_name, base_commit, opaque(changes), opaque(proposals), opaque(ledger)
        )
    patch = unified_patch(changes)
    fingerprint = state.patch_fingerprint(patch)
    same_as = (
        last if branch is not None and state.same_change(last, fingerprint, bool(changes)) else None
    )
    end_note = stop_reason
    committed = repository.CommitResult(branch or "")
    if same_as is not None:
        end_note = end_note or f"same change as run {same_as.run_id}: no new branch made"
    elif branch is not None and changes and not fatal:
        committed = apply_task(
            config, branch, base_commit, opaque(changes), recipe.name, model, run_id
        )
    ledger.finish(end_note)
    report_task(report_dir, opaque(ledger), opaque(changes), opaque(patch))
    if branch is not None and not fatal and stop_reason is None:
        done = state.succeeded(
            last,
            recipe=recipe.name,
            base_commit=base_commit,
            run_id=run_id,
            finished=ledger.meta.finished or "",
            fingerprint=fingerprint,
            branch=branch if committed.commits else None,
        )
        state.save_last_run(setup.state_path, done)
    return RunResult(
        run_id=run_id,
        recipe=recipe.name,
        engine=engine_name,
        model=model,
        report_dir=report_dir,
        totals=ledger.totals(),
        changed_files=sorted(changes),
        skipped_files=len(plan.skipped),
        uncommitted=plan.uncommitted,
        branch=branch,
        commits=committed.commits,
        pushed=committed.pushed,
        stop_reason=stop_reason,
        fatal=fatal,
        since_note=scope.note,
        same_as=same_as,
    )


async def _progress_artifact() -> UUID | None:
    """A Prefect progress artifact for this flow run; None when the API refuses (the run goes on)."""
    try:
        return await acreate_progress_artifact(0.0, key="codemill-progress")
    except Exception:  # an artifact is a convenience; the ledger is the record of the run
        return None


def _forecast(config: RunConfig, recipe: Recipe, plan: Plan) -> Forecast:
    """The run's cost forecast, for --max-cost to refuse it up front."""
    path = config.cache_path or default_cache_path(os.environ)
    cache = None if config.no_cache else ResponseCache(path)
    try:
        return forecast_run(config, recipe, plan.files, cache)
    finally:
        if cache is not None:
            cache.close()


async def _run_llm(
    config: RunConfig,
    recipe: Recipe,
    policy: Policy,
    limiter: Limiter,
    shards: list[list[FilePlan]],
    record: Record,
    observer: AttemptObserver,
) -> tuple[str | None, bool]:
    """Every shard on this loop with one client, one cache and one limiter; (stop reason, fatal)."""
    import asyncio

    settings = ModelSettings(
        base_url=config.base_url,
        model=config.model,
        api_key_env=config.api_key_env,
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        stream=config.stream,
        context_tokens=config.context_tokens,
    )
    cache = (
        None
        if config.no_cache
        else ResponseCache(config.cache_path or default_cache_path(os.environ))
    )
    meter = SpendMeter(config.max_cost)
    stop = RunStop()
    try:
        async with ChatClient(
            settings,
            api_key=api_key_from_env(settings, os.environ),
            limiter=limiter,
            observer=observer,
        ) as client:
            engine = LLMEngine(
                client,
                recipe,
                policy,
                cache=cache,
                refresh_cache=config.refresh_cache,
                repair_turns=config.repair_turns,
                meter=meter,
                stop=stop,
                prices=run_prices(config),
            )
            await asyncio.gather(
                *(
                    llm_shard_task(opaque(engine), index, opaque(shard), opaque(record))
                    for index, shard in enumerate(shards)
                )
            )
    finally:
        if cache is not None:
            cache.close()
    if stop.reason is not None:
        return stop.reason, True
    if meter.exhausted:
        limit = usd(meter.max_cost or 0.0)
        return f"max cost {limit} reached: no new request was sent after it", False
    return None, False
