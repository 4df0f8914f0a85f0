"""report.html in Chromium as a reviewer uses it: it opens on what needs a decision, a filter click shows
the rest, unticking a file unticks its chunks and downloading gives the selection JSON that `codemill apply
--select` then lands. With CODEMILL_WRITE_SCREENSHOTS=1 the example's report is written to docs/report.png
(the README's picture); otherwise it goes to tests/artifacts only, so CI never rewrites docs."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from support import browser
from support.gitrepo import copy_example, git
from support.inprocess import isolated_runner
from support.reviewed_run import accepted_ids, offline_dry_run

from flows.cli import app

DOCS = Path(__file__).parents[2] / "docs"
ARTIFACTS = Path(__file__).parents[1] / "artifacts"
VISIBLE_STATUSES = (
    "[...new Set([...document.querySelectorAll('tr[data-status]')]"
    ".filter(r => r.offsetParent !== null).map(r => r.dataset.status))].sort()"
)


def downloaded(folder: Path) -> Path:
    """The one file Chromium finished downloading into `folder`."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done = list(folder.glob("*.json"))
        if done:
            return done[0]
        time.sleep(0.05)
    raise AssertionError(f"nothing was downloaded into {folder}")


@pytest.mark.slow
def test_a_reviewer_unticks_a_file_downloads_and_apply_lands_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = isolated_runner(monkeypatch, tmp_path)
    repo, report = offline_dry_run(runner, tmp_path / "repo")
    ids = accepted_ids(report)
    saves = tmp_path / "downloads"
    saves.mkdir()
    with browser.open_page((report / "report.html").as_uri(), tmp_path / "chromium") as page:
        assert page.console_errors == []
        assert page.evaluate(VISIBLE_STATUSES) == ["accepted"]  # no rejected chunk in this run
        page.click("input[data-filter][value=unchanged]")
        assert page.evaluate(VISIBLE_STATUSES) == ["accepted", "unchanged"]
        assert page.evaluate("location.hash") == "#status=accepted,unchanged"

        page.click("section.file[data-path='other/c.py'] input[data-file]")
        chunk_boxes = page.evaluate(
            "[...document.querySelectorAll('input[data-chunk]')].map(c => [c.dataset.chunk, c.checked])"
        )
        assert dict(chunk_boxes) == {i: path != "other/c.py" for i, path in ids.items()}
        assert page.evaluate("document.getElementById('kept-count').textContent") == str(
            len(ids) - 1
        )
        assert page.evaluate("document.querySelector('input[data-group=other]').checked") is False
        page.call(
            "Browser.setDownloadBehavior",
            {"behavior": "allow", "downloadPath": str(saves)},
            session=False,
        )
        page.click("#download-selection")
        chosen = downloaded(saves)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(ARTIFACTS / "report-selection.png")
        assert page.console_errors == []

    assert chosen.name == f"selection-{report.name}.json"
    assert json.loads(chosen.read_text()) == {
        "format": "codemill-selection/1",
        "run_id": report.name,
        "kept": [i for i, path in ids.items() if path != "other/c.py"],
        "left_out": [i for i, path in ids.items() if path == "other/c.py"],
    }
    applied = runner.invoke(
        app, ["apply", str(report), "--repo", str(repo), "--select", str(chosen)]
    )
    assert applied.exit_code == 0, applied.output
    [branch] = [b for b in git(repo, "branch", "--format=%(refname:short)").split() if b != "main"]
    assert git(repo, "diff", "--name-only", "main", branch).split() == ["pkg/a.py", "pkg/b.py"]


@pytest.mark.slow
def test_the_example_report_screenshot_for_the_docs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = isolated_runner(monkeypatch, tmp_path)
    repo = copy_example("legacy_app", tmp_path / "legacy_app")
    args = ["run", "--recipe", "modernize", "--dry-run", "--orchestrator", "local", "--no-progress"]
    done = runner.invoke(app, [*args, str(repo)])
    assert done.exit_code == 0, done.output
    report = Path(done.output.split("codemill: report ", 1)[1].split("\n", 1)[0])
    with browser.open_page(
        (report / "report.html").as_uri(), tmp_path / "chromium", (1280, 1400)
    ) as page:
        assert page.console_errors == []
        png = page.screenshot(tmp_path / "report.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000  # drawn
    if os.environ.get("CODEMILL_WRITE_SCREENSHOTS") == "1":  # the docs' picture, on request only
        shutil.copyfile(png, DOCS / "report.png")
