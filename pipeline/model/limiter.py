"""One limiter for the whole run: requests in flight (AIMD on 429s), optional rpm and tpm caps.

The state sits behind a `threading.Lock` and a waiting coroutine is woken on its own event loop
through `call_soon_threadsafe`, so coroutines on several threads, each with its own loop (Prefect
shard tasks), share one global cap. Slots are handed over first come, first served.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from pipeline.config import DEFAULT_CONCURRENCY

SharedSlot = Callable[[], AbstractAsyncContextManager[None]]
# The shared limit of the run being made in this context (a fleet member sets it around its run), so that
# whoever builds the run's Limiter picks it up without threading it through every layer.
SHARED_COOLDOWN_S = (
    1.0  # how long a 429'd request keeps its shared slot (the server's hint wins, capped)
)
SHARED_COOLDOWN_CAP_S = 30.0


class _Waiter:
    """A coroutine waiting for a slot, with the loop that must wake it."""

    __slots__ = ("future", "granted", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.granted = False


def _wake(future: asyncio.Future[None]) -> None:
    """Resolve a waiter's future unless it was cancelled meanwhile."""
    if not future.done():
        future.set_result(None)


class Limiter:
    """At most `current_limit` requests in flight across every coroutine and thread of the run.

    AIMD: `on_rate_limited` halves the limit (at most once per `window` seconds, never below
    `min_limit`); `on_success` grows it back by one per `window` seconds, up to `concurrency`.
    `rpm`/`tpm` cap the requests and estimated tokens sent in any sliding `rate_window` (60 s).
    """

    def __init__(
        self,
        concurrency: int = DEFAULT_CONCURRENCY,
        *,
        rpm: int | None = None,
        tpm: int | None = None,
        min_limit: int = 1,
        window: float = 5.0,
        rate_window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedSlot | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if not 1 <= min_limit <= concurrency:
            raise ValueError(
                f"min_limit must be between 1 and concurrency ({concurrency}), got {min_limit}"
            )
        if rpm is not None and rpm < 1:
            raise ValueError(f"rpm must be at least 1 when set, got {rpm}")
        if tpm is not None and tpm < 1:
            raise ValueError(f"tpm must be at least 1 when set, got {tpm}")
        if window <= 0 or rate_window <= 0:
            raise ValueError("window and rate_window must be positive")
        self.concurrency = concurrency
        self.rpm = rpm
        self.tpm = tpm
        self.min_limit = min_limit
        self._window = window
        self._rate_window = rate_window
        self._clock = clock
        # a slot of a limit shared with other runs (a fleet's), held inside ours; given explicitly
        self._shared = shared
        self._lock = threading.Lock()
        self._limit = concurrency
        self._in_flight = 0
        self._peak = 0
        self._waiters: deque[_Waiter] = deque()
        self._sends: deque[tuple[float, int]] = (
            deque()
        )  # (send time, estimated tokens), sorted by time
        self._last_decrease = -math.inf
        self._last_increase = -math.inf
        self.rate_limited_count = 0

    def __repr__(self) -> str:
        return (
            f"Limiter(limit={self._limit}/{self.concurrency}, in_flight={self._in_flight}, "
            f"rpm={self.rpm}, tpm={self.tpm})"
        )

    @property
    def current_limit(self) -> int:
        """The AIMD-adjusted cap on requests in flight."""
        return self._limit

    @property
    def in_flight(self) -> int:
        """Slots held right now."""
        return self._in_flight

    @property
    def peak_in_flight(self) -> int:
        """The most slots ever held at once."""
        return self._peak

    @asynccontextmanager
    async def slot(self, estimated_tokens: int = 0) -> AsyncIterator[None]:
        """Hold one slot (and, inside it, one of the shared limit's) for the body of the `async with`."""
        await self.acquire(estimated_tokens)
        try:
            if self._shared is None:
                yield
            else:
                async with self._shared():
                    try:
                        yield
                    except Exception as error:
                        await self._cool_down(error)
                        raise
        finally:
            self.release()

    async def _cool_down(self, error: Exception) -> None:
        """After a 429, keep the shared slot a while: every run sharing the limit slows down, not just
        the one that was told to (a provider's limit is on the account, not on one worker)."""
        if getattr(error, "rate_limited", False):
            hint = getattr(error, "retry_after", None)
            await asyncio.sleep(min(SHARED_COOLDOWN_CAP_S, hint or SHARED_COOLDOWN_S))

    async def acquire(self, estimated_tokens: int = 0) -> None:
        """Wait for a free slot, then for the rpm/tpm window to allow the send."""
        await self._acquire_slot()
        try:
            delay = self._reserve(estimated_tokens)
            if delay > 0:
                await asyncio.sleep(delay)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Give a slot back and hand it to the next waiter, if any."""
        with self._lock:
            self._release_locked()

    def on_rate_limited(self) -> None:
        """Multiplicative decrease: halve the limit once per window, never below `min_limit`."""
        with self._lock:
            self.rate_limited_count += 1
            now = self._clock()
            if now - self._last_decrease >= self._window:
                self._limit = max(self.min_limit, self._limit // 2)
                self._last_decrease = now
                self._last_increase = now

    def on_success(self) -> None:
        """Additive increase: one more slot per window of successes, up to `concurrency`."""
        with self._lock:
            if self._limit >= self.concurrency:
                return
            now = self._clock()
            if now - self._last_increase >= self._window:
                self._limit += 1
                self._last_increase = now
                self._grant_locked()

    async def _acquire_slot(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._in_flight < self._limit and not self._waiters:
                self._take_locked()
                return
            waiter = _Waiter(loop)
            self._waiters.append(waiter)
        try:
            await waiter.future
        except BaseException:
            with self._lock:
                if waiter.granted:
                    self._release_locked()
                else:
                    self._waiters.remove(waiter)
            raise

    def _take_locked(self) -> None:
        self._in_flight += 1
        self._peak = max(self._peak, self._in_flight)

    def _release_locked(self) -> None:
        if self._in_flight <= 0:
            raise RuntimeError("Limiter.release() called more times than acquire()")
        self._in_flight -= 1
        self._grant_locked()

    def _grant_locked(self) -> None:
        while self._waiters and self._in_flight < self._limit:
            waiter = self._waiters.popleft()
            try:
                waiter.loop.call_soon_threadsafe(_wake, waiter.future)
            except RuntimeError:  # its loop is closed: nobody is left to use the slot
                continue
            waiter.granted = True
            self._take_locked()

    def _reserve(self, tokens: int) -> float:
        """Book the earliest send time the rpm/tpm windows allow; return how long to wait for it."""
        if self.rpm is None and self.tpm is None:
            return 0.0
        with self._lock:
            now = self._clock()
            sends = self._sends
            while sends and sends[0][0] <= now - self._rate_window:
                sends.popleft()
            at = now
            if self.rpm is not None and len(sends) >= self.rpm:
                at = max(at, sends[len(sends) - self.rpm][0] + self._rate_window)
            if self.tpm is not None:
                need = min(max(tokens, 0), self.tpm)
                total = sum(count for _, count in sends)
                for sent_at, count in sends:
                    if total + need <= self.tpm:
                        break
                    total -= count
                    at = max(at, sent_at + self._rate_window)
            if sends:
                at = max(at, sends[-1][0])
            sends.append((at, tokens))
            return at - now
