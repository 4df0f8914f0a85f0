"""What a run hands back (`RunResult`) and the exit code it means: decided here, not in the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import ExitCode
from pipeline.records.ledger import Totals
from pipeline.run.state import LastRun


@dataclass(frozen=True)
class ModelStop:
    """Why the model part ended early; `fatal` stops the run (no branch), `unreachable` means exit 5."""

    reason: str | None = None
    fatal: bool = False
    unreachable: bool = False


@dataclass
class RunResult:
    """What the CLI needs to tell the user and choose an exit code."""

    run_id: str
    recipe: str
    engine: str
    model: str
    report_dir: Path
    totals: Totals
    changed_files: list[str]
    skipped_files: int
    uncommitted: list[str]
    branch: str | None = None
    commits: list[str] = field(default_factory=list)
    pushed: bool = False
    stop_reason: str | None = None
    fatal: bool = False
    unreachable: bool = False  # the circuit breaker stopped the run: the endpoint cannot be reached
    provider_failed: list[str] = field(default_factory=list)  # chunks failed for provider reasons
    interrupted: int | None = None  # the signal that stopped the run
    push_error: str | None = None  # the push's one-line failure (credentials redacted)
    since_note: str = ""  # which files --since let the run touch, in one phrase
    same_as: LastRun | None = None  # the last run whose change this one repeated: no new branch
    api_lost: str | None = (
        None  # why the orchestrator's API was given up on mid-run (it went on without)
    )
    notes: list[str] = field(default_factory=list)  # loud lines: a found test gate turned off
    fail_on_unproven: bool = False  # --fail-on-unproven: exit 4 when a change was kept out unproven

    @property
    def unproven(self) -> int:
        """How many changes --require-evidence kept out."""
        return self.totals.by_reason.get("unproven", 0)

    @property
    def partial(self) -> bool:
        """True when the report holds only part of the run's work."""
        return bool(self.interrupted or self.fatal or self.unreachable or self.provider_failed)

    @property
    def exit_code(self) -> int:
        """0 done; 3 fatal provider error; 4 changes kept out unproven with --fail-on-unproven;
        5 unreachable or provider-failed chunks; 6 push failed; 128 + signal when interrupted."""
        if self.interrupted is not None:
            return ExitCode.SIGNAL_BASE + self.interrupted
        if self.unreachable or (self.provider_failed and not self.fatal):
            return ExitCode.UNREACHABLE
        if self.fatal:
            return ExitCode.PROVIDER
        if self.push_error is not None:
            return ExitCode.PUSH_FAILED
        if self.fail_on_unproven and self.unproven:
            return ExitCode.CHANGES
        return ExitCode.DONE
