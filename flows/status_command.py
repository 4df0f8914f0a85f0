"""`codemill status [RUN_DIR | FLEET_FILE]`: every pull request codemill published there read again
from its forge, one line each, stored as a snapshot in the state directory, and drawn as a burndown in
`pulls.html`; with a Prefect API configured, the same table as a Prefect artifact."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

Target = Annotated[
    Path | None,
    typer.Argument(help="A run's report directory, a fleet file, or nothing: every one on record."),
]
Out = Annotated[
    Path | None, typer.Option(help="Where pulls.html goes (default: <state dir>/publish).")
]
TokenEnv = Annotated[
    str | None, typer.Option(help="Variable holding the forge token (named like a secret).")
]


def status(target: Target = None, out: Out = None, forge_token_env: TokenEnv = None) -> None:
    """Read each published pull request's state, checks, reviews and mergeability; draw the burndown."""
    from pipeline.config import check_setting
    from pipeline.paths import state_dir
    from pipeline.publish.records import snapshots
    from pipeline.publish.status import read_status, records_for, refresh_fleet_report
    from pipeline.report.pulls import write_pulls_html

    token_env = check_setting("forge_token_env", forge_token_env, "--forge-token-env")
    records = records_for(target, os.environ)
    if not records:
        typer.echo("codemill: no pull request on record there; publish a run first")
        return
    for s in read_status(records, os.environ, token_env):
        reviews = ", ".join(f"{n} {kind}" for kind, n in s["reviews"].items()) or "no reviews"
        typer.echo(f"codemill: {s['repo']} #{s['number']} {s['state']}, checks {s['checks']}, "
                   f"{reviews}, mergeable {s['mergeable']}: {s['url']}")  # fmt: skip
    wanted = {(r.repo, r.number) for r in records}
    every = [s for s in snapshots(os.environ) if (s["repo"], s["number"]) in wanted]
    title = str(target) if target is not None else "every pull request"
    page = write_pulls_html(out or state_dir(os.environ) / "publish", every, title)
    typer.echo(f"codemill: burndown {page}")
    if target is not None and target.is_file():
        fleet_page = refresh_fleet_report(target, every, os.environ)
        if fleet_page is not None:
            typer.echo(f"codemill: fleet report {fleet_page}")
    _artifact(every, title)


def _artifact(snapshots: list[dict[str, Any]], title: str) -> None:
    """The table as a Markdown artifact when a Prefect API is configured (a convenience: never fatal)."""
    from flows.orchestrator import configured_api

    if configured_api(os.environ) is None:
        return
    import asyncio
    import contextlib

    from prefect.artifacts import acreate_markdown_artifact

    from pipeline.report.pulls import pulls_markdown

    with contextlib.suppress(Exception):
        asyncio.run(acreate_markdown_artifact(pulls_markdown(snapshots, title), key="codemill-pulls",
                                              description="codemill status"))  # fmt: skip
