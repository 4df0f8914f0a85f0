"""How each step of a run is executed: `Steps` is the seam, `LocalSteps` runs every step in this process.

The run (`pipeline.run.execute`) decides what happens; a `Steps` only says *how* a step runs. The Prefect
adapter (`flows.refactor.PrefectSteps`) runs each one as a task; `LocalSteps` calls the step directly, so a
local run needs no orchestrator, no server and no Prefect import. A `View` is what the user sees meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pipeline.config import RunConfig
from pipeline.engines.codemod_files import CodemodFileEngine
from pipeline.engines.proposal import Proposal
from pipeline.gates.base_tests import BaseTests
from pipeline.report.directory import ReportPaths
from pipeline.run import steps
from pipeline.run.ledger import Ledger
from pipeline.run.progress import RunCounter
from pipeline.run.steps import Changes, FilePlan, LeftOut, Plan, Record

if TYPE_CHECKING:
    from pipeline.engines.model_engine import LLMEngine  # the model's side, imported by its run


class Steps(Protocol):
    """One method per step of a run; each returns what the step returns, however it was executed."""

    name: str  # the orchestrator, as the run's first line names it

    def plan(
        self, config: RunConfig, paths: Sequence[str], only: frozenset[str] | None, chunk: bool
    ) -> Plan: ...

    async def refactor_llm(
        self, engine: LLMEngine, index: int, files: list[FilePlan], record: Record
    ) -> None: ...

    def refactor_codemod(
        self,
        engine: CodemodFileEngine,
        files: list[FilePlan],
        record: Record,
        left_out: LeftOut,
        jobs: int,
    ) -> None: ...

    def assemble(self, files: list[FilePlan], proposals: list[Proposal]) -> Changes: ...

    def gate(
        self,
        config: RunConfig,
        engine: str,
        base_commit: str,
        changes: Changes,
        proposals: list[Proposal],
        ledger: Ledger,
        base_tests: BaseTests | None,
    ) -> Changes: ...

    def commit(self, config: RunConfig, request: steps.ApplyRequest) -> steps.Commits: ...

    def report(
        self, report_dir: Path, ledger: Ledger, changes: Changes, patch: str
    ) -> ReportPaths: ...

    def progress_sink(self) -> Callable[[float], None] | None:
        """Where the run's completed fraction is published as it moves (None: nowhere)."""
        ...


class View(Protocol):
    """What the person running codemill sees: the start line and a live display of the counts."""

    def started(self, config: RunConfig, recipe: str, engine: str, plan: Plan) -> None: ...

    def watching(
        self, counter: RunCounter, publish: Callable[[float], None] | None
    ) -> AbstractContextManager[object]: ...


class QuietView:
    """A View that shows nothing (library use, tests)."""

    def started(self, config: RunConfig, recipe: str, engine: str, plan: Plan) -> None:
        return None

    def watching(
        self, counter: RunCounter, publish: Callable[[float], None] | None
    ) -> AbstractContextManager[object]:
        return nullcontext()


class LocalSteps:
    """Every step called directly in this process: no orchestrator at all."""

    name = "local"

    def plan(
        self, config: RunConfig, paths: Sequence[str], only: frozenset[str] | None, chunk: bool
    ) -> Plan:
        return steps.plan_run(config, paths, only=only, chunk=chunk)

    async def refactor_llm(
        self, engine: LLMEngine, index: int, files: list[FilePlan], record: Record
    ) -> None:
        await steps.refactor_shard_llm(engine, files, record)

    def refactor_codemod(
        self,
        engine: CodemodFileEngine,
        files: list[FilePlan],
        record: Record,
        left_out: LeftOut,
        jobs: int,
    ) -> None:
        steps.refactor_codemod(engine, files, record, left_out, jobs=jobs)

    def assemble(self, files: list[FilePlan], proposals: list[Proposal]) -> Changes:
        return steps.assemble(files, proposals)

    def gate(
        self,
        config: RunConfig,
        engine: str,
        base_commit: str,
        changes: Changes,
        proposals: list[Proposal],
        ledger: Ledger,
        base_tests: BaseTests | None,
    ) -> Changes:
        return steps.gate(config, engine, base_commit, changes, proposals, ledger, base_tests)

    def commit(self, config: RunConfig, request: steps.ApplyRequest) -> steps.Commits:
        return steps.commit(config, request)

    def report(self, report_dir: Path, ledger: Ledger, changes: Changes, patch: str) -> ReportPaths:
        return steps.report(report_dir, ledger, changes, patch)

    def progress_sink(self) -> Callable[[float], None] | None:
        return None
