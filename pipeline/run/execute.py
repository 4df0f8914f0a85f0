"""A whole run, with or without an orchestrator: plan, refactor, assemble, gate, apply, report.

Every decision lives here: what to gate, whether to commit, whether to save the last-run state, how the
ledger ends, what the result says (and so the exit code). The `Steps` given only decide how each step is
executed (`LocalSteps` in-process, the Prefect adapter as tasks); the `View` what the user sees.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pipeline import repository
from pipeline.config import RunConfig
from pipeline.engines.codemod_files import CodemodFileEngine
from pipeline.engines.proposal import Proposal
from pipeline.gates.base_tests import BaseTests
from pipeline.judge.policy import Policy
from pipeline.judge.verdicts import Reason, Status
from pipeline.model.limiter import Limiter
from pipeline.paths import default_report_dir, private_dir
from pipeline.report.patch import unified_patch
from pipeline.run import state
from pipeline.run.executor import Steps, View
from pipeline.run.ledger import Ledger, RunMeta
from pipeline.run.progress import RunCounter
from pipeline.run.result import ModelStop, RunResult
from pipeline.run.setup import start_base_tests
from pipeline.run.signals import Interrupts
from pipeline.run.steps import (
    ApplyRequest,
    Changes,
    Plan,
    RunSetup,
    ledger_row,
    prepare_run,
    record_gates,
    record_skipped,
    shard_files,
    worker_count,
)
from pipeline.source.files import SkippedFile

FILES_PER_SHARD = 64
MAX_SHARDS = 16


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique, path-safe run id: UTC time plus random hex."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def report_dir_for(config: RunConfig, run_id: str, env: Mapping[str, str]) -> Path:
    """Where this run's report directory goes: under --report-dir, else the per-user state dir."""
    if config.report_dir is not None:
        return Path(config.report_dir) / run_id
    return default_report_dir(config.repo, run_id, env)


async def execute_run(
    config: RunConfig,
    paths: Sequence[str],
    *,
    steps: Steps,
    view: View,
    run_id: str | None = None,
    since: str | None = None,
    env: Mapping[str, str],
    setup: RunSetup | None = None,
    base_tests: BaseTests | None = None,
) -> RunResult:
    """Run `config.recipe` over `paths`; SIGINT/SIGTERM end it early with a partial report.

    `setup` is `prepare_run`'s result when the caller has already checked the run (the CLI does, to
    refuse bad input before the engines load); otherwise it is made here. The test command's base run
    starts here, beside the refactoring (`start_base_tests`), unless the caller started it earlier and
    gives it as `base_tests`; either way the run closes it (nothing of it outlives the run)."""
    with Interrupts() as interrupts, contextlib.ExitStack() as cleanup:
        if base_tests is not None:
            cleanup.callback(base_tests.close)
        setup = setup or prepare_run(config, since, env, datetime.now(UTC))
        if base_tests is None and (base_tests := start_base_tests(config, setup)) is not None:
            cleanup.callback(base_tests.close)
        report_dir = report_dir_for(config, run_id := run_id or new_run_id(), env)
        run = Execution(config, steps, view, setup, interrupts, run_id, report_dir, env)
        run.base_tests = base_tests
        run.plan(paths)
        await run.refactor()
        return run.conclude()


