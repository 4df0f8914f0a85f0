"""SQLite response cache: a completion keyed by everything that decides it, so reruns cost nothing.

WAL mode, a busy timeout and one-statement transactions let several threads and processes write
the same file. A damaged file is moved aside for a fresh one: a cache only saves requests. The key
covers the endpoint's host, the model, the answer-changing parameters and the messages; never the
API key, which is not stored either.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipeline.errors import UsageError
from pipeline.model.completion import Completion
from pipeline.paths import move_aside, private_dir, private_file

log = logging.getLogger("codemill.model")

KEY_PARAMS = ("max_tokens", "seed", "temperature", "top_p")
KEY_VERSION = 1
BUSY_TIMEOUT_MS = 30_000
SIDECAR_SUFFIXES = ("-wal", "-shm")
DAMAGE_CODES = ("SQLITE_CORRUPT", "SQLITE_NOTADB")  # SQLite's names for a file it cannot read


def _sidecars(path: Path) -> tuple[Path, ...]:
    """SQLite's WAL files beside the database."""
    return tuple(path.with_name(path.name + end) for end in SIDECAR_SUFFIXES)


def worth_caching(completion: Completion) -> bool:
    """Only a complete answer is reused: finish_reason stop and a non-empty answer."""
    return completion.finish_reason == "stop" and bool(completion.answer.strip())


def endpoint_host(base_url: str) -> str:
    """The host (and an explicit port) of a base URL, lower-cased; scheme and path do not count."""
    parts = urlsplit(base_url if "://" in base_url else f"//{base_url}")
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError(f"base URL {base_url!r} has no host")
    return f"{host}:{parts.port}" if parts.port else host


class DamagedCacheError(UsageError):
    """A damaged cache file that cannot be moved aside; the message names it and what to do."""


def is_damage(exc: sqlite3.DatabaseError) -> bool:
    """Whether SQLite cannot read the file as a database (garbage, truncated, malformed): not a busy
    or locked one, which is another process's, never to be moved."""
    return str(getattr(exc, "sqlite_errorname", "")).startswith(DAMAGE_CODES)


class ResponseCache:
    """Completions by key in one SQLite file; thread-safe, and safe for concurrent processes.

    A file SQLite cannot read is moved aside (`<name>.broken-<time>`, its -wal and -shm with it) for a
    fresh cache: when opened, `damage` says so in a sentence for the caller to show; when found later
    (a damaged page read by a lookup), the warning is logged and the lookup goes on in the fresh file.
    No integrity check reads the whole file on open: a big cache would cost every run a second.
    """

    def __init__(self, path: Path, *, accept: Callable[[Completion], bool] = worth_caching) -> None:
        self.path = Path(path)
        self._accept = accept
        self._lock = threading.Lock()
        self.damage = ""  # a sentence when a damaged file was moved aside, else empty
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            self.damage = self._set_aside(str(exc))
            self._db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        """The open connection in WAL mode with the table made; the first read of a damaged file fails."""
        private_dir(self.path.parent)
        for name in (self.path, *_sidecars(self.path)):  # an older, wider cache is narrowed too
            if name == self.path or name.exists():
                private_file(name)
        db = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False, isolation_level=None
        )
        try:
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise RuntimeError(f"the cache at {self.path} cannot use WAL mode (got {mode})")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS responses ("
                " key TEXT PRIMARY KEY, completion TEXT NOT NULL, created REAL NOT NULL)"
            )
        except BaseException:
            db.close()
            raise
        db.text_factory = bytes  # a row that is not UTF-8 is damage get() survives, not a crash
        return db

    def _set_aside(self, why: str) -> str:
        """Move the damaged file (and its -wal, -shm) aside; the sentence that says where."""
        try:
            aside = move_aside(self.path, *SIDECAR_SUFFIXES)
        except OSError as exc:
            raise DamagedCacheError(
                f"the response cache {self.path} is damaged ({why}) and cannot be moved aside "
                f"({exc.strerror or exc}): delete it, or run with --no-cache"
            ) from None
        return (
            f"the response cache {self.path} was damaged ({why}): moved it to {aside} "
            "and started a fresh one"
        )

    def _execute(self, sql: str, args: tuple[object, ...] = ()) -> list[Any]:
        """One statement's rows, under the lock; a damaged page found now moves the file aside (logged)
        and the statement runs again on the fresh one."""
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.DatabaseError as exc:
                if not is_damage(exc):
                    raise
                self._db.close()
                self.damage = self._set_aside(str(exc))
                log.warning("codemill: warning: %s", self.damage)
                self._db = self._connect()
                return self._db.execute(sql, args).fetchall()

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r})"

    @staticmethod
    def key(
        *,
        base_url: str,
        model: str,
        params: Mapping[str, object],
        messages: Sequence[Mapping[str, str]],
    ) -> str:
        """sha256 over host, model, answer-changing params (unset ones ignored) and the messages."""
        material = {
            "v": KEY_VERSION,
            "host": endpoint_host(base_url),
            "model": model,
            "params": {p: params[p] for p in KEY_PARAMS if params.get(p) is not None},
            "messages": [dict(m) for m in messages],
        }
        blob = json.dumps(material, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def get(self, key: str) -> Completion | None:
        """The stored completion, marked from_cache, or None (also for a row that does not decode)."""
        rows = self._execute("SELECT completion FROM responses WHERE key = ?", (key,))
        try:
            found = Completion.from_json(rows[0][0]) if rows else None
        except (ValueError, TypeError, KeyError):  # a damaged row is a miss: the answer replaces it
            return None
        return None if found is None else dataclasses.replace(found, from_cache=True)

    def put(self, key: str, completion: Completion) -> bool:
        """Store the completion if the `accept` rule wants it; True when stored."""
        if not self._accept(completion):
            return False
        record = dataclasses.replace(completion, from_cache=False).to_json()
        self._execute(
            "INSERT OR REPLACE INTO responses (key, completion, created) VALUES (?, ?, ?)",
            (key, record, time.time()),
        )
        return True

    def __len__(self) -> int:
        count: int = self._execute("SELECT COUNT(*) FROM responses")[0][0]
        return count

    def close(self) -> None:
        """Close the connection (checkpointing the WAL when this is the last one)."""
        with self._lock:
            self._db.close()
