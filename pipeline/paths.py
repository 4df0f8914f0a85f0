"""Where every file codemill writes goes, and how it is written: private and whole.

Locations: the state dir (`$CODEMILL_STATE_DIR`, `$XDG_STATE_HOME/codemill` or
`~/.local/state/codemill`) holds `runs/<repo_key>/<run_id>/` (the reports) and
`repos/<repo_key>/<recipe>.json` (the last run); the response cache is
`$XDG_CACHE_HOME/codemill/responses.sqlite3` or `~/.cache/codemill/responses.sqlite3`. The
environment comes in as a mapping from the caller (the config's), never from `os.environ` here.

Permissions: a report holds the repository's new code and the cache its answers, so every file codemill
writes is 0600 and every directory it creates 0700, whatever the umask. Writing goes through the helpers
below (`private_dir`, `write_atomic`, `create_private`, `append_private`,
`private_file`); tests check a real run's modes.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from pipeline.errors import UsageError

FILE_MODE = 0o600
DIR_MODE = 0o700
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


class ReportError(UsageError):
    """A report (or the state beside it) that cannot be written where or as asked."""


# --- writing, privately ---


def private_dir(path: Path) -> Path:
    """Create `path` and its missing parents as 0700 (mkdir's mode alone is cut by the umask)."""
    missing = []
    at = Path(path)
    while not at.exists() and at != at.parent:
        missing.append(at)
        at = at.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            if not directory.is_dir():
                raise
            continue  # made meanwhile by another process: not ours to chmod
        os.chmod(directory, DIR_MODE)
    if not Path(path).is_dir():
        raise NotADirectoryError(f"{path} is not a directory")
    return Path(path)


def write_atomic(path: Path, data: bytes) -> None:
    """Write a 0600 file so readers see the old or the new content, never half of it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), FILE_MODE)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def create_private(path: Path) -> IO[str]:
    """A new 0600 text file open for writing; FileExistsError if `path` exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return os.fdopen(fd, "w", encoding="utf-8")


def append_private(path: Path) -> IO[str]:
    """`path` open for appending (and reading, "a+"), created 0600 if missing and narrowed if wider."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return os.fdopen(fd, "a+", encoding="utf-8")


def private_file(path: Path) -> Path:
    """Make `path` exist as a 0600 file (created empty if missing), so what writes it later inherits
    nothing wider: SQLite gives its -wal and -shm files the database file's mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def move_aside(path: Path, *companions: str) -> Path:
    """Rename a damaged file to `<name>.broken-<UTC time>` beside it, never over another, so a fresh
    one can take its place and the old one can still be looked at; `companions` are suffixes of
    files that go with it (SQLite's `-wal`), moved along when they exist. The new path."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    aside = path.with_name(f"{path.name}.broken-{stamp}")
    for number in itertools.count(2):
        if not any(Path(f"{aside}{end}").exists() for end in ("", *companions)):
            break
        aside = path.with_name(f"{path.name}.broken-{stamp}-{number}")
    os.rename(path, aside)
    for end in companions:
        if Path(f"{path}{end}").exists():
            os.rename(f"{path}{end}", f"{aside}{end}")
    return aside


# --- locations ---


def state_dir(env: Mapping[str, str]) -> Path:
    """Per-user state: $CODEMILL_STATE_DIR, $XDG_STATE_HOME/codemill or ~/.local/state/codemill."""
    explicit = env.get("CODEMILL_STATE_DIR", "")
    if explicit:
        if not Path(explicit).is_absolute():
            raise ReportError(f"CODEMILL_STATE_DIR must be an absolute path, not {explicit!r}")
        return Path(explicit)
    xdg = env.get("XDG_STATE_HOME", "")
    if xdg and Path(xdg).is_absolute():  # the XDG spec says to ignore a relative value
        return Path(xdg) / "codemill"
    home = env.get("HOME", "")
    if not home or not Path(home).is_absolute():
        raise ReportError("cannot find a state directory: set CODEMILL_STATE_DIR or HOME")
    return Path(home) / ".local" / "state" / "codemill"


def repo_key(repo_root: Path) -> str:
    """<repo-name>-<8 hex of sha256(absolute repo path)>: one state subdirectory per checkout."""
    root = repo_root.resolve()
    name = _UNSAFE_NAME.sub("_", root.name).lstrip(".") or "repo"
    return f"{name}-{hashlib.sha256(os.fsencode(root)).hexdigest()[:8]}"


def default_report_dir(repo_root: Path, run_id: str, env: Mapping[str, str]) -> Path:
    """<state_dir>/runs/<repo_key>/<run_id>/, created 0700; never inside the repository's tree."""
    if not _RUN_ID.fullmatch(run_id):
        raise ReportError(f"run id {run_id!r} is not a safe directory name (letters, digits, ._-)")
    directory = state_dir(env) / "runs" / repo_key(repo_root) / run_id
    if directory.resolve().is_relative_to(repo_root.resolve()):
        raise ReportError(
            f"report directory {directory} is inside the repository {repo_root}; "
            "set CODEMILL_STATE_DIR to a path outside it"
        )
    try:
        return private_dir(directory)
    except OSError as exc:
        raise ReportError(f"cannot create report directory {directory}: {exc}") from exc


def state_file(repo_root: Path, recipe: str, env: Mapping[str, str]) -> Path:
    """Where the last run of `recipe` on the repository at `repo_root` is recorded."""
    name = _UNSAFE_NAME.sub("_", recipe).lstrip(".") or "recipe"
    return state_dir(env) / "repos" / repo_key(repo_root) / f"{name}.json"


def default_cache_path(env: Mapping[str, str]) -> Path:
    """Where the response cache lives unless `cache_path` says otherwise: outside every repository.

    $XDG_CACHE_HOME/codemill/responses.sqlite3, else ~/.cache/codemill/responses.sqlite3.
    """
    xdg = env.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg) if xdg else Path(env.get("HOME", "") or Path.home()) / ".cache"
    return base / "codemill" / "responses.sqlite3"
