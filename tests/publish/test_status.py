"""`codemill status` after the forge moved the pull requests on: two merged, one closed, one failing its
checks; each reading stored as snapshots in the state directory, drawn as a burndown in pulls.html,
whose chart renders and whose table sorts in Chromium."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from publishing import TOKEN, dry_run, module, publish, with_remote
from support import browser
from support.fake_forge import FakeForge
from support.gitrepo import make_repo
from typer.testing import CliRunner

from flows.cli import app
from pipeline.fleet.memory import fleet_dir
from pipeline.records.repo_result import RepoResult, RepoStatus
from pipeline.report.fleet import FleetRun, write_fleet_report

REPO = "octo/widgets"


def four_pull_requests(runner: CliRunner, forge: FakeForge, tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "widgets", {f"d{n}/m.py": module(f"m{n}") for n in range(4)})
    with_remote(forge, repo, REPO)
    run_dir = dry_run(runner, repo)
    assert publish(runner, forge, run_dir, repo, "--split-by", "directory").exit_code == 0
    return run_dir


def test_status_follows_the_pull_requests_until_they_merge(
    runner: CliRunner, forge: FakeForge, tmp_path: Path
) -> None:
    run_dir = four_pull_requests(runner, forge, tmp_path)

    before = runner.invoke(app, ["status", str(run_dir)])
    forge.merge(REPO, 1)
    forge.merge(REPO, 2)
    forge.close(REPO, 3)
    forge.set_checks(REPO, 4, "failure")
    after = runner.invoke(app, ["status", str(run_dir)])

    assert before.exit_code == 0 and after.exit_code == 0, after.output
    assert before.output.count(" open, checks passing, no reviews, mergeable clean: ") == 4
    lines = after.output.splitlines()
    assert lines[0].startswith(f"codemill: {REPO} #1 merged, checks passing, 1 approved, ")
    assert lines[2].startswith(f"codemill: {REPO} #3 closed, checks passing")
    assert lines[3].startswith(
        f"codemill: {REPO} #4 open, checks failing, no reviews, mergeable blocked"
    )
    stored = (tmp_path / "state" / "publish" / "status.jsonl").read_text().splitlines()
    assert len(stored) == 8 and TOKEN not in "".join(stored)
    assert [json.loads(s)["state"] for s in stored[4:]] == ["merged", "merged", "closed", "open"]
    page = (tmp_path / "state" / "publish" / "pulls.html").read_text()
    assert 'id="line-merged" data-values="0,2"' in page and 'data-values="0,1"' in page
    assert lines[-1] == f"codemill: burndown {tmp_path / 'state' / 'publish' / 'pulls.html'}"


def test_status_of_a_fleet_file_and_of_gitlab(
    runner: CliRunner, forge: FakeForge, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "app", {"a.py": module("a")})
    with_remote(forge, repo, "group/app", kind="gitlab")
    assert publish(runner, forge, dry_run(runner, repo), repo, kind="gitlab").exit_code == 0
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(f'[[repo]]\npath = "{forge.root / "group" / "app.git"}"\n', encoding="utf-8")
    forge.set_checks("group/app", 1, "pending")

    runs = fleet_dir(tmp_path / "state", fleet) / "runs" / "20261201-f1"
    write_fleet_report(runs, FleetRun("20261201-f1", "modernize", str(fleet), "2026-12-01", None, 0,
                                      [RepoResult("app", "app-1", RepoStatus.CHANGED)]))  # fmt: skip

    done = runner.invoke(app, ["status", str(fleet), "--out", str(tmp_path / "out")])
    nothing = runner.invoke(app, ["status", str(tmp_path)])

    assert done.exit_code == 0, done.output
    assert (
        "codemill: group/app #1 open, checks pending, no reviews, mergeable blocked" in done.output
    )
    assert (tmp_path / "out" / "pulls.html").is_file()
    assert done.output.endswith(f"codemill: fleet report {runs / 'fleet.html'}\n")
    page = (runs / "fleet.html").read_text()
    assert 'data-repo="app"' in page and 'id="line-open" data-values="1"' in page
    assert nothing.output == "codemill: no pull request on record there; publish a run first\n"


def snapshot(at: str, number: int, state: str, checks: str = "passing") -> dict[str, object]:
    return {"at": at, "repo": f"octo/<b>r{number}</b>", "number": number, "state": state,
            "checks": checks, "reviews": {}, "mergeable": "clean", "branch": "codemill/pr-x",
            "url": f"https://forge.invalid/pull/{number}"}  # fmt: skip


@pytest.mark.slow
def test_the_fleet_reports_burndown_renders_and_its_table_sorts_in_chromium(tmp_path: Path) -> None:
    readings = [snapshot("2026-01-01T00:00:00", n, "open") for n in (1, 2, 3)]
    later = "2026-01-02T00:00:00"
    readings += [snapshot(later, 1, "merged"), snapshot(later, 2, "open", "failing")]
    readings += [snapshot(later, 3, "closed")]
    run = FleetRun("f1", "modernize", "fleet.toml", "2026-01-01", None, 0,
                   [RepoResult("r1", "r1-1", RepoStatus.CHANGED)], pulls=readings)  # fmt: skip
    path = write_fleet_report(tmp_path / "out", run).html
    with browser.open_page(path.as_uri(), tmp_path / "chromium") as page:
        box = page.evaluate(
            "JSON.stringify(document.getElementById('burndown').getBoundingClientRect())"
        )
        lines = page.evaluate(
            "[...document.querySelectorAll('#burndown polyline')].map(l => l.id + '=' + l.dataset.values)"
        )
        dots = page.evaluate("document.querySelectorAll('#burndown circle').length")
        states = "[...document.querySelectorAll('#pulls tbody tr')].map(r => r.dataset.state)"
        page.click("#pulls th:nth-child(3)")
        by_state = page.evaluate(states)
        page.click("#pulls th:nth-child(3)")
        reversed_ = page.evaluate(states)
        text = page.evaluate("document.body.innerText")
        repos = page.evaluate(
            "[...document.querySelectorAll('#repos tbody tr')].map(r => r.dataset.repo)"
        )
        page.settle()
        assert json.loads(box)["width"] > 600 and json.loads(box)["height"] > 200
        assert lines == ["line-open=3,1", "line-merged=0,1", "line-closed=0,1", "line-failing=0,1"]
        assert dots == 8 and repos == ["r1"]
        assert by_state == ["open", "merged", "closed"] and reversed_ == [
            "closed",
            "merged",
            "open",
        ]
        assert "octo/<b>r1</b>" in text  # escaped: shown as text
        assert page.console_errors == []
        assert page.requests == [path.as_uri()]
