"""The parent's last step for a sharded repository: the shards' dry runs made into the one run they stand
for, with one ledger, one report and (unless the fleet is a dry run) one branch, pushed if asked. The
combined change is gated again as a whole (`pipeline.run.regate`): each shard proved only its own part.

The shards' report directories must be readable here (one machine, or a shared state volume); a shard that
did not finish cleanly leaves the repository without a branch, with that shard's reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from pipeline import repository
from pipeline.config import RunConfig, load_config
from pipeline.fleet import cache
from pipeline.fleet.plan import Member
from pipeline.fleet.shards import combine_ledgers
from pipeline.paths import default_report_dir
from pipeline.records.ledger import Ledger, RunMeta
from pipeline.records.repo_result import RepoResult, RepoStatus, combined
from pipeline.report.directory import write_report_dir
from pipeline.report.patch import Changes, unified_patch
from pipeline.run import landing
from pipeline.run.regate import gate_recorded
from pipeline.run.replay import read_ledger
from pipeline.run.state import patch_fingerprint


def combine_shards(
    members: Sequence[Member],
    parts: Sequence[RepoResult],
    cache_dir: Path,
    env: Mapping[str, str],
    run_id: str,
) -> RepoResult:
    """One repository's result (and report, and branch) from its shards' results."""
    bad = [p for p in parts if p.status in (RepoStatus.FAILED, RepoStatus.STOPPED)]
    if bad:
        worst = max(bad, key=lambda p: p.exit_code)
        return combined(
            parts,
            status=worst.status,
            reason=f"a shard: {worst.reason}",
            exit_code=worst.exit_code,
            branch=None,
            pushed=False,
            run_id=run_id,
        )
    first = members[0]
    checkout = cache.checkout(first.source, first.key, cache_dir, first.base_commit)
    config = load_config(checkout.root, first.settings, env)
    ledger = _combined_ledger(config, first.base_commit, parts, run_id)
    changes = gate_recorded(checkout.root, ledger, config)
    done = _commit(config, first.base_commit, ledger.meta, changes)
    ledger.finish(None)
    patch = unified_patch(changes)
    report_dir = default_report_dir(checkout.root, run_id, env)
    write_report_dir(report_dir, ledger, changes, patch=patch)
    return combined(
        parts,
        status=RepoStatus.CHANGED if changes else RepoStatus.NO_CHANGE,
        reason="" if changes else "nothing to change",
        files_changed=len(changes),
        run_id=run_id,
        branch=done.branch if done.commits else None,
        pushed=done.pushed,
        report=str(report_dir),
        patch_sha256=patch_fingerprint(patch),
    )


def _combined_ledger(
    config: RunConfig, base_commit: str, parts: Sequence[RepoResult], run_id: str
) -> Ledger:
    """The shards' ledgers as one, under a run record of the combined run."""
    shard_meta = read_ledger(Path(parts[0].report)).meta
    meta = RunMeta(
        run_id,
        shard_meta.recipe,
        shard_meta.engine,
        shard_meta.model,
        base_commit,
        budget=config.budget,
        policy=shard_meta.policy,
    )
    return combine_ledgers(meta, [Path(p.report) for p in parts])


def _commit(
    config: RunConfig, base_commit: str, meta: RunMeta, changes: Changes
) -> repository.CommitResult:
    """The combined change on one branch through the run's own apply step (none for a dry run)."""
    if not changes or config.dry_run:
        return repository.CommitResult("")
    branch = config.branch or repository.run_branch_name(meta.recipe, meta.run_id)
    after = {path: new for path, (_, new) in changes.items()}
    return landing.apply(
        config,
        landing.ApplyRequest(
            branch, base_commit, after, meta.recipe, meta.model or "", meta.run_id
        ),
    )
