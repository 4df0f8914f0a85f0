"""An engine's answer for one chunk (Proposal), the run-ending error that carries one, and the one fact
about a chunk's module both engines hand to validation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipeline.engines.spend import answer_usage
from pipeline.judge.verdicts import Verdict
from pipeline.model.completion import Completion, Usage
from pipeline.model.errors import FatalModelError
from pipeline.source.chunking import Chunk

_FUTURE_ANNOTATIONS = re.compile(
    r"^from\s+__future__\s+import\s+[^\n]*\bannotations\b", re.MULTILINE
)


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

    def add(self, completion: Completion) -> float:
        """Count one answer's usage into this proposal; the answer's cost."""
        answer = answer_usage(completion)
        self.usage += answer
        self.model = completion.model or self.model
        return answer.cost_usd


class FatalProposalError(FatalModelError):
    """A run-ending provider error, carrying the chunk's proposal: earlier turns' usage was paid for."""

    def __init__(self, error: FatalModelError, proposal: Proposal) -> None:
        super().__init__(str(error))
        self.status_code = error.status_code
        self.proposal = proposal
