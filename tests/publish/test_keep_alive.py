"""A moved base: the rerun's change is regenerated on the new base and force-pushed over the commit
codemill pushed; a pull request branch someone else pushed to is left alone and reported `diverged`."""

from __future__ import annotations

from pathlib import Path

from publishing import dry_run, module, publish, with_remote
from support.fake_forge import FakeForge
from support.gitrepo import git, make_repo
from typer.testing import CliRunner


def test_a_moved_base_regenerates_one_and_leaves_the_diverged_one_alone(
    runner: CliRunner, forge: FakeForge, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "widgets", {"d0/a.py": module("a"), "d1/b.py": module("b")})
    remote = with_remote(forge, repo, "octo/widgets")
    split = ("--split-by", "directory")
    assert publish(runner, forge, dry_run(runner, repo), repo, *split).exit_code == 0
    ours = forge.branch_head("octo/widgets", "codemill/pr-modernize-d0")
    someone = tmp_path / "someone"
    git(tmp_path, "clone", "-q", "-b", "codemill/pr-modernize-d1", str(remote), str(someone))
    (someone / "d1" / "b.py").write_text("class B:\n    '''Theirs.'''\n", encoding="utf-8")
    git(someone, "commit", "-q", "-am", "a reviewer's fix")
    git(someone, "push", "-q", "origin", "HEAD:codemill/pr-modernize-d1")
    theirs = forge.branch_head("octo/widgets", "codemill/pr-modernize-d1")
    (repo / "d2.py").write_text("x = 1\n", encoding="utf-8")  # the base moves on
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "main moves")
    git(repo, "push", "-q", "origin", "main")
    new_base = git(repo, "rev-parse", "HEAD").strip()

    rerun = publish(runner, forge, dry_run(runner, repo), repo, *split)

    assert rerun.exit_code == 0, rerun.output
    assert (
        "pull request updated: " in rerun.output
        and "branch codemill/pr-modernize-d0" in rerun.output
    )
    assert (
        "diverged: branch codemill/pr-modernize-d1 holds commits codemill did not push"
        in rerun.output
    )
    regenerated = forge.branch_head("octo/widgets", "codemill/pr-modernize-d0")
    assert regenerated != ours
    assert git(repo, "rev-parse", f"{regenerated}^").strip() == new_base
    assert forge.branch_head("octo/widgets", "codemill/pr-modernize-d1") == theirs
    assert len(forge.open_pulls("octo/widgets")) == 2
