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
    from collections.abc import Callable, Coroutine, Mapping

    from flows.console import TerminalView
    from pipeline.config import RunConfig
    from pipeline.run.result import RunResult
    from pipeline.run.runner import LocalRunner
    from pipeline.run.setup import RunSetup

Paths = Annotated[
    list[Path], typer.Argument(help="Files or directories inside one git repository.")
]

Progress = Annotated[
    bool,
    typer.Option(
        "--progress/--no-progress", help="A bar on a terminal, a line every few seconds elsewhere."
    ),
]
Diff = Annotated[
    bool,
    typer.Option(
        "--diff",
        help="Print the change as a patch on stdout (coloured on a terminal), the rest on stderr; "
        "a dry run: no branch.",
    ),
]


@setting_options(RUN)
def run(
    paths: Paths,
    *,
    orchestrator: Annotated[
        str, typer.Option(help="auto: Prefect when an API is configured, else local.")
    ] = "auto",
    progress: Progress = True,
    fail_on_changes: Annotated[
        bool, typer.Option("--fail-on-changes", help="Exit 4 when the run finds changes (CI).")
    ] = False,
    junit: Annotated[Path | None, typer.Option(help="Also write the JUnit report here.")] = None,
    estimate: Annotated[
        bool,
        typer.Option("--estimate", help="Print the cost forecast and stop; nothing is sent."),
    ] = False,
    diff: Diff = False,
    **settings: Any,
) -> None:
    """Refactor PATH... with a recipe: a new branch, or with --dry-run a report only."""
    from flows.orchestrator import choose
    from pipeline.config import load_config
    from pipeline.run.setup import repo_root

    root = repo_root(paths)
    if diff:
        settings["dry_run"] = True
    config = load_config(root, given(settings), os.environ, start=common_folder(paths))
    warn(config.warnings)
    setup = refuse_bad_input(config)
    say_origins(config)  # once the input is good: a refusal is one sentence alone
    for warning in setup.warnings:
        typer.echo(f"codemill: warning: {warning}", err=True)
    if estimate:
        print_estimate(config, paths, setup)
        return
    which, why = choose(orchestrator, os.environ)
    typer.echo(f"codemill: orchestrator {which} ({why})", err=True)
    targets = [str(p) for p in paths]
    finish = Finish(
        junit,
        fail_on_changes,
        diff=diff,
        publish=(root, given(settings)) if config.publish else None,
    )
    if which == "local":
        result = local_run(config, targets, progress, setup)
    else:
        result = prefect_run(config, targets, progress, setup, finish)
    raise typer.Exit(finish(result))


def print_estimate(config: RunConfig, paths: list[Path], setup: RunSetup) -> None:
    """`--estimate`: the forecast for the engine the run would use; nothing is sent."""
    from pipeline.run.estimate import forecast_lines  # the engines load only when needed

    targets = [str(p) for p in paths]
    for line in forecast_lines(config, targets, os.environ, engine=setup.engine):
        typer.echo(f"codemill: {line}")


def common_folder(paths: list[Path]) -> Path | None:
    """The deepest folder holding every path of the run: where its project settings are looked for."""
    return Path(os.path.commonpath([p.resolve() for p in paths])) if paths else None


def say_origins(config: RunConfig) -> None:
    """The run's first lines: the target Python and where it came from, the settings file used."""
    origins = config.origins
    major, minor = config.target_python
    typer.echo(f"codemill: target Python {major}.{minor} ({origins.target_from})", err=True)
    if origins.settings_file is not None:
        shown = origins.settings_file.relative_to(config.repo.resolve())
        typer.echo(f"codemill: settings from [tool.codemill] in {shown}", err=True)


def refuse_bad_input(config: RunConfig) -> RunSetup:
    """The run's own setup checks (recipe, engine, base, branch, --since), before the engines load:
    a usage error costs a recipe parse and a git lookup, not libcst, the HTTP client or Prefect. A
    run, local or Prefect, goes on with this setup: the checks run once."""
    from datetime import UTC, datetime

    from pipeline.errors import UsageError
    from pipeline.run.setup import prepare_run

    if config.publish and config.dry_run:
        raise UsageError(
            "--publish needs the run's branch: drop --dry-run, or publish the reviewed dry run "
            "later with `codemill publish RUN_DIR`"
        )
    return prepare_run(config, os.environ, datetime.now(UTC))


class Finish:
    """The run's last words, the same however it ended: CI outputs, the outcome printed, the exit code."""

    def __init__(
        self,
        junit: Path | None,
        fail_on_changes: bool,
        *,
        diff: bool = False,
        publish: tuple[Path, Mapping[str, object]] | None = None,
    ) -> None:
        self.diff = diff  # --diff: the patch alone on stdout, the words on stderr
        self.junit = junit
        self.fail_on_changes = fail_on_changes
        self.publish = publish  # --publish: the repository and the settings given

    def __call__(self, result: RunResult) -> int:
        from pipeline.report import ci
        from pipeline.run.progress import counted

        if self.junit is not None:
            ci.copy_junit(result.report_dir, self.junit)
        ci.append_step_summary(result.report_dir, os.environ)
        code = announce(result, to_stderr=self.diff)
        if self.diff:
            print_patch(result.report_dir / "changes.patch")
        if code == 0 and self.fail_on_changes and result.changed_files:
            changed = counted(len(result.changed_files), "file")
            typer.echo(f"codemill: {changed} would change", err=True)
            code = 4
        if self.publish is not None and code == 0 and result.changed_files:
            from flows.publish_command import publish_after_run

            code = publish_after_run(result.report_dir, *self.publish)
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


