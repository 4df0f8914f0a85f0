"""A fleet member's pull requests: with `--publish`, each member publishes its run once it ended well,
and every forge write of every worker of the fleet takes a slot of ONE Prefect global concurrency limit
used as a rate limit (one slot, decaying in `forge_write_interval` seconds), beside each machine's own
file-locked limit. The token comes from the worker's environment, never from a flow parameter."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.concurrency.sync import rate_limit

from pipeline.config import RunConfig
from pipeline.errors import CodemillError, ExitCode
from pipeline.publish.publishing import publish_config
from pipeline.records.repo_result import RepoResult

FORGE_LIMIT = "codemill-forge-writes"


async def ensure_forge_limit(interval: float, name: str = FORGE_LIMIT) -> None:
    """The fleet's forge-write limit: one slot that frees itself `interval` seconds after each write."""
    async with get_client() as client:
        await client.upsert_global_concurrency_limit_by_name(
            name, 1, slot_decay_per_second=1.0 / interval
        )


def forge_turn(name: str = FORGE_LIMIT) -> None:
    """Wait for the fleet's next forge-write slot (the limit must exist: strict)."""
    rate_limit(name, occupy=1, strict=True)


async def published(
    config: RunConfig, report_dir: Path, shared: Callable[[], None] | None = None
) -> tuple[tuple[str, ...], str | None]:
    """A run that ended well, published off the event loop: each pull request as "<action> <url>",
    or why publishing failed (the run's own outcome stands either way)."""
    try:
        outcome = await asyncio.to_thread(
            publish_config, report_dir, config, os.environ, shared=shared
        )
    except CodemillError as exc:
        return (), f"publish failed: {exc}"
    return tuple(f"{group.action} {group.url or group.branch}" for group in outcome.groups), None


async def publish_member(result: RepoResult, config: RunConfig, report_dir: Path) -> RepoResult:
    """A fleet member's run published under the fleet's forge rate limit; its result names its pull
    requests, or why publishing failed (exit 6 when the run itself was fine)."""
    pulls, error = await published(config, report_dir, shared=forge_turn)
    if error is not None:
        return replace(result, reason=error, exit_code=result.exit_code or ExitCode.PUSH_FAILED)
    return replace(result, pull_requests=pulls)
