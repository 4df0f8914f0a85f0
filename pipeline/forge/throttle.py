"""One limit on forge writes, shared by every codemill process of the user: at most `per_minute`
content-creating requests in any minute and at least `min_interval` seconds between two of them.

GitHub's guidance for content creation is 80 requests a minute and 500 an hour; going faster trips its
secondary rate limit, which blocks the token for minutes (sourcegraph#44631). The limit is kept in one
small file under the state directory, locked while a writer takes its turn, so a fleet's members on one
machine share it; a fleet on several machines shares a Prefect rate limit on top (flows/fleet.py).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.paths import private_dir

DEFAULT_WRITES_PER_MINUTE = 80
DEFAULT_MIN_INTERVAL = 1.0  # seconds between two writes
WINDOW = 60.0


@dataclass
class WriteThrottle:
    """Waits until a forge write may go; `path` (None: this process only) shares the turns."""

    path: Path | None = None
    per_minute: int = DEFAULT_WRITES_PER_MINUTE
    min_interval: float = DEFAULT_MIN_INTERVAL
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    _recent: list[float] = field(default_factory=list)

    def wait_turn(self) -> float:
        """Block until a write may go now, and record it; the seconds waited."""
        if self.path is None:
            return self._take(self._recent)
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # held while waiting: the turns go one after another
            recent = _read(fd)
            waited = self._take(recent)
            _write(fd, recent)
            return waited
        finally:
            os.close(fd)

    def _take(self, recent: list[float]) -> float:
        """Sleep until `recent` allows one more write at now; append it. The seconds slept."""
        now = self.clock()
        recent[:] = [t for t in recent if now - t < WINDOW]
        ready = recent[-1] + self.min_interval if recent else now
        if len(recent) >= self.per_minute:
            ready = max(ready, recent[-self.per_minute] + WINDOW)
        waited = max(0.0, ready - now)
        if waited:
            self.sleep(waited)
        recent.append(max(now + waited, self.clock()))
        return waited


def _read(fd: int) -> list[float]:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = b""
    while chunk := os.read(fd, 65536):
        raw += chunk
    try:
        times = json.loads(raw or b"[]")
    except ValueError:
        return []  # a damaged file only forgets the last minute's writes
    return [float(t) for t in times if isinstance(t, int | float)]


def _write(fd: int, recent: list[float]) -> None:
    data = json.dumps(recent).encode()
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, data)
