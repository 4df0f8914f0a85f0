"""The fleet report: one row per repository, totals, slowest and most expensive; fleet.html in Chromium."""

from __future__ import annotations

import html
import json
from pathlib import Path

from support import browser

from pipeline.records.repo_result import RepoResult, RepoStatus, fleet_exit_code
from pipeline.report.fleet import FleetRun, write_fleet_report

HOSTILE = "<img src=x onerror=alert(1)>"


def results(tmp_path: Path) -> list[RepoResult]:
    report = tmp_path / "runs" / "billing"
    report.mkdir(parents=True)
    (report / "report.html").write_text("<p>run report</p>")
    return [
        RepoResult(
            "billing",
            "billing-1",
            RepoStatus.CHANGED,
            "",
            0,
            "a" * 40,
            "r1",
            3,
            7,
            1,
            1200,
            0.25,
            "codemill/modernize/x",
            True,
            str(report),
            40.0,
        ),
        RepoResult("lib", "lib-2", RepoStatus.SKIPPED, "unchanged since fleet run f0", 0, "b" * 40),
        RepoResult(
            f"web{HOSTILE}",
            "web-3",
            RepoStatus.FAILED,
            f"git clone failed: {HOSTILE}",
            2,
            seconds=2.0,
        ),
        RepoResult(
            "tools",
            "tools-4",
            RepoStatus.NO_CHANGE,
            "nothing to change",
            0,
            "c" * 40,
            "r4",
            0,
            0,
            0,
            300,
            0.5,
            seconds=5.0,
        ),
    ]


def fleet_run(tmp_path: Path) -> FleetRun:
    rows = results(tmp_path)
    return FleetRun(
        "20261201-f1",
        "modernize",
        "/srv/fleet.toml",
        "2026-12-01T00:00:00+00:00",
        "2026-12-01T00:05:00+00:00",
        fleet_exit_code(rows),
        rows,
    )


def test_json_and_markdown_carry_every_row_and_the_totals(tmp_path: Path) -> None:
    paths = write_fleet_report(tmp_path / "out", fleet_run(tmp_path))
    data = json.loads(paths.json.read_text())
    assert data["exit_code"] == 2
    assert [r["name"] for r in data["repos"]] == ["billing", "lib", f"web{HOSTILE}", "tools"]
    assert data["totals"]["by_status"] == {"changed": 1, "skipped": 1, "failed": 1, "no-change": 1}
    assert data["totals"]["files_changed"] == 3 and data["totals"]["tokens"] == 1500
    assert data["totals"]["cost_usd"] == 0.75 and data["totals"]["pushed"] == 1
    assert data["slowest"] == ["billing", "tools", f"web{HOSTILE}"]
    assert data["most_expensive"] == ["tools", "billing"]
    markdown = paths.markdown.read_text()
    assert "4 repositories: 1 changed, 1 skipped, 1 failed, 1 no-change" in markdown
    assert (
        "| billing | changed |  | 3 | 7 | 1 | 1,200 | $0.2500 | `codemill/modernize/x` (pushed)"
        in markdown
    )
    assert "Most expensive: tools ($0.5000), billing ($0.2500)." in markdown


def test_fleet_html_is_inert_and_escapes_what_repositories_say(tmp_path: Path) -> None:
    page = write_fleet_report(tmp_path / "out", fleet_run(tmp_path)).html.read_text()
    assert HOSTILE not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "content=\"default-src 'none'; style-src 'unsafe-inline'" in html.unescape(page)


def test_fleet_html_in_chromium(tmp_path: Path) -> None:
    paths = write_fleet_report(tmp_path / "out", fleet_run(tmp_path))
    with browser.open_page(paths.html.as_uri(), tmp_path / "chromium") as page:
        text = page.evaluate("document.body.innerText")
        rows = page.evaluate(
            "[...document.querySelectorAll('#repos tbody tr')].map(r => r.dataset.repo)"
        )
        counts = page.evaluate(
            "['count-repos','count-changed','count-skipped','files-changed','cost-usd']"
            ".map(i => document.getElementById(i).textContent)"
        )
        link = page.evaluate("document.querySelector('tr[data-repo=billing] a').href")
        assert rows == ["billing", "lib", f"web{HOSTILE}", "tools"]
        assert counts == ["4", "1", "1", "3", "$0.7500"]
        assert link == (tmp_path / "runs" / "billing" / "report.html").as_uri()
        assert "git clone failed: <img src=x onerror=alert(1)>" in text  # shown as text
        assert page.evaluate("document.images.length") == 0
        page.settle()
        assert page.console_errors == []
        assert page.requests == [paths.html.as_uri()]
