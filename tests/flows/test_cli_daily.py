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
    # the README shows these last lines as they are, the run directory aside
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    shown = readme.split("say what to open and what to do next:\n\n```\n", 1)[1].split("```", 1)[0]
    real = "\n".join(lines[-4:]).replace(str(run_dir), "<RUN_DIR>")
    assert shown.strip() == real


def test_fail_on_changes_counts_in_english(runner: CliRunner, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    done = run(runner, repo, "--dry-run", "--fail-on-changes")
    assert done.exit_code == 4, done.output
    assert "codemill: 1 file would change\n" in done.stderr


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


COMMANDS = ["run", "serve", "deploy", "fleet", "recipes", "show-recipe", "report", "apply"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_is_in_clicks_usual_form(runner: CliRunner, command: str) -> None:
    shown = runner.invoke(app, [command, "--help"])
    assert shown.exit_code == 0, shown.output
    assert not re.search(r"<\w+(\[\w+\])?>|\{\w+\}", shown.output), shown.output  # <str>, {paths}
    assert shown.output.startswith(f"Usage: codemill {command} [OPTIONS]")


def test_run_help_names_its_arguments_choices_defaults_and_recipes(runner: CliRunner) -> None:
    shown = runner.invoke(app, ["run", "--help"]).output
    assert shown.startswith("Usage: codemill run [OPTIONS] PATH...\n")
    flat = " ".join(shown.split())
    assert "--engine [auto|llm|codemod|hybrid] auto: with the model's key, hybrid when" in flat
    assert "[default: auto]" in flat and "[default: file]" in flat
    assert "--commit-per [file|run] One commit per changed file, or one for the run." in flat
    assert "--orchestrator [auto|local|prefect]" in flat and "--target-python X.Y" in flat
    assert (
        "--recipe NAME|PATH Built-in recipe name or path to a recipe .md. Built in: docstrings, "
        "modernize, simplify, type-hints, unittest-to-pytest. [default: modernize]"
    ) in flat
    applied = runner.invoke(app, ["apply", "--help"]).output
    assert applied.startswith("Usage: codemill apply [OPTIONS] RUN_DIR\n")


def test_version_and_a_readable_recipe(runner: CliRunner) -> None:
    from importlib.metadata import version

    shown = runner.invoke(app, ["--version"])
    assert shown.exit_code == 0 and shown.output == f"codemill {version('codemill')}\n"
    recipe = runner.invoke(app, ["show-recipe", "modernize"]).output
    assert "  model:     max_tokens 8192, temperature 0.2, top_p 0.95\n" in recipe
    assert "ModelParams" not in recipe
    assert "\n             pipeline.codemods.ZeroArgSuperCommand\n" in recipe  # one a line


def test_messages_say_what_to_do(runner: CliRunner, tmp_path: Path) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    refused = runner.invoke(app, ["run", str(outside)])
    assert refused.exit_code == 2
    assert "`git init`" in refused.output
    repo = make_repo(tmp_path / "repo", FILES)
    missing = runner.invoke(app, ["report", str(tmp_path / "nowhere"), "--repo", str(repo)])
    assert missing.exit_code == 2
    assert missing.output.startswith(
        f"codemill: {tmp_path / 'nowhere'}: no such run directory (a run prints its own as "
        "`codemill: report DIR`)"
    )
    done = run(runner, repo, "--dry-run")
    runs = Path(done.output.split("codemill: report ")[1].split("\n")[0]).parent
    again = runner.invoke(app, ["apply", str(tmp_path / "nowhere"), "--repo", str(repo)])
    assert again.exit_code == 2 and f"runs are listed by `ls {runs}`" in again.output


def test_the_estimate_names_its_engine_and_offline_there_is_nothing_to_pay(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    offline = run(runner, repo, "--estimate")
    assert offline.exit_code == 0, offline.output
    assert offline.output.splitlines()[-1] == (
        "codemill: forecast for engine codemod (libcst codemods, offline: AIMLAPI_API_KEY is not "
        "set): recipe modernize asks no model, so there is nothing to pay and nothing to send"
    )
    assert "MiniMax" not in offline.output and "$" not in offline.output
    monkeypatch.setenv("AIMLAPI_API_KEY", "sk-test-daily")
    model = run(
        runner, repo, "--estimate", "--engine", "llm", "--base-url", "http://127.0.0.1:9/v1"
    )
    assert model.exit_code == 0, model.output
    assert "codemill: forecast for engine llm, model minimax/m2-1 at http://127.0.0.1:9/v1\n" in (
        model.output
    )
    assert "1 of 2 chunks to send" in model.output and "nothing was sent" in model.output
    hybrid = run(runner, repo, "--estimate", "--base-url", "http://127.0.0.1:9/v1")  # auto: hybrid
    assert "codemill: forecast for engine hybrid (the recipe's rewrites first, then model " in (
        hybrid.output
    )


def test_diff_puts_the_patch_alone_on_stdout_and_makes_no_branch(
    runner: CliRunner, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    shown = run(runner, repo, "--diff")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith("diff --git a/one.py b/one.py\n")
    assert "codemill:" not in shown.stdout and "\x1b[" not in shown.stdout  # no terminal: no colour
    assert "codemill: report " in shown.stderr
    assert git(repo, "branch", "--list").split() == ["*", "main"]  # --diff is a dry run
    subprocess.run(["git", "apply"], cwd=repo, input=shown.stdout_bytes, check=True)
    assert (repo / "one.py").read_text() == "class A:\n    pass\n"


def test_a_patch_is_coloured_as_git_colours_it() -> None:
    from flows.console import coloured_patch

    patch = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n same\n"
    assert coloured_patch(patch).splitlines() == [
        "\x1b[1mdiff --git a/x b/x\x1b[0m",
        "\x1b[1m--- a/x\x1b[0m",
        "\x1b[1m+++ b/x\x1b[0m",
        "\x1b[36m@@ -1 +1 @@\x1b[0m",
        "\x1b[31m-old\x1b[0m",
        "\x1b[32m+new\x1b[0m",
        " same",
    ]


def dry_run_dir(runner: CliRunner, repo: Path) -> Path:
    done = run(runner, repo, "--dry-run")
    assert done.exit_code == 0, done.output
    return Path(done.output.split("codemill: report ")[1].split("\n")[0])


def test_apply_to_worktree_writes_the_change_and_keeps_the_mode(
    runner: CliRunner, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    (repo / "one.py").chmod(0o755)
    git(repo, "commit", "-qam", "executable")
    run_dir = dry_run_dir(runner, repo)
    head = git(repo, "rev-parse", "HEAD")
    applied = runner.invoke(app, ["apply", str(run_dir), "--repo", str(repo), "--to-worktree"])
    assert applied.exit_code == 0, applied.output
    assert applied.output == "codemill: wrote 1 file: one.py\n"
    assert (repo / "one.py").read_text() == "class A:\n    pass\n"
    assert (repo / "one.py").stat().st_mode & 0o777 == 0o755
    assert git(repo, "rev-parse", "HEAD") == head  # no commit, no branch
    assert git(repo, "status", "--porcelain").split() == ["M", "one.py"]
    both = ["apply", str(run_dir), "--repo", str(repo), "--to-worktree", "--branch", "x"]
    mixed = runner.invoke(app, both)
    assert mixed.exit_code == 2 and "--branch cannot go with --to-worktree" in mixed.output
    chosen = runner.invoke(app, [*both[:-2], "--exclude", "one.py"])
    assert chosen.exit_code == 2 and "--exclude cannot go with --to-worktree" in chosen.output


def test_apply_to_worktree_refuses_to_touch_uncommitted_or_newer_files(
    runner: CliRunner, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", {**FILES, "three.py": "class C(object):\n    pass\n"})
    run_dir = dry_run_dir(runner, repo)
    apply = ["apply", str(run_dir), "--repo", str(repo), "--to-worktree"]
    (repo / "one.py").write_text("class A(object):\n    pass  # mine\n")
    refused = runner.invoke(app, apply)
    assert refused.exit_code == 2
    assert refused.output == (
        "codemill: the change touches files with uncommitted changes: one.py; commit or stash "
        "them first (nothing was written)\n"
    )
    assert (repo / "three.py").read_text() == "class C(object):\n    pass\n"  # nothing written
    git(repo, "commit", "-qam", "my change")
    newer = runner.invoke(app, apply)
    assert newer.exit_code == 2
    assert "files changed since the run's base" in newer.output and ": one.py;" in newer.output
    assert git(repo, "status", "--porcelain") == ""
