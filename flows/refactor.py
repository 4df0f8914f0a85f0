"""The `refactor_repo` Prefect flow: `pipeline.run.execute_run` with each step a Prefect task.

Thin by design: the run, and every decision in it, is `pipeline.run.execute`; here `PrefectRunner` runs
each step the run names as a Prefect task of that name: a task per shard of files (never per model
call: a Prefect task costs ~6 ms), the model calls as coroutines inside it. Losing the
Prefect API mid-run loses no work: the remaining steps run in-process and the run's ledger and report are
written as always (artifacts are best-effort).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar, cast
from uuid import UUID

import httpx
from prefect import Flow, get_client, get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NONE
from prefect.utilities.annotations import quote

from flows import prefect_view
from flows.console import TerminalView
from flows.run_logs import LoggedView
from flows.shared_limit import shared_slot
from pipeline.config import RunConfig
from pipeline.records.ledger import Ledger
from pipeline.redact import redact_url
from pipeline.report.directory import ReportPaths
from pipeline.run.execute import execute_run
from pipeline.run.result import RunResult
from pipeline.run.setup import RunSetup, prepare_run

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")
log = logging.getLogger("codemill.flows")


def opaque(value: T) -> T:
    """Hide a large or live object (files, engine, ledger) from Prefect's parameter introspection."""
    return cast(T, quote(value))


@task(name="step", cache_policy=NONE)
def step_task(work: Callable[[], T]) -> T:
    """One synchronous step of the run (its name is given per call)."""
    return work()


@task(name="shard", cache_policy=NONE)
async def shard_task(work: Callable[[], Awaitable[None]]) -> None:
    """One shard of the model's work: its chunks as coroutines inside this one task."""
    await work()


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


ApiLostHook = Callable[[RunResult], None]
_api_lost_hook: list[ApiLostHook] = []  # at most one: the caller's, for the span of its call


@contextlib.contextmanager
def ending_without_api(hook: ApiLostHook) -> Iterator[None]:
    """For the span of the block, call `hook` with the result of a run that lost the Prefect API
    (`result.api_lost` says why), before the flow returns: Prefect's client would otherwise wait
    minutes at the flow's end for the dead server. The CLI prints the outcome and ends the process."""
    _api_lost_hook.append(hook)
    try:
        yield
    finally:
        _api_lost_hook.remove(hook)


