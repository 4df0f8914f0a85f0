"""The errors of git operations: each message is one sentence, each family knows its exit code."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pipeline.errors import CodemillError, ExitCode, UsageError

if TYPE_CHECKING:
    from pipeline.repository.branches import CommitResult


class GitOpsError(UsageError):
    """A git operation codemill refuses or could not do; the message is one sentence."""


class NotARepositoryError(GitOpsError):
    """The path does not exist, or is not inside a git repository."""


class BareRepositoryError(GitOpsError):
    """The repository has no working tree."""


class EmptyRepositoryError(GitOpsError):
    """The repository has no commit yet."""


class UnknownBaseError(GitOpsError):
    """The base ref does not name a commit."""


class InvalidBranchError(GitOpsError):
    """The branch name is not a valid git branch name."""


class BranchExistsError(GitOpsError):
    """The branch exists and --force-branch was not given."""


class BranchCheckedOutError(GitOpsError):
    """The branch is checked out in a worktree, so replacing it would change that checkout."""


class BadChangeError(GitOpsError):
    """A changed path is outside the repository or not a regular file at the base commit."""


class UnknownRemoteError(GitOpsError):
    """The push remote is not configured."""


class CommitError(GitOpsError):
    """git failed while writing the run's objects or commits, or they are not the proven bytes."""


class WorktreeError(GitOpsError):
    """A temporary worktree could not be made."""


class PushError(CodemillError):
    """The branch was committed but the push failed; `result` holds the local branch and commits."""

    exit_code: ClassVar[int] = ExitCode.PUSH_FAILED

    def __init__(self, message: str, result: CommitResult) -> None:
        super().__init__(message)
        self.result = result
