"""Commit a run's changes on a new branch via a temporary worktree; the user's checkout stays as is.

The worktree lives in a temp dir outside the repository, is made without a checkout (only the
changed files are written), and is removed on success and on error. The branch ref is set only at
the end, in one compare-and-swap, so a failed run leaves no half-made branch. The user's git hooks
do not run there: they assume a full checkout, and codemill's own gates decide what is committed.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import ClassVar

import git

from pipeline.config import CommitPer
from pipeline.errors import CodemillError, ExitCode, UsageError
from pipeline.model.redact import redact_text, redact_url

FALLBACK_NAME = "codemill"
FALLBACK_EMAIL = "codemill@localhost"
_NO_HOOKS = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.hooksPath"}
_REGULAR_MODES = {0o100644, 0o100755}


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
    """git failed while writing or committing in the temporary worktree."""


class PushError(CodemillError):
    """The branch was committed but the push failed; `result` holds the local branch and commits."""

    exit_code: ClassVar[int] = ExitCode.PUSH_FAILED

    def __init__(self, message: str, result: CommitResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class CommitResult:
    """The branch made, its commits (oldest first), and whether it was pushed."""

    branch: str
    commits: list[str] = field(default_factory=list)
    pushed: bool = False


def _run(
    runner: git.Git, *args: str, env: Mapping[str, str] | None = None, error: type[GitOpsError]
) -> str:
    """Run one git command; on failure raise `error` with git's own first error line."""
    status, out, err = runner.execute(
        ["git", *args], with_extended_output=True, with_exceptions=False, env=env
    )
    if status != 0:
        lines = [ln for ln in str(err).splitlines() if ln.strip()]
        reason = lines[0] if lines else f"exit status {status}"
        raise error(redact_text(f"git {args[0]} failed: {reason}"))
    return str(out)


def open_repository(path: str | os.PathLike[str]) -> git.Repo:
    """The repository containing `path`, refused if it does not exist, is bare or has no commit."""
    if not Path(path).exists():
        raise NotARepositoryError(f"{path} does not exist")
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise NotARepositoryError(f"{path} is not inside a git repository") from None
    if repo.bare:
        raise BareRepositoryError(f"{repo.git_dir} is a bare repository; codemill needs a checkout")
    if not repo.head.is_valid():
        raise EmptyRepositoryError(f"{repo.working_tree_dir} has no commit yet to branch from")
    return repo


def resolve_base(repo: git.Repo, base: str) -> str:
    """The commit hexsha `base` names (a branch, tag or sha)."""
    if not base or base.startswith("-"):
        raise UnknownBaseError(f"base {base!r} is not a commit in this repository")
    status, out, _ = repo.git.execute(
        ["git", "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"],
        with_extended_output=True,
        with_exceptions=False,
    )
    if status != 0:
        raise UnknownBaseError(f"base {base!r} is not a commit in this repository")
    return str(out).strip()


def check_branch(repo: git.Repo, branch: str, *, force_branch: bool = False) -> str | None:
    """Refuse a branch name that is invalid, taken (without force) or checked out; its old sha."""
    status, _, _ = repo.git.execute(
        ["git", "check-ref-format", "--branch", branch],
        with_extended_output=True,
        with_exceptions=False,
    )
    if status != 0 or branch.startswith("-"):
        raise InvalidBranchError(f"{branch!r} is not a valid branch name")
    ref = f"refs/heads/{branch}"
    status, out, _ = repo.git.execute(
        ["git", "rev-parse", "--verify", "--quiet", ref],
        with_extended_output=True,
        with_exceptions=False,
    )
    if status != 0:
        return None
    if not force_branch:
        raise BranchExistsError(
            f"branch {branch!r} already exists; pass --force-branch to replace it"
        )
    listing = repo.git.execute(["git", "worktree", "list", "--porcelain"])
    if f"branch {ref}" in str(listing).splitlines():
        raise BranchCheckedOutError(f"branch {branch!r} is checked out; codemill will not move it")
    return str(out).strip()


