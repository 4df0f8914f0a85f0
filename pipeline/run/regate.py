"""A recorded run's accepted chunks gated once more, together: how shards' combined change is judged.

Each shard of a repository gated only its own part; a change in one shard can break an import or a test that
another shard's change relies on. The combined rows go through the same gates a single run over all the
files would use, and a chunk a gate drops has its row amended, exactly as in that run.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pipeline import repository
from pipeline.config import RunConfig
from pipeline.engines.proposal import Proposal
from pipeline.gates.combined import GateSettings, run_gates
from pipeline.judge.verdicts import Status, Verdict
from pipeline.records.ledger import Ledger, LedgerRow
from pipeline.run.replay import Changes, match_rows


def gate_recorded(root: Path, ledger: Ledger, config: RunConfig) -> Changes:
    """The ledger's accepted changes after the run's gates judged them all at once; rows amended."""
    matched = match_rows(root, ledger)
    changes = matched.changes()
    settings = GateSettings.for_run(config, ledger.meta.engine)
    if not changes or not (settings.import_check or settings.test_cmd):
        return changes
    rows: list[tuple[Proposal, LedgerRow]] = [
        (Proposal(chunk, Verdict.accepted(), new_text=row.new_text, gates={}), row)
        for _, pairs in matched.files.values()
        for chunk, row in pairs
    ]
    repo = repository.open_repository(root)
    report = run_gates(repo, matched.base_commit, changes, [p for p, _ in rows], settings)
    for proposal, row in rows:
        gates = {**row.gates, **{f"combined {g}": d for g, d in proposal.gates.items()}}
        if proposal.verdict.status is Status.ACCEPTED:
            ledger.amend(replace(row, gates=gates))
            continue
        verdict = proposal.verdict
        ledger.amend(
            replace(
                row,
                status=verdict.status,
                reason=verdict.reason,
                detail=verdict.detail,
                gates=gates,
                new_text=None,
            )
        )
    ledger.meta.gates.update({f"combined {g}": line for g, line in report.summary.items()})
    return report.changes
