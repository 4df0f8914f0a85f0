"""The `codemill fleet` command: its options, its output, its exit code. Prefect loads only when it runs."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Annotated

import typer

from pipeline.errors import CodemillError, ExitCode


def fleet(
    fleet_file: Annotated[Path, typer.Argument(help="The fleet file (fleet.toml).")],
    recipe: Annotated[str, typer.Option(help="Built-in recipe name or path to a recipe .md.")],
    pool: Annotated[str, typer.Option(help="Prefect work pool the repositories run on.")],
    max_repos_in_flight: Annotated[
        int, typer.Option(help="Repositories (or shards) running at once.")
    ] = 4,
    fleet_concurrency: Annotated[
        int, typer.Option(help="Model requests in flight over every worker (a global limit).")
    ] = 16,
    limit_name: Annotated[
        str, typer.Option(help="Name of that Prefect global concurrency limit.")
    ] = "codemill-provider",
    max_cost: Annotated[
        float | None, typer.Option(help="Spend limit for the whole fleet (USD).")
    ] = None,
    shard_by: Annotated[str, typer.Option(help="none | paths: split repositories.")] = "none",
    shards: Annotated[int, typer.Option(help="Shards per repository with --shard-by paths.")] = 2,
    since: Annotated[
        str | None, typer.Option(help="last-run or a git ref, per repository.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Reports only; no branch.")] = False,
    push: Annotated[str | None, typer.Option(help="Remote to push each branch to.")] = None,
    sets: Annotated[
        list[str] | None, typer.Option("--set", help="Any run setting as KEY=VALUE.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Run unchanged repositories too.")] = False,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Do not resume a stopped fleet run.")
    ] = False,
    fail_on_changes: Annotated[
        bool, typer.Option("--fail-on-changes", help="Exit 4 when any repository changes.")
    ] = False,
    report_dir: Annotated[Path | None, typer.Option(help="Where fleet reports go.")] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="The workers' repository cache (default: each their own).")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Run one recipe over every repository of a fleet file, on a Prefect work pool."""
    from flows import schedule
    from flows.fleet_setup import FleetRequest, run_fleet

    try:
        overrides: dict[str, object] = dict(schedule.parse_sets(sets or []))
        if dry_run:
            overrides["dry_run"] = True
        if push is not None:
            overrides["push"] = push
        request = FleetRequest(
            fleet_file=fleet_file,
            recipe=recipe,
            pool=pool,
            overrides=overrides,
            max_repos_in_flight=max_repos_in_flight,
            fleet_concurrency=fleet_concurrency,
            limit=limit_name,
            max_cost=max_cost,
            shard_by=shard_by,
            shards=shards,
            since=since,
            force=force,
            fresh=fresh,
            fail_on_changes=fail_on_changes,
            report_dir=report_dir,
            cache_dir=cache_dir,
        )
        run, where = run_fleet(request)
    except CodemillError as exc:
        typer.echo(f"codemill: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except Exception as exc:
        if debug:
            traceback.print_exc()
        typer.echo(f"codemill: internal error: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(int(ExitCode.INTERNAL)) from None
    for row in run.results:
        branch = f", branch {row.branch}{' pushed' if row.pushed else ''}" if row.branch else ""
        why = f": {row.reason}" if row.reason else ""
        typer.echo(f"codemill: {row.name}: {row.status}{why}{branch}")
    statuses = ", ".join(f"{sum(1 for r in run.results if r.status == s)} {s}"
                         for s in dict.fromkeys(r.status for r in run.results))  # fmt: skip
    typer.echo(f"codemill: fleet run {run.fleet_run}: {len(run.results)} repositories: {statuses}")
    typer.echo(f"codemill: fleet report {where}")
    raise typer.Exit(run.exit_code)
