"""What answers cost and what the run may still spend: `usd`, the per-answer cost, the
run's SpendMeter against --max-cost, and the RunStop flag set by the first fatal provider error.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

from pipeline.model.completion import Completion, Usage
from pipeline.model.prices import Prices

COST_SLACK = 1e-9  # USD; far below any answer's cost, far above float rounding of their sum


def usd(amount: float) -> str:
    """A dollar amount in cents, or with every digit it has below a cent ($0.025 is not $0.03)."""
    return f"${amount:.2f}" if round(amount, 2) == amount else f"${amount:.6g}"


def completion_cost(completion: Completion, prices: Prices | None) -> float | None:
    """What one answer cost: the provider's figure when it gives one, else the model's prices; None
    (unknown) for a server that reports no cost and a model nobody priced (pipeline.model.prices)."""
    if completion.from_cache:
        return 0.0
    if completion.cost_usd:
        return completion.cost_usd
    return None if prices is None else prices.cost(completion.usage)


def answer_usage(completion: Completion, prices: Prices | None = None) -> Usage:
    """One answer as the run counts it: its tokens, its cost (or one unpriced answer), one attempt,
    whether the cache gave it, and the time waited for it (none for a cached answer)."""
    cached = completion.from_cache
    cost = completion_cost(completion, prices)
    return replace(
        completion.usage,
        attempts=1,
        cost_usd=cost or 0.0,
        unpriced=int(cost is None),
        unreported=0 if cached else completion.usage.unreported,
        cache_hits=int(cached),
        latency_s=0.0 if cached else completion.latency_s,
    )


@dataclass
class SpendMeter:
    """The run's spending against `--max-cost`: once reached, no new request is sent."""

    max_cost: float | None = None
    spent: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, cost: float) -> None:
        with self._lock:
            self.spent += cost

    @property
    def exhausted(self) -> bool:
        # Float sums fall just short (ten $0.01 answers add up to 0.09999999999999999): a nano-dollar
        # of slack makes a limit that was reached count as reached.
        return self.max_cost is not None and self.spent >= self.max_cost - COST_SLACK


@dataclass
class RunStop:
    """A flag every coroutine of the run checks: set by the first fatal provider error."""

    reason: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def set(self, reason: str) -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason

    @property
    def stopped(self) -> bool:
        return self.reason is not None
