"""The fleet's decisions before any repository runs: each repository's base commit, whether it is skipped
(unchanged, or already finished by the fleet run being resumed), what `--since` means for it, and its shards.

The result is a list of `Work` items: a result already known, or the members (one per shard) to send to
workers. Members are plain JSON (they become Prefect flow-run parameters), and hold no secret: the fleet file
refuses credentials, and the API key is read by each worker from its own environment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pipeline.fleet import cache, memory
from pipeline.fleet.fleetfile import Fleet, FleetEntry
from pipeline.fleet.memory import Remembered, Resumable
from pipeline.fleet.shards import split_paths
from pipeline.records.repo_result import RepoResult, RepoStatus
from pipeline.repository import GitOpsError
from pipeline.run.state import LAST_RUN

ShardBy = Literal["none", "paths"]
SHARD_SETTINGS: Mapping[str, Any] = {"dry_run": True, "branch": None, "push": None}


@dataclass(frozen=True)
class FleetOptions:
    """The `codemill fleet` options that shape the plan."""

    recipe: str
    recipe_text: str
    overrides: Mapping[str, Any] = field(
        default_factory=dict
    )  # command-line settings: win over the file
    since: str | None = None
    shard_by: ShardBy = "none"
    shards: int = 2
    force: bool = False  # run every repository, even unchanged ones


@dataclass(frozen=True)
class Member:
    """One child run: a repository, or one shard of it (then a dry run whose changes the fleet combines).

    `settings` are the repository's run settings; a shard's run adds SHARD_SETTINGS to them.
    """

    name: str
    key: str
    source: str
    base_commit: str
    settings: dict[str, Any]
    fingerprint: str
    paths: tuple[str, ...] = ()
    since: str | None = None
    shard: int = 0  # 1-based shard number; 0 when the repository is not sharded
    shards: int = 1

    def to_params(self) -> dict[str, Any]:
        """The member as flow-run parameters (plain JSON)."""
        data = asdict(self)
        data["paths"] = list(self.paths)
        return data

    @classmethod
    def from_params(cls, data: Mapping[str, Any]) -> Member:
        return cls(**{**data, "paths": tuple(data.get("paths", ()))})

    def run_settings(self) -> dict[str, Any]:
        """What this child's own run gets: a shard only reports; the fleet commits the combination."""
        return {**self.settings, **SHARD_SETTINGS} if self.shard else dict(self.settings)

    @property
    def label(self) -> str:
        """The repository's name, with `[2/4]` for a shard."""
        return f"{self.name} [{self.shard}/{self.shards}]" if self.shard else self.name


@dataclass(frozen=True)
class Work:
    """One repository of the plan: its result when already known, else the members to run."""

    entry: FleetEntry
    known: RepoResult | None = None
    members: tuple[Member, ...] = ()


def plan_fleet(
    fleet: Fleet,
    options: FleetOptions,
    cache_dir: Path,
    remembered: Mapping[str, Remembered],
    resume: Resumable | None,
    base_of: Callable[[FleetEntry, str | None], str] | None = None,
) -> list[Work]:
    """Decide, for every repository of the fleet, what this fleet run does with it."""
    find_base = base_of or (lambda e, b: cache.base_commit(e.source, e.key, cache_dir, b))
    return [
        _plan_entry(entry, options, cache_dir, remembered.get(entry.key), resume, find_base)
        for entry in fleet.entries
    ]


def run_settings(entry: FleetEntry, options: FleetOptions) -> dict[str, Any]:
    """The settings a repository's run gets: the file's, then the command line's, then the recipe."""
    return {**entry.settings, **options.overrides, "recipe": options.recipe}


def _plan_entry(
    entry: FleetEntry,
    options: FleetOptions,
    cache_dir: Path,
    last: Remembered | None,
    resume: Resumable | None,
    find_base: Callable[[FleetEntry, str | None], str],
) -> Work:
    if resume is not None and entry.key in resume.finished:
        return Work(entry, known=resume.finished[entry.key])
    settings = run_settings(entry, options)
    shards = _shard_count(entry, options)
    print_ = memory.fingerprint(
        options.recipe, options.recipe_text, settings, paths=entry.paths, shards=shards
    )
    try:
        base = find_base(entry, settings.get("base"))
    except GitOpsError as exc:
        failed = RepoResult(entry.name, entry.key, RepoStatus.FAILED, str(exc), exit_code=2)
        return Work(entry, known=failed)
    reason = None if options.force else memory.unchanged(last, base, print_)
    if reason is not None:
        skipped = RepoResult(
            entry.name, entry.key, RepoStatus.SKIPPED, reason, base_commit=base, fingerprint=print_
        )
        return Work(entry, known=skipped)
    since = options.since
    if since == LAST_RUN:
        since = last.base_commit if last is not None else None
    member = Member(entry.name, entry.key, entry.source, base, {**settings, "base": base}, print_)
    if shards == 1:
        return Work(entry, members=(_with(member, paths=entry.paths, since=since),))
    files = cache.list_files(entry.source, entry.key, cache_dir, base)
    groups = split_paths(files, entry.paths, shards)
    return Work(
        entry,
        members=tuple(
            _with(member, paths=group, since=since, shard=i, shards=len(groups))
            for i, group in enumerate(groups, start=1)
        ),
    )


def _with(member: Member, **changes: Any) -> Member:
    return Member(**{**asdict(member), **changes})


def _shard_count(entry: FleetEntry, options: FleetOptions) -> int:
    if options.shard_by != "paths":
        return 1
    return entry.shards if entry.shards is not None else options.shards


def pending(plan: Sequence[Work]) -> int:
    """How many repositories of the plan still have to run."""
    return sum(1 for work in plan if work.known is None)
