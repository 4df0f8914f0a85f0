"""The `codemill` command line (Typer): the top floor; it only parses, calls the flows and picks exit codes.

Exit codes: 0 done, 1 internal failure, 2 usage or configuration error, 3 fatal provider error,
4 changes found with --fail-on-changes.
"""

from __future__ import annotations

import asyncio
import os
import sys
import traceback
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flows import fleet_command

if TYPE_CHECKING:
    from flows.refactor import RunResult

from pipeline import repository
from pipeline.config import ConfigError, load_config
from pipeline.gates.scratch import GateError
from pipeline.model.errors import FatalModelError
from pipeline.model.prices import cost_text
from pipeline.paths import ReportError
from pipeline.recipes.loading import RecipeError, builtin_recipes, load_recipe
from pipeline.report import ci
from pipeline.report.directory import write_report_dir
from pipeline.run.ledger import LedgerError
from pipeline.run.replay import Replay, ReplayError, read_ledger, replay
from pipeline.run.state import LAST_RUN, StateError
from pipeline.run.steps import CODEMOD_MODEL
from pipeline.source.files import SourceError


class Exit(IntEnum):
    """The documented exit codes."""

    DONE = 0
    INTERNAL = 1
    USAGE = 2
    PROVIDER = 3
    CHANGES = 4


USAGE_ERRORS = (
    ConfigError,
    RecipeError,
    SourceError,
    repository.GitOpsError,
    LedgerError,
    ReportError,
    StateError,
    ReplayError,
    GateError,
)

