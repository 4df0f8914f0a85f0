"""`codemill run`: its options (every run setting, from the settings table), the orchestrator, the outcome.

A local run (no Prefect API configured, or `--orchestrator local`) executes `pipeline.run.execute_run`
in-process and never imports Prefect; a Prefect run calls the `refactor_repo` flow, which runs the same
steps as tasks. The first line says which; the last says where the report is.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flows.exits import warn
from flows.options import RUN, given, setting_options

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from flows.console import TerminalView
    from pipeline.config import RunConfig
    from pipeline.run.result import RunResult
    from pipeline.run.runner import LocalRunner
    from pipeline.run.setup import RunSetup

Paths = Annotated[
    list[Path], typer.Argument(help="Files or directories inside one git repository.")
]


@setting_options(RUN)
def run(
    paths: Paths,
    *,
    orchestrator: Annotated[
        str, typer.Option(help="auto (Prefect when an API is configured) | local | prefect.")
    ] = "auto",
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    fail_on_changes: Annotated[
        bool, typer.Option("--fail-on-changes", help="Exit 4 when the run finds changes (CI).")
    ] = False,
    junit: Annotated[Path | None, typer.Option(help="Also write the JUnit report here.")] = None,
    estimate: Annotated[
        bool,
        typer.Option("--estimate", help="Print the cost forecast and stop; nothing is sent."),
    ] = False,
    **settings: Any,
) -> None:
    """Refactor PATHS with a recipe: a new branch, or with --dry-run a report only."""
    from flows.orchestrator import choose
    from pipeline.config import load_config
    from pipeline.run.setup import repo_root

    root = repo_root(paths)
    config = load_config(root, given(settings), os.environ)
    warn(config.warnings)
    setup = refuse_bad_input(config)
    for warning in setup.warnings:
        typer.echo(f"codemill: warning: {warning}", err=True)
    if estimate:
        from pipeline.run.estimate import forecast_lines  # the engines load only when needed

        for line in forecast_lines(config, [str(p) for p in paths], os.environ):
            typer.echo(f"codemill: {line}")
        return
    which, why = choose(orchestrator, os.environ)
    typer.echo(f"codemill: orchestrator {which} ({why})", err=True)
    targets = [str(p) for p in paths]
    finish = Finish(junit, fail_on_changes)
    if which == "local":
        result = local_run(config, targets, progress, setup)
    else:
        result = prefect_run(config, targets, progress, setup, finish)
    raise typer.Exit(finish(result))


def refuse_bad_input(config: RunConfig) -> RunSetup:
    """The run's own setup checks (recipe, engine, base, branch, --since), before the engines load:
    a usage error costs a recipe parse and a git lookup, not libcst, the HTTP client or Prefect. A
    run, local or Prefect, goes on with this setup: the checks run once."""
    from datetime import UTC, datetime

    from pipeline.run.setup import prepare_run

    return prepare_run(config, os.environ, datetime.now(UTC))


class Finish:
    """The run's last words, the same however it ended: CI outputs, the outcome printed, the exit code."""

    def __init__(self, junit: Path | None, fail_on_changes: bool) -> None:
        self.junit = junit
        self.fail_on_changes = fail_on_changes

    def __call__(self, result: RunResult) -> int:
        from pipeline.report import ci

        if self.junit is not None:
            ci.copy_junit(result.report_dir, self.junit)
        ci.append_step_summary(result.report_dir, os.environ)
        code = announce(result)
        if code == 0 and self.fail_on_changes and result.changed_files:
            typer.echo(f"codemill: {len(result.changed_files)} files would change", err=True)
            code = 4
        return code

    def without_api(self, result: RunResult) -> None:
        """The Prefect API was lost mid-run: the report is written; end now, not when Prefect gives up."""
        why = result.api_lost
        typer.echo(f"codemill: lost the Prefect API ({why}); the run went on without it", err=True)
        code = self(result)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def local_run(config: RunConfig, paths: list[str], progress: bool, setup: RunSetup) -> RunResult:
    """The run in this process: no orchestrator, no server, no Prefect import.

    The test command's base run starts first, so it goes on while the engines import (a second of
    one core's work) and while they refactor; the run collects it at its test gate and closes it."""
    import asyncio

    from pipeline.run.setup import start_base_tests, with_test_gate

    config = with_test_gate(config, setup)
    base_tests = start_base_tests(config, setup)
    try:
        execute_run, runner = _engines()
        run = execute_run(
            config,
            paths,
            runner=runner,
            view=_terminal_view(progress),
            env=os.environ,
            setup=setup,
            base_tests=base_tests,
        )
        return asyncio.run(run)
    finally:
        if base_tests is not None:
            base_tests.close()  # the run has closed it, unless it ended before the run began