class Execution:
    """One run's state while it goes; each method is one phase."""

    def __init__(
        self,
        config: RunConfig,
        steps: Steps,
        view: View,
        setup: RunSetup,
        interrupts: Interrupts,
        run_id: str,
        report_dir: Path,
        env: Mapping[str, str],
    ) -> None:
        self.config, self.steps, self.view, self.setup = config, steps, view, setup
        self.interrupts = interrupts
        self.run_id, self.env = run_id, env
        self.report_dir = private_dir(report_dir)
        meta = RunMeta(
            run_id, setup.recipe.name, setup.engine, setup.model, setup.base_commit, config.budget
        )
        meta.policy = self.policy()
        self.ledger = Ledger(meta, stream_to=self.report_dir / "ledger.jsonl")
        self.proposals: list[Proposal] = []
        self.counter = RunCounter()
        self.limiter: Limiter | None = None
        self.stop = ModelStop()
        self.plan_: Plan = Plan(setup.base_commit, [], [])
        self.base_tests: BaseTests | None = None  # the test gate's base run, started with the run

    def plan(self, paths: Sequence[str]) -> None:
        """List and chunk the files (a stop signal here leaves an empty, partial run)."""
        try:
            with self.interrupts.raising():
                chunk = self.setup.engine == "llm"  # the codemod engine cuts in its workers
                self.plan_ = self.steps.plan(self.config, paths, self.setup.scope.only, chunk)
        except KeyboardInterrupt:
            return
        if self.setup.engine == "llm":
            from pipeline.run.model_run import (
                refuse_over_budget,  # the model's side loads only here
            )

            refuse_over_budget(self.config, self.setup.recipe, self.plan_, self.env)
        record_skipped(self.run_id, self.ledger, self.plan_.skipped)
        self.view.started(self.config, self.setup.recipe.name, self.setup.engine, self.plan_)

    def left_out(self, item: SkippedFile) -> None:
        """A file the engine left out (no trigger matched, does not parse): its one ledger row."""
        record_skipped(self.run_id, self.ledger, [item])
        self.counter.file_left_out(item.path)

    def record(self, proposal: Proposal) -> None:
        """One chunk's fate: into the proposals, the ledger and the live counts."""
        limit = self.limiter.current_limit if self.limiter is not None else None
        self.proposals.append(proposal)
        self.ledger.append(
            ledger_row(self.run_id, proposal, engine=self.setup.engine, concurrency_limit=limit)
        )
        self.counter.add(proposal, limit)

    async def refactor(self) -> None:
        """Every chunk through the engine; a stop signal abandons what is in flight."""
        files = 0 if self.plan_.chunked else len(self.plan_.files)  # codemods cut as they go
        self.counter.start(self.plan_.chunk_count, files=files)
        count = min(MAX_SHARDS, 1 + len(self.plan_.files) // FILES_PER_SHARD)
        shards = shard_files(self.plan_.files, count)
        with self.view.watching(self.counter, self.steps.progress_sink()):
            if self.setup.engine == "llm":
                from pipeline.run.model_run import refactor_with_model

                config = self.config
                self.limiter = Limiter(config.concurrency, rpm=config.rpm, tpm=config.tpm)
                work = refactor_with_model(
                    config,
                    self.setup.recipe,
                    self.policy(),
                    self.limiter,
                    shards,
                    self.record,
                    self.steps,
                    self.env,
                    self.counter.attempt,
                )
                self.stop = await self.interrupts.cancelling(work) or self.stop
            else:
                codemods = CodemodFileEngine.from_config(
                    self.setup.recipe, self.policy(), self.config
                )
                jobs = worker_count(self.config)
                try:
                    with self.interrupts.raising():  # the workers are killed with the step
                        self.steps.refactor_codemod(
                            codemods, self.plan_.files, self.record, self.left_out, jobs
                        )
                except KeyboardInterrupt:
                    pass

    def policy(self) -> Policy:
        return Policy(self.setup.recipe.allowances, self.config.target_python)

    def gated(self) -> Changes:
        """The assembled changes that pass the gates (ungated when a stop signal cut the gates short)."""
        changes = self.steps.assemble(self.plan_.files, self.proposals)
        if not changes or self.interrupts.signum is not None:
            return changes
        try:
            with self.interrupts.raising():
                gated = self.steps.gate(
                    self.config,
                    self.setup.engine,
                    self.setup.base_commit,
                    changes,
                    self.proposals,
                    self.ledger,
                    self.base_tests,
                )
                return self.repaired(changes, gated)
        except KeyboardInterrupt:
            return changes

    def repaired(self, assembled: Changes, gated: Changes) -> Changes:
        """The gated changes after gate turns for the model chunks the gates dropped (--gate-repairs)."""
        config, setup = self.config, self.setup
        if setup.engine != "llm" or not config.gate_repairs or self.stop.fatal:
            return gated
        from pipeline.gates.repair import dropped_by_gates
        from pipeline.run.model_run import repair_with_model

        if not dropped_by_gates(self.proposals):
            return gated
        before = {path: old for path, (old, _) in assembled.items()}
        report = repair_with_model(
            config,
            setup.recipe,
            self.policy(),
            setup.base_commit,
            before,
            self.proposals,
            self.env,
            self.counter.attempt,
        )
        record_gates(self.ledger, self.run_id, self.proposals, engine=setup.engine)
        self.ledger.meta.gates["gate-repairs"] = report.summary()
        return report.changes

    def provider_failed(self) -> list[str]:
        """The chunks that failed for provider reasons after their retries: `path::name`."""
        return [
            f"{p.chunk.path}::{p.chunk.name or '<module>'}"
            for p in self.proposals
            if p.verdict.status is Status.FAILED and p.verdict.reason is Reason.PROVIDER_ERROR
        ]

    def conclude(self) -> RunResult:
        """Gate, maybe commit, end the ledger, write the report, maybe save state: the result."""
        changes = self.gated()
        patch = unified_patch(changes)
        fingerprint = state.patch_fingerprint(patch)
        setup, failed = self.setup, self.provider_failed()
        same_as = None
        if setup.branch is not None and state.same_change(setup.last, fingerprint, bool(changes)):
            same_as = setup.last
        stopped = self.stop.fatal or bool(failed) or self.interrupts.signum is not None
        committed, push_error = repository.CommitResult(setup.branch or ""), None
        if same_as is None and setup.branch is not None and changes and not stopped:
            committed, push_error = self.commit(setup.branch, changes)
        self.end_ledger(same_as, failed)
        self.steps.report(self.report_dir, self.ledger, changes, patch)
        if setup.branch is not None and not stopped and self.stop.reason is None:
            self.save_state(fingerprint, committed)
        return self.result(changes, committed, push_error, same_as, failed)

    def commit(self, branch: str, changes: Changes) -> tuple[repository.CommitResult, str | None]:
        """The branch, committed; a refused push keeps the branch and says why in one line."""
        request = ApplyRequest(
            branch,
            self.setup.base_commit,
            {path: after for path, (_, after) in changes.items()},
            self.setup.recipe.name,
            self.setup.model,
            self.run_id,
        )
        try:
            return self.steps.apply(self.config, request), None
        except repository.PushError as exc:
            return exc.result, str(exc)

    def end_ledger(self, same_as: state.LastRun | None, failed: list[str]) -> None:
        """The ledger's end record: how the run ended and, when early, why."""
        name = self.interrupts.name
        note = self.stop.reason
        if name is not None:
            outcome = "interrupted"
            note = f"interrupted by {name}: partial, only what was accepted before it is reported"
        elif note is not None or failed:
            outcome = "stopped"
            note = note or f"{len(failed)} chunks failed for provider reasons: partial"
        else:
            outcome = "done"
            if same_as is not None:
                note = f"same change as run {same_as.run_id}: no new branch made"
        self.ledger.finish(note, outcome)

    def save_state(self, fingerprint: str, committed: repository.CommitResult) -> None:
        """Remember this run for --since last-run and for "same change" (only runs that ended normally)."""
        done = state.succeeded(
            self.setup.last,
            recipe=self.setup.recipe.name,
            base_commit=self.setup.base_commit,
            run_id=self.run_id,
            finished=self.ledger.meta.finished or "",
            fingerprint=fingerprint,
            branch=committed.branch if committed.commits else None,
        )
        state.save_last_run(self.setup.state_path, done)

    def result(
        self,
        changes: Changes,
        committed: repository.CommitResult,
        push_error: str | None,
        same_as: state.LastRun | None,
        failed: list[str],
    ) -> RunResult:
        setup = self.setup
        return RunResult(
            run_id=self.run_id,
            recipe=setup.recipe.name,
            engine=setup.engine,
            model=setup.model,
            report_dir=self.report_dir,
            totals=self.ledger.totals(),
            changed_files=sorted(changes),
            skipped_files=len(self.plan_.skipped),
            uncommitted=self.plan_.uncommitted,
            branch=setup.branch,
            commits=committed.commits,
            pushed=committed.pushed,
            stop_reason=self.ledger.meta.stop_reason
            if self.ledger.meta.outcome != "done"
            else None,
            fatal=self.stop.fatal,
            unreachable=self.stop.unreachable,
            provider_failed=failed,
            interrupted=self.interrupts.signum,
            push_error=push_error,
            since_note=setup.scope.note,
            same_as=same_as,
        )