def default_branch_name(recipe: str, now: datetime) -> str:
    """codemill/<recipe>/<YYYYmmdd-HHMMSS>, with characters git refuses replaced by '-'."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", recipe).strip(".-") or "recipe"
    return f"codemill/{safe}/{now.strftime('%Y%m%d-%H%M%S')}"


def _identity_env(repo: git.Repo) -> dict[str, str]:
    """Fallback author/committer env for a machine with no git identity configured."""
    env: dict[str, str] = {}
    for role in ("AUTHOR", "COMMITTER"):
        status, _, _ = repo.git.execute(
            ["git", "var", f"GIT_{role}_IDENT"], with_extended_output=True, with_exceptions=False
        )
        if status != 0:
            env[f"GIT_{role}_NAME"] = FALLBACK_NAME
            env[f"GIT_{role}_EMAIL"] = FALLBACK_EMAIL
    return env


def is_plain_path(path: str) -> bool:
    """True for a relative POSIX path inside a repository: no `..`, `.`, `.git`, backslash or root."""
    parts = PurePosixPath(path).parts
    return not (
        not path
        or path.startswith("/")
        or "\\" in path
        or any(p in ("..", ".", ".git") for p in parts)
    )


def _checked_modes(repo: git.Repo, base: str, paths: Sequence[str]) -> dict[str, int]:
    """The base-commit file mode of every changed path; refuses anything but a regular file."""
    tree = repo.commit(base).tree
    modes: dict[str, int] = {}
    for path in paths:
        if not is_plain_path(path):
            raise BadChangeError(f"changed path {path!r} is not a plain path inside the repository")
        try:
            entry = tree / path
        except KeyError:
            raise BadChangeError(
                f"{path} is not a file at the base commit; codemill never creates files"
            ) from None
        if entry.type != "blob" or entry.mode not in _REGULAR_MODES:
            raise BadChangeError(
                f"{path} is not a regular file at the base commit (mode {entry.mode:o})"
            )
        modes[path] = entry.mode
    return modes


def _message(subject: str, body: str, recipe: str, model: str, run_id: str) -> str:
    trailers = f"Codemill-Recipe: {recipe}\nCodemill-Model: {model}\nCodemill-Run: {run_id}\n"
    return f"{subject}\n\n{body}{trailers}"


def _one_line(name: str, value: str) -> str:
    if not value or "\n" in value or "\r" in value:
        raise GitOpsError(f"{name} {value!r} must be one non-empty line")
    return value


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
    """Commit `changes` (repo-relative path -> new bytes) on a new branch from base; maybe push."""
    for name, value in (("recipe", recipe), ("model", model), ("run id", run_id)):
        _one_line(name, value)
    if commit_per not in ("file", "run"):
        raise GitOpsError(f"commit_per must be 'file' or 'run', not {commit_per!r}")
    base_sha = resolve_base(repo, base)
    old_sha = check_branch(repo, branch, force_branch=force_branch)
    if push is not None and push not in {r.name for r in repo.remotes} and not _is_url(push):
        raise UnknownRemoteError(
            f"push remote {redact_url(push)!r} is not configured in this repository"
        )
    modes = _checked_modes(repo, base_sha, sorted(changes))
    if not changes:
        return CommitResult(branch)
    commits = _commit_in_worktree(repo, base_sha, changes, modes, commit_per, recipe, model, run_id)
    if not commits:
        return CommitResult(branch)
    _run(
        repo.git,
        "update-ref",
        "-m",
        f"codemill run {run_id}",
        f"refs/heads/{branch}",
        commits[-1],
        old_sha or "",
        error=BranchExistsError,
    )
    result = CommitResult(branch, commits)
    if push is None:
        return result
    return _push(repo, result, push, force_branch=force_branch)


def _push(repo: git.Repo, result: CommitResult, push: str, *, force_branch: bool) -> CommitResult:
    """Push the committed branch to `push`; a failure keeps the commits and says so, redacted."""
    branch, commits = result.branch, result.commits
    spec = f"{'+' if force_branch else ''}refs/heads/{branch}:refs/heads/{branch}"
    status, _, err = repo.git.execute(
        ["git", "push", "--quiet", "--", push, spec],
        with_extended_output=True,
        with_exceptions=False,
    )
    if status != 0:
        first = next((ln for ln in str(err).splitlines() if ln.strip()), f"exit status {status}")
        message = f"branch {branch} was committed but pushing to {push} failed: {first}"
        raise PushError(redact_text(message), result)
    return CommitResult(branch, commits, pushed=True)


def _is_url(remote: str) -> bool:
    return "/" in remote or ":" in remote


def _commit_in_worktree(
    repo: git.Repo,
    base_sha: str,
    changes: Mapping[str, bytes],
    modes: Mapping[str, int],
    commit_per: CommitPer,
    recipe: str,
    model: str,
    run_id: str,
) -> list[str]:
    """Write and commit in a detached temporary worktree; always remove it. Returns commit shas."""
    env = {**_identity_env(repo), **_NO_HOOKS, "GIT_CONFIG_VALUE_0": os.devnull}
    holder = Path(tempfile.mkdtemp(prefix="codemill-wt-"))
    tree = holder / "tree"
    added = False
    try:
        with worktree_lock(repo):
            _run(repo.git, "worktree", "add", "--detach", "--no-checkout", str(tree), base_sha,
                 env=env, error=CommitError)  # fmt: skip
        added = True
        wt = git.Git(str(tree))
        _run(wt, "read-tree", base_sha, env=env, error=CommitError)
        paths = sorted(changes)
        groups = [[p] for p in paths] if commit_per == "file" else [paths]
        for group in groups:
            for path in group:
                _write(tree / path, changes[path], modes[path])
            _run(wt, "add", "--", *group, env=env, error=CommitError)
            staged = _run(wt, "diff", "--cached", "--name-only", "-z", env=env, error=CommitError)
            changed = [p for p in staged.split("\0") if p]
            if not changed:
                continue  # the new bytes equal the base: nothing to commit for this group
            message = _group_message(group, changed, commit_per, recipe, model, run_id)
            _run(wt, "commit", "--no-verify", "--quiet", "-m", message, env=env, error=CommitError)
        listing = _run(wt, "rev-list", "--reverse", f"{base_sha}..HEAD", error=CommitError)
        return listing.split()
    finally:
        _remove_worktree(repo, holder, tree if added else None)


def _group_message(
    group: list[str],
    changed: list[str],
    commit_per: CommitPer,
    recipe: str,
    model: str,
    run_id: str,
) -> str:
    """The commit message for one group: the file's path, or a count and list of the run's files."""
    if commit_per == "file":
        return _message(f"refactor({recipe}): {group[0]}", "", recipe, model, run_id)
    noun = "file" if len(changed) == 1 else "files"
    body = "".join(f"- {p}\n" for p in changed) + "\n"
    return _message(f"refactor({recipe}): {len(changed)} {noun}", body, recipe, model, run_id)


@contextmanager
def worktree_lock(repo: git.Repo) -> Iterator[None]:
    """Add or remove a worktree only while holding this lock (on the git directory, so runs share it):
    `git worktree add` reads every worktree's records and fails on one being removed meanwhile."""
    fd = os.open(repo.common_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the lock


def _remove_worktree(repo: git.Repo, holder: Path, tree: Path | None) -> None:
    """Remove the temporary worktree (if it was added) and its holder directory; never raise."""
    with worktree_lock(repo):
        if tree is not None:
            command = ["git", "worktree", "remove", "--force", str(tree)]
            repo.git.execute(command, with_exceptions=False)
        shutil.rmtree(holder, ignore_errors=True)
        repo.git.execute(["git", "worktree", "prune"], with_exceptions=False)


def _write(target: Path, data: bytes, mode: int) -> None:
    """Write the exact bytes with the base commit's executable bit."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    perms = 0o755 if mode == 0o100755 else 0o644
    target.chmod(perms)


def apply_check(repo: git.Repo, base: str, patch_text: str) -> str | None:
    """None if `git apply --check` accepts the patch on base (in a temp index), else git's why."""
    base_sha = resolve_base(repo, base)
    with tempfile.TemporaryDirectory(prefix="codemill-apply-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        patch = Path(tmp) / "changes.patch"
        patch.write_bytes(patch_text.encode("utf-8", "surrogateescape"))
        _run(repo.git, "read-tree", base_sha, env=env, error=GitOpsError)
        status, _, err = repo.git.execute(
            ["git", "apply", "--check", "--cached", str(patch)],
            with_extended_output=True,
            with_exceptions=False,
            env=env,
        )
    return None if status == 0 else (str(err).strip() or f"git apply exited with {status}")
