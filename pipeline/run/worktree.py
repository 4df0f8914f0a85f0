"""A reviewed run's change written into the working tree (`codemill apply RUN_DIR --to-worktree`), as
ruff's `--fix` does: for a person at a terminal or a pre-commit hook, no branch and no commit.

It never overwrites work: a file with uncommitted changes (staged, unstaged, or untracked in the way), or
one that changed since the run's base, refuses the whole change, naming the files; nothing is written
then. Each file is replaced whole (a temporary file renamed over it), its mode kept.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from pipeline import repository
from pipeline.run.replay import ReplayError
from pipeline.run.reviewed import refuse_partial, replayed


def apply_to_worktree(run_dir: Path, repo: Path, *, partial: bool) -> list[str]:
    """Write the run's accepted changes into the working tree (no branch, no commit); the paths
    written. Refused, with nothing written, where that would touch uncommitted work."""
    root, again = replayed(run_dir, repo)
    refuse_partial(again.ledger, partial, "write them")
    check_worktree(root, again.changes, again.base_commit)
    return write_worktree(root, again.changes)


def _names(paths: list[str]) -> str:
    shown = ", ".join(paths[:10])
    return shown + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")


def check_worktree(root: Path, changes: Mapping[str, tuple[bytes, bytes]], base: str) -> None:
    """ReplayError unless every file the change touches is, in the working tree, as at the run's base
    and has no uncommitted change."""
    repo = repository.open_repository(root)
    dirty = repository.uncommitted_paths(repo, "HEAD", sorted(changes))
    if dirty is None:
        raise ReplayError(
            "git cannot tell whether the files have uncommitted changes; nothing written"
        )
    if dirty:
        raise ReplayError(
            f"the change touches files with uncommitted changes: {_names(dirty)}; commit or stash "
            "them first (nothing was written)"
        )
    moved = [path for path, (before, _) in sorted(changes.items()) if _read(root / path) != before]
    if moved:
        raise ReplayError(
            f"files changed since the run's base {base[:12]}: {_names(moved)}; run codemill again "
            "on the current commit (nothing was written)"
        )


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def write_worktree(root: Path, changes: Mapping[str, tuple[bytes, bytes]]) -> list[str]:
    """Each changed file's new bytes over it, its mode kept; the paths written."""
    for path, (_, after) in sorted(changes.items()):
        target = root / path
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                os.fchmod(fh.fileno(), target.stat().st_mode & 0o7777)
                fh.write(after)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return sorted(changes)
