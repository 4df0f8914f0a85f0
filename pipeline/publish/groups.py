"""How one run is cut into several pull requests: by owner or by directory, at most N files each; the
grouping depends only on the files and the owners, so a rerun puts the same files in the same one."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

SPLITS = ("none", "owner", "directory")


@dataclass(frozen=True)
class Group:
    """One pull request's share of the run: its name (part of its branch) and its files, sorted."""

    name: str
    files: tuple[str, ...]


def group_files(
    files: Sequence[str],
    owners: Mapping[str, tuple[str, ...]],
    split: str = "none",
    max_files: int | None = None,
) -> list[Group]:
    """The groups of `files`: one (named "") unless split, each cut into parts of `max_files`."""
    keyed: dict[str, list[str]] = {}
    for path in sorted(files):
        keyed.setdefault(_key(path, owners, split), []).append(path)
    groups: list[Group] = []
    for key, paths in sorted(keyed.items()):
        size = max_files or len(paths)
        parts = [paths[i : i + size] for i in range(0, len(paths), size)]
        for number, part in enumerate(parts, 1):
            name = key if len(parts) == 1 else f"{key}-{number}".lstrip("-")
            groups.append(Group(name, tuple(part)))
    return groups


def _key(path: str, owners: Mapping[str, tuple[str, ...]], split: str) -> str:
    if split == "owner":
        return _safe("-".join(sorted(owners.get(path, ()))) or "unowned")
    if split == "directory":
        parent = PurePosixPath(path).parent.as_posix()
        return _safe(parent if parent != "." else "root")
    return ""


def _safe(name: str) -> str:
    """A name git takes as part of a branch: letters, digits, `.`, `_` and `-`."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-") or "group"
