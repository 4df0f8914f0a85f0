"""A worker's part of a fleet run: get the repository into this machine's cache, turn the member into the
run's config and paths, and sum the finished run up as a `RepoResult`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pipeline.config import RunConfig, load_config
from pipeline.fleet import cache
from pipeline.fleet.plan import Member
from pipeline.records.ledger import Totals
from pipeline.records.repo_result import RepoResult, RepoStatus
from pipeline.run.state import LastRun, patch_fingerprint


class RunOutcome(Protocol):
    """What a finished run tells its caller (flows.refactor.RunResult has these)."""

    run_id: str
    totals: Totals
    changed_files: list[str]
    branch: str | None
    commits: list[str]
    pushed: bool
    report_dir: Path
    stop_reason: str | None
    fatal: bool
    same_as: LastRun | None


@dataclass(frozen=True)
class Prepared:
    """A member ready to run: its config, the paths to run on, and its `--since`."""

    config: RunConfig
    paths: list[str]
    since: str | None
    fetched: bool


def prepare(
    member: Member,
    cache_dir: Path,
    env: Mapping[str, str],
    max_cost: float | None = None,
) -> Prepared:
    """Fetch or clone into the cache, check out the base commit, and load the run's settings there."""
    checkout = cache.checkout(member.source, member.key, cache_dir, member.base_commit)
    settings = member.run_settings()
    if max_cost is not None:
        own = settings.get("max_cost")
        settings["max_cost"] = max_cost if own is None else min(float(own), max_cost)
    config = load_config(checkout.root, settings, env)
    paths = [str(checkout.root / p) for p in member.paths] or [str(checkout.root)]
    return Prepared(config, paths, member.since, checkout.fetched)


def result_of(member: Member, run: RunOutcome, seconds: float, exit_code: int) -> RepoResult:
    """The small record of a finished run: counts, cost, branch, report location; never the code."""
    t = run.totals
    if run.fatal or run.stop_reason:
        status, reason = RepoStatus.STOPPED, run.stop_reason or "stopped early"
    elif run.same_as is not None:
        status = RepoStatus.SAME_CHANGE
        reason = f"same change as run {run.same_as.run_id}: no new branch made"
    elif run.changed_files:
        status, reason = RepoStatus.CHANGED, ""
    else:
        status, reason = RepoStatus.NO_CHANGE, "nothing to change"
    return RepoResult(
        name=member.name,
        key=member.key,
        status=status,
        reason=reason,
        exit_code=exit_code,
        base_commit=member.base_commit,
        run_id=run.run_id,
        files_changed=len(run.changed_files),
        accepted=t.by_status.get("accepted", 0),
        rejected=t.by_status.get("rejected", 0) + t.by_status.get("failed", 0),
        tokens=t.usage.tokens,
        cost_usd=t.usage.cost_usd,
        branch=run.branch if run.commits else None,
        pushed=run.pushed,
        report=str(run.report_dir),
        seconds=round(seconds, 3),
        shards=member.shards,
        fingerprint=member.fingerprint,
        patch_sha256=_patch_sha(run.report_dir),
    )


def failed(member: Member, reason: str, exit_code: int, seconds: float = 0.0) -> RepoResult:
    """The record of a member whose run could not be made or crashed: one sentence why."""
    return RepoResult(
        member.name,
        member.key,
        RepoStatus.FAILED,
        reason,
        exit_code=exit_code,
        base_commit=member.base_commit,
        seconds=round(seconds, 3),
        shards=member.shards,
        fingerprint=member.fingerprint,
    )


def _patch_sha(report_dir: Path) -> str:
    """sha256 of the run's changes.patch ("" when the report has none)."""
    patch = report_dir / "changes.patch"
    if not patch.is_file():
        return ""
    return patch_fingerprint(patch.read_text(encoding="utf-8", errors="surrogateescape"))
