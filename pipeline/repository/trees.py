"""Reading a commit's tree: every entry under a path, with its mode and size, its bytes on demand.

Entries come from git's object database (never the working tree), so a run reads exactly what was
committed, whatever the checkout holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import git

from pipeline.repository.errors import GitOpsError

SYMLINK_MODE = 0o120000
SUBMODULE_MODE = 0o160000


class NotInTreeError(GitOpsError):
    """A path the caller asked for is not in the commit."""


@dataclass(frozen=True)
class TreeEntry:
    """One file of a commit: its repo-relative path, mode, size, and a way to read its bytes."""

    path: str
    mode: int
    size: int
    _blob: git.Blob | None

    @property
    def is_submodule(self) -> bool:
        return self.mode == SUBMODULE_MODE

    @property
    def is_symlink(self) -> bool:
        return self.mode == SYMLINK_MODE

    def read(self) -> bytes:
        """The entry's bytes as committed (a symlink's: its target)."""
        if self._blob is None:
            raise GitOpsError(f"{self.path} is a submodule: it has no bytes in this repository")
        data: bytes = self._blob.data_stream.read()
        return data


def tree_entries(repo: git.Repo, commit: str, prefix: str = "") -> Iterator[TreeEntry]:
    """Every file and submodule of `commit` under `prefix` ("" for all, or one file's path)."""
    tree = repo.commit(commit).tree
    if prefix:
        try:
            item = tree / prefix
        except KeyError:
            raise NotInTreeError(f"{prefix} is not in commit {commit[:12]}") from None
        items: Iterable[object] = item.traverse() if isinstance(item, git.Tree) else [item]
    else:
        items = tree.traverse()
    for found in items:
        if isinstance(found, git.Blob):
            yield TreeEntry(str(found.path), found.mode, found.size, found)
        elif isinstance(found, git.Submodule):
            yield TreeEntry(str(found.path), SUBMODULE_MODE, 0, None)
