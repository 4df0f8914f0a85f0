"""Fleet runs on Prefect: `refactor_fleet` (the parent) starts `codemill-fleet-member` flow runs through
`run_deployment` (`arun_deployment`) on a work pool: one per shard of a big repository, one per pack of
small ones (`--repos-per-run`, pipeline.fleet.packing); each worker runs `refactor_repo` there for each
repository of its pack in turn.

Prefect's own machinery does the distribution: the work pool and its workers (process, Docker, Kubernetes)
run the members, one global concurrency limit bounds every worker's model requests, and each member hands
each repository's small result back as a table artifact as soon as it is known (readable from any machine
through the API, unlike a result file): the parent reads them while the child runs, so a repository's
result is recorded when it finishes, and one that fails or crashes its run costs its siblings nothing.
Every decision is made in `pipeline.fleet`; this module only sequences it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
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
    FlowRunFilter,
    FlowRunFilterName,
)
from prefect.client.schemas.objects import FlowRun
from prefect.context import FlowRunContext
from prefect.deployments.flow_runs import arun_deployment

from flows.fleet_publish import publish_member
from flows.refactor import refactor_repo
from pipeline.errors import CodemillError
from pipeline.fleet import memory
from pipeline.fleet.cache import default_cache_dir
from pipeline.fleet.combine import combine_shards
from pipeline.fleet.member import failed, prepare, result_of
from pipeline.fleet.packing import pack
from pipeline.fleet.plan import Member, Work
from pipeline.fleet.spend import FleetSpend
from pipeline.records.repo_result import RepoResult, RepoStatus, fleet_exit_code
from pipeline.report.fleet import FleetRun, fleet_markdown, write_fleet_report
from pipeline.run.setup import new_run_id

OnResult = Callable[[int, RepoResult], None]  # a child run's n-th repository has its result

MEMBER_FLOW = "codemill-fleet-member"
RESULT_KEY = "codemill-fleet-result"
POLL_S = 1.0


@flow(name=MEMBER_FLOW, validate_parameters=False, persist_result=False, log_prints=False)
async def fleet_member(
    members: list[dict[str, Any]],
    max_cost: list[float | None] | None = None,
    limit: str | None = None,
    cache_dir: str | None = None,
) -> list[dict[str, Any]]:
    """A pack of repositories (or one shard) on this worker, one after another: each fetched into the
    cache and run, its small result published as soon as it is known; one failing fails no other."""
    shares = max_cost or [None] * len(members)
    results = []
    for n, (data, share) in enumerate(zip(members, shares, strict=True)):
        result = await _run_one(Member.from_params(data), share, limit, cache_dir)
        await _publish(result, n)
        results.append(result.to_json())
    return results


async def _run_one(
    part: Member, max_cost: float | None, limit: str | None, cache_dir: str | None
) -> RepoResult:
    """One repository (or shard): fetch into the cache, run, sum up; any error is this one's alone."""
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
        run = await refactor_repo(config, ready.paths, run_id=new_run_id(), show_progress=False,
                                  shared_limit=limit, repo_name=part.name)  # fmt: skip
        result = result_of(part, run, time.monotonic() - started, run.exit_code)
        if config.publish and run.exit_code == 0 and run.changed_files:
            result = await publish_member(result, config, run.report_dir)
        return result
    except CodemillError as exc:
        return failed(part, str(exc), exc.exit_code, time.monotonic() - started)
    except Exception as exc:  # the fleet goes on; this repository says what went wrong
        reason = f"internal error: {type(exc).__name__}: {exc}"
        return failed(part, reason, 1, time.monotonic() - started)


async def _publish(result: RepoResult, n: int) -> None:
    """The n-th result as a one-row table artifact of this flow run: the parent reads it by run and key."""
    await acreate_table_artifact(
        [result.to_json()], key=f"{RESULT_KEY}-{n}", description="codemill"
    )


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
    repos_per_run: int | None = 1  # None: packed by size (--repos-per-run auto)
    sizes: dict[str, int] = field(default_factory=dict)  # repository key -> bytes of Python


