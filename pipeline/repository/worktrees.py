"""Temporary worktrees (the gates' scratch checkouts): made, removed, and reclaimed after a killed run.

Each worktree lives in a temp dir outside the repository (`codemill-<purpose>-*/tree`) beside an
`owner.lock` file its process holds locked for the worktree's whole life. A run killed with SIGKILL
cannot remove its worktree, but it cannot hold the lock either: the next run finds the lock free and
removes the leftover (`reclaim_leftovers`). Adding and removing hold one lock on the git directory,
since `git worktree add` reads every worktree's records and fails on one being removed meanwhile.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import git

from pipeline.repository.commands import run_git
from pipeline.repository.errors import GitOpsError, WorktreeError
from pipeline.repository.opening import work_dir

OWNER_LOCK = "owner.lock"
PREFIX = "codemill-"


@contextmanager
def worktree_lock(repo: git.Repo) -> Iterator[None]:
    """Hold the repository's worktree lock (a flock on its common git directory) for the block."""
    fd = os.open(repo.common_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the lock


@contextmanager
def temporary_worktree(repo: git.Repo, commit: str, purpose: str) -> Iterator[Path]:
    """A detached, checked-out worktree of `commit` in a temp dir, removed however the block ends."""
    holder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{purpose}-"))
    owner = os.open(holder / OWNER_LOCK, os.O_WRONLY | os.O_CREAT, 0o600)
    fcntl.flock(owner, fcntl.LOCK_EX)  # held until this process ends or the block does
    tree = holder / "tree"
    try:
        with worktree_lock(repo):
            _reclaim(repo)
            try:
                run_git(work_dir(repo), "worktree", "add", "--detach", "--quiet", str(tree),
                        commit, error=WorktreeError)  # fmt: skip
            except WorktreeError as exc:
                raise WorktreeError(f"could not make a temporary worktree: {exc}") from None
        yield tree
    finally:
        with worktree_lock(repo):
            _remove(repo, tree, holder)
        os.close(owner)


def reclaim_leftovers(repo: git.Repo) -> list[Path]:
    """Remove the worktrees of codemill runs that died holding them (every run does, first)."""
    with worktree_lock(repo):
        return _reclaim(repo)


def _reclaim(repo: git.Repo) -> list[Path]:
    """`reclaim_leftovers`, for a caller that holds worktree_lock."""
    try:
        listing = run_git(work_dir(repo), "worktree", "list", "--porcelain", "-z")
    except GitOpsError:
        return []
    reclaimed = []
    for record in listing.decode("utf-8", "surrogateescape").split("\0\0"):
        first = record.split("\0", 1)[0]
        if not first.startswith("worktree "):
            continue
        tree = Path(first.removeprefix("worktree "))
        holder = tree.parent
        if holder.name.startswith(PREFIX) and _abandoned(holder / OWNER_LOCK):
            _remove(repo, tree, holder)
            reclaimed.append(tree)
    return reclaimed


def _abandoned(lock: Path) -> bool:
    """True when `lock` exists and no process holds it (its owner died)."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # a live run holds it
    finally:
        os.close(fd)
    return True


def _remove(repo: git.Repo, tree: Path, holder: Path) -> None:
    """Unregister and delete one worktree and its holder directory; never raises."""
    with contextlib.suppress(
        GitOpsError
    ):  # never added, or half made: deleting and pruning settle it
        run_git(work_dir(repo), "worktree", "remove", "--force", "--force", str(tree))
    shutil.rmtree(holder, ignore_errors=True)
    with contextlib.suppress(GitOpsError):  # a record git cannot prune now, a later run prunes
        run_git(work_dir(repo), "worktree", "prune")