class PrefectRunner:
    """Each step a Prefect task of its name; once the API is lost, the rest of the run goes on in-process."""

    name = "prefect"

    def __init__(self) -> None:
        self.lost: str | None = None  # why the Prefect API was given up on, if it was

    def _gave_up(self, exc: Exception) -> None:
        """Remember a lost API (the step then runs in-process); any other error is the step's own."""
        if not api_lost(exc):
            raise exc
        self.lost = f"{type(exc).__name__}: {exc}"
        log.warning("the Prefect API is gone (%s); the run goes on without it", self.lost)

    def step(self, name: str, work: Callable[[], T]) -> T:
        if self.lost is None:
            try:
                return step_task.with_options(name=name)(opaque(work))
            except Exception as exc:
                self._gave_up(exc)
        return work()

    async def shard(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        if self.lost is None:
            try:
                return await shard_task.with_options(name=name)(opaque(work))
            except Exception as exc:
                self._gave_up(exc)
        await work()

    def progress_sink(self) -> Callable[[float], None] | None:
        try:
            made = create_progress_artifact(0.0, key="codemill-progress", _sync=True)  # type: ignore[call-arg]
        except Exception:  # an artifact is a convenience; the ledger is the record of the run
            return None
        ident = cast(UUID, made)
        context = contextvars.copy_context()  # the flow run's settings, for the display's thread

        def update(done: float) -> None:
            update_progress_artifact(ident, 100.0 * done, _sync=True)  # type: ignore[call-arg]

        def publish(done: float) -> None:
            context.copy().run(update, done)

        return publish

    def reported(self, paths: ReportPaths, ledger: Ledger) -> None:
        if self.lost is None and not api_answers():
            self.lost = "its health check does not answer"
        if self.lost is None:
            publish_artifacts(paths, ledger)


def publish_artifacts(paths: ReportPaths, ledger: Ledger) -> None:
    """The summary (changed chunks and their diffs) and the chunk table (accepted and rejected first)
    as Prefect artifacts, each capped (best-effort: the report directory is the record)."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    rows = ledger.rows
    table, left_out = prefect_view.chunk_table(rows)
    more = f"; {left_out} more rows in {paths.ledger}" if left_out else ""
    heading = (
        f"codemill run {ledger.meta.run_id}: {ledger.meta.recipe}, engine {ledger.meta.engine}"
    )
    try:
        patch = (
            paths.patch.read_text(encoding="utf-8", errors="replace")
            if paths.patch.exists()
            else ""
        )  # a run with no change writes no patch
        summary = prefect_view.summary_markdown(rows, patch, paths.directory, heading)
        create_markdown_artifact(  # type: ignore[call-arg]
            summary,
            key="codemill-summary",
            description="changed chunks and their diffs, and where the report is",
            _sync=True,
        )
        create_table_artifact(  # type: ignore[call-arg]
            table,
            key="codemill-chunks",
            description=f"chunks, accepted and rejected first{more}",
            _sync=True,
        )
    except Exception as exc:  # the report directory is written; an artifact is a convenience
        log.warning("could not publish the run's artifacts: %s", exc)


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


class RefactorFlow(RedactingFlow[P, R]):
    """`refactor_repo`'s parameters as the run is: its engine, no model settings on an offline run,
    the setup's names only (the key is never a parameter: it stays in the environment)."""

    def serialize_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        config = cast(RunConfig, parameters["config"])
        setup = cast(RunSetup | None, parameters.get("setup"))
        engine = setup.engine if setup is not None else config.engine
        named = {} if setup is None else {
            "run_id": setup.run_id, "base_commit": setup.base_commit, "branch": setup.branch
        }  # fmt: skip
        given = {key: value for key, value in parameters.items() if key != "setup"}
        plain = super().serialize_parameters(given)
        return {**plain, **prefect_view.run_parameters(plain["config"], engine, named)}


def flow_run_name() -> str:
    """`<repo>-<recipe>-<run id>`, from the flow run's own parameters."""
    from prefect.runtime import flow_run

    params = flow_run.parameters
    setup = params.get("setup")
    run_id = params.get("run_id") or (setup.run_id if setup is not None else None)
    config = params["config"]
    return prefect_view.run_name(
        prefect_view.repo_name(config, params.get("repo_name")), config, run_id
    )


async def _tag_run(tags: list[str]) -> None:
    """Add the run's tags to its flow run (one request; best-effort, like every artifact)."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    try:
        async with get_client() as client:
            merged = list(dict.fromkeys([*context.flow_run.tags, *tags]))
            await client.update_flow_run(context.flow_run.id, tags=merged)
    except Exception as exc:
        log.warning("could not tag the flow run: %s", exc)


def _flow_run_link() -> str:
    """The flow run's name and UI URL, as the terminal's last line says them."""
    from prefect.runtime import flow_run
    from prefect.utilities.urls import url_for

    url = url_for("flow-run", obj_id=flow_run.id) if flow_run.id else None
    return f"codemill: Prefect flow run {flow_run.name}" + (f": {url}" if url else "")


async def _refactor_repo(
    config: RunConfig,
    paths: list[str],
    run_id: str | None = None,
    show_progress: bool = True,
    shared_limit: str | None = None,
    setup: RunSetup | None = None,
    repo_name: str | None = None,
) -> RunResult:
    """Refactor the Python files under `paths` of `config.repo` with `config.recipe`, as Prefect tasks.

    `config.since` ("last-run" or a git ref) limits the run to the files changed since then;
    `shared_limit` names a Prefect global concurrency limit every model request of the run also holds
    (a fleet's). `setup` is the run's setup when the caller already checked it (the CLI does, before
    the flow starts), so the checks do not run twice. `repo_name` names the repository in the flow
    run's name and tags (a fleet's name for it; else its directory's). codemill's own start, progress
    and end lines go to the flow run's logs; the terminal's last line names the flow run and its URL.
    """
    setup = setup or prepare_run(config, os.environ, datetime.now(UTC), run_id)
    repo = prefect_view.repo_name(config, repo_name)
    await _tag_run(prefect_view.run_tags(repo, config, setup.engine))
    runner = PrefectRunner()
    view = LoggedView(
        TerminalView(show_progress), get_run_logger(), [os.environ.get(config.api_key_env)]
    )
    async with contextlib.AsyncExitStack() as stack:
        slot = None
        if shared_limit:  # one client for the run's slots of the fleet's limit
            client = await stack.enter_async_context(get_client())
            slot = shared_slot(client, shared_limit)
        result = await execute_run(
            config,
            paths,
            runner=runner,
            view=view,
            run_id=setup.run_id,
            env=os.environ,
            setup=setup,
            shared_slot=slot,
        )
    for line in prefect_view.outcome_lines(result):
        view.log(line)
    print(_flow_run_link(), file=sys.stderr, flush=True)
    result.api_lost = runner.lost
    if runner.lost is not None:
        for hook in _api_lost_hook:
            hook(result)
    return result


refactor_repo = RefactorFlow(
    _refactor_repo,
    name="refactor_repo",
    flow_run_name=flow_run_name,
    validate_parameters=False,
    persist_result=False,
    log_prints=False,
)