app = typer.Typer(
    name="codemill",
    help="Refactor Python repositories in batch with a language model (or libcst codemods offline).",
    epilog=(
        "Exit codes: 0 done, 1 internal failure, 2 usage or configuration error, "
        "3 fatal provider error, 4 changes found with --fail-on-changes."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(message: str, code: Exit) -> typer.Exit:
    """Print one clear sentence to stderr and exit with `code`."""
    typer.echo(f"codemill: {message}", err=True)
    return typer.Exit(int(code))


def repo_root(paths: list[Path]) -> Path:
    """The working tree of the repository holding the first path."""
    repo = repository.open_repository(paths[0] if paths else Path.cwd())
    return Path(str(repo.working_tree_dir))


@app.command()
def run(
    paths: Annotated[
        list[Path], typer.Argument(help="Files or directories inside one git repository.")
    ],
    recipe: Annotated[
        str | None, typer.Option(help="Built-in recipe name or path to a recipe .md.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Write a report only; no branch.")
    ] = False,
    engine: Annotated[str | None, typer.Option(help="auto | llm | codemod.")] = None,
    model: Annotated[str | None, typer.Option(help="Model id sent to the endpoint.")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible base URL.")] = None,
    api_key_env: Annotated[str | None, typer.Option(help="Variable holding the API key.")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Requests in flight, run-wide.")] = None,
    rpm: Annotated[int | None, typer.Option(help="Requests-per-minute cap.")] = None,
    tpm: Annotated[int | None, typer.Option(help="Tokens-per-minute cap.")] = None,
    include: Annotated[list[str] | None, typer.Option(help="Glob of paths to include.")] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="Glob of paths to exclude.")] = None,
    branch: Annotated[str | None, typer.Option(help="Branch to create.")] = None,
    base: Annotated[str | None, typer.Option(help="Commit to start from (default HEAD).")] = None,
    commit_per: Annotated[str | None, typer.Option(help="file | run.")] = None,
    push: Annotated[str | None, typer.Option(help="Remote to push the branch to.")] = None,
    force_branch: Annotated[bool, typer.Option("--force-branch")] = False,
    report_dir: Annotated[Path | None, typer.Option(help="Where run reports go.")] = None,
    max_cost: Annotated[
        float | None, typer.Option(help="Stop sending at this spend (USD).")
    ] = None,
    repair_turns: Annotated[
        int | None, typer.Option(help="Repair turns after a rejection.")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache")] = False,
    refresh_cache: Annotated[bool, typer.Option("--refresh-cache")] = False,
    target_python: Annotated[str | None, typer.Option(help="X.Y the code must run on.")] = None,
    stream: Annotated[bool, typer.Option("--stream", help="Stream answers (SSE).")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    since: Annotated[
        str | None,
        typer.Option(help="last-run or a git ref: only files changed since then."),
    ] = None,
    fail_on_changes: Annotated[
        bool, typer.Option("--fail-on-changes", help="Exit 4 when the run finds changes (CI).")
    ] = False,
    junit: Annotated[Path | None, typer.Option(help="Also write the JUnit report here.")] = None,
    test_cmd: Annotated[
        str | None, typer.Option(help="The repository's test command: changes that break it go.")
    ] = None,
    test_timeout: Annotated[float | None, typer.Option(help="Seconds per test run.")] = None,
    allow_failing_base: Annotated[
        bool, typer.Option("--allow-failing-base", help="Gate even if the base fails its tests.")
    ] = False,
    import_check: Annotated[
        bool | None,
        typer.Option(
            "--import-check/--no-import-check",
            help="Import each changed module alone (default: on for codemods, off for the model).",
        ),
    ] = None,
    estimate: Annotated[
        bool,
        typer.Option("--estimate", help="Print the cost forecast and stop; nothing is sent."),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Run even when the forecast is over --max-cost.")
    ] = False,
    price_input: Annotated[
        float | None, typer.Option(help="USD per million input tokens of the model.")
    ] = None,
    price_output: Annotated[
        float | None, typer.Option(help="USD per million output tokens of the model.")
    ] = None,
    context_tokens: Annotated[
        int | None, typer.Option(help="The model's context window in tokens.")
    ] = None,
    gate_repairs: Annotated[
        int | None, typer.Option(help="Model turns for a chunk a gate dropped (default 1).")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Refactor PATHS with a recipe: a new branch, or with --dry-run a report only."""
    cli: dict[str, Any] = {
        "recipe": recipe,
        "engine": engine,
        "model": model,
        "base_url": base_url,
        "api_key_env": api_key_env,
        "concurrency": concurrency,
        "rpm": rpm,
        "tpm": tpm,
        "include": include or None,
        "exclude": exclude or None,
        "branch": branch,
        "base": base,
        "commit_per": commit_per,
        "push": push,
        "report_dir": report_dir,
        "max_cost": max_cost,
        "repair_turns": repair_turns,
        "target_python": target_python,
        "dry_run": dry_run or None,
        "force_branch": force_branch or None,
        "no_cache": no_cache or None,
        "refresh_cache": refresh_cache or None,
        "stream": stream or None,
        "test_cmd": test_cmd,
        "test_timeout": test_timeout,
        "allow_failing_base": allow_failing_base or None,
        "import_check": import_check,
        "force": force or None,
        "price_input": price_input,
        "price_output": price_output,
        "context_tokens": context_tokens,
        "gate_repairs": gate_repairs,
    }
    try:
        root = repo_root(paths)
        config = load_config(root, cli, os.environ)
        if estimate:
            from pipeline.run.estimate import forecast_lines  # the engines load only when needed

            for line in forecast_lines(config, [str(p) for p in paths], since, os.environ):
                typer.echo(f"codemill: {line}")
            return
        from flows.refactor import new_run_id, refactor_repo  # Prefect loads only for flow runs

        result = asyncio.run(
            refactor_repo(
                config,
                [str(p) for p in paths],
                run_id=new_run_id(),
                show_progress=progress,
                since=since,
            )
        )
        if junit is not None:
            ci.copy_junit(result.report_dir, junit)
        ci.append_step_summary(result.report_dir, os.environ)
    except USAGE_ERRORS as exc:
        raise fail(str(exc), Exit.USAGE) from None
    except FatalModelError as exc:
        raise fail(str(exc), Exit.PROVIDER) from None
    except Exception as exc:  # an internal failure: one line, the traceback only with --debug
        if debug:
            traceback.print_exc()
        raise fail(f"internal error: {type(exc).__name__}: {exc}", Exit.INTERNAL) from None
    code = announce(result)
    if code is Exit.DONE and fail_on_changes and result.changed_files:
        typer.echo(f"codemill: {len(result.changed_files)} files would change", err=True)
        code = Exit.CHANGES
    raise typer.Exit(int(code))


def announce(result: RunResult) -> Exit:
    """Print the run's outcome and return its exit code."""
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
    if result.stop_reason:
        echo(f"codemill: stopped early: {result.stop_reason}", err=True)
    if result.same_as is not None:
        held = f" (branch {result.same_as.branch})" if result.same_as.branch else ""
        echo(f"codemill: same change as run {result.same_as.run_id}{held}; no new branch made")
    elif result.branch and result.commits:
        pushed = " and pushed" if result.pushed else ""
        echo(f"codemill: branch {result.branch}: {len(result.commits)} commits{pushed}")
    elif result.branch and result.fatal:
        echo(
            "codemill: no branch was made because the run stopped on a provider error; "
            f"`codemill apply {result.report_dir}` makes it from the report",
            err=True,
        )
    elif result.branch:
        echo("codemill: nothing to commit, no branch made")
    echo(f"codemill: report {result.report_dir}")
    return Exit.PROVIDER if result.fatal else Exit.DONE


@app.command()
def recipes() -> None:
    """List the built-in recipes."""
    for recipe in builtin_recipes():
        engines = "llm, codemod" if recipe.codemods else "llm"
        typer.echo(f"{recipe.name:<20} {recipe.description}  [{engines}]")


@app.command("show-recipe")
def show_recipe(name: str) -> None:
    """Print where a recipe comes from and what it allows."""
    try:
        recipe = load_recipe(name)
    except RecipeError as exc:
        raise fail(str(exc), Exit.USAGE) from None
    allowed = [name for name, on in vars(recipe.allowances).items() if on] or ["body changes only"]
    select = recipe.selectors
    typer.echo(f"{recipe.name}: {recipe.description}")
    typer.echo(f"  source:    {recipe.source}")
    typer.echo(f"  kinds:     {', '.join(sorted(select.kinds))}")
    typer.echo(
        f"  selectors: {', '.join([*select.matchers, *(r.pattern for r in select.regex)]) or 'all'}"
    )
    typer.echo(f"  allows:    {', '.join(allowed)}")
    typer.echo(f"  model:     {recipe.params}")
    typer.echo(f"  codemods:  {', '.join(recipe.codemods) or 'none (needs a model)'}")


RunDir = Annotated[Path, typer.Argument(help="A run's report directory (it holds ledger.jsonl).")]
RepoOption = Annotated[
    Path, typer.Option("--repo", help="The run's repository (default: the current one).")
]


def _replayed(run_dir: Path, repo: Path) -> tuple[Path, Replay]:
    """The repository root and the run rebuilt from its ledger on its base commit."""
    root = repo_root([repo])
    config = load_config(root, {}, os.environ)
    ledger = read_ledger(run_dir)
    return root, replay(root, ledger, ledger.meta.budget or config.budget)


@app.command()
def report(
    run_dir: RunDir,
    repo: RepoOption = Path("."),
    out: Annotated[Path | None, typer.Option(help="Where to write (default: RUN_DIR).")] = None,
) -> None:
    """Render a run's reports again from its ledger and base commit."""
    try:
        _, again = _replayed(run_dir, repo)
        paths = write_report_dir(out or run_dir, again.ledger, again.changes)
    except USAGE_ERRORS as exc:
        raise fail(str(exc), Exit.USAGE) from None
    typer.echo(f"codemill: {len(again.changes)} files changed; report {paths.directory}")


@app.command()
def apply(
    run_dir: RunDir,
    repo: RepoOption = Path("."),
    branch: Annotated[str | None, typer.Option(help="Branch to create.")] = None,
    push: Annotated[str | None, typer.Option(help="Remote to push the branch to.")] = None,
    force_branch: Annotated[bool, typer.Option("--force-branch")] = False,
    commit_per: Annotated[str | None, typer.Option(help="file | run.")] = None,
) -> None:
    """Commit a reviewed run's changes on a new branch without asking the model again."""
    try:
        root, again = _replayed(run_dir, repo)
        meta = again.ledger.meta
        if not again.changes:
            typer.echo(f"codemill: run {meta.run_id} accepted no change; no branch made")
            return
        config = load_config(root, {"commit_per": commit_per}, os.environ)
        name = branch or repository.default_branch_name(meta.recipe, datetime.now(UTC))
        done = repository.commit_changes(
            repository.open_repository(root),
            base=again.base_commit,
            branch=name,
            changes={path: after for path, (_, after) in again.changes.items()},
            recipe=meta.recipe,
            model=meta.model or CODEMOD_MODEL,
            run_id=meta.run_id,
            commit_per=config.commit_per,
            force_branch=force_branch,
            push=push,
        )
    except USAGE_ERRORS as exc:
        raise fail(str(exc), Exit.USAGE) from None
    pushed = " and pushed" if done.pushed else ""
    typer.echo(f"codemill: branch {done.branch}: {len(done.commits)} commits{pushed}")


Repos = Annotated[
    list[Path], typer.Argument(help="Git repositories to refactor, one deployment each.")
]
RecipeOption = Annotated[
    str | None, typer.Option("--recipe", help="Built-in recipe name or path to a recipe .md.")
]
SinceOption = Annotated[
    str | None,
    typer.Option("--since", help=f"{LAST_RUN} or a git ref: only files changed since then."),
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Reports only; no branch.")]
Push = Annotated[str | None, typer.Option("--push", help="Remote to push each branch to.")]
Sets = Annotated[
    list[str] | None, typer.Option("--set", help="Any run setting as KEY=VALUE (repeatable).")
]


def scheduled_settings(
    recipe: str | None, dry_run: bool, push: str | None, sets: list[str] | None
) -> dict[str, Any]:
    """The settings a deployment carries: --set pairs, then the named options."""
    from flows import schedule

    settings: dict[str, Any] = schedule.parse_sets(sets or [])
    if recipe is not None:
        settings["recipe"] = recipe
    if dry_run:
        settings["dry_run"] = True
    if push is not None:
        settings["push"] = push
    return settings


@app.command()
def serve(
    repos: Repos,
    cron: Annotated[str, typer.Option(help='Cron schedule, e.g. "0 3 * * 1".')],
    recipe: RecipeOption = None,
    since: SinceOption = None,
    dry_run: DryRun = False,
    push: Push = None,
    sets: Sets = None,
) -> None:
    """Serve scheduled runs from this process until interrupted (needs a Prefect server)."""
    from flows import schedule

    try:
        schedule.require_server("serve")
        settings = scheduled_settings(recipe, dry_run, push, sets)
        deployments = schedule.deployments_for(repos, settings, since=since, cron=cron)
    except (schedule.ScheduleError, *USAGE_ERRORS) as exc:
        raise fail(str(exc), Exit.USAGE) from None
    for deployment in deployments:
        typer.echo(f"codemill: serving {deployment.name} on {cron!r}")
    schedule.serve_deployments(deployments)


@app.command()
def deploy(
    repos: Repos,
    pool: Annotated[str, typer.Option(help="Prefect work pool to run on (e.g. a process pool).")],
    cron: Annotated[str | None, typer.Option(help="Cron schedule; none for on-demand.")] = None,
    recipe: RecipeOption = None,
    since: SinceOption = None,
    dry_run: DryRun = False,
    push: Push = None,
    sets: Sets = None,
) -> None:
    """Register deployments on a work pool; a worker (`prefect worker start --pool P`) runs them."""
    from flows import schedule

    try:
        schedule.require_server("deploy")
        settings = scheduled_settings(recipe, dry_run, push, sets)
        deployments = schedule.deployments_for(
            repos, settings, since=since, cron=cron, work_pool=pool
        )
        ids = schedule.deploy_to_pool(deployments, pool)
    except (schedule.ScheduleError, *USAGE_ERRORS) as exc:
        raise fail(str(exc), Exit.USAGE) from None
    for deployment, ident in zip(deployments, ids, strict=True):
        typer.echo(f"codemill: deployed codemill-scheduled/{deployment.name} ({ident}) on {pool}")
    typer.echo(f"codemill: start a worker with `prefect worker start --pool {pool}`")


app.command("fleet")(fleet_command.fleet)


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("codemill: interrupted", err=True)
        sys.exit(130)
