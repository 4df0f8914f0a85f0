"""Run the repository gates (import check, test gate) over a run's assembled changes and record each
decision on the proposals it concerns: a change that breaks the repository never reaches a branch or a report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from pipeline.config import IMPORT_TIMEOUT, TEST_TIMEOUT, RunConfig
from pipeline.engines.proposal import Proposal
from pipeline.gates.base_tests import BaseTests
from pipeline.gates.import_check import ImportResult, check_imports
from pipeline.gates.scratch import ChunkEdit, GateError
from pipeline.gates.suite import TestRun, failure_excerpt, run_test_gate
from pipeline.judge.verdicts import Reason, Status, Verdict
from pipeline.repository import Repository
from pipeline.source.splicing import render

Changes = dict[str, tuple[bytes, bytes]]


@dataclass(frozen=True)
class GateSettings:
    """Which gates run, and their limits."""

    import_check: bool = False
    import_timeout: float = IMPORT_TIMEOUT
    test_cmd: str | None = None
    test_timeout: float = TEST_TIMEOUT
    allow_failing_base: bool = False

    @classmethod
    def for_run(cls, config: RunConfig, engine: str) -> GateSettings:
        """The gates a run uses: the import check defaults to on for codemods (and the hybrid, whose
        codemods' changes it proves as ever), off for the model alone."""
        import_check = config.import_check if config.import_check is not None else engine != "llm"
        return cls(
            import_check=import_check,
            import_timeout=config.import_timeout,
            test_cmd=config.test_cmd,
            test_timeout=config.test_timeout,
            allow_failing_base=config.allow_failing_base,
        )


@dataclass
class GateReport:
    """What the gates did: the changes that survived and a one-line account per gate."""

    changes: Changes
    summary: dict[str, str] = field(default_factory=dict)
    base_run: TestRun | None = (
        None  # the test command on the base (a gate turn's run compares to it)
    )


def chunk_id(proposal: Proposal) -> str:
    """A stable id for a proposal's chunk, unique within a run."""
    chunk = proposal.chunk
    return f"{chunk.path}::{chunk.name}@{chunk.start_line}"


def _accepted(proposals: Sequence[Proposal], path: str) -> list[Proposal]:
    return [
        p
        for p in proposals
        if p.chunk.path == path and p.verdict.status is Status.ACCEPTED and p.new_text is not None
    ]


def _reject(proposal: Proposal, gate: str, reason: Reason, detail: str) -> None:
    proposal.verdict = Verdict.rejected(reason, detail)
    proposal.gates[gate] = f"{reason}: {detail}"
    proposal.new_text = None


def _pass(proposals: Sequence[Proposal], gate: str, note: str = "passed") -> None:
    for proposal in proposals:
        proposal.gates[gate] = note


def run_gates(
    repo: Repository,
    base: str,
    changes: Mapping[str, tuple[bytes, bytes]],
    proposals: Sequence[Proposal],
    settings: GateSettings,
    base_tests: BaseTests | None = None,
) -> GateReport:
    """Apply the enabled gates in order (imports, then tests); proposals are updated in place.

    `base_tests` is the test command's base run when the run started it early (it is used, not closed)."""
    report = GateReport(dict(changes))
    if settings.import_check and settings.test_cmd and report.changes:
        _both_gates(repo, base, report, proposals, settings.test_cmd, settings, base_tests)
        return report
    if settings.import_check and report.changes:
        results = check_imports(repo, base, report.changes, timeout=settings.import_timeout)
        _record_imports(report, proposals, results)
    if settings.test_cmd and report.changes:
        _test_gate(repo, base, report, proposals, settings.test_cmd, settings, base_tests)
    return report


def _both_gates(
    repo: Repository,
    base: str,
    report: GateReport,
    proposals: Sequence[Proposal],
    test_cmd: str,
    settings: GateSettings,
    base_tests: BaseTests | None,
) -> None:
    """Both gates at once, deciding what they decide in order: the imports are checked (in a thread)
    while the tests run on every change; after that first run the test gate takes the import check's
    answer and goes on with only the files that still import (running them again if any went)."""
    with ThreadPoolExecutor(1, thread_name_prefix="codemill-imports") as pool:
        checking = pool.submit(
            check_imports, repo, base, dict(report.changes), timeout=settings.import_timeout
        )
        settled: list[bool] = []

        def settle() -> set[str]:
            """The changed paths left once the import check has answered (its decisions recorded)."""
            if not settled:
                _record_imports(report, proposals, checking.result())
                settled.append(True)
            return set(report.changes)

        try:
            _test_gate(repo, base, report, proposals, test_cmd, settings, base_tests, settle)
        except GateError:
            if checking.exception() is not None:  # in order, the import check's error came first
                settle()
            raise
        settle()


def _record_imports(
    report: GateReport, proposals: Sequence[Proposal], results: Mapping[str, ImportResult]
) -> None:
    """The import check's decisions: a file that breaks its import is dropped from the changes."""
    failed = 0
    for path, result in results.items():
        owners = _accepted(proposals, path)
        if result.ok:
            _pass(owners, "import", result.detail or "passed")
            continue
        failed += 1
        for proposal in owners:
            _reject(proposal, "import", Reason.BREAKS_IMPORT, result.detail)
            proposal.gate_failure = result.detail
        del report.changes[path]
    report.summary["import"] = f"{len(results)} modules checked, {failed} broke their import"


def _edits(accepted: Sequence[Proposal]) -> list[ChunkEdit]:
    """The accepted chunks of one file as the test gate splices them, each under its chunk id."""
    return [
        ChunkEdit(chunk_id(p), p.chunk.start_byte, p.chunk.end_byte, render(p.chunk, p.new_text))
        for p in accepted
        if p.new_text is not None
    ]


def _test_gate(
    repo: Repository,
    base: str,
    report: GateReport,
    proposals: Sequence[Proposal],
    test_cmd: str,
    settings: GateSettings,
    base_tests: BaseTests | None,
    settle: Callable[[], set[str]] | None = None,
) -> None:
    """The repository's tests on the combined changes; the chunks (or files) that break them go.

    `settle` (both gates at once) gives the changed paths the import check left, after the first run."""
    owners = {path: _accepted(proposals, path) for path in report.changes}
    result = run_test_gate(
        repo,
        base,
        report.changes,
        {path: _edits(accepted) for path, accepted in owners.items()},
        test_cmd=test_cmd,
        timeout=settings.test_timeout,
        allow_failing_base=settings.allow_failing_base,
        base_tests=base_tests,
        settle=settle,
    )
    if not report.changes:  # the import check dropped every change: as if the tests never ran
        return
    by_id = {chunk_id(p): p for accepted in owners.values() for p in accepted}
    for unit, decision in result.decisions.items():
        for proposal in [by_id[unit]] if unit in by_id else owners.get(decision.path, []):
            if decision.kept:
                _pass([proposal], "tests")
            else:
                _reject(proposal, "tests", Reason.BREAKS_TESTS, decision.detail)
                proposal.gate_failure = failure_excerpt(decision.evidence, proposal.chunk.path)
    report.base_run = result.history[0] if result.history else None
    # The gate's kept set, already built from the same chunk edits: changed files only.
    report.changes = {path: (report.changes[path][0], data) for path, data in result.files.items()}
    report.summary["tests"] = (
        f"{result.runs} test runs in {result.seconds:.1f} s, {len(result.dropped)} changes dropped"
    )
