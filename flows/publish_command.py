"""`codemill publish RUN_DIR` and the publish step of `run --publish`: a reviewed run's change pushed and
proposed as pull requests (GitHub or GitLab), each one opened once and updated after; the token only from
the environment (GITHUB_TOKEN, GITLAB_TOKEN or --forge-token-env)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flows.exits import fail
from flows.options import (
    PUBLISH,
    ExcludeOption,
    SelectOption,
    given,
    kept_line,
    selection_of,
    setting_options,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pipeline.publish.publishing import PublishOutcome

RunDir = Annotated[Path, typer.Argument(help="A run's report directory (it holds ledger.jsonl).")]
RepoOption = Annotated[
    Path, typer.Option("--repo", help="The run's repository (default: the current one).")
]
Partial = Annotated[
    bool, typer.Option("--partial", help="Publish a run that was interrupted or stopped early.")
]
SAID = {
    "opened": "opened",
    "updated": "updated",
    "unchanged": "unchanged (already up to date)",
}


@setting_options(PUBLISH)
def publish(
    run_dir: RunDir,
    repo: RepoOption = Path("."),
    partial: Partial = False,
    select: SelectOption = None,
    exclude: ExcludeOption = None,
    **settings: Any,
) -> None:
    """Push a reviewed run's change and open (or update) its pull request, proving it again first;
    with a selection, only what the reviewer kept, gated again as one set."""
    from pipeline.publish.publishing import publish_changes, publish_run
    from pipeline.run.reviewed import selected_run

    selection = selection_of(select, exclude)
    if selection is None:
        announce(publish_run(run_dir, repo, given(settings), os.environ, partial=partial))
        return
    config, selected = selected_run(
        run_dir, repo, selection, given(settings), partial=partial, env=os.environ
    )
    typer.echo(kept_line(selected))
    announce(publish_changes(run_dir, selected, config, os.environ))


def publish_after_run(report_dir: Path, repo: Path, settings: Mapping[str, object]) -> int:
    """`run --publish`: publish the run that just ended well; the exit code (a forge error's own)."""
    from pipeline.errors import CodemillError
    from pipeline.publish.publishing import publish_run

    try:
        announce(publish_run(report_dir, repo, settings, os.environ))
    except CodemillError as exc:
        return fail(str(exc), int(exc.exit_code))
    return 0


def announce(outcome: PublishOutcome) -> None:
    """One line per pull request: what happened to it, its branch and its URL; then the notes."""
    from pipeline.run.progress import counted

    if not outcome.groups:
        typer.echo(f"codemill: run {outcome.run_id} accepted no change; nothing to publish")
    for group in outcome.groups:
        files = counted(len(group.files), "file")
        if group.action == "diverged":
            typer.echo(
                f"codemill: diverged: branch {group.branch} holds commits codemill did not push; "
                "left alone (merge or close its pull request, or delete the branch, to publish again)",
                err=True,
            )
        elif group.action == "held":
            typer.echo(
                f"codemill: held: branch {group.branch} ({files}) not published: this repository "
                "has --max-open-prs codemill pull requests open already",
                err=True,
            )
        else:
            typer.echo(f"codemill: pull request {SAID[group.action]}: {group.url} ({files}, "
                       f"branch {group.branch})")  # fmt: skip
    for note in outcome.notes:
        typer.echo(f"codemill: note: {note}", err=True)
