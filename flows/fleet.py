"""Fleet runs on Prefect: `refactor_fleet` (the parent) starts one `codemill-fleet-member` flow run per
repository, or per shard, through `run_deployment` (`arun_deployment`) on a work pool; each worker runs
`refactor_repo` there.

Prefect's own machinery does the distribution: the work pool and its workers (process, Docker, Kubernetes)
run the members, one global concurrency limit bounds every worker's model requests, and each member hands
its small result back as a table artifact (readable from any machine through the API, unlike a result file).
Every decision is made in `pipeline.fleet`; this module only sequences it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
)
from prefect.context import FlowRunContext
from prefect.deployments.flow_runs import arun_deployment

from flows.refactor import refactor_repo
from pipeline.errors import CodemillError
from pipeline.fleet import memory
from pipeline.fleet.cache import default_cache_dir
from pipeline.fleet.combine import combine_shards
from pipeline.fleet.member import failed, prepare, result_of
from pipeline.fleet.plan import Member, Work
from pipeline.fleet.spend import FleetSpend
from pipeline.records.repo_result import RepoResult, RepoStatus, fleet_exit_code
from pipeline.report.fleet import FleetRun, fleet_markdown, write_fleet_report
from pipeline.run.setup import new_run_id

MEMBER_FLOW = "codemill-fleet-member"
RESULT_KEY = "codemill-fleet-result"
POLL_S = 1.0


@flow(name=MEMBER_FLOW, validate_parameters=False, persist_result=False, log_prints=False)
async def fleet_member(
    member: dict[str, Any],
    max_cost: float | None = None,
    limit: str | None = None,
    cache_dir: str | None = None,
) -> dict[str, Any]:
    """One repository (or shard) on this worker: fetch into the cache, run, hand back the small result."""
    part = Member.from_params(member)
    started = time.monotonic()
    try:
        ready = prepare(
            part, Path(cache_dir or default_cache_dir(os.environ)), os.environ, max_cost
        )
        for warning in ready.config.warnings:  # the repository's [tool.codemill] it ignored
            get_run_logger().warning(warning)
        config = replace(
            ready.config, since=ready.since or ready.config.since
        )  # --since, or setting
        run = await refactor_repo(
            config, ready.paths, run_id=new_run_id(), show_progress=False, shared_limit=limit
        )
        result = result_of(part, run, time.monotonic() - started, run.exit_code)
    except CodemillError as exc:
        result = failed(part, str(exc), exc.exit_code, time.monotonic() - started)
    except Exception as exc:  # the fleet goes on; this repository says what went wrong
        reason = f"internal error: {type(exc).__name__}: {exc}"
        result = failed(part, reason, 1, time.monotonic() - started)
    await _publish(result)
    return result.to_json()


async def _publish(result: RepoResult) -> None:
    """The result as a one-row table artifact of this flow run: the parent reads it back by run id."""
    await acreate_table_artifact([result.to_json()], key=RESULT_KEY, description="codemill")


@dataclass
class FleetJob:
    """Everything the parent flow needs: the plan, where members run, and the fleet-wide limits."""

    fleet_run: str
    fleet_file: Path
    recipe: str
    fingerprint: str
    plan: list[Work]
    deployment: str
    directory: Path  # the fleet's state directory (memory, journals)
    report_dir: Path
    max_in_flight: int = 4
    limit: str | None = None
    spend: FleetSpend = field(default_factory=lambda: FleetSpend(None))
    cache_dir: Path = field(default_factory=lambda: default_cache_dir(os.environ))  # for shards
    worker_cache_dir: str | None = None
    fail_on_changes: bool = False
    resumed: dict[str, RepoResult] = field(default_factory=dict)


@flow(name="refactor_fleet", validate_parameters=False, persist_result=False, log_prints=False)
async def refactor_fleet(job: FleetJob) -> FleetRun:
    """Run every repository of the plan on the work pool; write the fleet report; remember successes."""
    journal = memory.Journal(job.directory / "runs" / job.fleet_run / memory.JOURNAL)
    if not job.resumed:
        journal.start(job.fleet_run, job.fingerprint)
    remembered = memory.load_memory(job.directory)
    slots = asyncio.Semaphore(job.max_in_flight)
    waiting = [sum(1 for w in job.plan if w.known is None)]

    async def one(work: Work) -> RepoResult:
        if work.known is not None:
            result = work.known
        else:
            result = await _run_work(job, work, slots, waiting)
        if work.entry.key not in job.resumed:
            journal.add(result)
        memory.remember(job.directory, remembered, result, job.fleet_run)
        return result

    started = datetime.now(UTC).isoformat(timespec="seconds")
    results = await asyncio.gather(*(one(work) for work in job.plan))
    code = fleet_exit_code(results, fail_on_changes=job.fail_on_changes)
    finished = datetime.now(UTC).isoformat(timespec="seconds")
    run = FleetRun(
        job.fleet_run, job.recipe, str(job.fleet_file), started, finished, code, list(results)
    )
    write_fleet_report(job.report_dir, run)
    await _artifact(fleet_markdown(run))
    journal.end(code)
    return run


async def _artifact(markdown: str) -> None:
    """fleet.md as a Markdown artifact of the parent flow run (nothing outside a run)."""
    if FlowRunContext.get() is None:
        return
    with contextlib.suppress(Exception):  # an artifact is a convenience; fleet.md is the record
        await acreate_markdown_artifact(
            markdown, key="codemill-fleet", description="codemill fleet"
        )


async def _run_work(
    job: FleetJob, work: Work, slots: asyncio.Semaphore, waiting: list[int]
) -> RepoResult:
    """A repository's members on the pool, each holding one of the fleet's in-flight slots."""
    parts = await asyncio.gather(*(_run_member(job, m, slots, waiting) for m in work.members))
    waiting[0] -= 1
    if len(parts) == 1:
        return parts[0]
    try:
        return await asyncio.to_thread(
            combine_shards, work.members, parts, job.cache_dir, os.environ, new_run_id()
        )
    except CodemillError as exc:
        return failed(work.members[0], f"combining shards: {exc}", exc.exit_code)


async def _run_member(
    job: FleetJob, member: Member, slots: asyncio.Semaphore, waiting: list[int]
) -> RepoResult:
    async with slots:
        if not job.spend.can_start():
            return RepoResult(
                member.name,
                member.key,
                RepoStatus.NOT_STARTED,
                "the fleet's --max-cost was reached before it started",
                base_commit=member.base_commit,
                fingerprint=member.fingerprint,
            )
        share = job.spend.start(member.label, min(job.max_in_flight, max(1, waiting[0])))
        started = time.monotonic()
        try:
            result = await _on_pool(job, member, share)
        except (
            Exception
        ) as exc:  # the API refused or vanished: this repository fails, the fleet goes on
            reason = f"could not run it on the pool: {type(exc).__name__}: {exc}".splitlines()[0]
            result = failed(member, reason, 1, time.monotonic() - started)
        job.spend.finish(member.label, result.cost_usd)
        if result.seconds == 0:  # it never ran: the time spent waiting for it is what it cost
            result = replace(result, seconds=round(time.monotonic() - started, 3))
        return result


async def _on_pool(job: FleetJob, member: Member, share: float | None) -> RepoResult:
    """One member as a flow run of the member deployment; its result read back from its artifact."""
    parameters = {
        "member": member.to_params(),
        "max_cost": share,
        "limit": job.limit,
        "cache_dir": job.worker_cache_dir,
    }
    started = time.monotonic()
    flow_run = await arun_deployment(
        job.deployment,
        parameters=parameters,
        timeout=None,
        poll_interval=POLL_S,
        flow_run_name=f"{job.fleet_run}-{member.label.replace(' ', '')}",
        tags=["codemill", "codemill-fleet"],
    )
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[RESULT_KEY]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id]),
            )
        )
    rows = _table_rows(artifacts[0].data) if artifacts else []
    if rows:
        return RepoResult.from_json(rows[0])
    state = flow_run.state
    why = state.message if state is not None and state.message else "no result"
    name = state.name if state is not None else "unknown"
    return failed(
        member, f"flow run {flow_run.name} ended {name}: {why}", 1, time.monotonic() - started
    )


def _table_rows(data: Any) -> list[dict[str, Any]]:
    """A table artifact's rows (the API gives them as a JSON string)."""
    value = json.loads(data) if isinstance(data, str) else data
    return [dict(row) for row in value] if isinstance(value, list) else []
