"""The `refactor_repo` Prefect flow: `pipeline.run.execute_run` with each step a Prefect task.

Thin by design: the run, and every decision in it, is `pipeline.run.execute`; here each task is a one-line
call into `pipeline.run.steps`, and `PrefectSteps` says which task runs each step. A task per shard of files
(never per model call: a Prefect task costs ~6 ms), the model calls as coroutines inside it. Losing the
Prefect API mid-run loses no work: the remaining steps run in-process and the run's ledger and report are
written as always (artifacts are best-effort).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast
from uuid import UUID

import httpx
from prefect import Flow, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NONE
from prefect.concurrency.asyncio import concurrency
from prefect.utilities.annotations import quote

from flows.console import TerminalView
from pipeline.config import RunConfig
from pipeline.engines.codemod_files import CodemodFileEngine
from pipeline.engines.model_engine import LLMEngine
from pipeline.engines.proposal import Proposal
from pipeline.gates.base_tests import BaseTests
from pipeline.model.limiter import SharedSlot
from pipeline.model.redact import redact_url
from pipeline.report.directory import ReportPaths
from pipeline.run import steps
from pipeline.run.execute import execute_run
from pipeline.run.executor import LocalSteps
from pipeline.run.ledger import Ledger
from pipeline.run.result import RunResult
from pipeline.run.steps import ApplyRequest, Changes, Commits, FilePlan, LeftOut, Plan, Record

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")
log = logging.getLogger("codemill.flows")


def opaque(value: T) -> T:
    """Hide a large or live object (files, engine, ledger) from Prefect's parameter introspection."""
    return cast(T, quote(value))


@task(name="plan", cache_policy=NONE)
def plan_task(
    config: RunConfig, paths: Sequence[str], only: frozenset[str] | None, chunk: bool
) -> Plan:
    return steps.plan_run(config, paths, only=only, chunk=chunk)


@task(name="refactor-shard-llm", cache_policy=NONE, task_run_name="refactor-shard-{index}")
async def llm_shard_task(
    engine: LLMEngine, index: int, files: list[FilePlan], record: Record
) -> None:
    await steps.refactor_shard_llm(engine, files, record)


@task(name="refactor-codemod", cache_policy=NONE)
def codemod_task(
    engine: CodemodFileEngine, files: list[FilePlan], record: Record, left_out: LeftOut, jobs: int
) -> None:
    steps.refactor_codemod(engine, files, record, left_out, jobs=jobs)


@task(name="assemble", cache_policy=NONE)
def assemble_task(files: list[FilePlan], proposals: list[Proposal]) -> Changes:
    return steps.assemble(files, proposals)


@task(name="gate", cache_policy=NONE)
def gate_task(
    config: RunConfig,
    engine: str,
    base_commit: str,
    changes: Changes,
    proposals: list[Proposal],
    ledger: Ledger,
    base_tests: BaseTests | None,
) -> Changes:
    return steps.gate(config, engine, base_commit, changes, proposals, ledger, base_tests)


@task(name="commit", cache_policy=NONE)
def commit_task(config: RunConfig, request: ApplyRequest) -> Commits:
    return steps.commit(config, request)


@task(name="report", cache_policy=NONE)
def report_task(report_dir: Path, ledger: Ledger, changes: Changes, patch: str) -> ReportPaths:
    return steps.report(report_dir, ledger, changes, patch)


def api_lost(exc: BaseException) -> bool:
    """True for the errors Prefect's client raises when its API does not answer."""
    return isinstance(exc, httpx.TransportError | httpx.HTTPStatusError)


