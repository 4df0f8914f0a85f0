"""`codemill serve` and `codemill deploy`: scheduled runs, one deployment per repository (need a server).

Both take the same repositories and settings; they differ only in where the deployments go (served from
this process on a cron, or registered on a work pool), so both share `_deployments`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

Repos = Annotated[
    list[Path], typer.Argument(help="Git repositories to refactor, one deployment each.")
]
RecipeOption = Annotated[
    str | None, typer.Option("--recipe", help="Built-in recipe name or path to a recipe .md.")
]
SinceOption = Annotated[
    str | None,
    typer.Option("--since", help="last-run or a git ref: only files changed since then."),
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Reports only; no branch.")]
Push = Annotated[str | None, typer.Option("--push", help="Remote to push each branch to.")]
Sets = Annotated[
    list[str] | None, typer.Option("--set", help="Any run setting as KEY=VALUE (repeatable).")
]


def _deployments(
    command: str,
    repos: list[Path],
    recipe: str | None,
    since: str | None,
    dry_run: bool,
    push: str | None,
    sets: list[str] | None,
    **where: Any,
) -> list[RunnerDeployment]:
    """The checked deployments for `serve` or `deploy`: a server answers, every repository is usable."""
    from flows.orchestrator import quiet_prefect

    quiet_prefect()
    from flows import schedule

    schedule.require_server(command)
    settings: dict[str, Any] = schedule.parse_sets(sets or [])
    named = {"recipe": recipe, "dry_run": dry_run or None, "push": push}
    settings.update({key: value for key, value in named.items() if value is not None})
    return schedule.deployments_for(repos, settings, since=since, **where)


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

    deployments = _deployments("serve", repos, recipe, since, dry_run, push, sets, cron=cron)
    for deployment in deployments:
        typer.echo(f"codemill: serving {deployment.name} on {cron!r}")
    schedule.serve_deployments(deployments)


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

    deployments = _deployments(
        "deploy", repos, recipe, since, dry_run, push, sets, cron=cron, work_pool=pool
    )
    ids = schedule.deploy_to_pool(deployments, pool)
    for deployment, ident in zip(deployments, ids, strict=True):
        typer.echo(f"codemill: deployed codemill-scheduled/{deployment.name} ({ident}) on {pool}")
    typer.echo(f"codemill: start a worker with `prefect worker start --pool {pool}`")
