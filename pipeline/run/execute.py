"""A whole run, with or without an orchestrator: plan, refactor, assemble, gate, apply, report.

Every decision lives here: what to gate, whether to commit, whether to save the last-run state, how the
ledger ends, what the result says (and so the exit code). The `Steps` given only decide how each step is
executed (`LocalSteps` in-process, the Prefect adapter as tasks); the `View` what the user sees.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline import repository
from pipeline.config import RunConfig
from pipeline.engines.codemod_files import CodemodFileEngine
from pipeline.engines.proposal import Proposal
from pipeline.errors import CodemillError
from pipeline.gates.base_tests import BaseTests
from pipeline.judge.policy import Policy
from pipeline.judge.verdicts import Reason, Status
from pipeline.model.limiter import Limiter, SharedSlot
from pipeline.paths import ReportError, default_report_dir, private_dir
from pipeline.report.patch import unified_patch
from pipeline.run import landing, state
from pipeline.run.executor import Steps, View
from pipeline.run.landing import Commits
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

if TYPE_CHECKING:
    from pipeline.run.model_run import ModelSession  # the model's side, imported by its run

FILES_PER_SHARD = 64
MAX_SHARDS = 16


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
    shared_slot: SharedSlot | None = None,
) -> RunResult:
    """Run `config.recipe` over `paths`; SIGINT/SIGTERM end it early with a partial report.

    `shared_slot`: a model-request limit shared with other runs (a fleet's), held by every request of
    the run's one model session, gate turns included.

    `setup` is `prepare_run`'s result when the caller has already checked the run (the CLI does, to
    refuse bad input before the engines load); otherwise it is made here. The test command's base run
    starts here, beside the refactoring (`start_base_tests`), unless the caller started it earlier and
    gives it as `base_tests`; either way the run closes it (nothing of it outlives the run)."""
    with Interrupts() as interrupts, contextlib.ExitStack() as cleanup:
        if base_tests is not None:
            cleanup.callback(base_tests.close)
        setup = setup or prepare_run(config, since, env, datetime.now(UTC), run_id)
        if base_tests is None and (base_tests := start_base_tests(config, setup)) is not None:
            cleanup.callback(base_tests.close)
        report_dir = report_dir_for(config, setup.run_id, env)
        run = Execution(config, steps, view, setup, interrupts, setup.run_id, report_dir, env)
        run.base_tests = base_tests
        run.plan(paths)
        async with run.model_session(shared_slot) as session:
            await run.refactor(session)
            return await run.conclude(session)


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
        self.ledger = Ledger(meta, stream_to=self.report_dir / "ledger.jsonl")
        self.proposals: list[Proposal] = []
        self.counter = RunCounter()
        self.limiter: Limiter | None = None
        self.stop = ModelStop()
        self.plan_: Plan = Plan(setup.base_commit, [], [])
        self.base_tests: BaseTests | None = None  # the test gate's base run, started with the run
        self.failure: CodemillError | None = (
            None  # a gate or git failure: the run ends, nothing lands
        )

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

    @contextlib.asynccontextmanager
    async def model_session(
        self, shared_slot: SharedSlot | None
    ) -> AsyncIterator[ModelSession | None]:
        """The run's one model session (None for the codemods), open from refactoring to the end."""
        if self.setup.engine != "llm":
            yield None
            return
        from pipeline.run.model_run import ModelSession  # the model's side loads only here

        recipe, observer = self.setup.recipe, self.counter.attempt
        session = ModelSession(self.config, recipe, self.policy(), self.env, observer, shared_slot)
        async with session:
            self.limiter = session.limiter
            yield session

    async def refactor(self, session: ModelSession | None) -> None:
        """Every chunk through the engine; a stop signal abandons what is in flight."""
        files = 0 if self.plan_.chunked else len(self.plan_.files)  # codemods cut as they go
        self.counter.start(self.plan_.chunk_count, files=files)
        count = min(MAX_SHARDS, 1 + len(self.plan_.files) // FILES_PER_SHARD)
        shards = shard_files(self.plan_.files, count)
        with self.view.watching(self.counter, self.steps.progress_sink()):
            if session is not None:
                work = session.refactor(shards, self.record, self.steps)
                self.stop = await self.interrupts.cancelling(work) or self.stop
                return
            codemods = CodemodFileEngine.from_config(self.setup.recipe, self.policy(), self.config)
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

    async def gated(self, session: ModelSession | None) -> Changes:
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
        except KeyboardInterrupt:
            return changes
        except (
            CodemillError
        ) as exc:  # a gate that cannot run here: nothing lands, the report says why
            self.failure = exc
            return {}
        return await self.repaired(session, changes, gated)

    async def repaired(
        self, session: ModelSession | None, assembled: Changes, gated: Changes
    ) -> Changes:
        """The gated changes after gate turns for the model chunks the gates dropped (--gate-repairs),
        sent through the run's own session; a stop signal abandons them."""
        if session is None or not self.config.gate_repairs or self.stop.fatal:
            return gated
        from pipeline.gates.repair import dropped_by_gates

        if not dropped_by_gates(self.proposals):
            return gated
        before = {path: old for path, (old, _) in assembled.items()}
        work = session.repair(self.setup.base_commit, before, self.proposals)
        report = await self.interrupts.cancelling(work)
        record_gates(self.ledger, self.run_id, self.proposals, engine=self.setup.engine)
        if report is None:
            return gated
        self.ledger.meta.gates["gate-repairs"] = report.summary()
        return report.changes

    def provider_failed(self) -> list[str]:
        """The chunks that failed for provider reasons after their retries: `path::name`."""
        return [
            f"{p.chunk.path}::{p.chunk.name or '<module>'}"
            for p in self.proposals
            if p.verdict.status is Status.FAILED and p.verdict.reason is Reason.PROVIDER_ERROR
        ]

    async def conclude(self, session: ModelSession | None) -> RunResult:
        """Gate, make the commits, end the ledger, write the report; only then the state and the branch."""
        changes = await self.gated(session)
        patch = unified_patch(changes)
        fingerprint = state.patch_fingerprint(patch)
        setup, failed = self.setup, self.provider_failed()
        same_as = None
        if setup.branch is not None and state.same_change(setup.last, fingerprint, bool(changes)):
            same_as = setup.last
        made = None
        if same_as is None and setup.branch is not None and changes and self.going(failed):
            made = self.commit(setup.branch, changes)
        self.end_ledger(same_as, failed)
        self.write_report(changes, patch)
        if self.failure is not None:
            raise self.failure  # one sentence and its exit code, after the ledger and report
        committed, push_error = repository.CommitResult(setup.branch or ""), None
        if setup.branch is not None and self.going(failed) and self.stop.reason is None:
            committed, push_error = self.land(made, fingerprint)
        return self.result(changes, committed, push_error, same_as, failed)

    def going(self, failed: list[str]) -> bool:
        """Whether the run is still on course to land: no fatal stop, failure, provider failure or signal."""
        stopped = self.stop.fatal or self.failure is not None or self.interrupts.signum is not None
        return not (stopped or failed)

    def commit(self, branch: str, changes: Changes) -> Commits | None:
        """The run's commits (no branch yet); None when a stop signal cut them short."""
        request = ApplyRequest(
            branch,
            self.setup.base_commit,
            {path: after for path, (_, after) in changes.items()},
            self.setup.recipe.name,
            self.setup.model,
            self.run_id,
        )
        try:
            with self.interrupts.raising():
                return self.steps.commit(self.config, request)
        except KeyboardInterrupt:
            return None
        except CodemillError as exc:  # git refused or failed: no branch, the report says why
            self.failure = exc
            return None

    def write_report(self, changes: Changes, patch: str) -> None:
        """The report directory; a full disk or a refused path is one sentence, before any branch."""
        try:
            self.steps.report(self.report_dir, self.ledger, changes, patch)
        except OSError as exc:
            raise ReportError(
                f"cannot write the report to {self.report_dir}: {exc.strerror or exc}; "
                f"no branch was made and the run's state was not saved"
            ) from None

    def land(
        self, made: Commits | None, fingerprint: str
    ) -> tuple[repository.CommitResult, str | None]:
        """Save the state, then set the branch (a refused push keeps it and says why in one line).

        The state names the branch before the ref exists; if the ref cannot be set, the previous state is
        put back, so a rerun neither trusts a branch that is not there nor makes a second one."""
        branch = self.setup.branch or ""
        commits = made.commits if made is not None else []
        self.save_state(fingerprint, repository.CommitResult(branch, commits))
        if made is None or not commits:
            return repository.CommitResult(branch), None
        try:
            return landing.set_branch(self.config, made, self.run_id), None
        except repository.PushError as exc:
            return exc.result, str(exc)
        except repository.GitOpsError:
            state.restore_last_run(self.setup.state_path, self.setup.last)
            raise

    def end_ledger(self, same_as: state.LastRun | None, failed: list[str]) -> None:
        """The ledger's end record: how the run ended and, when early, why."""
        name = self.interrupts.name
        note = self.stop.reason
        if self.failure is not None:
            outcome, note = "stopped", f"{self.failure}: nothing was committed"
        elif name is not None:
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
