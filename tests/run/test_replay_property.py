"""Replay is the run: for real standard-library modules and every file shape, under both engines, a dry run
then `report` and `apply` give a branch whose diff from the base is the run's changes.patch, byte for byte.

The model engine is the loopback fake answering every chunk with a comment line added (so every chunk
changes); the codemod engine runs the `modernize` recipe. A small budget splits classes, so chunk
boundaries and merged headers are everywhere. The fast set runs the shapes and a handful of modules; the
slow set 40 modules.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.fake_model_server import FakeModelServer
from support.gitrepo import make_repo
from support.inprocess import isolated_runner
from support.replaying import (
    ALL_KINDS,
    KEY,
    SHAPES,
    answer_marked,
    assert_replays,
    dry_run,
    stdlib_sample,
)
from support.samples import tidy_recipe
from typer.testing import CliRunner


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    return isolated_runner(monkeypatch, tmp_path, CODEMILL_BUDGET="120")


def replay_both_engines(
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    files: dict[str, str | bytes],
    import_check: str,
    jobs: str,
) -> tuple[int, int]:
    """Run each engine over `files`, replay each run; the files each run changed. The model's run
    gates with `import_check` (its answers break an import, mended by gate turns that amend rows)."""
    repo = make_repo(tmp_path / "repo", files)
    modernize = ("--engine", "codemod", "--recipe", "modernize", "--no-import-check")
    codemod = dry_run(runner, repo, *modernize, "--jobs", jobs)
    changed_codemod = assert_replays(runner, repo, codemod, "cm/codemod")
    recipe = tmp_path / "tidy.md"
    recipe.write_text(tidy_recipe(ALL_KINDS))
    monkeypatch.setenv("AIMLAPI_API_KEY", KEY)
    with FakeModelServer(handler=answer_marked) as server:
        model = ("--engine", "llm", "--recipe", str(recipe), "--base-url", server.base_url)
        llm = dry_run(runner, repo, *model, import_check, "--jobs", jobs, "--no-cache")
    changed_llm = assert_replays(runner, repo, llm, "cm/llm")
    return changed_codemod, changed_llm


def test_every_shape_replays_byte_for_byte_under_both_engines(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    files = {**SHAPES, **stdlib_sample(4, offset=3)}
    codemod, llm = replay_both_engines(runner, monkeypatch, tmp_path, files, "--import-check", "1")
    assert codemod >= len(SHAPES) and llm >= len(SHAPES) + 2


@pytest.mark.slow
def test_forty_stdlib_modules_replay_byte_for_byte_under_both_engines(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CODEMILL_BUDGET", "400")  # classes still split, fewer chunks to answer
    files = stdlib_sample(40)
    assert len(files) == 40
    codemod, llm = replay_both_engines(
        runner, monkeypatch, tmp_path, dict(files), "--no-import-check", "2"
    )
    assert codemod >= 1 and llm >= 30
