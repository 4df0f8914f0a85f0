"""`codemill publish` in-process against the fake forge: a reviewed dry run pushed and proposed as one
pull request whose body tells the run; published again, it is the same pull request (nothing new pushed
or opened); a rerun with a new change updates it; GitLab's merge request the same way."""

from __future__ import annotations

from pathlib import Path

from publishing import dry_run, module, publish, with_remote
from support.fake_forge import FakeForge
from support.gitrepo import git, make_repo
from typer.testing import CliRunner

from flows.cli import app


def test_a_dry_run_is_published_once_and_updated_after(
    runner: CliRunner, forge: FakeForge, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "widgets", {"pkg/a.py": module("a"), "pkg/b.py": "x = 1\n"})
    with_remote(forge, repo, "octo/widgets")
    run_dir = dry_run(runner, repo)

    options = ("--labels", "codemill", "--draft", "--assignees", "octocat", "--pr-base", "main")
    first = publish(runner, forge, run_dir, repo, *options)
    again = publish(runner, forge, run_dir, repo, *options)
    rerun = publish(
        runner, forge, dry_run(runner, repo), repo, *options
    )  # another run, same change

    assert first.exit_code == 0, first.output
    assert "codemill: pull request opened: " in first.output
    assert "unchanged (already up to date)" in again.output, again.output
    assert "unchanged (already up to date)" in rerun.output, rerun.output
    [pull] = forge.open_pulls("octo/widgets")
    assert pull["head"]["ref"] == "codemill/pr-modernize" and pull["base"]["ref"] == "main"
    assert pull["draft"] and [x["name"] for x in pull["labels"]] == ["codemill"]
    assert pull["title"] == "codemill: modernize on 1 file"
    assert "`pkg/a.py`" in pull["body"] and "`A` lines 1-2" in pull["body"]
    assert "pkg/b.py" not in pull["body"]
    head = forge.branch_head("octo/widgets", "codemill/pr-modernize")
    shown = git(repo, "show", f"{head}:pkg/a.py")
    assert shown == "class A:\n    pass\n"
    assert [a["login"] for a in pull["assignees"]] == ["octocat"]
    assert len(forge.writes()) == 3  # the pull request, its label, its assignee; nothing after
    assert f"run `{run_dir.name}`" in pull["body"]  # the words of the run that made the change


def test_a_rerun_with_a_new_change_updates_the_same_pull_request(
    runner: CliRunner, forge: FakeForge, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "widgets", {"pkg/a.py": module("a")})
    with_remote(forge, repo, "octo/widgets")
    assert publish(runner, forge, dry_run(runner, repo), repo).exit_code == 0
    pushed = forge.branch_head("octo/widgets", "codemill/pr-modernize")
    (repo / "pkg" / "b.py").write_text(module("b"), encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "more")

    done = publish(runner, forge, dry_run(runner, repo), repo)

    assert done.exit_code == 0, done.output
    assert "codemill: pull request updated: " in done.output
    [pull] = forge.open_pulls("octo/widgets")
    assert pull["title"] == "codemill: modernize on 2 files" and "`pkg/b.py`" in pull["body"]
    assert forge.branch_head("octo/widgets", "codemill/pr-modernize") != pushed


def test_gitlab_gets_one_merge_request(runner: CliRunner, forge: FakeForge, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"a.py": module("a")})
    with_remote(forge, repo, "group/app", kind="gitlab", users=("alice",))
    run_dir = dry_run(runner, repo)

    people = ("--reviewers", "alice", "--assignees", "alice", "--labels", "codemill,bots")
    first = publish(runner, forge, run_dir, repo, *people, "--draft", kind="gitlab")
    again = publish(runner, forge, run_dir, repo, *people, "--draft", kind="gitlab")

    assert first.exit_code == 0, first.output
    assert "/group/app/-/merge_requests/1 " in first.output
    assert "unchanged" in again.output
    [mr] = forge.repos["group/app"].pulls.values()
    assert mr["source_branch"] == "codemill/pr-modernize" and mr["target_branch"] == "main"
    assert (
        [u["username"] for u in mr["reviewers"]]
        == ["alice"]
        == [u["username"] for u in mr["assignees"]]
    )
    assert mr["labels"] == ["codemill", "bots"]
    assert mr["title"] == "Draft: codemill: modernize on 1 file"
    assert [w.method for w in forge.writes()] == ["POST"]


def test_run_publish_opens_the_pull_request_and_a_dry_run_cannot(
    runner: CliRunner, forge: FakeForge, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "widgets", {"a.py": module("a")})
    with_remote(forge, repo, "octo/widgets")
    run = ["run", "--orchestrator", "local", "--no-progress", "--publish", "--forge-url"]
    run += [forge.github_url, "--forge-write-interval", "0.05", str(repo)]

    refused = runner.invoke(app, [*run[:-1], "--dry-run", str(repo)])
    asked_before = len(forge.requests)
    done = runner.invoke(app, run)

    assert (
        refused.exit_code == 2
        and "--publish needs the run's branch: drop --dry-run" in refused.output
    )
    assert asked_before == 0
    assert done.exit_code == 0, done.output
    assert "codemill: branch codemill/modernize/" in done.output
    assert "codemill: pull request opened: " in done.output
    assert [p["head"]["ref"] for p in forge.open_pulls("octo/widgets")] == ["codemill/pr-modernize"]
