"""Each machine's repository cache: a bare mirror plus one worktree per repository, reused between runs.

`<cache_dir>/<key>/mirror.git` is cloned once and fetched afterwards (branches and tags, pruned, so the
mirror follows the remote); `<cache_dir>/<key>/work` is a detached worktree of it at the run's base commit.
A run reads its files from the base commit and makes its branch in the mirror, whose `origin` is the source:
`push = "origin"` pushes the branch back where the repository came from. A lock file per repository keeps two
runs on one machine (shards of one repository, say) from fetching or checking out at the same time.
"""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipeline.paths import append_private, private_dir
from pipeline.repository import GitOpsError
from pipeline.repository.commands import run_git

FETCH_SPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
GIT_TIMEOUT_S = 600.0
_QUIET = {"GIT_ASKPASS": "true"}  # never wait for a password (no prompt: run_git)


class CacheError(GitOpsError):
    """A repository could not be cloned, fetched or checked out; the message is one sentence."""


@dataclass(frozen=True)
class Checkout:
    """A repository ready to run on: its worktree, the commit it is at, and how it got there."""

    root: Path
    base_commit: str
    fetched: bool  # True: the mirror was there and was fetched; False: cloned now


def default_cache_dir(env: Mapping[str, str]) -> Path:
    """$CODEMILL_FLEET_CACHE, else $XDG_CACHE_HOME/codemill/repos, else ~/.cache/codemill/repos."""
    explicit = env.get("CODEMILL_FLEET_CACHE", "").strip()
    if explicit:
        return Path(explicit)
    xdg = env.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".cache") / "codemill" / "repos"


def _git(*args: str, cwd: Path | None = None) -> str:
    """Run git (never waiting for a password); its stdout, or CacheError with git's first error line."""
    out = run_git(cwd or Path.cwd(), *args, env=_QUIET, error=CacheError, timeout=GIT_TIMEOUT_S)
    return out.decode("utf-8", "surrogateescape")


@contextmanager
def locked(cache_dir: Path, key: str) -> Iterator[Path]:
    """Hold the repository's lock for the body; yields its directory in the cache."""
    home = cache_dir / key
    private_dir(home)
    with append_private(cache_dir / f"{key}.lock") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield home
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def update_mirror(source: str, home: Path) -> tuple[Path, bool]:
    """Clone the bare mirror, or fetch it if it is there; (its path, whether it was fetched)."""
    mirror = home / "mirror.git"
    if (mirror / "HEAD").is_file():
        _git("--git-dir", str(mirror), "fetch", "--quiet", "--prune", "origin")
        return mirror, True
    partial = home / "mirror.partial"
    shutil.rmtree(partial, ignore_errors=True)
    _git("clone", "--quiet", "--bare", "--", source, str(partial))
    first, *rest = FETCH_SPECS
    _git("--git-dir", str(partial), "config", "--replace-all", "remote.origin.fetch", first)
    for spec in rest:
        _git("--git-dir", str(partial), "config", "--add", "remote.origin.fetch", spec)
    _git("--git-dir", str(partial), "fetch", "--quiet", "origin")  # the refs under the specs
    partial.rename(mirror)  # a clone cut short never looks like a mirror
    return mirror, False


def resolve(mirror: Path, base: str | None) -> str:
    """The commit `base` names in the mirror (its default branch when None); CacheError if none."""
    ref = base or "HEAD"
    try:
        return _git(
            "--git-dir", str(mirror), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"
        ).strip()
    except CacheError:
        raise CacheError(f"base {ref!r} is not a commit of the repository") from None


def checkout(source: str, key: str, cache_dir: Path, base: str | None) -> Checkout:
    """Fetch (or clone) the repository and put its worktree at `base`; the worktree is ready to run on."""
    with locked(cache_dir, key) as home:
        mirror, fetched = update_mirror(source, home)
        commit = resolve(mirror, base)
        work = home / "work"
        if (work / ".git").is_file():
            _git("checkout", "--quiet", "--force", "--detach", commit, cwd=work)
            _git("clean", "--quiet", "-d", "--force", "-x", cwd=work)
        else:
            shutil.rmtree(work, ignore_errors=True)
            _git("--git-dir", str(mirror), "worktree", "prune")
            _git(
                "--git-dir",
                str(mirror),
                "worktree",
                "add",
                "--quiet",
                "--force",
                "--detach",
                str(work),
                commit,
            )
        return Checkout(work, commit, fetched)


def base_commit(source: str, key: str, cache_dir: Path, base: str | None) -> str:
    """Fetch (or clone) the mirror only and say which commit `base` is: what the fleet decides on."""
    with locked(cache_dir, key) as home:
        mirror, _ = update_mirror(source, home)
        return resolve(mirror, base)


def list_files(source: str, key: str, cache_dir: Path, commit: str) -> list[str]:
    """Every file path at `commit` (the mirror must hold it), sorted."""
    with locked(cache_dir, key) as home:
        out = _git(
            "--git-dir", str(home / "mirror.git"), "ls-tree", "-r", "-z", "--name-only", commit
        )
    return sorted(p for p in out.split("\0") if p)


def python_bytes(source: str, key: str, cache_dir: Path, commit: str) -> int:
    """The bytes of Python at `commit` (the mirror must hold it): how big a repository's run is."""
    with locked(cache_dir, key) as home:
        out = _git("--git-dir", str(home / "mirror.git"), "ls-tree", "-r", "-l", "-z", commit)
    total = 0
    for entry in out.split("\0"):
        meta, _, path = entry.partition("\t")
        fields = meta.split()
        if path.endswith((".py", ".pyi")) and len(fields) == 4 and fields[3].isdigit():
            total += int(fields[3])
    return total
