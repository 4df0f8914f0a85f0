"""The hybrid engine's model half: a chunk the deterministic rewrites already had goes to the model only if
it still matches the recipe's selectors, and the model starts from the rewrites' text.

The codemod engine (ruff's fixes, then the libcst codemods; `every_chunk`) gives each chunk a first
proposal. Here that proposal becomes the chunk's final one: kept as it is when nothing is left for the
model; else the model is asked about the chunk as the rewrites left it, and its answer, proven against
that text by the model engine, is proven once more against the base chunk (what `apply` and `report`
prove again from the ledger). A model answer that fails either proof leaves the rewrites' change standing.
"""

from __future__ import annotations

import functools
from dataclasses import replace

from pipeline.engines.model_engine import LLMEngine
from pipeline.engines.proposal import FatalProposalError, Proposal, has_future_annotations
from pipeline.judge.names import ModuleNames
from pipeline.judge.validation import judge_answer
from pipeline.judge.verdicts import Reason, Status, Verdict
from pipeline.source.chunking import Chunk

CODEMOD, MODEL, BOTH = "codemod", "llm", "codemod+llm"  # what made a hybrid run's change


class HybridEngine:
    """The model, asked only about what the recipe's deterministic rewrites leave."""

    name = "hybrid"

    def __init__(self, model: LLMEngine) -> None:
        self.model = model
        self.recipe = model.recipe

    async def refactor(self, first: Proposal, names: ModuleNames | None = None) -> Proposal:
        """The chunk's final proposal from the rewrites' `first` one; FatalProposalError (carrying
        the rewrites' change and the model's cost) only for run-ending provider errors."""
        asked = asked_chunk(first)
        if not await self.model.selects(asked):
            return first if asked is not first.chunk else _not_selected(first, self.recipe.name)
        try:
            answer = await self.model.refactor(asked, names=names)
        except FatalProposalError as exc:
            exc.proposal = await self._merge(first, asked, exc.proposal, names)
            raise
        return await self._merge(first, asked, answer, names)

    async def _merge(
        self, first: Proposal, asked: Chunk, answer: Proposal, names: ModuleNames | None
    ) -> Proposal:
        """The final proposal of a chunk the model was asked about (its cost counted either way)."""
        chunk = first.chunk
        changed = answer.verdict.status is Status.ACCEPTED and answer.new_text is not None
        if asked is chunk:  # the rewrites left it: the model's proposal, on the base chunk
            return replace(answer, chunk=chunk, engine=MODEL)
        if changed and answer.new_text is not None:
            proven = await self._prove(first, answer.new_text, names)
            if proven is not None:
                return replace(answer, chunk=chunk, verdict=proven[0], new_text=proven[1],
                               engine=BOTH, rules=first.rules)  # fmt: skip
        note = answer.verdict.detail or str(answer.verdict.reason or answer.verdict.status)
        return replace(
            answer,
            chunk=chunk,
            verdict=replace(first.verdict, detail=f"the model's turn added nothing: {note}"),
            new_text=first.new_text,
            engine=CODEMOD,
            rules=first.rules,
            conversation=[],  # a gate's drop of the rewrites' change is final, as in a codemod run
        )

    async def _prove(
        self, first: Proposal, text: str, names: ModuleNames | None
    ) -> tuple[Verdict, str] | None:
        """The model's text proven against the base chunk (off the loop); None when it fails."""
        chunk = first.chunk
        judging = functools.partial(
            judge_answer,
            chunk,
            text,
            policy=self.model.policy,
            module_has_future_annotations=has_future_annotations(chunk),
            names=names,
        )
        judged = await self.model.off_loop(judging)
        if judged.verdict.status is not Status.ACCEPTED:
            return None
        return judged.verdict, judged.text


def asked_chunk(first: Proposal) -> Chunk:
    """The chunk as the model would be asked about it: with the rewrites' text when they changed it
    (the same spans: the answer replaces the base bytes), else the base chunk itself."""
    if first.verdict.status is Status.ACCEPTED and first.new_text:
        return replace(first.chunk, text=first.new_text)
    return first.chunk


def _not_selected(first: Proposal, recipe: str) -> Proposal:
    """A chunk the rewrites left alone and the selectors rule out: never sent (as the model engine)."""
    detail = f"not a candidate for recipe {recipe}"
    return replace(first, verdict=Verdict(Status.SKIPPED, Reason.NOT_SELECTED, detail))
