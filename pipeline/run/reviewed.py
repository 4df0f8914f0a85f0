"""A finished run, reviewed: its report rendered again, or its changes committed without the model.

Both check the ledger's integrity record and prove every accepted chunk again (`pipeline.run.replay`).
`apply` commits through the run's own apply step, and refuses a partial run (interrupted, stopped early,
or killed with no end record) unless asked with --partial: half a change set must never land unnoticed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pipeline import repository
from pipeline.config import load_config
from pipeline.records.ledger import RunMeta
from pipeline.run import landing
from pipeline.run.landing import ApplyRequest
from pipeline.run.replay import Replay, ReplayError, read_intact, replay
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
    why = partial_reason(meta)
    if why is not None and not partial:
        raise ReplayError(
            f"run {meta.run_id} {why}: its changes are partial; "
            "pass --partial to commit them anyway"
        )
    if not again.changes:
        return None
    config = load_config(root, settings, env)
    name = branch or repository.run_branch_name(meta.recipe, meta.run_id)
    request = ApplyRequest(
        name,
        again.base_commit,
        {path: after for path, (_, after) in again.changes.items()},
        meta.recipe,
        meta.model or CODEMOD_MODEL,
        meta.run_id,
    )
    return landing.apply(config, request)
