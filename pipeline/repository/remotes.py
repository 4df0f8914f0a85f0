"""A remote as publishing sees it: its URL, the commit a branch holds there, and a push guarded by a lease.

`push_leased` moves the remote branch only if it still holds `expected` (none: only if it does not exist),
git's `--force-with-lease` with an explicit value: a branch someone else pushed to is never overwritten.
"""

from __future__ import annotations

import git

from pipeline.redact import redact_text
from pipeline.repository.branches import CommitResult
from pipeline.repository.commands import run_git
from pipeline.repository.errors import GitOpsError, PushError, UnknownRemoteError
from pipeline.repository.opening import work_dir


def remote_url(repo: git.Repo, remote: str) -> str:
    """The URL a remote name stands for (a URL is its own)."""
    if remote in {r.name for r in repo.remotes}:
        return run_git(work_dir(repo), "remote", "get-url", "--push", "--", remote).decode().strip()
    if "/" in remote or ":" in remote:
        return remote
    raise UnknownRemoteError(f"push remote {remote!r} is not configured in this repository")


def remote_head(repo: git.Repo, remote: str, branch: str) -> str | None:
    """The commit `branch` holds on `remote` now, or None when there is no such branch there."""
    out = run_git(work_dir(repo), "ls-remote", "--heads", "--", remote, f"refs/heads/{branch}")
    line = out.decode().split("\n", 1)[0].strip()
    return line.split()[0] if line else None


def push_leased(
    repo: git.Repo, remote: str, commit: str, branch: str, expected: str | None
) -> None:
    """Set `branch` on `remote` to `commit` if it holds `expected` there now; PushError otherwise."""
    ref = f"refs/heads/{branch}"
    lease = f"--force-with-lease={ref}:{expected or ''}"
    try:
        run_git(work_dir(repo), "push", "--quiet", lease, "--", remote, f"{commit}:{ref}")
    except GitOpsError as exc:
        reason = str(exc).removeprefix("git push failed: ")
        message = redact_text(f"pushing {branch} to {remote} failed: {reason}{_hint(reason)}")
        raise PushError(message, CommitResult(branch, [commit])) from None


def _hint(reason: str) -> str:
    """What to do about a refused push, when git's words tell."""
    lowered = reason.lower()
    if "protected" in lowered:
        return "; the branch is protected: let codemill push codemill/* branches, or lift the protection"
    if "stale info" in lowered or "fetch first" in lowered:
        return "; someone pushed to it meanwhile: publish again to see it reported diverged"
    if "permission" in lowered or "denied" in lowered or "403" in lowered:
        return "; the credentials git uses cannot push there: give them write access"
    return ""
