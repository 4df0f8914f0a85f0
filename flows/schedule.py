"""Scheduled runs: `codemill serve` (a cron schedule served from this process) and `codemill deploy`
(a deployment on a Prefect work pool), one deployment per repository with the run's settings as parameters.

Both need a real Prefect server (the temporary one refuses schedules). A deployment runs the flow
`scheduled_refactor`, imported by module path from the installed package, so no image or code upload
is needed for a process work pool.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import httpx
from prefect import flow, get_run_logger
from prefect.deployments.runner import RunnerDeployment
from prefect.settings import PREFECT_API_URL
from prefect.types.entrypoint import EntrypointType

from flows.orchestrator import START_SERVER
from flows.refactor import refactor_repo
from pipeline import repository
from pipeline.config import ConfigError, load_config
from pipeline.errors import UsageError
from pipeline.paths import repo_key
from pipeline.recipes.loading import load_recipe
from pipeline.redact import redact_url
from pipeline.run.setup import new_run_id
from pipeline.run.steps import choose_engine


class ScheduleError(UsageError):
    """A schedule or deployment codemill cannot set up; the message is one sentence."""


@flow(name="codemill-scheduled", validate_parameters=False, persist_result=False, log_prints=False)
async def scheduled_refactor(
    repo: str, settings: dict[str, Any], since: str | None = None
) -> dict[str, Any]:
    """One scheduled run over a whole repository; fails the flow run on a fatal provider error."""
    root = Path(repo)
    config = load_config(root, settings, os.environ)
    for warning in config.warnings:  # the repository's [tool.codemill] settings it ignored
        get_run_logger().warning(warning)
    config = replace(config, since=since or config.since)  # --since, else the setting (--set, env)
    result = await refactor_repo(config, [str(root)], run_id=new_run_id(), show_progress=False)
    if result.partial:
        raise RuntimeError(f"codemill run {result.run_id} stopped: {result.stop_reason}")
    pulls: tuple[str, ...] = ()
    error: str | None = None
    if config.publish and result.exit_code == 0 and result.changed_files:
        from flows.fleet_publish import published

        pulls, error = await published(config, result.report_dir)
    if error is not None:
        get_run_logger().error(error)
    return {
        "run_id": result.run_id,
        "branch": result.branch if result.commits else None,
        "commits": result.commits,
        "changed_files": result.changed_files,
        "same_as": None if result.same_as is None else result.same_as.run_id,
        "report_dir": str(result.report_dir),
        "pull_requests": list(pulls),
    }


def require_server(command: str) -> str:
    """The Prefect API URL, after checking a server answers there."""
    url = str(PREFECT_API_URL.value() or "").rstrip("/")
    if not url:
        raise ScheduleError(f"codemill {command} needs a Prefect server: {START_SERVER}")
    try:
        healthy = httpx.get(f"{url}/health", timeout=5.0).status_code == 200
    except httpx.HTTPError:
        healthy = False
    if not healthy:
        raise ScheduleError(f"no Prefect server answers at {url}: {START_SERVER}")
    return url


def parse_sets(pairs: Sequence[str]) -> dict[str, str]:
    """`--set KEY=VALUE` options as settings (checked by load_config like any other source)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r} is not KEY=VALUE")
        out[key.strip().replace("-", "_")] = value
    return out


def deployments_for(
    repos: Sequence[Path],
    settings: dict[str, Any],
    *,
    since: str | None,
    cron: str | None,
    work_pool: str | None = None,
) -> list[RunnerDeployment]:
    """One deployment per repository, each checked now (repo, settings, recipe, engine), not at 3 a.m."""
    out = []
    for path in repos:
        repo = repository.open_repository(path)
        root = Path(str(repo.working_tree_dir)).resolve()
        config = load_config(root, settings, os.environ)
        if config.push is not None and redact_url(config.push) != config.push:
            raise ScheduleError(
                f"--push {redact_url(config.push)} holds credentials, and a deployment's parameters are "
                "stored by Prefect: push to a remote configured in the repository instead"
            )
        recipe = load_recipe(config.recipe)
        choose_engine(config, recipe, os.environ)
        try:
            deployment = scheduled_refactor.to_deployment(
                name=f"{repo_key(root)}-{recipe.name}",
                cron=cron,
                parameters={"repo": str(root), "settings": settings, "since": since},
                description=f"codemill {recipe.name} on {root}",
                tags=["codemill", recipe.name],
                work_pool_name=work_pool,
                entrypoint_type=EntrypointType.MODULE_PATH,
            )
        except ValueError as exc:
            raise ScheduleError(f"cannot schedule {root}: {exc}") from None
        out.append(cast(RunnerDeployment, deployment))  # called outside a loop: sync
    return out


def serve_deployments(deployments: Sequence[RunnerDeployment]) -> None:
    """Serve the deployments' schedules from this process until it is interrupted."""
    from prefect import serve as prefect_serve

    prefect_serve(*deployments, print_starting_message=False)


def deploy_to_pool(deployments: Sequence[RunnerDeployment], pool: str) -> list[UUID]:
    """Register the deployments on a work pool; their ids. A missing pool is a ScheduleError."""
    from prefect import deploy as prefect_deploy

    try:
        ids = prefect_deploy(
            *deployments,
            work_pool_name=pool,
            build=False,
            push=False,
            print_next_steps_message=False,
            ignore_warnings=True,
        )
    except ValueError as exc:  # Prefect's way to say the pool does not exist
        raise ScheduleError(
            f"{exc} (create it with `prefect work-pool create {pool} --type process`)"
        ) from None
    return cast(list[UUID], ids)
