"""What codemill remembers between runs: the last successful run of a recipe on a repository.

One JSON file per (repository, recipe): `<state_dir>/repos/<repo_key>/<recipe>.json`, written atomically,
holding the run's base commit, run id, finish time, the sha256 of its patch and the branch that carries it.
`--since last-run` lists the files changed since that base commit; a run whose patch has the same sha256
as the stored one makes no new branch.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.errors import UsageError
from pipeline.paths import move_aside, private_dir, write_atomic
from pipeline.repository import UnknownBaseError, changed_between, open_repository, resolve_base

LAST_RUN = "last-run"
Check = Callable[[object], bool]


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


class DamagedStateError(StateError):
    """A state file that is not a run record (not JSON, a missing or mistyped field)."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"state file {path} is not a codemill run record ({why})")
        self.path, self.why = path, why


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _hex(*lengths: int) -> Check:
    return lambda value: (
        isinstance(value, str) and len(value) in lengths and _HEX.fullmatch(value) is not None
    )


_HEX = re.compile(r"[0-9a-f]+")
MAX_STATE_BYTES = 64 * 1024  # a record is a few hundred bytes
# LastRun's fields, each checked on read: (whether a value fits, what it must be)
FIELDS: dict[str, tuple[Check, str]] = {
    "recipe": (_text, "a recipe name"),
    "base_commit": (_hex(40, 64), "a commit id"),
    "run_id": (_text, "a run id"),
    "finished": (_text, "a time"),
    "patch_sha256": (_hex(64), "a sha256"),
    "branch": (lambda value: value is None or _text(value), "a branch name or null"),
}


@dataclass(frozen=True)
class Since:
    """Which files a --since run may touch (None: all) and a sentence saying why."""

    only: frozenset[str] | None
    note: str


def patch_fingerprint(patch_text: str) -> str:
    """sha256 of a patch's bytes: equal patches mean the same change."""
    return hashlib.sha256(patch_text.encode("utf-8", "surrogateescape")).hexdigest()


def load_last_run(path: Path) -> LastRun | None:
    """The recorded run, None when there is none; DamagedStateError when the file is not a run record
    (recover_last_run moves it aside), StateError when it cannot be read at all."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_STATE_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(
            f"state file {path} cannot be read ({exc.strerror or exc}); "
            "fix its permissions or delete it to start over"
        ) from None
    if len(raw) > MAX_STATE_BYTES:
        raise DamagedStateError(path, f"it is over {MAX_STATE_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise DamagedStateError(path, f"it is not JSON: {exc}") from None
    if why := record_problem(data):
        raise DamagedStateError(path, why)
    return LastRun(**data)


def record_problem(data: object) -> str:
    """What makes decoded JSON not a run record (a missing, unknown or mistyped field); "" when it is."""
    if not isinstance(data, dict):
        return f"it holds a JSON {type(data).__name__}, not an object"
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        return f"unknown field {unknown[0]!r}"
    for name, (fits, what) in FIELDS.items():
        if name not in data and name != "branch":
            return f"no `{name}` field"
        if name in data and not fits(data[name]):
            return f"`{name}` is {_shown(data[name])}, not {what}"
    return ""


def _shown(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def recover_last_run(path: Path, since: str | None) -> tuple[LastRun | None, str]:
    """The recorded run and "", or, for a damaged state file, None and the warning that it was moved
    aside: the run goes on as after no recorded run (a scheduled run must not fail forever on it)."""
    try:
        return load_last_run(path), ""
    except DamagedStateError as damaged:
        why = damaged.why
    try:
        aside = move_aside(path)
    except OSError as exc:
        raise StateError(
            f"state file {path} is damaged ({why}) and cannot be moved aside "
            f"({exc.strerror or exc}); delete it to start over"
        ) from None
    goes_on = "--since last-run covers every file" if since == LAST_RUN else "no last run is known"
    return None, f"state file {path} was damaged ({why}): moved it to {aside}; {goes_on}"


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
        return Since(only, f"{_files(only)} changed since {since}")
    if last is None:
        return Since(None, "no previous successful run recorded: all files")
    try:
        only = changed_files(repo_root, last.base_commit, base_commit)
    except StateError:
        return Since(
            None,
            f"the last run's base {last.base_commit[:12]} is gone from the repository: all files",
        )
    return Since(only, f"{_files(only)} changed since run {last.run_id} ({last.base_commit[:12]})")


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


def _files(paths: frozenset[str]) -> str:
    """A count of files in English: 1 file, 3 files."""
    return f"{len(paths)} file{'' if len(paths) == 1 else 's'}"
