"""How a run lands: commits made from the proven bytes first, the branch and its push last.

`make_commits` writes the run's commit objects and moves no ref, so an interrupt, a failure or a full
disk before the end leaves nothing anybody sees. `set_branch` is called by the run only once it ended
well and its report and state are written; the branch then points at exactly what was proven.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pipeline import repository
from pipeline.config import RunConfig


@dataclass(frozen=True)
class ApplyRequest:
    """What to commit: the run's accepted files on `branch` from `base_commit`, with the run's trailers."""

    branch: str
    base_commit: str
    changes: Mapping[str, bytes]  # repo-relative path -> new bytes
    recipe: str
    model: str
    run_id: str


@dataclass(frozen=True)
class Commits:
    """A run's commits, made but not yet on any branch; `old` is the branch's tip they replace."""

    branch: str
    commits: list[str] = field(default_factory=list)
    old: str | None = None


def make_commits(config: RunConfig, request: ApplyRequest) -> Commits:
    """The run's commits from the proven bytes (no ref moved), after the branch and remote checks."""
    repo = repository.open_repository(config.repo)
    trailers = repository.Trailers(request.recipe, request.model, request.run_id)
    base = repository.resolve_base(repo, request.base_commit)
    old = repository.check_branch(
        repo, request.branch, force_branch=config.force_branch, run_id=request.run_id
    )
    repository.check_remote(repo, config.push)
    made = repository.make_commits(repo, base, request.changes, config.commit_per, trailers)
    return Commits(request.branch, made, old)


def set_branch(config: RunConfig, commits: Commits, run_id: str) -> repository.CommitResult:
    """Point the branch at the last commit (one compare-and-swap), then push if the config says so."""
    repo = repository.open_repository(config.repo)
    repository.set_branch(repo, commits.branch, commits.commits[-1], commits.old, run_id)
    result = repository.CommitResult(commits.branch, commits.commits)
    if config.push is None:
        return result
    return repository.push_branch(repo, result, config.push, force_branch=config.force_branch)


def apply(config: RunConfig, request: ApplyRequest) -> repository.CommitResult:
    """Commit a change set that is already final (`codemill apply`, a fleet's combined run) and set
    its branch at once; nothing is made when a check or a commit fails."""
    commits = make_commits(config, request)
    if not commits.commits:
        return repository.CommitResult(request.branch)
    return set_branch(config, commits, request.run_id)
