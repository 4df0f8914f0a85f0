"""`codemill serve` and `codemill deploy`: scheduled runs, one deployment per repository (need a server).

Both take the same repositories and settings; they differ only in where the deployments go (served from
this process on a cron, or registered on a work pool), so both share `_deployments`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flows.options import SCHEDULE, Sets, given, setting_options

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

Repos = Annotated[
    list[Path], typer.Argument(help="Git repositories to refactor, one deployment each.")
]


def _deployments(
    command: str, repos: list[Path], named: dict[str, Any], sets: list[str] | None, **where: Any
) -> list[RunnerDeployment]:
    """The checked deployments for `serve` or `deploy`: a server answers, every repository is usable.
    `named` are the setting options (flows.options.SCHEDULE) as given; they win over `--set`."""
    from flows.orchestrator import quiet_prefect

    quiet_prefect()
    from flows import schedule

    schedule.require_server(command)
    settings: dict[str, Any] = schedule.parse_sets(sets or [])
    chosen = given(named)
    since = chosen.pop("since")
    settings.update({key: value for key, value in chosen.items() if value is not None})
    return schedule.deployments_for(repos, settings, since=since, **where)


@setting_options(SCHEDULE)
def serve(
    repos: Repos,
    cron: Annotated[str, typer.Option(help='Cron schedule, e.g. "0 3 * * 1".')],
    sets: Sets = None,
    **settings: Any,
) -> None:
    """Serve scheduled runs from this process until interrupted (needs a Prefect server)."""
    from flows import schedule

    deployments = _deployments("serve", repos, settings, sets, cron=cron)
    for deployment in deployments:
        typer.echo(f"codemill: serving {deployment.name} on {cron!r}")
    schedule.serve_deployments(deployments)


@setting_options(SCHEDULE)
def deploy(
    repos: Repos,
    pool: Annotated[str, typer.Option(help="Prefect work pool to run on (e.g. a process pool).")],
    cron: Annotated[str | None, typer.Option(help="Cron schedule; none for on-demand.")] = None,
    sets: Sets = None,
    **settings: Any,
) -> None:
    """Register deployments on a work pool; a worker (`prefect worker start --pool P`) runs them."""
    from flows import schedule

    deployments = _deployments("deploy", repos, settings, sets, cron=cron, work_pool=pool)
    ids = schedule.deploy_to_pool(deployments, pool)
    for deployment, ident in zip(deployments, ids, strict=True):
        typer.echo(f"codemill: deployed codemill-scheduled/{deployment.name} ({ident}) on {pool}")
    typer.echo(f"codemill: start a worker with `prefect worker start --pool {pool}`")
