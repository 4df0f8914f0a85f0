"""README promises of `codemill apply` and `codemill report`, and of a repeated run, through the real command:
`apply --repo/--commit-per/--push/--force-branch` from outside the repository, `report` refusing a base commit
that is really gone from the repository, and "same change" in a repeated run's summary.md."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support.cli_support import CliEnv, codemill, make_cli_env
from support.gitrepo import fingerprint, git, make_repo
from support.outputs import report_dir

FILES = {
    "pkg/__init__.py": "",
    "pkg/models.py": "class Item(object):\n    pass\n",
    "pkg/util.py": 'def twice(x):\n    return "%s%s" % (x, x)\n',
}


@pytest.fixture
def cli(tmp_path: Path) -> CliEnv:
    """The local orchestrator: Prefect is not what these tests are about."""
    return make_cli_env(tmp_path / "home", None)


def test_apply_from_outside_with_repo_commit_per_push_and_force_branch(
    tmp_path: Path, cli: CliEnv
) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    dry = codemill(cli, "run", ".", "--recipe", "modernize", "--dry-run", cwd=repo)
    assert dry.returncode == 0, dry.stderr
    run = str(report_dir(dry.stdout))
    before = fingerprint(repo)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    apply = ["apply", run, "--repo", str(repo), "--branch", "cm/applied"]

    one = codemill(cli, *apply, "--commit-per", "run", "--push", "origin", cwd=elsewhere)

    assert one.returncode == 0, one.stdout + one.stderr
    assert "branch cm/applied: 1 commit and pushed" in one.stdout
    assert git(remote, "log", "--format=%s", "cm/applied").splitlines()[0] == (
        "refactor(modernize): 2 files"
    )
    assert fingerprint(repo) == before

    taken = codemill(cli, *apply, cwd=elsewhere)
    assert taken.returncode == 2
    assert "pass --force-branch to replace it" in taken.stderr
    forced = codemill(cli, *apply, "--force-branch", "--push", "origin", cwd=elsewhere)
    assert forced.returncode == 0, forced.stderr
    assert "branch cm/applied: 2 commits and pushed" in forced.stdout  # commit per file
    tip = git(repo, "rev-parse", "cm/applied").strip()
    assert git(remote, "rev-parse", "cm/applied").strip() == tip


def test_report_refuses_a_base_commit_that_is_gone(tmp_path: Path, cli: CliEnv) -> None:
    repo = make_repo(tmp_path / "repo", {"pkg/__init__.py": ""})
    (repo / "pkg" / "util.py").write_text(FILES["pkg/util.py"])
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "util")
    base = git(repo, "rev-parse", "HEAD").strip()
    dry = codemill(cli, "run", ".", "--recipe", "modernize", "--dry-run", cwd=repo)
    assert dry.returncode == 0, dry.stderr
    run = report_dir(dry.stdout)
    git(repo, "reset", "-q", "--hard", "HEAD~1")
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "-q", "--prune=now")
    assert subprocess.run(["git", "cat-file", "-e", base], cwd=repo).returncode != 0
    summary = (run / "summary.md").read_bytes()

    refused = codemill(cli, "report", str(run), cwd=repo)

    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"base commit {base[:12]} is not in the repository" in refused.stderr
    assert (run / "summary.md").read_bytes() == summary  # nothing rewritten


def test_a_repeated_change_says_same_change_in_its_summary(tmp_path: Path, cli: CliEnv) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    first = codemill(cli, "run", ".", "--branch", "cm/first", cwd=repo)
    assert first.returncode == 0, first.stderr
    first_id = report_dir(first.stdout).name

    again = codemill(cli, "run", ".", "--branch", "cm/again", cwd=repo)

    assert again.returncode == 0, again.stderr
    summary = (report_dir(again.stdout) / "summary.md").read_text()
    assert f"same change as run {first_id}" in summary
    assert "cm/again" not in git(repo, "branch", "--list")
