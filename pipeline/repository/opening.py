"""Opening a repository and naming its commits: the only place codemill makes a `git.Repo`."""

from __future__ import annotations

import os
from pathlib import Path

import git

from pipeline.repository.commands import run_git
from pipeline.repository.errors import (
    BareRepositoryError,
    EmptyRepositoryError,
    GitOpsError,
    NotARepositoryError,
    UnknownBaseError,
)


def open_repository(path: str | os.PathLike[str]) -> git.Repo:
    """The repository containing `path`, refused if it does not exist, is bare or has no commit."""
    if not Path(path).exists():
        raise NotARepositoryError(f"{path} does not exist")
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise NotARepositoryError(
            f"{path} is not inside a git repository: run codemill in a git checkout, "
            f"or `git init` and commit first"
        ) from None
    if repo.bare:
        raise BareRepositoryError(f"{repo.git_dir} is a bare repository; codemill needs a checkout")
    if not repo.head.is_valid():
        raise EmptyRepositoryError(f"{repo.working_tree_dir} has no commit yet to branch from")
    return repo


def work_dir(repo: git.Repo) -> Path:
    """Where git commands for `repo` run: its working tree."""
    return Path(str(repo.working_tree_dir))


def resolve_base(repo: git.Repo, base: str) -> str:
    """The commit hexsha `base` names (a branch, tag or sha)."""
    if not base or base.startswith("-"):
        raise UnknownBaseError(f"base {base!r} is not a commit in this repository")
    try:
        out = run_git(work_dir(repo), "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
    except GitOpsError:
        raise UnknownBaseError(f"base {base!r} is not a commit in this repository") from None
    return out.decode().strip()


def changed_between(repo: git.Repo, old: str, new: str) -> frozenset[str]:
    """Repo-relative paths that differ between two commits (any name: NUL-separated)."""
    out = run_git(work_dir(repo), "diff", "--name-only", "--no-renames", "-z", old, new)
    return frozenset(p for p in out.decode("utf-8", "surrogateescape").split("\0") if p)


def uncommitted_paths(repo: git.Repo, base: str, prefixes: list[str]) -> list[str] | None:
    """Paths under `prefixes` whose working-tree state differs from `base` (modified, deleted,
    untracked); None when git cannot tell (a failing clean filter, say): the list only informs."""
    specs = ["--", *(p or "." for p in prefixes)]
    try:
        changed = run_git(work_dir(repo), "--literal-pathspecs", "diff", "--name-only",
                          "--no-renames", "-z", base, *specs)  # fmt: skip
        untracked = run_git(work_dir(repo), "--literal-pathspecs", "ls-files", "-z", "--others",
                            "--exclude-standard", *specs)  # fmt: skip
    except GitOpsError:
        return None
    names = (changed + untracked).decode("utf-8", "surrogateescape").split("\0")
    return sorted({name for name in names if name})
