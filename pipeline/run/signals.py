"""SIGINT and SIGTERM stop a run cleanly: the work in flight is abandoned, what was accepted is kept.

While a run holds `Interrupts`, the first signal is remembered and either cancels the asyncio task doing the
run's model requests (`cancelling`), or raises KeyboardInterrupt (for SIGTERM too: a BaseException no
`except Exception` in the work swallows) out of synchronous work that may be dropped (`raising`: codemods,
gates); anywhere else (committing, writing the report) it only marks the run, so a
branch or a report is never left half-made. The run then writes its partial report and exits 128 + signal.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    """Stop signals for the span of one run; installed only in the main thread (signals go there)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._raise = False
        self._task: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[int, Any] = {}

    @property
    def name(self) -> str | None:
        """SIGINT or SIGTERM once one arrived."""
        return None if self.signum is None else signal.Signals(self.signum).name

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        if self._task is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        elif self._raise:
            raise KeyboardInterrupt(signal.Signals(signum).name)

    async def cancelling(self, work: Awaitable[T]) -> T | None:
        """Run `work` as a task a stop signal cancels; None when it was cancelled that way."""
        if self.signum is not None:
            return None
        task = asyncio.ensure_future(work)
        self._loop, self._task = asyncio.get_running_loop(), task
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self.signum is None or (current is not None and current.cancelling()):
                raise  # a cancellation that is not ours
            return None
        finally:
            self._task = None

    @contextmanager
    def raising(self) -> Iterator[None]:
        """Within this block a stop signal raises KeyboardInterrupt (the block's work may be dropped)."""
        if self.signum is not None:
            raise KeyboardInterrupt(signal.Signals(self.signum).name)
        self._raise = True
        try:
            yield
        finally:
            self._raise = False
