"""What both repository gates share: typed errors, chunk edits, and a scratch worktree at the base.

The gates never write into the user's working tree: they check the base out into a detached
worktree in a temp dir outside the repository (`pipeline.repository.temporary_worktree`: hooks off,
removed on every exit path), and write candidate bytes there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path, PurePosixPath

from pipeline.errors import UsageError
from pipeline.repository import (
    Repository,
    WorktreeError,
    is_plain_path,
    resolve_base,
    temporary_worktree,
)


class GateError(UsageError):
    """A gate could not run on this input; the message is one sentence."""


class BadEditError(GateError):
    """A changed path or a chunk edit does not fit the base commit."""


@dataclass(frozen=True)
class ChunkEdit:
    """One accepted chunk's change: its ledger key, the base byte span it replaces, the new bytes."""

    chunk_id: str
    start: int
    end: int
    new: bytes


def apply_edits(base: bytes, edits: Sequence[ChunkEdit]) -> bytes:
    """`base` with the given non-overlapping span edits applied (from the end, so spans stay valid)."""
    ordered = sorted(edits, key=lambda e: (e.start, e.end))
    for before, after in pairwise(ordered):
        if after.start < before.end:
            raise BadEditError(
                f"chunk edits {before.chunk_id!r} and {after.chunk_id!r} overlap "
                f"(bytes {before.start}-{before.end} and {after.start}-{after.end})"
            )
    out = base
    for edit in reversed(ordered):
        if not 0 <= edit.start <= edit.end <= len(base):
            raise BadEditError(
                f"chunk edit {edit.chunk_id!r} spans bytes {edit.start}-{edit.end}, "
                f"outside the {len(base)}-byte base file"
            )
        out = out[: edit.start] + edit.new + out[edit.end :]
    return out


def check_path(path: str) -> None:
    """Refuse a changed path that is not a plain relative path inside the repository."""
    if not is_plain_path(path):
        raise BadEditError(f"changed path {path!r} is not a plain path inside the repository")


def module_for(tree: Path, path: str) -> tuple[str, str] | None:
    """(import root relative to `tree`, dotted module name) for a .py file, or None if unimportable.

    The package chain is every enclosing directory holding an __init__.py; the import root is the
    first directory above it without one (so a `src/` layout gives root `src`).
    """
    pure = PurePosixPath(path)
    if pure.suffix != ".py":
        return None
    parts = [] if pure.name == "__init__.py" else [pure.stem]
    folder = pure.parent
    while folder != PurePosixPath(".") and (tree / folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        folder = folder.parent
    if not parts or not all(p.isidentifier() for p in parts):
        return None
    return str(folder), ".".join(parts)


def overwrite(path: Path, data: bytes) -> None:
    """Replace a scratch file's bytes in place, then cut it to length.

    Truncating to zero first (what `write_bytes` does) makes ext4 flush the file (auto_da_alloc):
    2.5 ms per write on the benchmark machine against 0.08 ms this way.
    """
    fd = os.open(path, os.O_WRONLY)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


def check_files(tree: Path, paths: Sequence[str]) -> None:
    """Refuse a changed path that is not a plain path to a regular file in the scratch worktree."""
    for path in paths:
        check_path(path)
        target = tree / path
        if target.is_symlink() or not target.is_file():
            raise BadEditError(f"{path} is not a regular file at the base commit")


@contextmanager
def scratch_worktree(repo: Repository, base: str, paths: Sequence[str] = ()) -> Iterator[Path]:
    """A detached worktree of `base` in a temp dir; `paths` must be regular files there.

    Made and removed by `pipeline.repository` (which also reclaims the leftovers of a killed run)."""
    for path in paths:
        check_path(path)
    try:
        with temporary_worktree(repo, resolve_base(repo, base), "gate") as tree:
            check_files(tree, paths)
            yield tree
    except WorktreeError as exc:
        raise GateError(str(exc)) from None
