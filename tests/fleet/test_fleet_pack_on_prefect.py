"""A pack of three repositories in one child flow run, against a real Prefect server (in-process, no
worker): each gets its own run, branch and result; the one whose remote is gone fails alone, in one
sentence; each result is published the moment it is known (before the next repository starts), and the
parent's watcher reads them all back from the API by the child run's name."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support.gitrepo import git, make_repo

from pipeline.fleet.fleetfile import load_fleet
from pipeline.fleet.plan import FleetOptions, Member, plan_fleet
from pipeline.records.repo_result import RepoResult, RepoStatus
from pipeline.run.setup import new_run_id


def remote(root: Path, name: str) -> Path:
    files = {f"{name}/m.py": 'def hi(x):\n    return "hi %s" % x\n'}
    work = make_repo(root / "src" / name, files)
    bare = root / "remotes" / f"{name}.git"
    git(root, "clone", "-q", "--bare", str(work), str(bare))
    return bare


async def created_and_started(name: str, later_run: str) -> tuple[list[object], object]:
    """The pack's result artifacts' creation times, and when a later repository's own run started."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas import filters

    async with get_client() as client:
        named = filters.FlowRunFilter(name=filters.FlowRunFilterName(any_=[name]))
        (pack_run,) = await client.read_flow_runs(flow_run_filter=named)
        of_run = filters.ArtifactFilterFlowRunId(any_=[pack_run.id])
        found = await client.read_artifacts(
            artifact_filter=filters.ArtifactFilter(flow_run_id=of_run)
        )
        later = filters.FlowRunFilter(name=filters.FlowRunFilterName(like_=later_run))
        (run,) = await client.read_flow_runs(flow_run_filter=later)
    created = [a.created for a in sorted(found, key=lambda a: str(a.key))]
    return created, run.start_time


def test_a_pack_isolates_a_failing_repository_and_reports_each_as_it_ends(
    prefect_api: str, tmp_path: Path
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.fleet import Watcher, fleet_member

    bare = {name: remote(tmp_path, name) for name in ("alpha", "beta")}
    fleet_file = tmp_path / "fleet.toml"
    fleet_file.write_text("".join(f'[[repo]]\nurl = "{b.as_uri()}"\n' for b in bare.values()))
    options = FleetOptions("modernize", "t", {"engine": "codemod"})
    alpha, beta = (
        w.members[0] for w in plan_fleet(load_fleet(fleet_file), options, tmp_path / "c", {}, None)
    )
    gone = Member("gone", "gone-1", (tmp_path / "remotes" / "gone.git").as_uri(), "b" * 40, {}, "p")
    members = [alpha, gone, beta]
    name = f"pack-{new_run_id()}"
    env = {"PREFECT_API_URL": prefect_api, "CODEMILL_STATE_DIR": str(tmp_path / "state")}
    with pytest.MonkeyPatch.context() as patch, temporary_settings({PREFECT_API_URL: prefect_api}):
        for key, value in env.items():
            patch.setenv(key, value)
        flow = fleet_member.with_options(flow_run_name=name)
        params = [m.to_params() for m in members]
        rows = asyncio.run(flow(params, cache_dir=str(tmp_path / "worker-cache")))
        heard: dict[int, RepoResult] = {}
        asyncio.run(Watcher(name, members, heard.__setitem__).collect())
        results = [RepoResult.from_json(row) for row in rows]
        beta_run = f"beta-modernize-{results[2].run_id}"
        created, beta_started = asyncio.run(created_and_started(name, beta_run))
    assert [r.status for r in results] == [
        RepoStatus.CHANGED,
        RepoStatus.FAILED,
        RepoStatus.CHANGED,
    ]
    assert "gone" in results[1].reason and "\n" not in results[1].reason
    for result in (results[0], results[2]):
        assert result.branch and result.files_changed == 1 and result.report
    assert heard == dict(enumerate(results))  # the parent reads every result back, by index
    assert created == sorted(created) and created[0] < beta_started  # alpha's known before beta ran
