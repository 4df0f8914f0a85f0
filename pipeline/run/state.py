"""What codemill remembers between runs: the last successful run of a recipe on a repository.

One JSON file per (repository, recipe): `<state_dir>/repos/<repo_key>/<recipe>.json`, written atomically,
holding the run's base commit, run id, finish time, the sha256 of its patch and the branch that carries it.
`--since last-run` lists the files changed since that base commit; a run whose patch has the same sha256
as the stored one makes no new branch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.errors import UsageError
from pipeline.paths import private_dir, write_atomic
from pipeline.repository import UnknownBaseError, changed_between, open_repository, resolve_base

LAST_RUN = "last-run"


class StateError(UsageError):
    """A state file or a --since value codemill cannot use; the message is one sentence."""


@dataclass(frozen=True)
class LastRun:
    """The last successful run of one recipe on one repository."""

    recipe: str
    base_commit: str
    run_id: str
    finished: str  # ISO 8601, UTC
    patch_sha256: str  # fingerprint of the change the run produced ("" patch when nothing changed)
    branch: str | None = None  # the branch that carries that change, if one was made


@dataclass(frozen=True)
class Since:
    """Which files a --since run may touch (None: all) and a sentence saying why."""

    only: frozenset[str] | None
    note: str


def patch_fingerprint(patch_text: str) -> str:
    """sha256 of a patch's bytes: equal patches mean the same change."""
    return hashlib.sha256(patch_text.encode("utf-8", "surrogateescape")).hexdigest()


def load_last_run(path: Path) -> LastRun | None:
    """The recorded run, None when there is none; StateError when the file is unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise StateError(
            f"state file {path} cannot be read ({exc}); delete it to start over"
        ) from None
    try:
        return LastRun(**data)
    except TypeError as exc:
        raise StateError(f"state file {path} is not a codemill run record ({exc})") from None


def save_last_run(path: Path, run: LastRun) -> None:
    """Record `run` atomically (readers see the old record or the new one, never half)."""
    try:
        private_dir(path.parent)
        write_atomic(path, (json.dumps(asdict(run), indent=2) + "\n").encode("utf-8"))
    except OSError as exc:
        raise StateError(f"cannot write state file {path}: {exc}") from None


def restore_last_run(path: Path, previous: LastRun | None) -> None:
    """Put back the record a run replaced (none: remove it), when its branch could not be made."""
    if previous is not None:
        save_last_run(path, previous)
        return
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise StateError(f"cannot remove state file {path}: {exc}") from None


def changed_files(repo_root: Path, since: str, base_commit: str) -> frozenset[str]:
    """Repo-relative paths that differ between `since` and `base_commit`."""
    repo = open_repository(repo_root)
    try:
        since_commit = resolve_base(repo, since)
    except UnknownBaseError:
        raise StateError(f"--since {since!r} is not a commit in this repository") from None
    return changed_between(repo, since_commit, base_commit)


def resolve_since(
    since: str | None, last: LastRun | None, repo_root: Path, base_commit: str
) -> Since:
    """The files a run may touch for `--since last-run|REF` (None: every file)."""
    if since is None:
        return Since(None, "")
    if since != LAST_RUN:
        only = changed_files(repo_root, since, base_commit)
        return Since(only, f"{len(only)} files changed since {since}")
    if last is None:
        return Since(None, "no previous successful run recorded: all files")
    try:
        only = changed_files(repo_root, last.base_commit, base_commit)
    except StateError:
        return Since(
            None,
            f"the last run's base {last.base_commit[:12]} is gone from the repository: all files",
        )
    return Since(
        only, f"{len(only)} files changed since run {last.run_id} ({last.base_commit[:12]})"
    )


def same_change(last: LastRun | None, fingerprint: str, changed: bool) -> bool:
    """Whether a non-empty change is exactly the one the last successful run already produced."""
    return changed and last is not None and last.patch_sha256 == fingerprint


def succeeded(
    last: LastRun | None,
    *,
    recipe: str,
    base_commit: str,
    run_id: str,
    finished: str,
    fingerprint: str,
    branch: str | None,
) -> LastRun:
    """The record after a successful run; a repeat of the last change keeps the branch that holds it."""
    if last is not None and last.patch_sha256 == fingerprint and branch is None:
        branch = last.branch
    return LastRun(recipe, base_commit, run_id, finished, fingerprint, branch)
