"""A finished run, reviewed: its report rendered again, or its changes committed without the model.

Both check the ledger's integrity record and prove every accepted chunk again (`pipeline.run.replay`).
`apply` commits through the run's own apply step, and refuses a partial run (interrupted, stopped early,
or killed with no end record) unless asked with --partial: half a change set must never land unnoticed.
A reviewer's selection (`pipeline.run.selection`) lands only the chunks kept, gated again as one set, on
a branch of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pipeline import repository
from pipeline.config import RunConfig, load_config
from pipeline.records.ledger import Ledger, RunMeta
from pipeline.run import landing
from pipeline.run.landing import ApplyRequest
from pipeline.run.replay import Changes, Replay, ReplayError, read_intact, replay
from pipeline.run.selection import SelectedChanges, Selection, branch_suffix, selected_changes
from pipeline.run.steps import CODEMOD_MODEL, repo_root


def replayed(run_dir: Path, repo: Path) -> tuple[Path, Replay]:
    """The repository root and the run rebuilt from its ledger on its base commit, every accepted
    chunk proven again; refused when the ledger is not as its run wrote it."""
    root = repo_root([repo])
    return root, replay(root, read_intact(run_dir))


def partial_reason(meta: RunMeta) -> str | None:
    """Why the run's ledger holds only part of its work, if it does."""
    if meta.finished is None:
        return "has no end record (it was killed or crashed)"
    if meta.outcome == "interrupted":
        return "was interrupted"
    if meta.outcome == "stopped":
        return f"stopped early ({meta.stop_reason})"
    return None


def refuse_partial(ledger: Ledger, partial: bool, doing: str = "commit them") -> None:
    """ReplayError when the run holds only part of its work and --partial was not given; `doing` says
    what --partial would let the command do."""
    why = partial_reason(ledger.meta)
    if why is not None and not partial:
        raise ReplayError(
            f"run {ledger.meta.run_id} {why}: its changes are partial; "
            f"pass --partial to {doing} anyway"
        )


def _request(meta: RunMeta, branch: str, base_commit: str, changes: Changes) -> ApplyRequest:
    after = {path: new for path, (_, new) in changes.items()}
    return ApplyRequest(
        branch, base_commit, after, meta.recipe, meta.model or CODEMOD_MODEL, meta.run_id
    )


def apply_reviewed(
    run_dir: Path,
    repo: Path,
    settings: Mapping[str, object],
    *,
    branch: str | None,
    partial: bool,
    env: Mapping[str, str],
) -> repository.CommitResult | None:
    """Commit the run's accepted changes on a new branch; None when it accepted none."""
    root, again = replayed(run_dir, repo)
    meta = again.ledger.meta
    refuse_partial(again.ledger, partial)
    if not again.changes:
        return None
    name = branch or repository.run_branch_name(meta.recipe, meta.run_id)
    request = _request(meta, name, again.base_commit, again.changes)
    return landing.apply(load_config(root, settings, env), request)


def selected_run(
    run_dir: Path,
    repo: Path,
    selection: Selection,
    settings: Mapping[str, object],
    *,
    partial: bool,
    env: Mapping[str, str],
) -> tuple[RunConfig, SelectedChanges]:
    """The run in `run_dir` narrowed to what the selection keeps, proven and gated again as one set,
    and the config it was gated under: what `apply --select` commits and `publish --select` pushes."""
    root = repo_root([repo])
    ledger = read_intact(run_dir)
    refuse_partial(ledger, partial)
    config = load_config(root, settings, env)
    return config, selected_changes(root, ledger, selection, config)


def apply_selected(
    run_dir: Path,
    repo: Path,
    settings: Mapping[str, object],
    selection: Selection,
    *,
    branch: str | None,
    partial: bool,
    env: Mapping[str, str],
) -> tuple[SelectedChanges, repository.CommitResult | None]:
    """Commit only the chunks the selection keeps on a branch named after the run and the selection
    (never the run's own); no commit when nothing is kept."""
    config, selected = selected_run(run_dir, repo, selection, settings, partial=partial, env=env)
    if not selected.changes:
        return selected, None
    meta = selected.ledger.meta
    name = branch or repository.run_branch_name(meta.recipe, meta.run_id) + branch_suffix(
        selected.kept
    )
    request = _request(meta, name, selected.base_commit, selected.changes)
    return selected, landing.apply(config, request)
