"""The `codemill` command in-process (Typer's runner, no subprocess, no Prefect server): listing and showing
recipes, the one-line refusals of bad input before any work, and the deployments `serve`/`deploy` build for
several repositories from `--set`, `--push` and `--since`. The fast set's view of flows/; the same commands
run as real processes in tests/cli/."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.gitrepo import make_repo
from typer.testing import CliRunner

from flows import schedule
from flows.cli import app
from pipeline.paths import repo_key

FILES = {"pkg/util.py": 'def twice(x):\n    return "%s%s" % (x, x)\n'}


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    for name in ("AIMLAPI_API_KEY", "PREFECT_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CODEMILL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return CliRunner()


def test_recipes_are_listed_and_shown(runner: CliRunner) -> None:
    listed = runner.invoke(app, ["recipes"])
    assert listed.exit_code == 0, listed.output
    assert [line.split()[0] for line in listed.output.splitlines()] == [
        "docstrings",
        "modernize",
        "simplify",
        "type-hints",
        "unittest-to-pytest",
    ]
    shown = runner.invoke(app, ["show-recipe", "modernize"])
    assert shown.exit_code == 0 and "codemods:  pipeline.codemods." in shown.output
    assert "pipeline.codemods.ZeroArgSuperCommand\n             ruff:UP\n" in shown.output  # beside
    unknown = runner.invoke(app, ["show-recipe", "no-such-recipe"])
    assert unknown.exit_code == 2 and "no such recipe" in unknown.output


def test_bad_input_is_refused_in_one_line_before_any_work(
    runner: CliRunner, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    missing = runner.invoke(app, ["run", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
    assert missing.output.strip() == f"codemill: {tmp_path / 'nowhere'} does not exist"
    version = runner.invoke(app, ["run", str(repo), "--target-python", "abc"])
    assert version.exit_code == 2
    assert "--target-python='abc' is not a Python version: expected X.Y" in version.output
    both = runner.invoke(app, ["run", str(repo), "--no-cache", "--refresh-cache"])
    assert both.exit_code == 2 and "cannot be used together" in both.output
    no_ledger = runner.invoke(app, ["report", str(tmp_path), "--repo", str(repo)])
    assert no_ledger.exit_code == 2 and "has no ledger.jsonl" in no_ledger.output
    for command in (
        ["serve", str(repo), "--cron", "0 3 * * 1"],
        ["deploy", str(repo), "--pool", "p"],
    ):
        refused = runner.invoke(app, command)
        assert refused.exit_code == 2 and "prefect server start" in refused.output


def test_deployments_for_several_repositories_carry_their_settings(tmp_path: Path) -> None:
    repos = [make_repo(tmp_path / name, FILES) for name in ("app", "lib")]
    settings = schedule.parse_sets(["commit_per=run", "concurrency=2"])
    settings.update(recipe="modernize", push="origin")

    made = schedule.deployments_for(repos, settings, since="last-run", cron="0 3 * * 1")

    assert [d.name for d in made] == [f"{repo_key(r.resolve())}-modernize" for r in repos]
    for deployment, repo in zip(made, repos, strict=True):
        assert deployment.parameters == {
            "repo": str(repo.resolve()),
            "settings": {
                "commit_per": "run",
                "concurrency": "2",
                "recipe": "modernize",
                "push": "origin",
            },
            "since": "last-run",
        }
    with pytest.raises(schedule.ConfigError, match="is not KEY=VALUE"):
        schedule.parse_sets(["concurrency"])
    with pytest.raises(schedule.ConfigError, match="--concurrency='many' is not an integer"):
        schedule.deployments_for(repos, {"concurrency": "many"}, since=None, cron=None)
