"""The codemod engine over whole files: ruff's fixes (found once for the run, `ruff_fixes`) and the
recipe's libcst codemods, then each chunk's share judged and attributed to the rewrites behind it.

An engine never writes a file: it returns, per chunk, the proposed text and the verdict on it. One file
costs one parse at most: the chunks, the codemods and the new module's chunks all come from that tree,
and a file no codemod's trigger matches is never parsed. `refactor_source` is what a worker process runs
(`pipeline.run.parallel`): a SourceFile in, a small picklable FileOutcome out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import libcst as cst

from pipeline.config import RunConfig
from pipeline.engines.attribution import LineTrace
from pipeline.engines.codemod_module import (
    ChunkMappingError,
    CodemodEngine,
    CodemodError,
    proposals_for_chunks,
)
from pipeline.engines.proposal import Proposal, has_future_annotations
from pipeline.engines.ruff_fixes import RuffFix, RuffFixer
from pipeline.judge.names import ModuleNames, module_names
from pipeline.judge.policy import Policy
from pipeline.judge.validation import judge_answer
from pipeline.judge.verdicts import Reason, Status, Verdict
from pipeline.model.completion import Usage
from pipeline.recipes.loading import Recipe
from pipeline.source.chunking import Chunk, chunks_of, parse_source, plan_parsed
from pipeline.source.files import SkippedFile, SkipReason, SourceFile
from pipeline.source.layout import lf
from pipeline.source.spans import ChunkingError
from pipeline.source.splicing import splice


@dataclass(frozen=True)
class FileOutcome:
    """What the codemod engine made of one file: a proposal per chunk, or why it was left out."""

    path: str
    proposals: tuple[Proposal, ...] = ()
    skipped: SkippedFile | None = None


def _check_reproduces(
    source: SourceFile, pairs: Sequence[tuple[Chunk, str]], new_text: str
) -> None:
    """ChunkMappingError unless the changed chunks, spliced into the file, give the codemods' module:
    what is recorded per chunk is what the codemods wrote, nothing lost or added. Only newlines may
    differ, where a chunk mixes them (the splice writes its own there, `splicing.mixed_newlines`)."""
    head = "\ufeff" if source.bom else ""
    expected = (head + new_text).encode(source.encoding)
    changed = [(chunk, text) for chunk, text in pairs if text != chunk.text]
    try:
        spliced = splice(source.data, changed)
    except ValueError as exc:
        raise ChunkMappingError(f"{source.path}: {exc}") from None
    if spliced != expected and lf(spliced.decode(source.encoding, "replace")) != lf(
        head + new_text
    ):
        raise ChunkMappingError(
            f"{source.path}: the changed chunks do not reproduce the codemods' module"
        )


class CodemodFileEngine:
    """Run a recipe's rewrites (ruff's fixes, then its libcst codemods) over a whole file and judge
    each chunk's share of the result.

    `every_chunk` (the hybrid engine): a file no rewrite can change is still cut, every chunk of it
    an unchanged proposal, since the model may yet be asked about it."""

    name = "codemod"

    def __init__(
        self,
        recipe: Recipe,
        policy: Policy,
        *,
        budget: int,
        prefilter: bool = True,
        every_chunk: bool = False,
    ) -> None:
        self.engine = CodemodEngine(recipe, prefilter=prefilter)
        self.policy = policy
        self.budget = budget
        self.on_chunks: Callable[[int], None] | None = None  # told of proposals as made (progress)
        self.every_chunk = every_chunk
        self.ruff: Mapping[str, RuffFix] = {}  # path -> ruff's fixes, found by `find_ruff_fixes`

    @classmethod
    def from_config(
        cls, recipe: Recipe, policy: Policy, config: RunConfig, *, every_chunk: bool = False
    ) -> CodemodFileEngine:
        """The engine a run's config asks for (its chunk budget, its prefilter)."""
        return cls(
            recipe,
            policy,
            budget=config.budget,
            prefilter=config.prefilter,
            every_chunk=every_chunk,
        )

    def find_ruff_fixes(self, sources: Sequence[SourceFile]) -> None:
        """ruff's fixes for the recipe's ruff rules over every file, in one batch, before any file is
        worked (RuffError when ruff is missing or fails)."""
        recipe = self.engine.recipe
        fixer = RuffFixer(recipe.ruff_rules, self.policy.target_python, unsafe=recipe.unsafe_fixes)
        self.ruff = fixer.fix(sources)

    def refactor_source(self, source: SourceFile) -> FileOutcome:
        """The file's outcome: no trigger (never parsed), does not parse or chunk, or its proposals."""
        if (
            not self.every_chunk
            and source.path not in self.ruff
            and not self.engine.may_change(source.text)
        ):
            detail = (
                f"no codemod of recipe {self.engine.recipe.name} can change it (no trigger matched)"
            )
            return FileOutcome(
                source.path, skipped=SkippedFile(source.path, SkipReason.NO_TRIGGER, detail)
            )
        tree = parse_source(source)
        if isinstance(tree, SkippedFile):
            return FileOutcome(source.path, skipped=tree)
        chunks = chunks_of(source, tree, self.budget)
        if isinstance(chunks, SkippedFile):
            return FileOutcome(source.path, skipped=chunks)
        return FileOutcome(source.path, tuple(self.refactor_tree(source, tree, chunks)))

    def crashed(self, source: SourceFile) -> FileOutcome:
        """The outcome of a file whose worker process died on it: nothing of it changes."""
        detail = "the worker process died while the codemods ran on this file; nothing was changed"
        return FileOutcome(
            source.path, skipped=SkippedFile(source.path, SkipReason.CRASHED, detail)
        )

    def refactor_tree(
        self, source: SourceFile, tree: cst.Module, chunks: Sequence[Chunk]
    ) -> list[Proposal]:
        """One Proposal per chunk (merged chunks where the codemods moved a boundary).

        ruff's fixes never cost a change the libcst codemods alone would make: where a chunk with a
        ruff fix in it fails its proof (a rule out of the recipe's scope, say), the file is rewritten
        again without ruff's fixes and that chunk, cut the same way, gets its share of that instead."""
        fix = self.ruff.get(source.path)
        proposals = self._judged(source, tree, chunks, fix)
        if fix is None or not any(_ruff_rejected(p) for p in proposals):
            return proposals
        spans = {
            (p.chunk.start_byte, p.chunk.end_byte): p for p in self._judged(source, tree, chunks)
        }
        return [_instead(p, spans) if _ruff_rejected(p) else p for p in proposals]

    def _judged(
        self,
        source: SourceFile,
        tree: cst.Module,
        chunks: Sequence[Chunk],
        fix: RuffFix | None = None,
    ) -> list[Proposal]:
        """Each chunk's share of the file after `fix` (ruff's) and the libcst codemods, judged."""
        started = time.perf_counter()
        trace = LineTrace(source.text)
        try:
            new_tree, new_text = self._rewrite(source, tree, trace, fix)
            if new_text == source.text:  # every chunk unchanged: nothing to map or judge
                each = (time.perf_counter() - started) / len(chunks)
                usage = Usage(attempts=1, latency_s=each)
                self._made(len(chunks))
                return [Proposal(c, Verdict.unchanged(), usage=usage) for c in chunks]
            pairs = proposals_for_chunks(
                chunks,
                new_text,
                old_text=source.text,
                budget=self.budget,
                bom=source.bom,
                chunker=lambda p, t, b: list(
                    plan_parsed(p, t, new_tree, b, encoding=source.encoding, bom=source.bom).chunks
                ),
            )
            _check_reproduces(source, pairs, new_text)
        except (CodemodError, ChunkMappingError, ChunkingError) as exc:
            verdict = Verdict.rejected(Reason.CODEMOD_ERROR, str(exc))
            self._made(len(chunks))
            return [Proposal(chunk, verdict, usage=Usage(attempts=1)) for chunk in chunks]
        elapsed = (time.perf_counter() - started) / max(len(pairs), 1)
        names = module_names(new_text)  # the codemods' module: an import they add counts
        return [self._one(chunk, proposed, names, trace, elapsed) for chunk, proposed in pairs]

    def _one(
        self, chunk: Chunk, proposed: str, names: ModuleNames, trace: LineTrace, elapsed: float
    ) -> Proposal:
        """One chunk's share of the rewritten file, judged and attributed to the rules behind it."""
        judged = judge_answer(
            chunk,
            proposed,
            policy=self.policy,
            module_has_future_annotations=has_future_annotations(chunk),
            names=names,
        )
        verdict = judged.verdict
        new = judged.text if verdict.status is Status.ACCEPTED else None
        changed = proposed != chunk.text
        rules = trace.rules(chunk.start_line, chunk.end_line) if changed else ()
        engine = self.name if changed else None
        self._made(1)
        usage = Usage(attempts=1, latency_s=elapsed)
        return Proposal(chunk, verdict, new, usage=usage, engine=engine, rules=rules)

    def _made(self, count: int) -> None:
        if self.on_chunks is not None:
            self.on_chunks(count)

    def _rewrite(
        self, source: SourceFile, tree: cst.Module, trace: LineTrace, fix: RuffFix | None
    ) -> tuple[cst.Module, str]:
        """The module after ruff's fixes (`fix`) and then the libcst codemods, each change traced."""
        text = source.text
        if fix is not None:
            trace.step("ruff", fix.text, fix.spans)
            try:
                text, tree = fix.text, cst.parse_module(fix.text)
            except cst.ParserSyntaxError as exc:
                raise CodemodError("ruff", source.path, str(exc).splitlines()[0]) from None
        if not self.engine.may_change(text):
            return tree, text
        return self.engine.refactor_tree(source.path, tree, text, trace)


def _ruff_rejected(proposal: Proposal) -> bool:
    """A chunk whose proof failed with a ruff fix in it."""
    rejected = proposal.verdict.status is Status.REJECTED
    return rejected and any(rule.startswith("ruff") for rule in proposal.rules)


def _instead(proposal: Proposal, without_ruff: Mapping[tuple[int, int], Proposal]) -> Proposal:
    """The libcst codemods' own proposal for the same span, if they made one that was accepted; its
    detail names the ruff fixes left out and why."""
    other = without_ruff.get((proposal.chunk.start_byte, proposal.chunk.end_byte))
    if (
        other is None
        or other.verdict.status is not Status.ACCEPTED
        or other.chunk != proposal.chunk
    ):
        return proposal
    ruff = ", ".join(rule for rule in proposal.rules if rule.startswith("ruff"))
    detail = f"without {ruff}: {proposal.verdict.detail}"
    return replace(other, verdict=replace(other.verdict, detail=detail))
