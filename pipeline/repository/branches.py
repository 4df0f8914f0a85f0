"""A run's branch: its name, the checks before any work, the ref set last, and the push.

A branch is named after the recipe and the run id (`codemill/<recipe>/<run-id>`), so two runs never
pick the same name. Its ref is created only by `set_branch`, in one compare-and-swap, after a run's
commits, report and state are all written: a run that fails or is interrupted leaves no branch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import git

from pipeline.redact import redact_text, redact_url
from pipeline.repository.commands import git_succeeds, run_git
from pipeline.repository.errors import (
    BranchCheckedOutError,
    BranchExistsError,
    GitOpsError,
    InvalidBranchError,
    PushError,
    UnknownRemoteError,
)
from pipeline.repository.opening import work_dir


@dataclass(frozen=True)
class CommitResult:
    """The branch made, its commits (oldest first), and whether it was pushed."""

    branch: str
    commits: list[str] = field(default_factory=list)
    pushed: bool = False


def run_branch_name(recipe: str, run_id: str) -> str:
    """codemill/<recipe>/<run-id>, with characters git refuses replaced by '-'."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", recipe).strip(".-") or "recipe"
    return f"codemill/{safe}/{run_id}"


def check_branch(
    repo: git.Repo, branch: str, *, force_branch: bool = False, run_id: str | None = None
) -> str | None:
    """Refuse a branch name that is invalid, taken (without force) or checked out; its old sha.

    `run_id` is the run that will land there: a branch holding that same run may be replaced."""
    cwd = work_dir(repo)
    if branch.startswith("-") or not git_succeeds(cwd, "check-ref-format", "--branch", branch):
        raise InvalidBranchError(f"{branch!r} is not a valid branch name")
    ref = f"refs/heads/{branch}"
    try:
        old = run_git(cwd, "rev-parse", "--verify", "--quiet", ref).decode().strip()
    except GitOpsError:
        return None
    if not force_branch:
        raise BranchExistsError(_taken(cwd, branch, old, run_id))
    listing = run_git(cwd, "worktree", "list", "--porcelain", "-z").decode("utf-8", "replace")
    if f"branch {ref}" in listing.split("\0"):
        raise BranchCheckedOutError(f"branch {branch!r} is checked out; codemill will not move it")
    return old


def _taken(cwd: Path, branch: str, tip: str, run_id: str | None) -> str:
    """Why a branch name is taken, with a hint that never offers to overwrite another run's work."""
    message = run_git(cwd, "log", "-1", "--format=%(trailers:key=Codemill-Run,valueonly)", tip)
    other_run = message.decode("utf-8", "replace").strip()
    if other_run and other_run != run_id:
        return (
            f"branch {branch!r} already holds codemill run {other_run}; name another with --branch"
        )
    hint = "name another with --branch, or pass --force-branch to replace it"
    return f"branch {branch!r} already exists; {hint}"


def check_remote(repo: git.Repo, push: str | None) -> None:
    """Refuse a push remote that is neither configured nor a URL."""
    if push is not None and push not in {r.name for r in repo.remotes} and not _is_url(push):
        raise UnknownRemoteError(
            f"push remote {redact_url(push)!r} is not configured in this repository"
        )


def set_branch(repo: git.Repo, branch: str, commit: str, old: str | None, run_id: str) -> None:
    """Create (or, from `old`, move) the branch to `commit` in one compare-and-swap."""
    run_git(work_dir(repo), "update-ref", "-m", f"codemill run {run_id}", f"refs/heads/{branch}",
            commit, old or "", error=BranchExistsError)  # fmt: skip


def push_branch(
    repo: git.Repo, result: CommitResult, push: str, *, force_branch: bool
) -> CommitResult:
    """Push the committed branch to `push`; a failure keeps the commits and says so, redacted."""
    branch = result.branch
    spec = f"{'+' if force_branch else ''}refs/heads/{branch}:refs/heads/{branch}"
    try:
        run_git(work_dir(repo), "push", "--quiet", "--", push, spec)
    except GitOpsError as exc:
        reason = str(exc).removeprefix("git push failed: ")
        message = f"branch {branch} was committed but pushing to {push} failed: {reason}"
        raise PushError(redact_text(message), result) from None
    return CommitResult(branch, result.commits, pushed=True)


def _is_url(remote: str) -> bool:
    return "/" in remote or ":" in remote
