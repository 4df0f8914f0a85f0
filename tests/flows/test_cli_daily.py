"""`codemill` as a daily user meets it, in-process: the last lines of a run (the report to open, the next
command, which works as printed), codemod runs without token or cost noise, counts in English, help in
Click's usual form, and the messages that say what to do."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from support.gitrepo import git, make_repo
from support.inprocess import isolated_runner
from typer.testing import CliRunner, Result

from flows.cli import app

FILES = {
    "one.py": "class A(object):\n    pass\n",
    "two.py": "def f():\n    return 1\n",
}


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    return isolated_runner(monkeypatch, tmp_path)


def run(runner: CliRunner, repo: Path, *args: str) -> Result:
    command = ["run", "--orchestrator", "local", "--no-progress", *args, str(repo)]
    return runner.invoke(app, command)


def test_a_dry_run_ends_with_the_report_to_open_and_the_commands_that_work(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    done = run(runner, repo, "--dry-run")
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    run_dir = Path(lines[-4].removeprefix("codemill: report "))
    assert lines[-3] == f"codemill: open {(run_dir / 'report.html').resolve().as_uri()}"
    assert (run_dir / "report.html").is_file()
    assert lines[-2] == (
        f"codemill: next: codemill apply {run_dir}   (commit the reviewed change on a new branch)"
    )
    assert lines[-1] == (
        f"codemill: next: git apply {run_dir / 'changes.patch'}   (or put it in your working tree)"
    )
    assert "codemill: recipe modernize, engine codemod (libcst codemods, offline)" in lines
    assert "codemill: 1 accepted, 1 skipped; 1 file changed" in lines  # two.py: no trigger
    assert not [ln for ln in lines if "token" in ln or "$" in ln]  # nothing to pay offline
    subprocess.run(["git", "apply", str(run_dir / "changes.patch")], cwd=repo, check=True)
    assert (repo / "one.py").read_text() == "class A:\n    pass\n"


def test_a_run_that_made_a_branch_says_how_to_get_to_it(runner: CliRunner, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    done = run(runner, repo, "--branch", "cm/daily")
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[-1] == (
        "codemill: next: git switch cm/daily   (the branch holds the change)"
    )
    assert git(repo, "branch", "--list", "cm/daily").strip() == "cm/daily"


def test_a_run_with_nothing_to_change_offers_no_next_step(
    runner: CliRunner, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", {"two.py": FILES["two.py"]})
    done = run(runner, repo, "--dry-run")
    assert done.exit_code == 0, done.output
    assert "next:" not in done.output
    assert re.search(r"^codemill: open file://.*/report\.html$", done.output, re.MULTILINE)
    assert "codemill: 1 skipped; 0 files changed\n" in done.output  # no "0 files skipped" noise
