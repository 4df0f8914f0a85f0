"""The codemod engine over whole files: run a recipe's libcst codemods, then judge each chunk's share.

An engine never writes a file: it returns, per chunk, the proposed text and the verdict on it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from pipeline.config import RunConfig
from pipeline.engines.codemod_module import (
    ChunkMappingError,
    CodemodEngine,
    CodemodError,
    proposals_for_chunks,
)
from pipeline.engines.proposal import Proposal, has_future_annotations
from pipeline.judge.names import module_names
from pipeline.judge.policy import Policy
from pipeline.judge.validation import judge_answer
from pipeline.judge.verdicts import Reason, Status, Verdict
from pipeline.model.completion import Usage
from pipeline.recipes.loading import Recipe
from pipeline.source.chunking import Chunk
from pipeline.source.files import SourceFile


class CodemodFileEngine:
    """Run a recipe's libcst codemods over a whole file and judge each chunk's share of the result."""

    name = "codemod"

    def __init__(self, recipe: Recipe, policy: Policy, *, budget: int) -> None:
        self.engine = CodemodEngine(recipe)
        self.policy = policy
        self.budget = budget

    @classmethod
    def from_config(cls, recipe: Recipe, policy: Policy, config: RunConfig) -> CodemodFileEngine:
        """The engine a run's config asks for (its chunk budget)."""
        return cls(recipe, policy, budget=config.budget)

    def refactor_file(self, source: SourceFile, chunks: Sequence[Chunk]) -> list[Proposal]:
        """One Proposal per chunk (merged chunks where the codemods moved a boundary)."""
        started = time.perf_counter()
        try:
            new_text = self.engine.refactor_file(source.path, source.text)
            pairs = proposals_for_chunks(
                chunks, new_text, old_text=source.text, budget=self.budget, bom=source.bom
            )
        except (CodemodError, ChunkMappingError) as exc:
            verdict = Verdict.rejected(Reason.CODEMOD_ERROR, str(exc))
            return [Proposal(chunk, verdict, usage=Usage(attempts=1)) for chunk in chunks]
        elapsed = (time.perf_counter() - started) / max(len(pairs), 1)
        proposals = []
        names = module_names(new_text)  # the codemods' module: an import they add counts
        for chunk, proposed in pairs:
            judged = judge_answer(
                chunk,
                proposed,
                policy=self.policy,
                module_has_future_annotations=has_future_annotations(chunk),
                names=names,
            )
            verdict = judged.verdict
            new = judged.text if verdict.status is Status.ACCEPTED else None
            usage = Usage(attempts=1, latency_s=elapsed)
            proposals.append(Proposal(chunk, verdict, new, usage=usage))
        return proposals