@dataclass
class Progress:
    """The parent's running state: results so far (by repository key), and what is still to finish."""

    job: FleetJob
    journal: memory.Journal
    remembered: dict[str, memory.Remembered]
    slots: asyncio.Semaphore
    waiting: int
    results: dict[str, RepoResult] = field(default_factory=dict)

    def record(self, work: Work, result: RepoResult) -> None:
        """A repository's result, journaled and remembered the moment it is known."""
        self.results[work.entry.key] = result
        if work.entry.key not in self.job.resumed:
            self.journal.add(result)
        memory.remember(self.job.directory, self.remembered, result, self.job.fleet_run)
        if work.known is None:
            self.waiting -= 1
            _tell(self.job, result, self.waiting)


def _tell(job: FleetJob, result: RepoResult, waiting: int) -> None:
    """A repository's end, as it happens: on the terminal, and in the parent flow run's logs."""
    to_run = sum(1 for work in job.plan if work.known is None)
    why = f": {result.reason}" if result.reason else ""
    line = f"codemill: [{to_run - waiting}/{to_run}] {result.name}: {result.status}{why}"
    print(line, file=sys.stderr, flush=True)
    if FlowRunContext.get() is not None:
        get_run_logger().info(line)


@flow(name="refactor_fleet", validate_parameters=False, persist_result=False, log_prints=False)
async def refactor_fleet(job: FleetJob) -> FleetRun:
    """Run every repository of the plan on the work pool; write the fleet report; remember successes."""
    journal = memory.Journal(job.directory / "runs" / job.fleet_run / memory.JOURNAL)
    if not job.resumed:
        journal.start(job.fleet_run, job.fingerprint)
    to_run = sum(1 for w in job.plan if w.known is None)
    state = Progress(job, journal, memory.load_memory(job.directory),
                     asyncio.Semaphore(job.max_in_flight), to_run)  # fmt: skip
    started = datetime.now(UTC).isoformat(timespec="seconds")
    for work in job.plan:
        if work.known is not None:
            state.record(work, work.known)
    packs = pack(job.plan, job.repos_per_run, job.max_in_flight, lambda m: job.sizes.get(m.key, 0))
    await asyncio.gather(*(_run_pack(state, works) for works in packs))
    results = [state.results[work.entry.key] for work in job.plan]
    code = fleet_exit_code(results, fail_on_changes=job.fail_on_changes)
    finished = datetime.now(UTC).isoformat(timespec="seconds")
    run = FleetRun(job.fleet_run, job.recipe, str(job.fleet_file), started, finished, code, results)
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


async def _run_pack(state: Progress, works: list[Work]) -> None:
    """One child run's worth: a sharded repository's shards (each its own run, then combined), or a
    pack of small repositories in one run, each recorded as its result arrives."""
    if len(works) == 1 and len(works[0].members) > 1:
        work = works[0]
        parts = await asyncio.gather(*(_run_members(state, [m]) for m in work.members))
        state.record(work, await _combined(state.job, work, [p[0] for p in parts]))
        return
    await _run_members(state, [w.members[0] for w in works],
                       lambda n, result: state.record(works[n], result))  # fmt: skip


async def _combined(job: FleetJob, work: Work, parts: list[RepoResult]) -> RepoResult:
    """A sharded repository's result: its shards' dry runs combined into one change."""
    try:
        return await asyncio.to_thread(
            combine_shards, work.members, parts, job.cache_dir, os.environ, new_run_id()
        )
    except CodemillError as exc:
        return failed(work.members[0], f"combining shards: {exc}", exc.exit_code)


async def _run_members(
    state: Progress, members: Sequence[Member], on_result: OnResult | None = None
) -> list[RepoResult]:
    """Members as one child flow run holding one of the fleet's in-flight slots; their results."""
    job, results = state.job, dict[int, RepoResult]()

    def done(n: int, result: RepoResult) -> None:
        if n in results:
            return
        if result.seconds == 0:  # it never ran: the time spent waiting for it is what it cost
            result = replace(result, seconds=round(time.monotonic() - started, 3))
        results[n] = result
        job.spend.finish(members[n].label, result.cost_usd)
        if on_result is not None:
            on_result(n, result)

    async with state.slots:
        started = time.monotonic()
        shares: list[float | None] = []
        for n, member in enumerate(members):
            if not job.spend.can_start():
                done(n, _not_started(member))
                shares.append(None)
            else:
                shares.append(
                    job.spend.start(member.label, min(job.max_in_flight, max(1, state.waiting)))
                )
        go = [n for n in range(len(members)) if n not in results]
        if go:
            await _on_pool(job, [members[n] for n in go], [shares[n] for n in go],
                           lambda k, result: done(go[k], result))  # fmt: skip
    return [results[n] for n in range(len(members))]


