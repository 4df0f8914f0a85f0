"""Gate repair turns: a model chunk the import check or the test gate dropped gets one more turn.

The model sees its previous answer (think block kept) and the failure trimmed to what explains it: the
exception's last lines, or the failing test's id with its assertion message and the frames inside the
changed file. Its new answer goes through the per-chunk proof again; the answers that pass are gated
together, with one extra test run per round (never one per chunk), and the chunks the first gates
kept do not move.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipeline.engines.model_engine import LLMEngine
from pipeline.engines.proposal import Proposal
from pipeline.gates.combined import Changes, GateSettings, chunk_id, note_shadow
from pipeline.gates.import_check import check_imports
from pipeline.gates.shadow.results import ShadowOutcome
from pipeline.gates.shadow.spec import targets_of
from pipeline.gates.suite import TestRun, failure_excerpt, passes_against, run_tests_once
from pipeline.judge.verdicts import Reason, Status, Verdict
from pipeline.repository import Repository
from pipeline.source.splicing import splice

GATE_NAMES = {
    Reason.BREAKS_IMPORT: "import",
    Reason.BREAKS_TESTS: "tests",
    Reason.BEHAVIOUR_CHANGED: "shadow",
}
_FAILED = {
    Reason.BREAKS_IMPORT: "made the module fail to import",
    Reason.BREAKS_TESTS: "broke a test",
    Reason.BEHAVIOUR_CHANGED: "changed what a call the tests make returns",
}


def gate_message(reason: Reason, failure: str) -> dict[str, str]:
    """The user turn after a gate dropped the answer: what failed, and what to send back."""
    what = _FAILED[reason]
    return {
        "role": "user",
        "content": (
            f"Your previous answer passed the checks but {what} in the repository:\n\n"
            f"```text\n{failure}\n```\n\n"
            "Return the corrected chunk: exactly one ```python block holding the complete rewritten "
            "chunk, dedented like the original, with nothing elided."
        ),
    }


def dropped_by_gates(proposals: Sequence[Proposal]) -> list[Proposal]:
    """Model answers a gate dropped that a gate turn can take up (their conversation is known)."""
    return [
        p
        for p in proposals
        if p.verdict.reason in GATE_NAMES and p.conversation and p.verdict.status is Status.REJECTED
    ]


@dataclass
class RepairReport:
    """What the gate turns did: rounds, turns sent, test runs, chunks fixed; the surviving changes."""

    changes: Changes
    rounds: int = 0
    turns: int = 0
    test_runs: int = 0
    fixed: int = 0

    def summary(self) -> str:
        return (
            f"{self.rounds} rounds, {self.turns} gate turns, {self.test_runs} extra test runs, "
            f"{self.fixed} chunks fixed"
        )


async def repair_after_gates(
    engine: LLMEngine,
    repo: Repository,
    base: str,
    before: Mapping[str, bytes],
    proposals: Sequence[Proposal],
    settings: GateSettings,
    *,
    rounds: int,
    base_run: TestRun | None,
) -> RepairReport:
    """Up to `rounds` rounds of gate turns for the dropped model chunks; proposals change in place.

    `before` holds the base bytes of every file the run changed before the gates.
    """
    report = RepairReport(_changes(before, proposals))
    for _ in range(rounds):
        dropped = dropped_by_gates(proposals)
        if not dropped:
            break
        report.rounds += 1
        report.turns += len(dropped)
        turns = [engine.gate_turn(p, gate_message(_reason(p), p.gate_failure)) for p in dropped]
        passed = await asyncio.gather(*turns)
        fixed = [p for p, ok in zip(dropped, passed, strict=True) if ok]
        if fixed:
            report.test_runs += _regate(repo, base, before, proposals, fixed, settings, base_run)
    report.fixed = sum(1 for p in proposals if p.gates.get("repaired") == "kept")
    report.changes = _changes(before, proposals)
    return report


def _reason(proposal: Proposal) -> Reason:
    reason = proposal.verdict.reason
    assert isinstance(reason, Reason) and reason in GATE_NAMES
    return reason


def _changes(before: Mapping[str, bytes], proposals: Sequence[Proposal]) -> Changes:
    """Every file's bytes with exactly its accepted chunks spliced in: changed files only."""
    out: Changes = {}
    for path, data in before.items():
        chosen = [
            (p.chunk, p.new_text)
            for p in proposals
            if p.chunk.path == path and p.verdict.status is Status.ACCEPTED and p.new_text
        ]
        after = splice(data, chosen) if chosen else data
        if after != data:
            out[path] = (data, after)
    return out


def _drop(proposal: Proposal, reason: Reason, detail: str, failure: str) -> None:
    proposal.verdict = Verdict.rejected(reason, detail)
    proposal.gates[GATE_NAMES[reason]] = f"{reason} after a gate turn: {detail}"
    proposal.gates["repaired"] = "dropped"
    proposal.new_text = None
    proposal.gate_failure = failure


def _shadowed(fixed: Sequence[Proposal], found: Mapping[str, ShadowOutcome]) -> list[Proposal]:
    """The fixed answers whose shadow run saw no difference; the others dropped `behaviour-changed`."""
    kept = []
    for proposal in fixed:
        outcome = found.get(chunk_id(proposal))
        if outcome is not None and outcome.changed:
            _drop(proposal, Reason.BEHAVIOUR_CHANGED, outcome.detail(), outcome.evidence())
            continue
        if outcome is not None:
            note_shadow(proposal, outcome)
        kept.append(proposal)
    return kept


def _regate(
    repo: Repository,
    base: str,
    before: Mapping[str, bytes],
    proposals: Sequence[Proposal],
    fixed: Sequence[Proposal],
    settings: GateSettings,
    base_run: TestRun | None,
) -> int:
    """Gate the fixed answers on top of what the first gates kept; the test runs it took (0 or 1)."""
    if settings.import_check:
        paths = {p.chunk.path for p in fixed}
        changes = {k: v for k, v in _changes(before, proposals).items() if k in paths}
        results = check_imports(repo, base, changes, timeout=settings.import_timeout)
        for proposal in fixed:
            result = results.get(proposal.chunk.path)
            if result is not None and not result.ok:
                _drop(proposal, Reason.BREAKS_IMPORT, result.detail, result.detail)
    still = [p for p in fixed if p.verdict.status is Status.ACCEPTED]
    runs = 0
    if settings.test_cmd and still:
        files = {path: after for path, (_, after) in _changes(before, proposals).items()}
        run, found = run_tests_once(
            repo,
            base,
            files,
            test_cmd=settings.test_cmd,
            timeout=settings.test_timeout,
            shadow=targets_of(still, chunk_id),
        )
        runs = 1
        if not passes_against(run, base_run, settings.allow_failing_base):
            first = run.failing[0] if run.failing else run.tail
            for proposal in still:
                excerpt = failure_excerpt(run.output, proposal.chunk.path)
                _drop(proposal, Reason.BREAKS_TESTS, f"{first} failed", excerpt)
            return runs
        still = _shadowed(still, found)
    for proposal in still:
        proposal.gates = {
            **proposal.gates,
            **{g: "passed after a gate turn" for g in proposal.gates if g in ("import", "tests")},
        }
        proposal.gates["repaired"] = "kept"
    return runs
