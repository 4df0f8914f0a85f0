"""`codemill publish --select/--exclude`: a reviewer's choice published. Only the kept chunks reach the
pull request's branch, proven and gated again as one set; narrowing the choice later updates the same pull
request; a selection made for another run publishes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from publishing import dry_run, module, publish, with_remote
from support.fake_forge import FakeForge
from support.gitrepo import git, make_repo
from typer.testing import CliRunner


def test_a_reviewers_selection_is_what_the_pull_request_holds(
    runner: CliRunner, forge: FakeForge, tmp_path: Path
) -> None:
    files = {"pkg/a.py": module("a"), "pkg/b.py": module("b"), "pkg/c.py": module("c")}
    repo = make_repo(tmp_path / "widgets", files)
    remote = with_remote(forge, repo, "octo/widgets")
    run_dir = dry_run(runner, repo)
    run_id = run_dir.name
    selection = tmp_path / "selection.json"
    selection.write_text(
        json.dumps({"format": "codemill-selection/1", "run_id": run_id, "left_out": ["pkg/c.py"]})
    )

    first = publish(runner, forge, run_dir, repo, "--select", str(selection))
    narrowed = publish(
        runner, forge, run_dir, repo, "--select", str(selection), "--exclude", "pkg/b.py"
    )

    assert first.exit_code == 0, first.output
    assert "codemill: kept 2 of 3 accepted chunks; gated as one set" in first.output
    assert "codemill: pull request opened: " in first.output
    assert narrowed.exit_code == 0, narrowed.output
    assert "codemill: pull request updated: " in narrowed.output
    [pull] = forge.open_pulls("octo/widgets")  # the same pull request, narrowed
    head = forge.branch_head("octo/widgets", pull["head"]["ref"])
    base = git(repo, "rev-parse", "HEAD").strip()
    changed = git(remote, "diff", "--name-only", base, head)
    assert changed.split() == ["pkg/a.py"]
    assert "`pkg/a.py`" in pull["body"] and "pkg/b.py" not in pull["body"]
    assert "pkg/c.py" not in pull["body"]


def test_a_selection_for_another_run_publishes_nothing(
    runner: CliRunner, forge: FakeForge, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "widgets", {"pkg/a.py": module("a")})
    with_remote(forge, repo, "octo/widgets")
    run_dir = dry_run(runner, repo)
    selection = tmp_path / "selection.json"
    other = {"format": "codemill-selection/1", "run_id": "20200101-000000-000000", "kept": []}
    selection.write_text(json.dumps(other))

    done = publish(runner, forge, run_dir, repo, "--select", str(selection))

    assert done.exit_code == 2, done.output
    assert "20200101-000000-000000" in done.output
    assert forge.open_pulls("octo/widgets") == [] and forge.writes() == []
