"""`codemill fleet FLEET.toml --recipe R --pool P`: the steps behind the command, up to the flow run.

Checks everything it can before any repository runs (server, fleet file, recipe, settings, pool), creates
the fleet's global concurrency limit when missing (sized by --fleet-concurrency), registers the member
deployment on the pool, decides the plan (skips, resume, shards), then runs the `refactor_fleet` flow here.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from prefect.client.orchestration import get_client
from prefect.deployments.runner import RunnerDeployment
from prefect.types.entrypoint import EntrypointType
from prefect.utilities.annotations import quote

from flows import schedule
from flows.fleet import MEMBER_FLOW, FleetJob, fleet_member, refactor_fleet
from flows.fleet_publish import ensure_forge_limit
from pipeline.config import TABLE, ConfigError, check_setting
from pipeline.fleet import memory
from pipeline.fleet.cache import default_cache_dir, python_bytes
from pipeline.fleet.fleetfile import load_fleet
from pipeline.fleet.packing import repos_per_run
from pipeline.fleet.plan import FleetOptions, ShardBy, Work, plan_fleet
from pipeline.fleet.spend import FleetSpend
from pipeline.paths import state_dir
from pipeline.recipes.loading import Recipe, load_recipe
from pipeline.report.fleet import FleetRun
from pipeline.run.setup import new_run_id

DEFAULT_LIMIT = "codemill-provider"


@dataclass(frozen=True)
class FleetRequest:
    """What `codemill fleet` was asked, as plain values."""

    fleet_file: Path
    recipe: str
    pool: str
    overrides: Mapping[str, Any]
    max_repos_in_flight: int = 4
    fleet_concurrency: int = 16
    limit: str = DEFAULT_LIMIT
    max_cost: float | None = None
    shard_by: str = "none"  # none | paths
    shards: int = 2
    since: str | None = None
    force: bool = False
    fresh: bool = False
    fail_on_changes: bool = False
    report_dir: Path | None = None
    cache_dir: Path | None = None  # the workers' cache (None: each worker's default)
    repos_per_run: str = "1"  # a count, or "auto": packed by size


def recipe_text(recipe: Recipe) -> str:
    """Everything of a recipe that shapes its answers, the same in every process: a changed recipe is
    a changed run (sets are sorted and patterns written out, since their reprs vary between processes)."""
    return json.dumps(_stable(dataclasses.asdict(recipe)), sort_keys=True)


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _stable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(_stable(v) for v in value)
    if isinstance(value, list | tuple):
        return [_stable(v) for v in value]
    if isinstance(value, re.Pattern):
        return [value.pattern, value.flags]
    return value if isinstance(value, str | int | float | bool | None) else str(value)


def checked_overrides(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Command-line settings, each checked now with the config's own parsers."""
    for name, value in settings.items():
        check_setting(name.replace("-", "_"), value, f"--set {name}")
    return {name.replace("-", "_"): value for name, value in settings.items()}


def fleet_options(request: FleetRequest, recipe: Recipe) -> FleetOptions:
    """The options that shape the plan, each checked (settings with the config's own parsers)."""
    if request.shard_by not in ("none", "paths"):
        raise ConfigError(f"--shard-by {request.shard_by!r} must be none or paths")
    return FleetOptions(
        recipe=recipe.name,
        recipe_text=recipe_text(recipe),
        overrides=checked_overrides(request.overrides),
        since=request.since,
        shard_by=cast(ShardBy, request.shard_by),
        shards=request.shards,
        force=request.force,
    )


def run_fleet(request: FleetRequest) -> tuple[FleetRun, Path]:
    """Set up and run one fleet run: (the run, its report directory); CodemillError says what is refused."""
    per_run = repos_per_run(request.repos_per_run)
    fleet = load_fleet(request.fleet_file)  # bad input is refused before anything is contacted
    recipe = load_recipe(request.recipe)
    options = fleet_options(request, recipe)
    schedule.require_server("fleet")
    directory = memory.fleet_dir(state_dir(os.environ), fleet.path)
    fingerprint = memory.fingerprint(
        recipe.name,
        options.recipe_text,
        options.overrides,
        since=request.since,
        shard_by=request.shard_by,
        shards=request.shards,
    )
    resume = None if request.fresh else memory.resumable(directory, fingerprint)
    parent_cache = default_cache_dir(os.environ)
    plan = plan_fleet(fleet, options, parent_cache, memory.load_memory(directory), resume)
    deployment = register_member(request.pool)
    asyncio.run(_limits(request, options))
    fleet_run = resume.fleet_run if resume is not None else new_run_id()
    job = FleetJob(
        fleet_run=fleet_run,
        fleet_file=fleet.path,
        recipe=recipe.name,
        fingerprint=fingerprint,
        plan=plan,
        deployment=deployment,
        directory=directory,
        report_dir=(request.report_dir or directory / "runs") / fleet_run,
        max_in_flight=max(1, request.max_repos_in_flight),
        limit=request.limit,
        spend=FleetSpend(request.max_cost),
        cache_dir=parent_cache,
        worker_cache_dir=None if request.cache_dir is None else str(request.cache_dir),
        fail_on_changes=request.fail_on_changes,
        resumed={} if resume is None else dict(resume.finished),
        repos_per_run=per_run,
        sizes={} if per_run is not None else sizes(plan, parent_cache),
    )
    hidden = cast(FleetJob, quote(job))  # not a parameter for Prefect to store or show
    return asyncio.run(refactor_fleet(hidden)), job.report_dir


async def _limits(request: FleetRequest, options: FleetOptions) -> None:
    """The fleet's model limit, and with --publish its forge-write rate limit."""
    await ensure_limit(request.limit, request.fleet_concurrency)
    if options.overrides.get("publish"):
        default = TABLE["forge_write_interval"].default
        await ensure_forge_limit(float(options.overrides.get("forge_write_interval", default)))


def sizes(plan: list[Work], cache_dir: Path) -> dict[str, int]:
    """The bytes of Python of each repository still to run, from the mirrors the plan fetched."""
    return {
        work.entry.key: python_bytes(
            work.entry.source, work.entry.key, cache_dir, member.base_commit
        )
        for work in plan
        if work.known is None
        for member in work.members[:1]
    }


def register_member(pool: str) -> str:
    """Deploy the member flow on the pool (idempotent); its `flow/deployment` name."""
    deployment = cast(
        RunnerDeployment,
        fleet_member.to_deployment(
            name=pool,
            description="codemill fleet: one repository (or shard) per flow run",
            tags=["codemill", "codemill-fleet"],
            work_pool_name=pool,
            entrypoint_type=EntrypointType.MODULE_PATH,
        ),
    )
    with contextlib.redirect_stdout(io.StringIO()):  # Prefect prints a table of what it deployed
        schedule.deploy_to_pool([deployment], pool)
    return f"{MEMBER_FLOW}/{pool}"


async def ensure_limit(name: str, size: int) -> None:
    """The fleet's global concurrency limit: created when missing, set to `size` requests in flight."""
    if size < 1:
        raise ConfigError(f"--fleet-concurrency must be at least 1, not {size}")
    async with get_client() as client:
        await client.upsert_global_concurrency_limit_by_name(name, size)
