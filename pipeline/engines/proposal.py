"""An engine's answer for one chunk (Proposal), the run-ending error that carries one, and the one fact
about a chunk's module both engines hand to validation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipeline.engines.spend import answer_usage
from pipeline.evidence.levels import Evidence
from pipeline.judge.verdicts import Verdict
from pipeline.model.attempts import Attempt
from pipeline.model.completion import Completion, Usage
from pipeline.model.errors import FatalModelError
from pipeline.model.forecast import TokenForecast
from pipeline.model.prices import Prices
from pipeline.source.chunking import Chunk

_FUTURE_ANNOTATIONS = re.compile(
    r"^from\s+__future__\s+import\s+[^\n]*\bannotations\b", re.MULTILINE
)


RUN_ONLY = frozenset({"conversation", "gate_failure"})  # Proposal fields a ledger row does not keep


def has_future_annotations(chunk: Chunk) -> bool:
    """True when the chunk's module has `from __future__ import annotations` (annotations are lazy)."""
    return bool(_FUTURE_ANNOTATIONS.search(chunk.context.imports))


@dataclass
class Proposal:
    """An engine's answer for one chunk: the new text (when accepted), the verdict, and its cost."""

    chunk: Chunk
    verdict: Verdict
    new_text: str | None = None
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    gates: dict[str, str] = field(
        default_factory=dict
    )  # gate -> decision (pipeline.gates.combined)
    shadow_calls: int | None = None  # calls the shadow run compared (pipeline.gates.shadow)
    shadow_equal: int | None = None  # of those, equal to the original's
    requests: list[Attempt] = field(default_factory=list)  # every HTTP attempt, in order
    forecast: TokenForecast | None = None  # what the first request was expected to take
    turns: list[dict[str, object]] = field(default_factory=list)  # one record per model turn
    evidence: Evidence | None = None  # what proved it once gated (pipeline.gates.evidence)
    engine: str | None = None  # what made the change: codemod, llm or codemod+llm (None: the run's)
    rules: tuple[
        str, ...
    ] = ()  # the deterministic rewrites behind it (`ruff:UP031`, a codemod's class)
    # The run's working state, never written to the ledger (RUN_ONLY): the conversation holds prompts.
    conversation: list[dict[str, str]] = field(default_factory=list)  # messages + the last answer
    gate_failure: str = ""  # what a gate saw fail, trimmed for a gate turn (pipeline.gates.repair)

    def add(self, completion: Completion, prices: Prices | None = None) -> float:
        """Count one answer's usage into this proposal; the answer's known cost (0 when unknown)."""
        answer = answer_usage(completion, prices)
        self.usage += answer
        self.model = completion.model or self.model
        return answer.cost_usd


class FatalProposalError(FatalModelError):
    """A run-ending provider error, carrying the chunk's proposal: earlier turns' usage was paid for."""

    def __init__(self, error: FatalModelError, proposal: Proposal) -> None:
        super().__init__(str(error))
        self.status_code = error.status_code
        self.proposal = proposal
