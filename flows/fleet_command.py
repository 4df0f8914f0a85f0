"""The `codemill fleet` command: its options, its output, its exit code. Prefect loads only when it runs.

Errors end in the command group (flows/cli.py) like every command's: one line and the error's exit code.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flows.options import FLEET, Sets, given, setting_options

if TYPE_CHECKING:
    from pipeline.report.fleet import FleetRun

FleetFile = Annotated[Path, typer.Argument(help="The fleet file (fleet.toml).")]
Pool = Annotated[str, typer.Option(help="Prefect work pool the repositories run on.")]
InFlight = Annotated[int, typer.Option(help="Repositories (or shards) running at once.")]
FleetConcurrency = Annotated[
    int, typer.Option(help="Model requests in flight over every worker (a global limit).")
]
LimitName = Annotated[str, typer.Option(help="Name of that Prefect global concurrency limit.")]
MaxCost = Annotated[float | None, typer.Option(help="Spend limit for the whole fleet (USD).")]
ShardBy = Annotated[str, typer.Option(help="none | paths: split repositories.")]
Shards = Annotated[int, typer.Option(help="Shards per repository with --shard-by paths.")]
Force = Annotated[bool, typer.Option("--force", help="Run unchanged repositories too.")]
Fresh = Annotated[bool, typer.Option("--fresh", help="Do not resume a stopped fleet run.")]
FailOnChanges = Annotated[
    bool, typer.Option("--fail-on-changes", help="Exit 4 when any repository changes.")
]
ReportDir = Annotated[Path | None, typer.Option(help="Where fleet reports go.")]
ReposPerRun = Annotated[
    str,
    typer.Option(
        help="Repositories per child flow run: a count, or auto (small ones packed by size).",
        metavar="K|auto",
    ),
]
CacheDir = Annotated[
    Path | None, typer.Option(help="The workers' repository cache (default: each their own).")
]


@setting_options(FLEET, required={"recipe"})
def fleet(
    fleet_file: FleetFile,
    pool: Pool,
    max_repos_in_flight: InFlight = 4,
    fleet_concurrency: FleetConcurrency = 16,
    limit_name: LimitName = "codemill-provider",
    max_cost: MaxCost = None,
    shard_by: ShardBy = "none",
    shards: Shards = 2,
    sets: Sets = None,
    force: Force = False,
    fresh: Fresh = False,
    fail_on_changes: FailOnChanges = False,
    report_dir: ReportDir = None,
    cache_dir: CacheDir = None,
    repos_per_run: ReposPerRun = "1",
    **settings: Any,
) -> None:
    """Run one recipe over every repository of a fleet file, on a Prefect work pool."""
    from flows import schedule
    from flows.fleet_setup import FleetRequest, run_fleet

    chosen = given(settings)
    recipe, since = chosen.pop("recipe"), chosen.pop("since")
    overrides: dict[str, object] = dict(schedule.parse_sets(sets or []))
    overrides.update({key: value for key, value in chosen.items() if value is not None})
    request = FleetRequest(
        fleet_file=fleet_file, recipe=recipe, pool=pool, overrides=overrides,
        max_repos_in_flight=max_repos_in_flight, fleet_concurrency=fleet_concurrency,
        limit=limit_name, max_cost=max_cost, shard_by=shard_by, shards=shards, since=since,
        force=force, fresh=fresh, fail_on_changes=fail_on_changes, report_dir=report_dir,
        cache_dir=cache_dir, repos_per_run=repos_per_run,
    )  # fmt: skip
    run, where = run_fleet(request)
    raise typer.Exit(announce(run, where))


def announce(run: FleetRun, where: Path) -> int:
    """One line per repository, the totals and where the fleet report is; the fleet's exit code."""
    for row in run.results:
        branch = f", branch {row.branch}{' pushed' if row.pushed else ''}" if row.branch else ""
        why = f": {row.reason}" if row.reason else ""
        typer.echo(f"codemill: {row.name}: {row.status}{why}{branch}")
        for pull in row.pull_requests:
            typer.echo(f"codemill: {row.name}: pull request {pull}")
    statuses = ", ".join(f"{sum(1 for r in run.results if r.status == s)} {s}"
                         for s in dict.fromkeys(r.status for r in run.results))  # fmt: skip
    typer.echo(f"codemill: fleet run {run.fleet_run}: {len(run.results)} repositories: {statuses}")
    typer.echo(f"codemill: fleet report {where}")
    return int(run.exit_code)
