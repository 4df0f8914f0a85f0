"""One limit on forge writes, shared by every codemill process of the user: at most `per_minute`
content-creating requests in any minute, `per_hour` in any hour, and at least `min_interval` seconds
between two of them.

GitHub's guidance for content creation is 80 requests a minute and 500 an hour; going faster trips its
secondary rate limit, which blocks the token for minutes (sourcegraph#44631). The limit is kept in one
small file under the state directory, locked for the whole of a write (wait, request, record), so writes
of every process on the machine go one at a time and the next starts `min_interval` after the last one
ended; a fleet on several machines adds a Prefect rate limit (`shared`, flows/fleet_publish.py).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.paths import private_dir

DEFAULT_WRITES_PER_MINUTE = 80
DEFAULT_WRITES_PER_HOUR = 500
DEFAULT_MIN_INTERVAL = 1.0  # seconds between two writes
WINDOW = 60.0
HOUR = 3600.0


@dataclass
class WriteThrottle:
    """Gives turns to forge writes; `path` (None: this process only) shares them between processes."""

    path: Path | None = None
    per_minute: int = DEFAULT_WRITES_PER_MINUTE
    per_hour: int = DEFAULT_WRITES_PER_HOUR
    min_interval: float = DEFAULT_MIN_INTERVAL
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    shared: Callable[[], None] | None = None  # a limit beyond this machine (a fleet's Prefect one)
    _recent: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def turn(self) -> Iterator[float]:
        """Hold the one turn for a write: wait until it may start, run it, record when it ended. Yields
        the seconds waited here."""
        with self._lock, self._recorded() as recent:
            waited = self._wait(recent)
            if self.shared is not None:
                self.shared()
            try:
                yield waited
            finally:
                recent.append(self.clock())

    def wait_turn(self) -> float:
        """A write with nothing to do inside the turn (the tests' and the fleet's probe)."""
        with self.turn() as waited:
            return waited

    @contextmanager
    def _recorded(self) -> Iterator[list[float]]:
        """The recent writes' end times, locked (file lock across processes) and written back after."""
        if self.path is None:
            yield self._recent
            return
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            recent = _read(fd)
            try:
                yield recent
            finally:
                _write(fd, recent)
        finally:
            os.close(fd)  # closing releases the lock

    def _wait(self, recent: list[float]) -> float:
        """Sleep until `recent` allows one more write now; the seconds slept."""
        now = self.clock()
        recent[:] = [t for t in recent if now - t < HOUR]
        ready = recent[-1] + self.min_interval if recent else now
        for limit, window in ((self.per_minute, WINDOW), (self.per_hour, HOUR)):
            if len([t for t in recent if now - t < window]) >= limit:
                ready = max(ready, recent[-limit] + window)
        waited = max(0.0, ready - now)
        if waited:
            self.sleep(waited)
        return waited


def _read(fd: int) -> list[float]:
    raw = b""
    while chunk := os.read(fd, 65536):
        raw += chunk
    try:
        times = json.loads(raw or b"[]")
    except ValueError:
        return []  # a damaged file only forgets the last hour's writes
    return sorted(float(t) for t in times if isinstance(t, int | float))


def _write(fd: int, recent: list[float]) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, json.dumps(recent).encode())
