"""A fleet's members publish through ONE Prefect global concurrency limit used as a rate limit: three
members publishing at once, each with a local limit far looser, reach the forge no faster than the
fleet's slot decays; each member's result names its pull request."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from publishing import TOKEN, dry_run, least_gap, module, same_run_in, with_remote
from support.fake_forge import FakeForge
from support.gitrepo import make_repo
from typer.testing import CliRunner

from flows.cli import app
from flows.fleet_publish import ensure_forge_limit, publish_member, published
from pipeline.config import load_config
from pipeline.records.repo_result import RepoResult, RepoStatus


@pytest.mark.slow
def test_members_publish_under_the_fleets_one_rate_limit(
    runner: CliRunner, forge: FakeForge, tmp_path: Path, prefect_api: str
) -> None:
    run_dir, repos = same_run_in(runner, forge, tmp_path, 3)
    settings = {"forge_url": forge.github_url, "forge_write_interval": 0.01, "publish": True}
    configs = [load_config(repo, settings, {}) for repo in repos]

    async def members() -> list[RepoResult]:
        results = [RepoResult(f"m{n}", f"m{n}", RepoStatus.CHANGED) for n in range(3)]
        return await asyncio.gather(
            *(publish_member(r, c, run_dir) for r, c in zip(results, configs, strict=True))
        )

    with temporary_settings(updates={PREFECT_API_URL: prefect_api}):
        asyncio.run(ensure_forge_limit(1.0))
        published = asyncio.run(members())

    assert [r.pull_requests[0].split()[0] for r in published] == ["opened"] * 3
    assert all("/pull/1" in r.pull_requests[0] for r in published)
    assert len(forge.writes()) == 3 and least_gap(forge) >= 0.9


def test_a_scheduled_or_member_run_that_cannot_publish_says_why_and_keeps_its_outcome(
    runner: CliRunner, forge: FakeForge, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "m0", {"a.py": module("a")})
    with_remote(forge, repo, "octo/m0")
    run_dir = dry_run(runner, repo)
    config = load_config(repo, {"forge_url": forge.github_url, "forge_write_interval": 0.01}, {})
    forge.repos["octo/m0"].archived = True

    pulls, error = asyncio.run(published(config, run_dir))
    forge.repos["octo/m0"].archived = False
    again, none = asyncio.run(published(config, run_dir))

    assert (
        pulls == ()
        and error == "publish failed: repository octo/m0 is archived; unarchive it or leave it out"
    )
    assert none is None and again[0].startswith("opened http://127.0.0.1:")


@pytest.mark.slow
def test_a_prefect_run_with_publish_leaves_no_token_in_prefects_database(
    runner: CliRunner,
    forge: FakeForge,
    tmp_path: Path,
    prefect_api: str,
    prefect_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = make_repo(tmp_path / "widgets", {"a.py": module("a")})
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    with_remote(forge, repo, "octo/widgets")
    command = ["run", "--orchestrator", "prefect", "--no-progress", "--publish", "--forge-url"]
    with temporary_settings(updates={PREFECT_API_URL: prefect_api}):
        done = runner.invoke(
            app, [*command, forge.github_url, "--forge-write-interval", "0.01", str(repo)]
        )

    assert done.exit_code == 0, done.output
    assert "codemill: orchestrator prefect" in done.output and "pull request opened" in done.output
    stored = [
        p for p in prefect_home.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()
    ]
    assert stored == [] and TOKEN not in done.output


@pytest.mark.slow
def test_status_leaves_its_table_as_a_prefect_artifact(
    runner: CliRunner,
    forge: FakeForge,
    tmp_path: Path,
    prefect_api: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = make_repo(tmp_path / "widgets", {"a.py": module("a")})
    with_remote(forge, repo, "octo/widgets")
    run_dir = dry_run(runner, repo)
    config = load_config(repo, {"forge_url": forge.github_url, "forge_write_interval": 0.01}, {})
    assert asyncio.run(published(config, run_dir))[1] is None
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    with temporary_settings(updates={PREFECT_API_URL: prefect_api}):
        done = runner.invoke(app, ["status", str(run_dir)])
        artifact = asyncio.run(latest_artifact("codemill-pulls"))

    assert done.exit_code == 0, done.output
    assert "| octo/widgets | [#1](http://127.0.0.1:" in artifact
    assert "1 opened: 1 open, 0 merged, 0 closed, 0 failing checks" in artifact
    assert TOKEN not in artifact


async def latest_artifact(key: str) -> str:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        found = await client.read_latest_artifacts()
    return next(str(a.data) for a in found if a.key == key)
