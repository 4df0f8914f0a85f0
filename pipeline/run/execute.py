"""A whole run, with or without an orchestrator: plan, refactor, gate (with repair turns), commit, report,
land.

`execute_run` reads as the run goes. Every decision lives here: what to gate, whether to commit, whether
to save the last-run state and set the branch, how the ledger ends, what the result says (and so the exit
code). The `Runner` given only decides how each step is executed (in-process, or as a Prefect task); the
`View` what the user sees.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pipeline import repository
from pipeline.config import RunConfig, forget_model_key, model_key_hidden
from pipeline.engines.codemod_files import CodemodFileEngine
from pipeline.engines.proposal import Proposal
from pipeline.engines.ruff_fixes import RuffError
from pipeline.errors import CodemillError
from pipeline.evidence.levels import Level
from pipeline.gates.base_tests import BaseTests
from pipeline.gates.combined import GATE_OFF
from pipeline.gates.evidence import hold_unproven
from pipeline.judge.policy import Policy
from pipeline.judge.verdicts import Reason, Status
from pipeline.model.limiter import Limiter, SharedSlot
from pipeline.paths import ReportError, default_report_dir, private_dir
from pipeline.records.ledger import Ledger, RunMeta
from pipeline.report.patch import unified_patch
from pipeline.run import landing, state, steps
from pipeline.run.landing import ApplyRequest, Commits
from pipeline.run.progress import RunCounter
from pipeline.run.result import ModelStop, RunResult
from pipeline.run.runner import Runner, View
from pipeline.run.setup import RunSetup, prepare_run, start_base_tests, with_test_gate
from pipeline.run.signals import Interrupts
from pipeline.run.steps import Changes, Plan
from pipeline.source.files import SkippedFile

if TYPE_CHECKING:
    from pipeline.run.model_run import ModelSession  # the model's side, imported by its run

T = TypeVar("T")
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
    runner: Runner,
    view: View,
    env: Mapping[str, str],
    run_id: str | None = None,
    setup: RunSetup | None = None,
    base_tests: BaseTests | None = None,
    shared_slot: SharedSlot | None = None,
) -> RunResult:
    """Run `config.recipe` over `paths`; SIGINT/SIGTERM end it early with a partial report, no branch.

    `setup` is `prepare_run`'s result when the caller has already checked the run (the CLI does, to
    refuse bad input before the engines load); otherwise it is made here. The test command's base run
    starts here, beside the refactoring, unless the caller started it and gives it as `base_tests`;
    either way the run closes it. `shared_slot`: a model-request limit shared with other runs (a
    fleet's), held by every request of the run's one model session, gate turns included."""
    with Interrupts() as interrupts, contextlib.ExitStack() as cleanup:
        if base_tests is not None:
            cleanup.callback(base_tests.close)
        setup = setup or prepare_run(config, env, datetime.now(UTC), run_id)
        config = with_test_gate(config, setup)
        if base_tests is None and (base_tests := start_base_tests(config, setup)) is not None:
            cleanup.callback(base_tests.close)
        run = Execution(config, runner, view, setup, interrupts, env, base_tests)
        run.plan(paths)
        async with run.model_session(shared_slot) as session:
            await run.refactor(session)
            changes = await run.gate(session)
        patch = unified_patch(changes)  # once: the commit's fingerprint, the report and the state
        made = run.commit(changes, patch)
        run.report(changes, patch)
        return run.land(made, changes, patch)


class Execution:
    """One run's state while it goes; each method is one phase, in the order `execute_run` calls them."""

    def __init__(
        self,
        config: RunConfig,
        runner: Runner,
        view: View,
        setup: RunSetup,
        interrupts: Interrupts,
        env: Mapping[str, str],
        base_tests: BaseTests | None,
    ) -> None:
        self.config, self.runner, self.view, self.setup = config, runner, view, setup
        self.interrupts, self.env, self.base_tests = interrupts, env, base_tests
        self.run_id = setup.run_id
        self.report_dir = private_dir(report_dir_for(config, setup.run_id, env))
        meta = RunMeta(
            self.run_id,
            setup.recipe.name,
            setup.engine,
            setup.model,
            setup.base_commit,
            config.budget,
        )
        meta.policy = self.policy()
        meta.target_python_from = config.origins.target_from  # the report's header names it
        self.ledger = Ledger(meta, stream_to=self.report_dir / "ledger.jsonl")
        self.proposals: list[Proposal] = []
        self.counter = RunCounter()
        self.limiter: Limiter | None = None
        self.stop = ModelStop()
        self.plan_: Plan = Plan(setup.base_commit, [], [])
        # a gate or git failure: the run ends, nothing lands
        self.failure: CodemillError | None = None
        # the last run, when this one made the same change
        self.same_as: state.LastRun | None = None

    # --- plan and refactor ---

    def plan(self, paths: Sequence[str]) -> None:
        """List and chunk the files (a stop signal here leaves an empty, partial run)."""
        chunk = self.setup.engine == "llm"  # the codemod engine cuts in its workers
        only = self.setup.since.only
        try:
            with self.interrupts.raising():
                self.plan_ = self.runner.step(
                    "plan", lambda: steps.plan_run(self.config, paths, only=only, chunk=chunk)
                )
        except KeyboardInterrupt:
            return
        if chunk:
            from pipeline.run.model_run import refuse_over_max_cost  # the model's side loads here

            refuse_over_max_cost(self.config, self.setup.recipe, self.plan_, self.env)
        steps.record_skipped(self.run_id, self.ledger, self.plan_.skipped)
        self.view.started(self.config, self.setup.recipe.name, self.setup.engine, self.plan_)

    @contextlib.asynccontextmanager
    async def model_session(self, shared: SharedSlot | None) -> AsyncIterator[ModelSession | None]:
        """The run's one model session (None for the codemods), open from refactoring to gate turns."""
        if self.setup.engine == "codemod":
            yield None
            return
        from pipeline.run.model_run import ModelSession

        recipe, observer = self.setup.recipe, self.counter.attempt
        async with ModelSession(
            self.config, recipe, self.policy(), self.env, observer, shared
        ) as session:
            self.limiter = session.limiter
            yield session

    async def refactor(self, session: ModelSession | None) -> None:
        """Every chunk through the engine; a stop signal abandons what is in flight."""
        to_cut = 0 if self.plan_.chunked else len(self.plan_.files)  # codemods cut as they go
        self.counter.start(self.plan_.chunk_count, files=to_cut, model=session is not None)
        with self.view.watching(self.counter, self.runner.progress_sink()):
            if session is None:
                engine = CodemodFileEngine.from_config(
                    self.setup.recipe, self.policy(), self.config
                )
                engine.on_chunks = self.counter.ticker()  # progress inside a large file
                jobs, files = steps.worker_count(self.config), self.plan_.files
                self.offline(
                    lambda: steps.refactor_codemod(
                        engine, files, self.record, self.left_out, jobs=jobs
                    )
                )
                return
            through = steps.refactor_shard_llm if self.setup.engine == "llm" else self.rewritten()
            if through is None:
                return
            count = min(MAX_SHARDS, 1 + len(self.plan_.files) // FILES_PER_SHARD)
            shards = steps.shard_files(self.plan_.files, count)
            work = session.refactor(shards, self.record, self.runner, through)
            self.stop = await self.interrupts.cancelling(work) or self.stop

    def offline(self, work: Callable[[], T]) -> T | None:
        """The recipe's rewrites as the `refactor-codemod` step, the model's key dropped first (they run
        in this process and its forks; a model session holds its own); the workers are killed with the
        step. None when a stop signal or a failing ruff cut it short (the report says why)."""
        hidden: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        if self.setup.engine == "codemod":
            forget_model_key(self.config)
        else:  # a hybrid run: its model session and later runs in this process need the key
            hidden = model_key_hidden(self.config)
        try:
            with self.interrupts.raising(), hidden:
                return self.runner.step("refactor-codemod", work)
        except KeyboardInterrupt:
            return None
        except RuffError as exc:
            self.failure = exc
            return None

    def rewritten(self) -> steps.ShardWork | None:
        """A hybrid run's rewrites over every file; the model's work on what they leave (None when
        they were cut short). --max-cost refuses it here, on the forecast of what they leave."""
        from pipeline.run import hybrid_run

        recipe, policy, files = self.setup.recipe, self.policy(), self.plan_.files
        done = self.offline(
            lambda: hybrid_run.rewrite_files(self.config, recipe, policy, files, self.left_out)
        )
        if done is None:
            return None
        from pipeline.run.model_run import refuse_over_max_cost

        asked = Plan(self.plan_.base_commit, done.asked(), [])  # what the model would be asked
        refuse_over_max_cost(self.config, recipe, asked, self.env)
        self.plan_.files = done.files
        self.counter.start(self.plan_.chunk_count)
        return hybrid_run.shard_work(done.first)

    def left_out(self, item: SkippedFile) -> None:
        """A file the engine left out (no trigger matched, does not parse): its one ledger row."""
        steps.record_skipped(self.run_id, self.ledger, [item])
        self.counter.file_left_out(item.path)

    def record(self, proposal: Proposal) -> None:
        """One chunk's fate: into the proposals, the ledger and the live counts."""
        limit = self.limiter.current_limit if self.limiter is not None else None
        self.proposals.append(proposal)
        row = steps.ledger_row(
            self.run_id, proposal, engine=self.setup.engine, concurrency_limit=limit
        )
        self.ledger.append(row)
        self.counter.add(proposal, limit)

    def policy(self) -> Policy:
        return Policy(self.setup.recipe.allowances, self.config.target_python)

    # --- gate ---

    async def gate(self, session: ModelSession | None) -> Changes:
        """The assembled changes that pass the gates, after gate turns for the model chunks they
        dropped (ungated when a stop signal cut the gates short; none when a gate cannot run)."""
        files, proposals = self.plan_.files, self.proposals
        changes = self.runner.step("assemble", lambda: steps.assemble(files, proposals))
        if not changes or self.interrupts.signum is not None:
            if not changes and self.base_tests is not None and self.going():
                self.ledger.meta.gates["tests"] = self.base_tests.account()  # said, though empty
            return changes
        config, engine, base = self.config, self.setup.engine, self.setup.base_commit
        try:
            with self.interrupts.raising():
                gated = self.runner.step(
                    "gate",
                    lambda: steps.gate(
                        config, engine, base, changes, proposals, self.ledger, self.base_tests
                    ),
                )
        except KeyboardInterrupt:
            return changes
        except CodemillError as exc:  # a gate cannot run here: nothing lands, the report says why
            self.failure = exc
            return {}
        return self.held(await self.repaired(session, changes, gated))

    def held(self, changes: Changes) -> Changes:
        """--require-evidence: the changes whose evidence is below it go out as `unproven` (their rows
        amended, their text kept for the report); the rest land."""
        if self.config.require_evidence is None:
            return changes
        required = Level(self.config.require_evidence)
        kept = hold_unproven(self.proposals, changes, required)
        steps.record_gates(self.ledger, self.run_id, self.proposals, engine=self.setup.engine)
        held = sum(1 for p in self.proposals if p.verdict.reason is Reason.UNPROVEN)
        self.ledger.meta.gates["evidence"] = f"{held} changes below {required} kept out as unproven"
        return kept

    async def repaired(
        self, session: ModelSession | None, assembled: Changes, gated: Changes
    ) -> Changes:
        """The gated changes after gate turns (--gate-repairs) through the run's own model session; a
        stop signal abandons them."""
        if session is None or not self.config.gate_repairs or self.stop.fatal:
            return gated
        from pipeline.gates.repair import dropped_by_gates

        if not dropped_by_gates(self.proposals):
            return gated
        before = {path: old for path, (old, _) in assembled.items()}
        work = session.repair(self.setup.base_commit, before, self.proposals)
        report = await self.interrupts.cancelling(work)
        steps.record_gates(self.ledger, self.run_id, self.proposals, engine=self.setup.engine)
        if report is None:
            return gated
        self.ledger.meta.gates["gate-repairs"] = report.summary()
        return report.changes

    # --- commit, report, land ---

    def going(self) -> bool:
        """Whether the run is still on course to land: no fatal stop, failure, provider failure or signal."""
        stopped = self.stop.fatal or self.failure is not None or self.interrupts.signum is not None
        return not (stopped or self.provider_failed())

    def commit(self, changes: Changes, patch: str) -> Commits | None:
        """The run's commits from the proven bytes, no branch yet; None for a dry run, the same change
        as the last run, or when a stop signal or a git failure cut them short."""
        branch, setup = self.setup.branch, self.setup
        fingerprint = state.patch_fingerprint(patch)
        if branch is not None and state.same_change(setup.last, fingerprint, bool(changes)):
            self.same_as = setup.last
        if branch is None or not changes or self.same_as is not None or not self.going():
            return None
        after = {path: new for path, (_, new) in changes.items()}
        request = ApplyRequest(
            branch, setup.base_commit, after, setup.recipe.name, setup.model, self.run_id
        )
        try:
            with self.interrupts.raising():
                return self.runner.step(
                    "commit", lambda: landing.make_commits(self.config, request)
                )
        except KeyboardInterrupt:
            return None
        except CodemillError as exc:  # git refused or failed: no branch, the report says why
            self.failure = exc
            return None

    def report(self, changes: Changes, patch: str) -> None:
        """End the ledger and write the report directory; a full disk or a refused path is one sentence,
        before any branch or state. A gate or git failure is raised here, after the report."""
        self.end_ledger()
        try:
            paths = self.runner.step(
                "report", lambda: steps.report(self.report_dir, self.ledger, changes, patch)
            )
        except OSError as exc:
            raise ReportError(
                f"cannot write the report to {self.report_dir}: {exc.strerror or exc}; "
                f"no branch was made and the run's state was not saved"
            ) from None
        self.runner.reported(paths, self.ledger)
        if self.failure is not None:
            raise self.failure  # one sentence and its exit code, after the ledger and report

    def end_ledger(self) -> None:
        """The ledger's end record: how the run ended and, when early, why (and so whether it lands)."""
        self.may_land = self.going()
        name, note, failed = self.interrupts.name, self.stop.reason, self.provider_failed()
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
            if self.same_as is not None:
                note = f"same change as run {self.same_as.run_id}: no new branch made"
        self.ledger.finish(note, outcome)

    def land(self, made: Commits | None, changes: Changes, patch: str) -> RunResult:
        """For a run that ended well (`may_land`, fixed when its ledger ended): save the state, then
        set the branch and push; the result. A run stopped by --max-cost lands what it paid for, but
        saves no state: it did not finish. A stop signal after the ledger ended changes nothing."""
        committed, push_error = repository.CommitResult(self.setup.branch or ""), None
        if self.setup.branch is not None and self.may_land:
            committed, push_error = self.set_branch(made, state.patch_fingerprint(patch))
        return self.result(changes, committed, push_error)

    def set_branch(
        self, made: Commits | None, fingerprint: str
    ) -> tuple[repository.CommitResult, str | None]:
        """Save the state, then set the branch (a refused push keeps it and says why in one line).

        The state names the branch before the ref exists; if the ref cannot be set, the previous state is
        put back, so a rerun neither trusts a branch that is not there nor makes a second one."""
        branch = self.setup.branch or ""
        commits = made.commits if made is not None else []
        if self.stop.reason is None:
            self.save_state(fingerprint, repository.CommitResult(branch, commits))
        if made is None or not commits:
            return repository.CommitResult(branch), None
        try:
            return landing.set_branch(self.config, made, self.run_id), None
        except repository.PushError as exc:
            return exc.result, str(exc)
        except repository.GitOpsError:
            if self.stop.reason is None:
                state.restore_last_run(self.setup.state_path, self.setup.last)
            raise

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

    def provider_failed(self) -> list[str]:
        """The chunks that failed for provider reasons after their retries: `path::name`."""
        return [
            f"{p.chunk.path}::{p.chunk.name or '<module>'}"
            for p in self.proposals
            if p.verdict.status is Status.FAILED and p.verdict.reason is Reason.PROVIDER_ERROR
        ]

    def result(
        self, changes: Changes, committed: repository.CommitResult, push_error: str | None
    ) -> RunResult:
        setup, meta = self.setup, self.ledger.meta
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
            stop_reason=meta.stop_reason if meta.outcome != "done" else None,
            fatal=self.stop.fatal,
            unreachable=self.stop.unreachable,
            provider_failed=self.provider_failed(),
            interrupted=self.interrupts.signum if meta.outcome == "interrupted" else None,
            push_error=push_error,
            since_note=setup.since.note,
            same_as=self.same_as,
            notes=[note for note in meta.gates.values() if note.startswith(GATE_OFF)],
            fail_on_unproven=self.config.fail_on_unproven,
        )