def print_patch(patch: Path) -> None:
    """The run's patch on stdout: its bytes as they are (`| git apply` gets them exactly), coloured
    when stdout is a terminal."""
    data = patch.read_bytes() if patch.is_file() else b""
    if sys.stdout.isatty():
        from flows.console import coloured_patch

        typer.echo(coloured_patch(data.decode("utf-8", "replace")), nl=False, color=True)
    else:
        typer.echo(data, nl=False)


def announce(result: RunResult, *, to_stderr: bool = False) -> int:
    """Print the run's outcome; its exit code. The last lines: the report to open and what to do next.
    With --diff it all goes to stderr: stdout holds the patch alone."""
    from functools import partial

    from pipeline.run.progress import counted

    t = result.totals
    counts = ", ".join(f"{n} {status}" for status, n in t.by_status.items()) or "no chunks"
    echo = partial(typer.echo, err=to_stderr) if to_stderr else typer.echo
    codemods = result.engine == "codemod"
    how = "libcst codemods, offline" if codemods else f"model {result.model}"
    echo(f"codemill: recipe {result.recipe}, engine {result.engine} ({how})")
    if result.since_note:
        echo(f"codemill: --since: {result.since_note}")
    skipped = f", {counted(result.skipped_files, 'file')} left out" if result.skipped_files else ""
    echo(f"codemill: {counts}; {counted(len(result.changed_files), 'file')} changed{skipped}")
    announce_evidence(result, echo)
    if not codemods:
        echo(f"codemill: {usage_text(result)}")
    if result.uncommitted:
        echo(
            f"codemill: {counted(len(result.uncommitted), 'file')} with uncommitted changes; the "
            "run read them as committed at the base and left your working tree alone"
        )
    announce_ending(result, echo)
    echo(f"codemill: report {result.report_dir}")
    echo(f"codemill: open {(result.report_dir / 'report.html').resolve().as_uri()}")
    for step in next_steps(result):
        echo(f"codemill: next: {step}")
    return result.exit_code


def usage_text(result: RunResult) -> str:
    """Tokens, cost and cache hits of a model run, in one phrase."""
    from pipeline.model.prices import cost_text
    from pipeline.run.progress import counted

    usage = result.totals.usage
    unreported = (
        f" ({counted(usage.unreported, 'answer')} reported no token counts)"
        if usage.unreported
        else ""
    )
    return (
        f"{counted(usage.tokens, 'token')}{unreported}, "
        f"{cost_text(usage.cost_usd, usage.unpriced)}, "
        f"{counted(result.totals.cached_rows, 'cache hit')}"
    )


def next_steps(result: RunResult) -> list[str]:
    """The commands that take a finished run's change further, each with what it does. A new way on
    (`codemill publish RUN_DIR`, once it exists) is one more line here."""
    if not result.changed_files or result.partial or result.same_as is not None:
        return []  # nothing to take further, or `announce_ending` said what to do
    if result.branch and result.commits:
        return [f"git switch {result.branch}   (the branch holds the change)"]
    run_dir = result.report_dir
    return [
        f"codemill apply {run_dir}   (commit the reviewed change on a new branch)",
        f"git apply {run_dir / 'changes.patch'}   (or put it in your working tree)",
    ]


def announce_evidence(result: RunResult, echo: Callable[..., None]) -> None:
    """The evidence of the accepted changes in one line, what was kept out unproven, and any gate that
    was turned off (loud: the changes were not tested)."""
    from pipeline.evidence.levels import counts_line
    from pipeline.run.progress import counted

    for note in result.notes:
        typer.echo(f"codemill: {note}", err=True)
    t = result.totals
    if t.evidence:
        echo(f"codemill: {counts_line(t.by_status.get('accepted', 0), t.evidence)}")
    if result.unproven:
        kept_out = counted(result.unproven, "change")
        echo(f"codemill: {kept_out} kept out as unproven (--require-evidence)")


def announce_ending(result: RunResult, echo: Callable[..., None] = typer.echo) -> None:
    """How the run ended, when that is more than "done": stops, failures, branch, push."""
    from pipeline.run.progress import counted

    if result.stop_reason:
        echo(f"codemill: stopped early: {result.stop_reason}", err=True)
    for chunk in result.provider_failed[:20]:
        echo(f"codemill: failed for provider reasons: {chunk}", err=True)
    if result.same_as is not None:
        held = f" (branch {result.same_as.branch})" if result.same_as.branch else ""
        echo(f"codemill: same change as run {result.same_as.run_id}{held}; no new branch made")
    elif result.branch and result.commits:
        pushed = " and pushed" if result.pushed else ""
        echo(f"codemill: branch {result.branch}: {counted(len(result.commits), 'commit')}{pushed}")
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
