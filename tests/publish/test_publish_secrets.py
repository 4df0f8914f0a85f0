"""The forge token: from the environment only, never in an output, a file codemill writes, a request body,
a pushed commit, or the environment of the repository's own code; a forge error is one sentence saying
what to do, with the token masked even when a forge echoes it back."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from publishing import TOKEN, dry_run, module, publish, with_remote
from support.fake_forge import FakeForge
from support.gitrepo import git, make_repo
from typer.testing import CliRunner

from flows.cli import app
from pipeline.config import child_environment, load_config


def files_holding(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_the_token_is_nowhere_but_the_authorization_header(
    runner: CliRunner, forge: FakeForge, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "widgets", {"a.py": module("a")})
    remote = with_remote(forge, repo, "octo/widgets")
    outputs = [runner.invoke(app, ["run", "--orchestrator", "local", "--no-progress", "--publish",
                                   "--forge-url", forge.github_url, "--forge-write-interval", "0.05",
                                   "--reviewers", "ghost", str(repo)])]  # fmt: skip
    outputs.append(publish(runner, forge, dry_run(runner, repo), repo, "--reviewers", "ghost"))

    assert outputs[0].exit_code == 0, outputs[0].output
    assert "pull request opened" in outputs[0].output
    assert "note: GitHub would not ask ghost" in outputs[0].output
    assert all(TOKEN not in out.output for out in outputs)
    assert files_holding(tmp_path / "state", TOKEN) == []
    assert files_holding(repo / ".git", TOKEN) == [] and files_holding(remote, TOKEN) == []
    assert TOKEN not in json.dumps([r.body for r in forge.requests])
    assert {r.headers["authorization"] for r in forge.requests} == {f"Bearer {TOKEN}"}


def test_the_children_never_see_a_forge_token(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_TOKEN", "GITLAB_TOKEN", "MY_FORGE_TOKEN"):
        monkeypatch.setenv(name, TOKEN)
    child = child_environment()
    assert TOKEN not in json.dumps(child)
    shown = subprocess.run(["env"], env=child, capture_output=True, text=True, check=True).stdout
    assert TOKEN not in shown


def test_the_repository_cannot_choose_the_forge_or_the_token_variable(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"pyproject.toml": (
        '[tool.codemill]\nforge_url = "https://collector.example/api/v3"\n'
        'forge_token_env = "AWS_SECRET_ACCESS_KEY"\nforge_repo = "evil/sink"\nlabels = ["x"]\n'
    )})  # fmt: skip
    config = load_config(repo, {}, {})
    assert (config.forge_url, config.forge_token_env, config.forge_repo) == (None, None, None)
    assert config.labels == ("x",)
    assert "forge_url, forge_token_env, forge_repo, ignored" in config.warnings[0]
    with pytest.raises(Exception, match="must name a variable with KEY, TOKEN or SECRET"):
        load_config(repo, {"forge_token_env": "FORGE"}, {})


def test_forge_errors_say_what_to_do_in_one_sentence(
    runner: CliRunner, forge: FakeForge, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "widgets", {"a.py": module("a")})
    with_remote(forge, repo, "octo/widgets")
    run_dir = dry_run(runner, repo)

    forge.repos["octo/widgets"].archived = True
    archived = publish(runner, forge, run_dir, repo)
    forge.repos["octo/widgets"].archived = False
    forge.fail_next("POST", r"/pulls$", 403,
                    {"message": "Resource not accessible by personal access token"})  # fmt: skip
    no_scope = publish(runner, forge, run_dir, repo)
    forge.fail_next("POST", r"/pulls$", 422, {"message": f"Validation Failed for token {TOKEN}"})
    echoed = publish(runner, forge, run_dir, repo)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_wrong")
    wrong = publish(runner, forge, run_dir, repo)
    monkeypatch.delenv("GITHUB_TOKEN")
    missing = publish(runner, forge, run_dir, repo)

    assert archived.exit_code == 6
    assert (
        archived.output.strip()
        == "codemill: repository octo/widgets is archived; unarchive it or leave it out"
    )
    assert (
        no_scope.exit_code == 6
        and "the token lacks access (HTTP 403); give it the repo scope" in no_scope.output
    )
    assert echoed.exit_code == 6 and TOKEN not in echoed.output and "token ***" in echoed.output
    assert wrong.exit_code == 6 and "the forge token is not valid" in wrong.output
    assert missing.exit_code == 2
    assert (
        "set GITHUB_TOKEN to a github token that may push and open pull requests" in missing.output
    )
    for result in (archived, no_scope, echoed, wrong, missing):
        assert len(result.output.strip().splitlines()) == 1, result.output
    assert git(repo, "status", "--porcelain") == ""


def test_a_protected_branch_is_one_sentence_saying_what_to_do(
    runner: CliRunner, forge: FakeForge, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "widgets", {"a.py": module("a")})
    remote = with_remote(forge, repo, "octo/widgets")
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'GitLab: You are not allowed to push code to protected branches "
                    "on this project.' >&2\nexit 1\n", encoding="utf-8")  # fmt: skip
    hook.chmod(0o755)

    refused = publish(runner, forge, dry_run(runner, repo), repo)

    assert refused.exit_code == 6
    [line] = refused.output.strip().splitlines()
    assert line.startswith(
        "codemill: pushing codemill/pr-modernize to origin failed: remote: GitLab: "
    )
    assert line.endswith(
        "; the branch is protected: let codemill push codemill/* branches, or lift the protection"
    )
    assert forge.writes() == []  # no pull request for a branch that is not there