def _engines() -> tuple[Callable[..., Coroutine[Any, Any, RunResult]], LocalRunner]:
    """`execute_run` and the local runner, imported (the engines, libcst); a stop signal meanwhile
    ends codemill with 128 + its number, before anything is written."""
    from pipeline.run.signals import Interrupts

    try:
        with Interrupts() as stop, stop.raising():
            from pipeline.run.execute import execute_run
            from pipeline.run.runner import LocalRunner
    except KeyboardInterrupt:
        typer.echo(f"codemill: interrupted by {stop.name} before the run began", err=True)
        raise typer.Exit(128 + (stop.signum or 2)) from None
    return execute_run, LocalRunner()


def _terminal_view(progress: bool) -> TerminalView:
    from flows.console import TerminalView

    return TerminalView(progress)


def prefect_run(
    config: RunConfig, paths: list[str], progress: bool, setup: RunSetup, finish: Finish
) -> RunResult:
    """The run as the `refactor_repo` flow, against the configured Prefect API."""
    import asyncio

    from flows.orchestrator import quiet_prefect

    quiet_prefect()
    from flows.refactor import ending_without_api, refactor_repo

    flow_run = refactor_repo(
        config, paths, run_id=setup.run_id, show_progress=progress, setup=setup
    )
    with ending_without_api(finish.without_api):
        return asyncio.run(flow_run)


def announce(result: RunResult) -> int:
    """Print the run's outcome; its exit code."""
    from pipeline.model.prices import cost_text

    t = result.totals
    counts = ", ".join(f"{n} {status}" for status, n in t.by_status.items()) or "no chunks"
    echo = typer.echo
    echo(f"codemill: recipe {result.recipe}, engine {result.engine}, model {result.model}")
    if result.since_note:
        echo(f"codemill: --since: {result.since_note}")
    echo(
        f"codemill: {counts}; {len(result.changed_files)} files changed, "
        f"{result.skipped_files} files skipped"
    )
    announce_evidence(result)
    echo(
        f"codemill: {t.usage.tokens:,} tokens"
        f"{f' ({t.usage.unreported} answers reported no token counts)' if t.usage.unreported else ''}, "
        f"{cost_text(t.usage.cost_usd, t.usage.unpriced)}, {t.cached_rows} cache hits"
    )
    if result.uncommitted:
        echo(
            f"codemill: {len(result.uncommitted)} files have uncommitted changes; the run read "
            "them as committed at the base and left your working tree alone"
        )
    announce_ending(result)
    echo(f"codemill: report {result.report_dir}")
    return result.exit_code


def announce_evidence(result: RunResult) -> None:
    """The evidence of the accepted changes in one line, what was kept out unproven, and any gate that
    was turned off (loud: the changes were not tested)."""
    from pipeline.evidence.levels import counts_line

    for note in result.notes:
        typer.echo(f"codemill: {note}", err=True)
    t = result.totals
    if t.evidence:
        typer.echo(f"codemill: {counts_line(t.by_status.get('accepted', 0), t.evidence)}")
    if result.unproven:
        typer.echo(f"codemill: {result.unproven} changes kept out as unproven (--require-evidence)")


def announce_ending(result: RunResult) -> None:
    """How the run ended, when that is more than "done": stops, failures, branch, push."""
    echo = typer.echo
    if result.stop_reason:
        echo(f"codemill: stopped early: {result.stop_reason}", err=True)
    for chunk in result.provider_failed[:20]:
        echo(f"codemill: failed for provider reasons: {chunk}", err=True)
    if result.same_as is not None:
        held = f" (branch {result.same_as.branch})" if result.same_as.branch else ""
        echo(f"codemill: same change as run {result.same_as.run_id}{held}; no new branch made")
    elif result.branch and result.commits:
        pushed = " and pushed" if result.pushed else ""
        echo(f"codemill: branch {result.branch}: {len(result.commits)} commits{pushed}")
    elif result.branch and result.partial and result.changed_files:
        echo(
            "codemill: no branch was made because the run did not finish; after review, "
            f"`codemill apply --partial {result.report_dir}` makes it from the report",
            err=True,
        )
    elif result.branch:
        echo("codemill: nothing to commit, no branch made")
    if result.push_error:
        echo(f"codemill: {result.push_error}", err=True)
