"""What one repository's run hands back to the fleet: a small picklable record, never the code.

A worker returns it as a Prefect result (JSON), the fleet journal stores it a line each, and the fleet report
is made from nothing else, so every field is a plain value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum
from typing import Any

INTERRUPTED = (130, 143)  # SIGINT, SIGTERM: the run was cut short, not finished


class RepoStatus(StrEnum):
    """How a repository's part of the fleet run ended."""

    CHANGED = "changed"  # accepted changes: a branch (or, in a dry run, a report with a patch)
    NO_CHANGE = "no-change"  # the run found nothing to change
    SAME_CHANGE = "same-change"  # exactly the change of the last run: no new branch
    SKIPPED = "skipped"  # unchanged since its last successful fleet run: not run
    NOT_STARTED = "not-started"  # the fleet's --max-cost was reached before it could start
    STOPPED = "stopped"  # the run stopped early (provider error, budget, interrupt)
    FAILED = "failed"  # the run could not be made (clone, settings, internal error)


@dataclass(frozen=True)
class RepoResult:
    """One repository (or one shard of it) in a fleet run."""

    name: str
    key: str
    status: RepoStatus
    reason: str = ""
    exit_code: int = 0  # what `codemill run` would have exited with for this repository
    base_commit: str = ""
    run_id: str = ""
    files_changed: int = 0
    accepted: int = 0
    rejected: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    branch: str | None = None  # the branch made (None: none made)
    pushed: bool = False
    report: str = ""  # the run's report directory on the machine that ran it
    seconds: float = 0.0
    shards: int = 1
    fingerprint: str = ""  # the recipe and settings the run had (see pipeline.fleet.memory)
    patch_sha256: str = ""
    pull_requests: tuple[str, ...] = ()  # `--publish`: each pull request as "<action> <url>"

    @property
    def finished(self) -> bool:
        """Whether a resumed fleet run may keep this result instead of running the repository again."""
        return self.exit_code not in INTERRUPTED

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values (the status as its string)."""
        data = asdict(self)
        data["status"] = str(self.status)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RepoResult:
        """The record from `to_json`'s output; unknown keys (a newer codemill's) are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["status"] = RepoStatus(values["status"])
        values["pull_requests"] = tuple(values.get("pull_requests", ()))
        return cls(**values)


@dataclass(frozen=True)
class FleetTotals:
    """Sums over a fleet's repositories."""

    repos: int
    by_status: dict[str, int]
    files_changed: int
    accepted: int
    rejected: int
    tokens: int
    cost_usd: float
    branches: int
    pushed: int


def totals(results: Iterable[RepoResult]) -> FleetTotals:
    """Counts by status and the sums of every count, tokens and cost."""
    rows = list(results)
    by_status: dict[str, int] = {}
    for row in rows:
        by_status[str(row.status)] = by_status.get(str(row.status), 0) + 1
    return FleetTotals(
        repos=len(rows),
        by_status=by_status,
        files_changed=sum(r.files_changed for r in rows),
        accepted=sum(r.accepted for r in rows),
        rejected=sum(r.rejected for r in rows),
        tokens=sum(r.tokens for r in rows),
        cost_usd=sum(r.cost_usd for r in rows),
        branches=sum(1 for r in rows if r.branch),
        pushed=sum(1 for r in rows if r.pushed),
    )


def slowest(results: Iterable[RepoResult], n: int = 5) -> list[RepoResult]:
    """The `n` repositories that took longest (skipped ones never ran)."""
    ran = [r for r in results if r.status is not RepoStatus.SKIPPED and r.seconds > 0]
    return sorted(ran, key=lambda r: (-r.seconds, r.name))[:n]


def most_expensive(results: Iterable[RepoResult], n: int = 5) -> list[RepoResult]:
    """The `n` repositories that cost most (only those that cost anything)."""
    paid = [r for r in results if r.cost_usd > 0]
    return sorted(paid, key=lambda r: (-r.cost_usd, r.name))[:n]


def combined(parts: Iterable[RepoResult], **override: Any) -> RepoResult:
    """One repository's result from its shards' results: counts summed, the slowest shard's time."""
    rows = list(parts)
    first = rows[0]
    sums: dict[str, Any] = {
        "files_changed": sum(r.files_changed for r in rows),
        "accepted": sum(r.accepted for r in rows),
        "rejected": sum(r.rejected for r in rows),
        "tokens": sum(r.tokens for r in rows),
        "cost_usd": sum(r.cost_usd for r in rows),
        "seconds": max(r.seconds for r in rows),
        "shards": len(rows),
    }
    return replace(first, **{**sums, **override})


EXIT_PRECEDENCE = (3, 5, 6, 1, 2)  # provider refused, unreachable, push failed, internal, usage


def fleet_exit_code(results: Iterable[RepoResult], *, fail_on_changes: bool = False) -> int:
    """The fleet's exit code: the gravest of its repositories' codes, else 4 for changes when asked."""
    rows = list(results)
    codes = {r.exit_code for r in rows}
    for code in (*INTERRUPTED, *EXIT_PRECEDENCE):
        if code in codes:
            return code
    if fail_on_changes and any(r.status is RepoStatus.CHANGED for r in rows):
        return 4
    return 0
