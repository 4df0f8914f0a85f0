"""A run's commits, made from the proven bytes: blobs written as they are, then trees and commits on them.

No worktree and no `git add`: clean filters, `working-tree-encoding`, `ident`, `eol` and `text=auto`
decide what `git add` stores, so codemill writes each blob from the exact bytes the judge and the gates
proved, builds each tree in a private index, and makes each commit with `git commit-tree` (no hooks run,
no ref moves). The branch is set once, at the end of a run that ended well (`branches.set_branch`).
After the last commit every changed path's blob there is checked to be the proven bytes.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path, PurePosixPath

import git
from gitdb.base import IStream

from pipeline.config import CommitPer
from pipeline.repository.commands import run_git
from pipeline.repository.errors import BadChangeError, CommitError, GitOpsError
from pipeline.repository.opening import work_dir

FALLBACK_NAME = "codemill"
FALLBACK_EMAIL = "codemill@localhost"
_REGULAR_MODES = {0o100644, 0o100755}


@dataclass(frozen=True)
class Trailers:
    """What every commit of a run says about where it came from."""

    recipe: str
    model: str
    run_id: str

    def __post_init__(self) -> None:
        for name, value in (
            ("recipe", self.recipe),
            ("model", self.model),
            ("run id", self.run_id),
        ):
            if not value or "\n" in value or "\r" in value:
                raise GitOpsError(f"{name} {value!r} must be one non-empty line")

    def message(self, subject: str, body: str = "") -> str:
        lines = f"Codemill-Recipe: {self.recipe}\nCodemill-Model: {self.model}\n"
        return f"{subject}\n\n{body}{lines}Codemill-Run: {self.run_id}\n"


def is_plain_path(path: str) -> bool:
    """True for a relative path inside a repository: no root, no `..`, `.` or `.git` part, no NUL."""
    parts = PurePosixPath(path).parts
    return not (
        not path
        or path.startswith("/")
        or "\0" in path
        or "//" in path
        or any(p in ("..", ".", ".git") for p in parts)
    )


def blob_id(data: bytes) -> str:
    """The id git gives a blob of exactly these bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def checked_modes(repo: git.Repo, base: str, paths: Sequence[str]) -> dict[str, tuple[int, str]]:
    """The base-commit mode and blob id of every changed path; refuses anything but a regular file."""
    tree = repo.commit(base).tree
    modes: dict[str, tuple[int, str]] = {}
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
        modes[path] = (entry.mode, entry.binsha.hex())
    return modes


def make_commits(
    repo: git.Repo,
    base_sha: str,
    changes: Mapping[str, bytes],
    commit_per: CommitPer,
    trailers: Trailers,
) -> list[str]:
    """Commit `changes` (path -> proven bytes) on `base_sha`, one commit per file or one per run.

    Returns the commits, oldest first (none when every file equals its base); no ref is made or moved."""
    if commit_per not in ("file", "run"):
        raise GitOpsError(f"commit_per must be 'file' or 'run', not {commit_per!r}")
    base = checked_modes(repo, base_sha, sorted(changes))
    blobs = {path: _write_blob(repo, data) for path, data in changes.items()}
    paths = [p for p in sorted(changes) if blobs[p] != base[p][1]]  # a file equal to its base: none
    groups = [[p] for p in paths] if commit_per == "file" else [paths] if paths else []
    commits: list[str] = []
    signing = ("-S",) if _signs_commits(repo) else ()
    with tempfile.TemporaryDirectory(prefix="codemill-index-") as tmp:
        index = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), **_identity(repo)}
        cwd = work_dir(repo)
        run_git(cwd, "read-tree", base_sha, env=index, error=CommitError)
        for group in groups:
            entries = "".join(f"{base[p][0]:o} {blobs[p]}\t{p}\0" for p in group)
            run_git(cwd, "update-index", "-z", "--index-info", stdin=entries.encode("utf-8",
                    "surrogateescape"), env=index, error=CommitError)  # fmt: skip
            tree = run_git(cwd, "write-tree", env=index, error=CommitError).decode().strip()
            message = _group_message(group, commit_per, trailers).encode("utf-8", "surrogateescape")
            parent = commits[-1] if commits else base_sha
            args = ("commit-tree", *signing, tree, "-p", parent, "-F", "-")
            made = run_git(cwd, *args, stdin=message, env=index, error=CommitError)
            commits.append(made.decode().strip())
    if commits:
        verify_blobs(repo, commits[-1], changes)
    return commits


def verify_blobs(repo: git.Repo, commit: str, changes: Mapping[str, bytes]) -> None:
    """Refuse unless every changed path's blob at `commit` is exactly its proven bytes."""
    tree = repo.commit(commit).tree
    for path, data in sorted(changes.items()):
        try:
            stored = (tree / path).binsha.hex()
        except KeyError:
            stored = "nothing"
        if stored != blob_id(data):
            raise CommitError(
                f"the commit of {path} does not hold the bytes codemill proved "
                f"(blob {stored} instead of {blob_id(data)}); no branch was made"
            )


def _write_blob(repo: git.Repo, data: bytes) -> str:
    """Store `data` as a blob byte for byte (no filter, no conversion); its id. (`verify_blobs` checks
    the last commit holds exactly these bytes.)"""
    stored = repo.odb.store(IStream(b"blob", len(data), BytesIO(data)))
    return stored.hexsha.decode() if isinstance(stored.hexsha, bytes) else str(stored.hexsha)


def _signs_commits(repo: git.Repo) -> bool:
    """Whether the user's config asks for signed commits (commit-tree signs only when told to)."""
    try:
        value = run_git(work_dir(repo), "config", "--type=bool", "commit.gpgSign")
    except GitOpsError:
        return False  # unset
    return value.decode().strip() == "true"


def _identity(repo: git.Repo) -> dict[str, str]:
    """Fallback author/committer for a machine with no git identity configured."""
    env: dict[str, str] = {}
    for role in ("AUTHOR", "COMMITTER"):
        try:
            run_git(work_dir(repo), "var", f"GIT_{role}_IDENT")
        except GitOpsError:
            env[f"GIT_{role}_NAME"] = FALLBACK_NAME
            env[f"GIT_{role}_EMAIL"] = FALLBACK_EMAIL
    return env


def _group_message(group: list[str], commit_per: CommitPer, trailers: Trailers) -> str:
    """The commit message for one group: the file's path, or a count and list of the run's files."""
    if commit_per == "file":
        return trailers.message(f"refactor({trailers.recipe}): {_shown(group[0])}")
    noun = "file" if len(group) == 1 else "files"
    body = "".join(f"- {_shown(p)}\n" for p in group) + "\n"
    return trailers.message(f"refactor({trailers.recipe}): {len(group)} {noun}", body)


def _shown(path: str) -> str:
    """A path as one line of a commit message: quoted when it holds a newline or another control."""
    return path if path.isprintable() else repr(path)
