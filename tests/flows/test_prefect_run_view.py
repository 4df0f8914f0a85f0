"""The example's offline run as Prefect shows it, against a real Prefect server: the flow run's name,
tags and parameters, codemill's lines in its logs, the summary and chunk-table artifacts, no secret
anywhere, the terminal's last line; and Prefect's own flow-run page in Chromium (logs and artifacts tabs),
written to docs/ when CODEMILL_WRITE_SCREENSHOTS=1.

One flow run for the module (the run and the server cost seconds each); both tests read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import browser
from support.gitrepo import copy_example

from pipeline.config import load_config
from pipeline.run.result import RunResult
from pipeline.run.setup import new_run_id

KEY = "sk-prefect-view-SECRET-0123456789"
RUN_ID = new_run_id()  # a server shared between sessions holds earlier runs
DOCS = Path(__file__).resolve().parents[2] / "docs"
WRITE = "CODEMILL_WRITE_SCREENSHOTS"


@dataclass
class Seen:
    """What the run left in Prefect, read back through its API, and what the terminal showed."""

    result: RunResult
    flow_run: Any
    logs: list[str]
    artifacts: dict[str, Any]
    stderr: str
    ui: str


async def read_back(api: str, name: str) -> tuple[Any, list[str], dict[str, Any]]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas import filters

    async with get_client() as client:
        by_name = filters.FlowRunFilter(name=filters.FlowRunFilterName(any_=[name]))
        (flow_run,) = await client.read_flow_runs(flow_run_filter=by_name)
        mine = filters.LogFilterFlowRunId(any_=[flow_run.id])
        logs = await client.read_logs(log_filter=filters.LogFilter(flow_run_id=mine))
        of_run = filters.ArtifactFilterFlowRunId(any_=[flow_run.id])
        found = await client.read_artifacts(
            artifact_filter=filters.ArtifactFilter(flow_run_id=of_run)
        )
    return flow_run, [log.message for log in logs], {a.key: a.data for a in found if a.key}


@pytest.fixture(scope="module")
def seen(prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> Seen:
    from prefect.logging.handlers import APILogHandler
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.refactor import refactor_repo

    root = tmp_path_factory.mktemp("prefect-view")
    repo = copy_example("legacy_app", root / "legacy_app")
    env = {
        "AIMLAPI_API_KEY": KEY,
        "CODEMILL_STATE_DIR": str(root / "state"),
        "PREFECT_API_URL": prefect_api,  # the run's worker processes log there too
    }
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, temporary_settings({PREFECT_API_URL: prefect_api}):
        for name, value in env.items():
            patch.setenv(name, value)
        config = load_config(repo, {"engine": "codemod", "dry_run": True}, os.environ)
        with contextlib.redirect_stderr(err):
            result = asyncio.run(refactor_repo(config, [str(repo)], run_id=RUN_ID))
        APILogHandler().flush()
        flow_run, logs, artifacts = asyncio.run(
            read_back(prefect_api, f"legacy_app-modernize-{RUN_ID}")
        )
    return Seen(result, flow_run, logs, artifacts, err.getvalue(), prefect_api.removesuffix("/api"))


def test_the_flow_run_is_named_tagged_and_logged_as_the_run_it_is(seen: Seen) -> None:
    run = seen.flow_run
    assert run.name == f"legacy_app-modernize-{RUN_ID}"
    assert {"codemill", "recipe:modernize", "engine:codemod", "repo:legacy_app"} <= set(run.tags)
    config = run.parameters["config"]
    assert config["engine"] == "codemod" and "model" not in config and "base_url" not in config
    assert run.parameters["run_id"] == RUN_ID
    starts = [m for m in seen.logs if m.startswith("codemill: recipe modernize, engine codemod")]
    assert len(starts) == 1
    report = (seen.result.report_dir / "report.html").as_uri()
    assert f"codemill: report {report}" in seen.logs
    accepted = seen.result.totals.by_status["accepted"]
    assert any(m.startswith(f"codemill: {accepted} accepted") for m in seen.logs)
    link = f"codemill: Prefect flow run {run.name}: {seen.ui}/runs/flow-run/{run.id}"
    assert link in seen.stderr.splitlines()
    everything = json.dumps([seen.logs, run.parameters, seen.artifacts], default=str)
    assert KEY not in everything


def test_the_artifacts_show_the_changes_first(seen: Seen) -> None:
    summary = seen.artifacts["codemill-summary"]
    assert str(seen.result.report_dir / "report.html") in summary
    assert "## Changed chunks" in summary and "```diff\n@@ -" in summary
    table = json.loads(seen.artifacts["codemill-chunks"])
    statuses = [row["status"] for row in table]
    decided = [s for s in statuses if s in ("accepted", "rejected")]
    assert decided and statuses[: len(decided)] == decided  # decisions before anything else


def wait_for_text(page: browser.Page, text: str, timeout: float = 60.0) -> None:
    """Poll until the page's text holds `text` (Prefect's UI renders after its API calls)."""
    deadline = time.monotonic() + timeout
    probe = f"document.body.innerText.includes({json.dumps(text)})"
    while not page.evaluate(probe):
        if time.monotonic() > deadline:
            raise AssertionError(f"the page never showed {text!r}")
        time.sleep(0.5)


def click_text(page: browser.Page, text: str) -> None:
    """Click the innermost element whose whole text is `text` (a tab, an artifact's title)."""
    page.evaluate(
        "[...document.querySelectorAll('*')].filter(e => !e.children.length"
        f" && e.innerText && e.innerText.trim() === {json.dumps(text)})[0].click()"
    )


@pytest.mark.slow
def test_prefect_flow_run_page_shows_codemill_logs_and_artifacts(
    seen: Seen, tmp_path: Path
) -> None:
    url = f"{seen.ui}/runs/flow-run/{seen.flow_run.id}"
    report = f"codemill: report {(seen.result.report_dir / 'report.html').as_uri()}"
    shots = []
    with browser.open_page(url, tmp_path / "chromium", size=(1400, 1500)) as page:
        wait_for_text(page, report)
        shots.append(page.screenshot(tmp_path / "prefect-logs.png"))
        click_text(page, "Artifacts")
        wait_for_text(page, "codemill-chunks")
        page.settle()
        shots.append(page.screenshot(tmp_path / "prefect-artifacts.png"))
        click_text(page, "codemill-summary")
        wait_for_text(page, "Changed chunks")
        page.settle()
        shots.append(page.screenshot(tmp_path / "prefect-summary.png"))
    for png in shots:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if os.environ.get(WRITE) == "1":
            shutil.copyfile(png, DOCS / png.name)
