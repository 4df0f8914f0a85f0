"""A circuit breaker for the model endpoint: after N consecutive failures to reach it, stop sending.

Only failures to *reach* the server count (connection refused, DNS, TLS, connect timeout): any HTTP answer,
even an error, proves the endpoint is there and closes the count. Once tripped, every later attempt raises
`ProviderUnreachable` at once, so a dead endpoint costs seconds, not a retry budget per chunk.
"""

from __future__ import annotations

import threading
from typing import ClassVar

from pipeline.errors import ExitCode
from pipeline.model.errors import FatalModelError

TRIP_AFTER = 5  # consecutive unreachable attempts


class ProviderUnreachable(FatalModelError):
    """The endpoint could not be reached N times in a row: the run stops sending (exit 5)."""

    exit_code: ClassVar[int] = ExitCode.UNREACHABLE

    def __init__(self, failures: int, last: str) -> None:
        super().__init__(
            f"the model endpoint is unreachable ({failures} connection attempts in a row failed, "
            f"last: {last}); check --base-url and the network, then rerun"
        )


class CircuitBreaker:
    """Counts consecutive unreachable attempts across the whole run (thread-safe)."""

    def __init__(self, trip_after: int = TRIP_AFTER) -> None:
        if trip_after < 1:
            raise ValueError(f"trip_after must be at least 1, got {trip_after}")
        self.trip_after = trip_after
        self._failures = 0
        self._last = ""
        self._tripped: ProviderUnreachable | None = None
        self._lock = threading.Lock()

    @property
    def tripped(self) -> bool:
        return self._tripped is not None

    def check(self) -> None:
        """Raise ProviderUnreachable if the breaker has tripped."""
        if self._tripped is not None:
            raise self._tripped

    def reached(self) -> None:
        """An HTTP answer came back: the endpoint is there."""
        with self._lock:
            if self._tripped is None:
                self._failures = 0

    def unreachable(self, detail: str) -> None:
        """One attempt could not reach the endpoint; trips after `trip_after` in a row."""
        with self._lock:
            self._failures += 1
            self._last = detail
            if self._tripped is None and self._failures >= self.trip_after:
                self._tripped = ProviderUnreachable(self._failures, detail)