def api_answers() -> bool:
    """Whether the configured Prefect API still answers its health check (one quick request)."""
    from prefect.settings import PREFECT_API_URL

    url = str(PREFECT_API_URL.value() or "").rstrip("/")
    try:
        return bool(url) and httpx.get(f"{url}/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


# Called when a run ends after losing the Prefect API, with its result and why: the CLI prints the outcome
# and ends the process, rather than wait minutes for Prefect's client to give up on the dead server.
ApiLostHook = Callable[[RunResult, str], None]
when_api_lost: list[ApiLostHook] = []


class PrefectSteps(LocalSteps):
    """Each step as a Prefect task; once the API is lost, the rest of the run goes on in-process."""

    name = "prefect"

    def __init__(self) -> None:
        self.lost: str | None = None  # why the Prefect API was given up on, if it was

    def _task(self, call: Callable[[], T], direct: Callable[[], T]) -> T:
        if self.lost is not None:
            return direct()
        try:
            return call()
        except Exception as exc:
            if not api_lost(exc):
                raise
            self.lost = f"{type(exc).__name__}: {exc}"
            log.warning("the Prefect API is gone (%s); the run goes on without it", self.lost)
            return direct()

    def plan(
        self, config: RunConfig, paths: Sequence[str], only: frozenset[str] | None, chunk: bool
    ) -> Plan:
        direct = super().plan
        return self._task(
            lambda: plan_task(config, paths, only, chunk),
            lambda: direct(config, paths, only, chunk),
        )

    async def refactor_llm(
        self, engine: LLMEngine, index: int, files: list[FilePlan], record: Record
    ) -> None:
        if self.lost is None:
            try:
                return await llm_shard_task(opaque(engine), index, opaque(files), opaque(record))
            except Exception as exc:
                if not api_lost(exc):
                    raise
                self.lost = f"{type(exc).__name__}: {exc}"
        await super().refactor_llm(engine, index, files, record)

    def refactor_codemod(
        self,
        engine: CodemodFileEngine,
        files: list[FilePlan],
        record: Record,
        left_out: LeftOut,
        jobs: int,
    ) -> None:
        direct = super().refactor_codemod
        self._task(
            lambda: codemod_task(
                opaque(engine), opaque(files), opaque(record), opaque(left_out), jobs
            ),
            lambda: direct(engine, files, record, left_out, jobs),
        )

    def assemble(self, files: list[FilePlan], proposals: list[Proposal]) -> Changes:
        direct = super().assemble
        return self._task(
            lambda: assemble_task(opaque(files), opaque(proposals)),
            lambda: direct(files, proposals),
        )

    def gate(
        self,
        config: RunConfig,
        engine: str,
        base_commit: str,
        changes: Changes,
        proposals: list[Proposal],
        ledger: Ledger,
        base_tests: BaseTests | None,
    ) -> Changes:
        args = (config, engine, base_commit, changes, proposals, ledger, base_tests)
        direct = super().gate
        return self._task(
            lambda: gate_task(
                config,
                engine,
                base_commit,
                opaque(changes),
                opaque(proposals),
                opaque(ledger),
                opaque(base_tests),
            ),
            lambda: direct(*args),
        )

    def commit(self, config: RunConfig, request: ApplyRequest) -> Commits:
        direct = super().commit
        return self._task(
            lambda: commit_task(config, opaque(request)), lambda: direct(config, request)
        )

    def report(self, report_dir: Path, ledger: Ledger, changes: Changes, patch: str) -> ReportPaths:
        direct = super().report
        paths = self._task(
            lambda: report_task(report_dir, opaque(ledger), opaque(changes), opaque(patch)),
            lambda: direct(report_dir, ledger, changes, patch),
        )
        if self.lost is None and not api_answers():
            self.lost = "its health check does not answer"
        if self.lost is None:
            publish_artifacts(paths, ledger)
        return paths

    def progress_sink(self) -> Callable[[float], None] | None:
        try:
            made = create_progress_artifact(0.0, key="codemill-progress", _sync=True)  # type: ignore[call-arg]
        except Exception:  # an artifact is a convenience; the ledger is the record of the run
            return None
        ident = cast(UUID, made)

        def publish(done: float) -> None:
            update_progress_artifact(ident, 100.0 * done, _sync=True)  # type: ignore[call-arg]

        return publish


def publish_artifacts(paths: ReportPaths, ledger: Ledger) -> None:
    """The summary and the chunk table as Prefect artifacts (best-effort: the files are the record)."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    table: list[dict[str, Any]] = [
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
    try:
        summary = paths.summary.read_text(encoding="utf-8")
        create_markdown_artifact(  # type: ignore[call-arg]
            summary, key="codemill-summary", description="codemill run summary", _sync=True
        )
        create_table_artifact(  # type: ignore[call-arg]
            table, key="codemill-chunks", description="one row per chunk", _sync=True
        )
    except Exception as exc:  # the report directory is written; an artifact is a convenience
        log.warning("could not publish the run's artifacts: %s", exc)


def shared_slot(limit: str) -> SharedSlot:
    """One slot of the fleet's global concurrency limit per model request (it must exist: strict)."""

    def hold() -> AbstractAsyncContextManager[None]:
        return concurrency(limit, occupy=1, strict=True)

    return hold


def redacted(value: Any) -> Any:
    """A serialized parameter with the user-info of every URL in it masked (a push URL's password)."""
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, dict):
        return {key: redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redacted(item) for item in value]
    return value


class RedactingFlow(Flow[P, R]):
    """A flow whose parameters reach Prefect (its database, the UI) with URL credentials masked."""

    def serialize_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        return {
            key: redacted(value) for key, value in super().serialize_parameters(parameters).items()
        }


async def _refactor_repo(
    config: RunConfig,
    paths: list[str],
    run_id: str | None = None,
    show_progress: bool = True,
    since: str | None = None,
    shared_limit: str | None = None,
) -> RunResult:
    """Refactor the Python files under `paths` of `config.repo` with `config.recipe`, as Prefect tasks.

    `since` ("last-run" or a git ref) limits the run to the files changed since then; `shared_limit`
    names a Prefect global concurrency limit every model request of the run also holds (a fleet's).
    """
    steps = PrefectSteps()
    view = TerminalView(show_progress)
    slot = shared_slot(shared_limit) if shared_limit else None
    result = await execute_run(
        config,
        paths,
        steps=steps,
        view=view,
        run_id=run_id,
        since=since,
        env=os.environ,
        shared_slot=slot,
    )
    if steps.lost is not None:
        for hook in when_api_lost:
            hook(result, steps.lost)
    return result


refactor_repo = RedactingFlow(
    _refactor_repo,
    name="refactor_repo",
    validate_parameters=False,
    persist_result=False,
    log_prints=False,
)
