"""Each accepted chunk's evidence once the gates are done, and `--require-evidence`: the chunks below the
required level go out of the change (reason `unproven`, the level they reached in the detail) and stay
in the ledger and the report for a person to judge.

A chunk's changed lines in the kept file (pipeline.evidence.changed_lines) are looked up in the coverage
of the test gate's passing run on that very file (pipeline.evidence.coverage_map): a test context that ran
one makes it `exercised`; a line run only at import, or the import check, `imported`; else `static`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pipeline.engines.proposal import Proposal
from pipeline.evidence.changed_lines import Edit, new_lines_by_chunk
from pipeline.evidence.coverage_map import CoverageMap
from pipeline.evidence.levels import Evidence, Level, exercised
from pipeline.gates.scratch import ChunkEdit, apply_edits
from pipeline.judge.verdicts import Reason, Status, Verdict
from pipeline.source.splicing import render

Changes = dict[str, tuple[bytes, bytes]]


@dataclass
class Proof:
    """What the gates learnt for the evidence: the kept run's coverage, the modules the import check
    imported, and why there is no coverage (the note of every chunk left `static`)."""

    coverage: CoverageMap | None = None
    imported: set[str] = field(default_factory=set)
    missing: str = "no test gate"

    def measured(self, coverage: CoverageMap | None) -> None:
        """Take the test gate's coverage (None: its runs were not measured, and why)."""
        self.coverage = coverage
        if coverage is None:
            self.missing = "tests not measured: not a pytest run, or no coverage.py there"


def chunk_id(proposal: Proposal) -> str:
    """A stable id for a proposal's chunk, unique within a run."""
    chunk = proposal.chunk
    return f"{chunk.path}::{chunk.name}@{chunk.start_line}"


def accepted_in(proposals: Sequence[Proposal], path: str) -> list[Proposal]:
    """The accepted proposals of one file (those with new text)."""
    return [
        p
        for p in proposals
        if p.chunk.path == path and p.verdict.status is Status.ACCEPTED and p.new_text is not None
    ]


def chunk_edits(accepted: Sequence[Proposal]) -> list[ChunkEdit]:
    """The accepted chunks of one file as the gates splice them, each under its chunk id."""
    return [
        ChunkEdit(chunk_id(p), p.chunk.start_byte, p.chunk.end_byte, render(p.chunk, p.new_text))
        for p in accepted
        if p.new_text is not None
    ]


def _one(path: str, lines: set[int], proof: Proof) -> Evidence:
    if proof.coverage is None:
        level = Level.IMPORTED if path in proof.imported else Level.STATIC
        return Evidence(level, note=proof.missing)
    contexts = proof.coverage.contexts(path, lines)
    if tests := [c for c in contexts if c]:
        return exercised(tests)
    ran_at_import = "" in contexts or path in proof.imported
    return Evidence(Level.IMPORTED if ran_at_import else Level.STATIC, note="not exercised")


def assign_evidence(proposals: Sequence[Proposal], changes: Changes, proof: Proof) -> None:
    """Set the evidence of every accepted proposal from what the gates saw run its changed lines."""
    for path, (_, new) in changes.items():
        kept = accepted_in(proposals, path)
        edits = [
            Edit(e.chunk_id, e.start, e.end, e.new, p.chunk.text, p.new_text or "")
            for p, e in zip(kept, chunk_edits(kept), strict=True)
        ]
        lines = new_lines_by_chunk(new, edits)
        for proposal in kept:
            found = _one(path, lines[chunk_id(proposal)], proof)
            calls = proposal.shadow_calls
            if calls and proposal.shadow_equal == calls:  # every compared call equal: shadowed
                found = found.shadowed(calls)
            proposal.evidence = found


def hold_unproven(proposals: Sequence[Proposal], changes: Changes, required: Level) -> Changes:
    """The changes less the accepted chunks whose evidence is below `required` (now `unproven`, their
    text kept for the report); each file rebuilt from its base with the chunks left."""
    held = [
        p
        for p in proposals
        if p.verdict.status is Status.ACCEPTED and not (p.evidence or Evidence()).at_least(required)
    ]
    for proposal in held:
        reached = (proposal.evidence or Evidence()).text()
        detail = f"its evidence is {reached}, below the required {required}"
        proposal.verdict = Verdict.rejected(Reason.UNPROVEN, detail)
        proposal.gates["evidence"] = f"{Reason.UNPROVEN}: {detail}"
    out = dict(changes)
    for path in {p.chunk.path for p in held} & set(out):
        old = out[path][0]
        new = apply_edits(old, chunk_edits(accepted_in(proposals, path)))
        if new == old:
            del out[path]
        else:
            out[path] = (old, new)
    return out
