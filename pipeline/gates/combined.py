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
from pipeline.gates.evidence import Proof, accepted_in, assign_evidence, chunk_edits
from pipeline.gates.evidence import chunk_id as chunk_id  # re-exported: the gates' chunk key
from pipeline.gates.import_check import ImportResult, check_imports
from pipeline.gates.scratch import GateError
from pipeline.gates.shadow.results import ShadowOutcome
from pipeline.gates.shadow.spec import targets_of
from pipeline.gates.suite import (
    BaseTestsFail,
    TestGateResult,
    TestRun,
    failure_excerpt,
    run_test_gate,
)
from pipeline.judge.verdicts import Reason, Status, Verdict
from pipeline.repository import Repository

Changes = dict[str, tuple[bytes, bytes]]
GATE_OFF = "TEST GATE OFF"  # how the line saying a found test gate was turned off begins


@dataclass(frozen=True)
class GateSettings:
    """Which gates run, and their limits."""

    import_check: bool = False
    import_timeout: float = IMPORT_TIMEOUT
    test_cmd: str | None = None
    test_timeout: float = TEST_TIMEOUT
    allow_failing_base: bool = False
    found: str = ""  # where the test command was found ("": configured); a found one may turn off

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
            found=config.test_found,
        )


@dataclass
class GateReport:
    """What the gates did: the changes that survived and a one-line account per gate."""

    changes: Changes
    summary: dict[str, str] = field(default_factory=dict)
    base_run: TestRun | None = (
        None  # the test command on the base (a gate turn's run compares to it)
    )
    proof: Proof = field(default_factory=Proof)  # what the evidence of each change is made of
    notes: list[str] = field(default_factory=list)  # loud lines for the user (a gate turned off)


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
    if settings.test_cmd:
        report.proof.missing = "tests not measured"
    if settings.import_check and settings.test_cmd and report.changes:
        _both_gates(repo, base, report, proposals, settings.test_cmd, settings, base_tests)
    else:
        if settings.import_check and report.changes:
            results = check_imports(repo, base, report.changes, timeout=settings.import_timeout)
            _record_imports(report, proposals, results)
        if settings.test_cmd and report.changes:
            _test_gate(repo, base, report, proposals, settings.test_cmd, settings, base_tests)
    assign_evidence(proposals, report.changes, report.proof)
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


def _gate_off(report: GateReport, test_cmd: str, why: str) -> None:
    """A found test command that fails on the base: no test gate for this run, said loudly."""
    line = f"{GATE_OFF} for this run: the found test command `{test_cmd}`: {why}"
    report.summary["tests"] = line
    report.notes.append(line + "; every change's evidence is static at most (set --test-cmd)")
    report.proof.missing = "test gate off: the tests fail on the base commit"


def _record_imports(
    report: GateReport, proposals: Sequence[Proposal], results: Mapping[str, ImportResult]
) -> None:
    """The import check's decisions: a file that breaks its import is dropped from the changes."""
    failed = 0
    for path, result in results.items():
        owners = accepted_in(proposals, path)
        if result.ok:
            _pass(owners, "import", result.detail or "passed")
            if (
                result.module is not None
                and result.detail != "not an importable module; not imported"
            ):
                report.proof.imported.add(path)
            continue
        failed += 1
        for proposal in owners:
            _reject(proposal, "import", Reason.BREAKS_IMPORT, result.detail)
            proposal.gate_failure = result.detail
        del report.changes[path]
    report.summary["import"] = f"{len(results)} modules checked, {failed} broke their import"


def _decide(
    result: TestGateResult,
    by_id: Mapping[str, Proposal],
    owners: Mapping[str, Sequence[Proposal]],
) -> None:
    """Each of the test gate's decisions on its chunks (or a whole file's): kept, `behaviour-changed`
    with the call the shadow run saw, or `breaks-tests` with the failing test."""
    for unit, decision in result.decisions.items():
        for proposal in [by_id[unit]] if unit in by_id else owners.get(decision.path, []):
            if decision.kept:
                _pass([proposal], "tests")
            elif decision.reason is Reason.BEHAVIOUR_CHANGED:
                _reject(proposal, "shadow", decision.reason, decision.detail)
                proposal.gate_failure = decision.evidence
            else:
                _reject(proposal, "tests", Reason.BREAKS_TESTS, decision.detail)
                proposal.gate_failure = failure_excerpt(decision.evidence, proposal.chunk.path)


def _record_shadow(
    report: GateReport, by_id: Mapping[str, Proposal], found: Mapping[str, ShadowOutcome]
) -> None:
    """What the shadow run counted, on each kept chunk: its calls compared and equal (`shadowed` evidence
    when they all are), and a line naming what could not be compared; the run's line for them all."""
    if found:
        changed = sum(1 for o in found.values() if o.changed)
        compared = sum(o.compared for o in found.values())
        report.summary["shadow"] = (
            f"{len(found)} functions shadowed, {compared} calls compared, {changed} behaviour changed"
        )
    for unit, outcome in found.items():
        proposal = by_id.get(unit)
        if proposal is not None and proposal.verdict.status is Status.ACCEPTED:
            note_shadow(proposal, outcome)


def note_shadow(proposal: Proposal, outcome: ShadowOutcome) -> None:
    """A kept chunk's shadow counts: the gate's line and the ledger's numbers."""
    proposal.gates["shadow"] = outcome.summary()
    proposal.shadow_calls, proposal.shadow_equal = outcome.compared, outcome.equal


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
    owners = {path: accepted_in(proposals, path) for path in report.changes}
    try:
        result = run_test_gate(
            repo,
            base,
            report.changes,
            {path: chunk_edits(accepted) for path, accepted in owners.items()},
            test_cmd=test_cmd,
            timeout=settings.test_timeout,
            allow_failing_base=settings.allow_failing_base,
            base_tests=base_tests,
            settle=settle,
            shadow=targets_of([p for accepted in owners.values() for p in accepted], chunk_id),
            select_tests=bool(settings.found),
        )
    except BaseTestsFail as exc:
        if not settings.found:
            raise  # a configured command: the run stops, as ever
        _gate_off(report, test_cmd, str(exc))
        return
    report.proof.measured(result.coverage)
    if not report.changes:  # the import check dropped every change: as if the tests never ran
        return
    by_id = {chunk_id(p): p for accepted in owners.values() for p in accepted}
    _decide(result, by_id, owners)
    _record_shadow(report, by_id, result.shadow)
    report.base_run = result.history[0] if result.history else None
    # The gate's kept set, already built from the same chunk edits: changed files only.
    report.changes = {path: (report.changes[path][0], data) for path, data in result.files.items()}
    report.summary["tests"] = (
        f"{result.runs} test runs in {result.seconds:.1f} s, {len(result.dropped)} changes dropped"
    )