def _not_started(member: Member) -> RepoResult:
    return RepoResult(
        member.name,
        member.key,
        RepoStatus.NOT_STARTED,
        "the fleet's --max-cost was reached before it started",
        base_commit=member.base_commit,
        fingerprint=member.fingerprint,
    )


async def _on_pool(
    job: FleetJob, members: list[Member], shares: list[float | None], on_result: OnResult
) -> None:
    """Members as one flow run of the member deployment; each result read back from its artifact
    while the run goes, and every member the run gave no result for failed with the run's end."""
    parameters = {
        "members": [m.to_params() for m in members],
        "max_cost": shares,
        "limit": job.limit,
        "cache_dir": job.worker_cache_dir,
    }
    label = members[0].label + (f"+{len(members) - 1}" if len(members) > 1 else "")
    name = f"{job.fleet_run}-{label.replace(' ', '')}"
    started = time.monotonic()
    running = asyncio.ensure_future(
        arun_deployment(job.deployment, parameters=parameters, timeout=None, poll_interval=POLL_S,
                        flow_run_name=name, tags=["codemill", "codemill-fleet"])
    )  # fmt: skip
    watcher = Watcher(name, members, on_result)
    try:
        while not running.done():
            await asyncio.wait({running}, timeout=POLL_S)
            await watcher.collect()
        flow_run = running.result()
        await watcher.collect(flow_run)
        why = _ending(flow_run)
    except (
        Exception
    ) as exc:  # the API refused or vanished: these repositories fail, the fleet goes on
        why = f"could not run it on the pool: {type(exc).__name__}: {exc}".splitlines()[0]
    finally:
        running.cancel()
    for n, member in enumerate(members):
        on_result(n, failed(member, why, 1, time.monotonic() - started))  # the unreported only


def _ending(flow_run: FlowRun) -> str:
    """Why a finished flow run gave no result for a member: its name and final state."""
    state = flow_run.state
    why = state.message if state is not None and state.message else "no result"
    name = state.name if state is not None else "unknown"
    return f"flow run {flow_run.name} ended {name}: {why}"


class Watcher:
    """Reads a child flow run's result artifacts while it runs; each member's result handed on once."""

    def __init__(self, name: str, members: list[Member], on_result: OnResult) -> None:
        self.name, self.members, self.on_result = name, members, on_result
        self.flow_run_id: Any = None
        self.seen: set[int] = set()

    async def collect(self, flow_run: FlowRun | None = None) -> None:
        """Hand on the results published since the last look (a lookup that fails waits for the next)."""
        with contextlib.suppress(Exception):
            async with get_client() as client:
                if flow_run is not None:
                    self.flow_run_id = flow_run.id
                if self.flow_run_id is None:
                    named = FlowRunFilter(name=FlowRunFilterName(any_=[self.name]))
                    found = await client.read_flow_runs(flow_run_filter=named, limit=1)
                    self.flow_run_id = found[0].id if found else None
                if self.flow_run_id is None:
                    return
                of_run = ArtifactFilterFlowRunId(any_=[self.flow_run_id])
                artifacts = await client.read_artifacts(
                    artifact_filter=ArtifactFilter(flow_run_id=of_run)
                )
            for artifact in artifacts:
                self._hand_on(artifact.key or "", artifact.data)

    def _hand_on(self, key: str, data: Any) -> None:
        index = key.removeprefix(f"{RESULT_KEY}-")
        if not index.isdigit() or int(index) in self.seen or int(index) >= len(self.members):
            return
        rows = _table_rows(data)
        if rows:
            self.seen.add(int(index))
            self.on_result(int(index), RepoResult.from_json(rows[0]))


def _table_rows(data: Any) -> list[dict[str, Any]]:
    """A table artifact's rows (the API gives them as a JSON string)."""
    value = json.loads(data) if isinstance(data, str) else data
    return [dict(row) for row in value] if isinstance(value, list) else []
