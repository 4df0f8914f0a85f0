"""One `--max-cost` for the whole fleet: shares of what is left, handed to each repository as it starts.

A run stops sending once its own share is spent (as a single run does with --max-cost), so the fleet's spend
never passes the limit however many runs are in flight; what a run leaves unspent returns to the pool when it
ends. No repository starts once the fleet has spent the limit.
"""

from __future__ import annotations

import threading

MIN_SHARE_USD = 1e-6  # a share smaller than this would send nothing: the repository does not start


class FleetSpend:
    """Spend and open shares of the fleet's limit (None: no limit)."""

    def __init__(self, max_cost: float | None, spent: float = 0.0) -> None:
        self.max_cost = max_cost
        self.spent = spent
        self._open: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def exhausted(self) -> bool:
        """True once the fleet has spent its limit."""
        return self.max_cost is not None and self.spent >= self.max_cost

    def can_start(self) -> bool:
        """Whether a new repository may start: the limit is not spent, nor all of it shared out."""
        if self.max_cost is None:
            return True
        with self._lock:
            return self.max_cost - self.spent - sum(self._open.values()) >= MIN_SHARE_USD

    def start(self, key: str, starters: int) -> float | None:
        """The share of the free money `key` may spend (None: no limit).

        `starters` is how many repositories may still start while this one runs (itself included): the
        free money is split evenly between them, so none of them is starved by the first.
        """
        if self.max_cost is None:
            return None
        with self._lock:
            free = max(0.0, self.max_cost - self.spent - sum(self._open.values()))
            share = free / max(1, starters)
            self._open[key] = share
            return share

    def finish(self, key: str, cost: float) -> None:
        """Close `key`'s share: its real cost counts, the rest of the share is free again."""
        with self._lock:
            self._open.pop(key, None)
            self.spent += cost
