"""One record per HTTP attempt the client makes: when, how long, how it ended; for the ledger and
the live display, so a retried timeout or a cut stream is seen while the run goes on, not only in the bill.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipeline.model.completion import Completion

OK = "ok"


@dataclass(frozen=True)
class Attempt:
    """One HTTP attempt: its request id, number within the request, latency, outcome and error."""

    request_id: str
    number: int
    latency_s: float
    outcome: str  # "ok", or the error's class name: ModelTimeout, StreamCut, RateLimited, ...
    error: str = ""  # the error's sentence (key already redacted), "" when ok
    retried: bool = False  # the client tried again after it
    max_tokens: int | None = None  # as sent, fitted to the window (None: the server's default)
    prompt_tokens: int = 0  # the server's counts of an answered attempt (0: failed or unreported)
    completion_tokens: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome == OK


AttemptObserver = Callable[[Attempt], None]


def attempt_tokens(ended: object) -> dict[str, int]:
    """The token counts an attempt's record carries: the answer's usage, none for an error."""
    if not isinstance(ended, Completion):
        return {}
    usage = ended.usage
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}
