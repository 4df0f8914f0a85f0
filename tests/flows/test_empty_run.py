"""A run that accepts nothing (issue 24) still says what its gates saw, the base test run's result, writes
no changes.patch (`git apply` refuses an empty one) and says so, and `apply` on it has nothing to apply."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
from support.fake_model_server import FakeModelServer, FakeReply
from support.gitrepo import git, make_repo
from support.inprocess import isolated_runner
from support.samples import SHAPES
from typer.testing import CliRunner

from flows.cli import app

KEY = "sk-test-empty-run-SECRET"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    return isolated_runner(monkeypatch, tmp_path, AIMLAPI_API_KEY=KEY)


def unchanged(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
    """Every chunk sent back as it came: nothing to accept."""
    chunk = re.findall(r"```python\n(.*?)```", body["messages"][1]["content"], re.DOTALL)[-1]
    return FakeReply.completion(f"```python\n{chunk}```")


def test_a_run_that_accepts_nothing_shows_its_base_tests_writes_no_patch_and_applies_nothing(
    runner: CliRunner, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", SHAPES)
    test_cmd = f"{sys.executable} -m pytest -q -p no:cacheprovider tests"
    with FakeModelServer(handler=unchanged) as server:
        done = runner.invoke(
            app,
            [
                *("run", "--recipe", "modernize", "--base-url", server.base_url),
                *("--test-cmd", test_cmd, "--dry-run", "--orchestrator", "local"),
                *("--no-progress", str(repo)),
            ],
        )

    assert done.exit_code == 0, done.output
    match = re.search(r"^codemill: report (.+)$", done.output, re.MULTILINE)
    assert match, done.output
    report = Path(match.group(1))
    summary = (report / "summary.md").read_text(encoding="utf-8")
    assert re.search(
        r"^- Gate `tests`: base run passed in [\d.]+ s; no change to gate$", summary, re.M
    )
    assert "- No changes: no changes.patch was written, there is nothing to apply" in summary
    assert not (report / "changes.patch").exists()

    applied = runner.invoke(app, ["apply", str(report), "--repo", str(repo)])
    assert applied.exit_code == 0, applied.output
    assert "the run accepted no change; no branch made" in applied.output
    assert git(repo, "branch", "--list").split() == ["*", "main"]
