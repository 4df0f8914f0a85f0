"""CODEOWNERS as GitHub and GitLab read it (their locations, gitignore patterns, the last match wins,
GitLab's sections), and a run split by owner: one pull request per owner asking them to review, the
unowned files said so, and the same files in the same pull requests when published again."""

from __future__ import annotations

from pathlib import Path

import pytest
from publishing import dry_run, module, publish, with_remote
from support.fake_forge import FakeForge
from support.gitrepo import make_repo
from typer.testing import CliRunner

from flows.cli import app
from pipeline import repository
from pipeline.forge.codeowners import owners_of, parse
from pipeline.publish.groups import group_files
from pipeline.publish.target import code_owners

GITHUB_STYLE = """\
# the last matching line wins
*                 @octo/everyone
*.md              docs@example.com
/api/             @alice
/api/vendored/
web/**/*.py       @octo/web @bob
docs/             @carol
"""

GITLAB_STYLE = """\
* @default
[Backend] @backend-lead
api/
/api/internal/ @dan
^[Optional docs]
*.md @writer
"""


@pytest.mark.parametrize(
    ("path", "owners"),
    [
        ("setup.py", ("octo/everyone",)),
        ("README.md", ()),  # an e-mail cannot be asked to review
        ("api/views.py", ("alice",)),
        ("api/vendored/lib.py", ()),  # a pattern with no owner: unowned
        ("web/app/view.py", ("octo/web", "bob")),
        ("web/app/style.css", ("octo/everyone",)),
        ("src/docs/guide.txt", ("carol",)),  # unanchored directory: at any depth
        ("xapi/views.py", ("octo/everyone",)),
    ],
)
def test_github_rules(path: str, owners: tuple[str, ...]) -> None:
    assert owners_of(parse(GITHUB_STYLE), path) == owners


def test_gitlab_sections_add_up_and_take_their_default_owners() -> None:
    rules = parse(GITLAB_STYLE)
    assert owners_of(rules, "api/views.py") == ("default", "backend-lead")
    assert owners_of(rules, "api/internal/x.py") == ("default", "dan")
    assert owners_of(rules, "api/README.md") == ("default", "backend-lead", "writer")


def test_the_forges_first_location_decides(tmp_path: Path) -> None:
    repo_path = make_repo(tmp_path / "r", {
        "CODEOWNERS": "* @root-owner\n",
        ".github/CODEOWNERS": "* @github-owner\n",
        ".gitlab/CODEOWNERS": "* @gitlab-owner\n",
        "a.py": "",
    })  # fmt: skip
    repo = repository.open_repository(repo_path)
    head = repo.head.commit.hexsha
    assert code_owners(repo, head, "github", ["a.py"]) == {"a.py": ("github-owner",)}
    assert code_owners(repo, head, "gitlab", ["a.py"]) == {"a.py": ("root-owner",)}


def test_a_run_split_by_owner_asks_each_owner_once_and_stays_split(
    runner: CliRunner, forge: FakeForge, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "widgets", {
        ".github/CODEOWNERS": "/api/ @alice\n/web/ @octo/web\n",
        "api/a.py": module("a"), "api/b.py": module("b"), "web/c.py": module("c"),
        "tools/d.py": module("d"),
    })  # fmt: skip
    with_remote(forge, repo, "octo/widgets", users=("alice",))
    run_dir = dry_run(runner, repo)

    first = publish(runner, forge, run_dir, repo, "--split-by", "owner")
    again = publish(runner, forge, run_dir, repo, "--split-by", "owner")

    assert first.exit_code == 0, first.output
    assert first.output.count("pull request opened") == 3
    assert again.output.count("unchanged (already up to date)") == 3, again.output
    pulls = {p["head"]["ref"]: p for p in forge.open_pulls("octo/widgets")}
    assert sorted(pulls) == [
        "codemill/pr-modernize-alice",
        "codemill/pr-modernize-octo-web",
        "codemill/pr-modernize-unowned",
    ]
    alice, web, unowned = (
        pulls[f"codemill/pr-modernize-{k}"] for k in ("alice", "octo-web", "unowned")
    )
    assert [u["login"] for u in alice["requested_reviewers"]] == ["alice"]
    assert "`api/a.py` (@alice)" in alice["body"] and "`api/b.py`" in alice["body"]
    assert [t["slug"] for t in web["requested_teams"]] == ["web"]
    assert "**No code owner** for 1 file(s): tools/d.py." in unowned["body"]
    assert not unowned["requested_reviewers"] and "web/c.py" not in unowned["body"]


def test_groups_by_directory_with_at_most_n_files_are_the_same_for_the_same_files() -> None:
    files = ["b/2.py", "a/1.py", "b/1.py", "b/3.py", "top.py"]
    groups = group_files(files, {}, "directory", max_files=2)
    assert [(g.name, g.files) for g in groups] == [
        ("a", ("a/1.py",)),
        ("b-1", ("b/1.py", "b/2.py")),
        ("b-2", ("b/3.py",)),
        ("root", ("top.py",)),
    ]
    assert group_files(list(reversed(files)), {}, "directory", max_files=2) == groups
    assert [g.name for g in group_files(files, {}, "none", max_files=3)] == ["1", "2"]
    assert [g.files for g in group_files(files, {})] == [tuple(sorted(files))]


def test_an_owner_who_reviewed_is_not_asked_again(
    runner: CliRunner, forge: FakeForge, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "widgets", {"CODEOWNERS": "* @alice\n", "a.py": module("a")})
    with_remote(forge, repo, "octo/widgets", users=("alice",))
    run_dir = dry_run(runner, repo)
    assert publish(runner, forge, run_dir, repo).exit_code == 0
    forge.review("octo/widgets", 1, "alice", "CHANGES_REQUESTED")
    writes = len(forge.writes())

    again = publish(runner, forge, run_dir, repo)
    status = runner.invoke(app, ["status", str(run_dir)])

    assert "unchanged (already up to date)" in again.output, again.output
    assert len(forge.writes()) == writes
    assert "#1 open, checks passing, 1 changes_requested, mergeable clean" in status.output
