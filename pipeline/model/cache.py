"""SQLite response cache: a completion keyed by everything that decides it, so reruns cost nothing.

WAL mode, a busy timeout and one-statement transactions let several threads and processes write
the same file. The key covers the endpoint's host, the model, the answer-changing parameters and
the messages; never the API key, which is not stored either.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from pipeline.model.completion import Completion
from pipeline.paths import private_dir, private_file

KEY_PARAMS = ("max_tokens", "seed", "temperature", "top_p")
KEY_VERSION = 1
BUSY_TIMEOUT_MS = 30_000


def _sidecars(path: Path) -> tuple[Path, Path]:
    """SQLite's WAL files beside the database."""
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


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


class ResponseCache:
    """Completions by key in one SQLite file; thread-safe, and safe for concurrent processes."""

    def __init__(self, path: Path, *, accept: Callable[[Completion], bool] = worth_caching) -> None:
        self.path = Path(path)
        private_dir(self.path.parent)
        for name in (self.path, *_sidecars(self.path)):  # an older, wider cache is narrowed too
            if name == self.path or name.exists():
                private_file(name)
        self._accept = accept
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False, isolation_level=None
        )
        self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(f"the cache at {self.path} cannot use WAL mode (got {mode})")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses ("
            " key TEXT PRIMARY KEY, completion TEXT NOT NULL, created REAL NOT NULL)"
        )

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
        """The stored completion, marked from_cache, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT completion FROM responses WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return dataclasses.replace(Completion.from_json(row[0]), from_cache=True)

    def put(self, key: str, completion: Completion) -> bool:
        """Store the completion if the `accept` rule wants it; True when stored."""
        if not self._accept(completion):
            return False
        record = dataclasses.replace(completion, from_cache=False).to_json()
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (key, completion, created) VALUES (?, ?, ?)",
                (key, record, time.time()),
            )
        return True

    def __len__(self) -> int:
        with self._lock:
            count: int = self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        return count

    def close(self) -> None:
        """Close the connection (checkpointing the WAL when this is the last one)."""
        with self._lock:
            self._db.close()
