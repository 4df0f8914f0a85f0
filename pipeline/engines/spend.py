"""What answers cost and what the run may still spend: list prices, `usd`, the per-answer cost, the
run's SpendMeter against --max-cost, and the RunStop flag set by the first fatal provider error.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

from pipeline.model.completion import Completion, Usage

# Third-party list prices for MiniMax-M2.1 (USD per million tokens), used only when the provider reports no
# cost: see MODEL_API.md. The provider's own usd_spent, when present, is the truth.
PRICE_INPUT = 0.30
PRICE_OUTPUT = 1.20
PRICE_CACHED_INPUT = 0.03
COST_SLACK = 1e-9  # USD; far below any answer's cost, far above float rounding of their sum


def estimate_cost(usage: Usage) -> float:
    """A cost estimate from token counts at list prices, for providers that report none."""
    fresh_input = max(usage.prompt_tokens - usage.cached_tokens, 0)
    return (
        fresh_input * PRICE_INPUT
        + usage.cached_tokens * PRICE_CACHED_INPUT
        + usage.completion_tokens * PRICE_OUTPUT
    ) / 1_000_000


def usd(amount: float) -> str:
    """A dollar amount in cents, or with every digit it has below a cent ($0.025 is not $0.03)."""
    return f"${amount:.2f}" if round(amount, 2) == amount else f"${amount:.6g}"


def completion_cost(completion: Completion) -> float:
    """What one answer cost: the provider's figure when it gives one, else the list-price estimate."""
    if completion.from_cache:
        return 0.0
    if completion.cost_usd:
        return completion.cost_usd
    return estimate_cost(completion.usage)


def answer_usage(completion: Completion) -> Usage:
    """One answer as the run counts it: its tokens, its cost, one attempt, whether the cache gave it,
    and the time waited for it (none for a cached answer)."""
    cached = completion.from_cache
    return replace(
        completion.usage,
        attempts=1,
        cost_usd=completion_cost(completion),
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
