"""git, in one place: the only package that opens a repository, runs git, makes and removes worktrees,
reads commits and makes commits, branches and pushes. Everything else calls it.

    errors      the GitOpsError family (one sentence each) and PushError
    commands    run_git: the one way to run git (hooks off, no prompt, codemill's child environment)
    opening     open_repository, resolve_base, the paths changed between two commits
    commits     commits from the proven bytes: blobs as they are, trees in a private index, no ref
    branches    the run's branch name, the checks before any work, the ref set last, the push
    remotes     a remote's URL and branch heads, and the push under a lease (publishing)
    trees       a commit's files read from the object database (never the working tree)
    worktrees   temporary worktrees for the gates, and the reclaiming of a killed run's leftovers
    patches     whether a patch applies to a commit

The user's checkout is never touched: nothing here writes its working tree, index or HEAD.
"""

from __future__ import annotations

from collections.abc import Mapping

import git

from pipeline.config import CommitPer
from pipeline.repository.branches import (
    CommitResult,
    check_branch,
    check_remote,
    push_branch,
    run_branch_name,
    set_branch,
)
from pipeline.repository.commits import Trailers, blob_id, is_plain_path, make_commits
from pipeline.repository.errors import (
    BadChangeError,
    BareRepositoryError,
    BranchCheckedOutError,
    BranchExistsError,
    CommitError,
    EmptyRepositoryError,
    GitOpsError,
    InvalidBranchError,
    NotARepositoryError,
    PushError,
    UnknownBaseError,
    UnknownRemoteError,
    WorktreeError,
)
from pipeline.repository.opening import (
    changed_between,
    open_repository,
    resolve_base,
    uncommitted_paths,
    work_dir,
)
from pipeline.repository.patches import apply_check
from pipeline.repository.remotes import push_leased, remote_head, remote_url
from pipeline.repository.trees import NotInTreeError, TreeEntry, tree_entries
from pipeline.repository.worktrees import reclaim_leftovers, temporary_worktree, worktree_lock

Repository = git.Repo  # the handle every repository function takes (made by open_repository)

__all__ = [
    "BadChangeError",
    "BareRepositoryError",
    "BranchCheckedOutError",
    "BranchExistsError",
    "CommitError",
    "CommitResult",
    "EmptyRepositoryError",
    "GitOpsError",
    "InvalidBranchError",
    "NotARepositoryError",
    "NotInTreeError",
    "PushError",
    "Repository",
    "Trailers",
    "TreeEntry",
    "UnknownBaseError",
    "UnknownRemoteError",
    "WorktreeError",
    "apply_check",
    "blob_id",
    "changed_between",
    "check_branch",
    "check_remote",
    "commit_changes",
    "is_plain_path",
    "make_commits",
    "open_repository",
    "push_branch",
    "push_leased",
    "reclaim_leftovers",
    "remote_head",
    "remote_url",
    "resolve_base",
    "run_branch_name",
    "set_branch",
    "temporary_worktree",
    "tree_entries",
    "uncommitted_paths",
    "work_dir",
    "worktree_lock",
]


def commit_changes(
    repo: git.Repo,
    *,
    base: str,
    branch: str,
    changes: Mapping[str, bytes],
    recipe: str,
    model: str,
    run_id: str,
    commit_per: CommitPer,
    force_branch: bool = False,
    push: str | None = None,
) -> CommitResult:
    """Commit `changes` (path -> proven bytes) on base, then set the branch, then maybe push.

    For a change set that is already final (`codemill apply`, a fleet's combined run); a run sets its
    branch itself, after its report and state (`pipeline.run.landing`)."""
    trailers = Trailers(recipe, model, run_id)
    base_sha = resolve_base(repo, base)
    old = check_branch(repo, branch, force_branch=force_branch, run_id=run_id)
    check_remote(repo, push)
    commits = make_commits(repo, base_sha, changes, commit_per, trailers)
    if not commits:
        return CommitResult(branch)
    set_branch(repo, branch, commits[-1], old, run_id)
    result = CommitResult(branch, commits)
    return result if push is None else push_branch(repo, result, push, force_branch=force_branch)
