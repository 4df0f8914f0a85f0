"""Publishing under the forge's limits: ten repositories published at once (as a fleet's members do) never
send the forge two writes less than a second apart; a secondary rate limit and a 429 are waited out and
the pull request still opened once; the cap on open codemill pull requests holds the rest back."""

from __future__ import annotations

import threading
from pathlib import Path

from publishing import TOKEN, dry_run, least_gap, module, publish, same_run_in, with_remote
from support.fake_forge import FakeForge
from support.gitrepo import make_repo
from typer.testing import CliRunner

from pipeline.publish.publishing import PublishOutcome, publish_run


def test_ten_repositories_at_once_never_write_faster_than_once_a_second(
    runner: CliRunner, forge: FakeForge, tmp_path: Path
) -> None:
    run_dir, repos = same_run_in(runner, forge, tmp_path, 10)
    settings = {"forge_url": forge.github_url, "forge_write_interval": 1.0}
    outcomes: list[PublishOutcome] = []

    def one(run_dir: Path, repo: Path) -> None:
        outcomes.append(publish_run(run_dir, repo, settings, {"GITHUB_TOKEN": TOKEN,
                                    "CODEMILL_STATE_DIR": str(tmp_path / "state")}))  # fmt: skip

    threads = [threading.Thread(target=one, args=(run_dir, repo)) for repo in repos]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(o.groups[0].action for o in outcomes) == ["opened"] * 10
    assert len(forge.writes()) == 10 and least_gap(forge) >= 1.0


def test_rate_limit_answers_are_waited_out_and_the_pull_request_opened_once(
    runner: CliRunner, forge: FakeForge, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "widgets", {"a.py": module("a")})
    with_remote(forge, repo, "octo/widgets")
    run_dir = dry_run(runner, repo)
    forge.secondary_limit("POST", r"/pulls$", after="1")
    forge.fail_next(
        "POST", r"/pulls$", 429, {"message": "Too Many Requests"}, **{"retry-after": "1"}
    )

    done = publish(runner, forge, run_dir, repo)

    assert done.exit_code == 0, done.output
    assert (
        "note: the forge asked to slow down 2 times; waited 2 s in all and went on" in done.output
    )
    posts = [w for w in forge.writes() if w.path.endswith("/pulls")]
    assert len(posts) == 3 and len(forge.open_pulls("octo/widgets")) == 1
    assert posts[1].at - posts[0].at >= 1.0 and posts[2].at - posts[1].at >= 1.0


def test_the_cap_on_open_pull_requests_holds_the_rest_back(
    runner: CliRunner, forge: FakeForge, tmp_path: Path
) -> None:
    files = {f"d{n}/m.py": module(f"m{n}") for n in range(3)}
    repo = make_repo(tmp_path / "widgets", files)
    with_remote(forge, repo, "octo/widgets")
    run_dir = dry_run(runner, repo)

    done = publish(runner, forge, run_dir, repo, "--split-by", "directory", "--max-open-prs", "2")

    assert done.exit_code == 0, done.output
    assert done.output.count("pull request opened") == 2
    assert "held: branch codemill/pr-modernize-d2 (1 file) not published" in done.output
    assert forge.branch_head("octo/widgets", "codemill/pr-modernize-d2") is None
    assert len(forge.open_pulls("octo/widgets")) == 2
