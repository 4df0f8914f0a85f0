"""What a run shows in Prefect's UI, built without a server: the flow run's name, tags and parameters,
codemill's own log lines (from a real offline run), and the summary and chunk-table artifacts (capped,
accepted and rejected first, each changed chunk with its own diff)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.gitrepo import make_repo

from flows import prefect_view
from flows.refactor import refactor_repo
from flows.run_logs import LoggedView
from pipeline.config import RunConfig
from pipeline.judge.verdicts import Reason, Status
from pipeline.records.ledger import FILE_KIND, Ledger, LedgerRow
from pipeline.report.patch import unified_patch
from pipeline.run.execute import execute_run
from pipeline.run.result import RunResult
from pipeline.run.runner import LocalRunner, QuietView
from pipeline.run.setup import prepare_run

KEY = "sk-view-SECRET-0123456789"
FILES = {
    f"pkg/m{i}.py": "".join(
        f"def f{j}(x):\n    return 'v{j} %s' % x\n\n\ndef g{j}():\n    return {j}\n\n\n"
        for j in range(3)
    )
    for i in range(4)
}


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResult, list[str]]:
    """One real offline dry run over four files, seen through LoggedView: (the result, the log)."""
    root = tmp_path_factory.mktemp("view")
    repo = make_repo(root / "app", FILES)
    env = {"CODEMILL_STATE_DIR": str(root / "state"), "AIMLAPI_API_KEY": KEY}
    config = RunConfig(repo=repo, engine="codemod", dry_run=True, report_dir=root / "reports")
    logger = logging.getLogger("test-prefect-view")
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    view = LoggedView(QuietView(), logger, [KEY], every_s=0.001)
    work = execute_run(config, ["."], runner=LocalRunner(), view=view, env=env)
    result = asyncio.run(work)
    for line in prefect_view.outcome_lines(result):
        view.log(f"{line} {KEY}")  # a secret that slipped into a line is masked on its way out
    return result, lines


def test_log_lines_tell_the_run_from_start_to_end_with_no_secret(
    offline_run: tuple[RunResult, list[str]],
) -> None:
    result, lines = offline_run
    assert lines[0].startswith("codemill: recipe modernize, engine codemod (offline); 4 files")
    assert any(re.search(r"codemill: .*12 accepted", line) for line in lines[1:-3])
    assert lines[-3] == "codemill: 12 accepted, 12 unchanged; 4 files changed ***"
    assert lines[-2] == "codemill: 12 accepted: 12 imported ***"  # what proved them
    report = (result.report_dir / "report.html").as_uri()
    assert lines[-1] == f"codemill: report {report} ***"  # the key masked on its way out
    assert KEY not in "\n".join(lines)


def test_summary_shows_each_changed_chunk_with_its_own_diff_and_where_the_report_is(
    offline_run: tuple[RunResult, list[str]],
) -> None:
    result, _ = offline_run
    ledger = Ledger.read(result.report_dir / "ledger.jsonl")
    patch = (result.report_dir / "changes.patch").read_text(encoding="utf-8")
    text = prefect_view.summary_markdown(ledger.rows, patch, result.report_dir, "the run")
    assert "## Changed chunks (12)" in text and "12 accepted, 12 unchanged" in text
    assert "Evidence: 12 accepted: 12 imported" in text  # what proved them, as the run's line says
    assert f"- Report: `{(result.report_dir / 'report.html').as_uri()}`" in text
    section = text.split("### `pkg/m1.py` `f2` (lines 17-18, codemod)")[1].split("###")[0]
    assert "-    return 'v2 %s' % x" in section and "+    return f'v2 {x}'" in section
    assert "'v1 %s'" not in section  # another chunk's change is under that chunk's heading
    capped = prefect_view.SUMMARY_CHUNKS
    try:
        prefect_view.SUMMARY_CHUNKS = 5
        short = prefect_view.summary_markdown(ledger.rows, patch, result.report_dir, "the run")
    finally:
        prefect_view.SUMMARY_CHUNKS = capped
    assert short.count("```diff") == 5 and "7 more changed chunks left out" in short


def row(path: str, status: Status, line: int, kind: str = "function") -> LedgerRow:
    return LedgerRow("r", path, f"c{line}", kind, line, line + 1, "d", status, Reason.LAZY)


def test_chunk_table_puts_decisions_first_and_says_how_many_rows_it_left_out() -> None:
    rows = [
        row("a.py", Status.UNCHANGED, 1),
        row("z.py", Status.SKIPPED, 0, FILE_KIND),
        row("b.py", Status.REJECTED, 5),
        row("c.py", Status.ACCEPTED, 9),
        row("a.py", Status.ACCEPTED, 3),
    ]
    table, left_out = prefect_view.chunk_table(rows, limit=3)
    assert [(r["status"], r["path"]) for r in table] == [
        ("accepted", "a.py"), ("accepted", "c.py"), ("rejected", "b.py")
    ]  # fmt: skip
    assert left_out == 2
    everything, none_left = prefect_view.chunk_table(rows)
    assert everything[-1]["path"] == "z.py" and none_left == 0


def test_name_tags_and_parameters_match_the_run(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "shop", {"m.py": "x = 1\n"})
    env = {"CODEMILL_STATE_DIR": str(tmp_path / "state"), "AIMLAPI_API_KEY": KEY}
    config = RunConfig(repo=repo, base_url="https://u:pw@llm.invalid/v1", dry_run=True)
    setup = prepare_run(replace(config, engine="codemod"), env, datetime.now(UTC), "20261207-1")
    repo = prefect_view.repo_name(config)
    assert prefect_view.run_name(repo, config, setup.run_id) == "shop-modernize-20261207-1"
    assert prefect_view.run_name("app", config, None) == "app-modernize"  # a fleet's name wins
    assert prefect_view.run_tags(repo, config, "codemod") == [
        "codemill", "recipe:modernize", "engine:codemod", "repo:shop"
    ]  # fmt: skip
    offline = refactor_repo.serialize_parameters({"config": config, "paths": ["."], "setup": setup})
    text = json.dumps(offline)
    assert offline["config"]["engine"] == "codemod" and offline["run_id"] == "20261207-1"
    assert "model" not in offline["config"] and "minimax" not in text and "llm.invalid" not in text
    assert "setup" not in offline and "prompt" not in text  # the recipe is not a parameter
    llm = refactor_repo.serialize_parameters({"config": replace(config, engine="llm"), "paths": []})
    assert llm["config"]["model"] == config.model and llm["config"]["engine"] == "llm"
    assert "https://***@llm.invalid/v1" in json.dumps(llm) and KEY not in json.dumps(llm)


def test_a_hunk_shared_by_two_chunks_is_shown_once_and_a_long_diff_is_cut() -> None:
    before = "def a():\n    return 1\ndef b():\n    return 2\n" + "x = 0\n" * 12
    after = "def a():\n    return 10\ndef b():\n    return 20\n" + "x = 1\n" * 12
    patch = unified_patch({"m.py": (before.encode(), after.encode())})
    rows = [row("m.py", Status.ACCEPTED, 1), row("m.py", Status.ACCEPTED, 3)]
    rows.append(replace(row("m.py", Status.ACCEPTED, 5), end_line=16))
    diffs = prefect_view.chunk_diffs(rows, patch)
    assert diffs[0][1] is not None and "+    return 20" in diffs[0][1]
    assert diffs[1][1] is None  # its change is in c1's hunk, shown there
    text = prefect_view.summary_markdown(rows, patch, Path("/r"), "run")
    assert text.count("@@ -1,") == 1 and "changed in the diff of the chunk above" in text
    limit = prefect_view.SUMMARY_DIFF_LINES
    try:
        prefect_view.SUMMARY_DIFF_LINES = 4
        cut = prefect_view.summary_markdown(rows, patch, Path("/r"), "run")
    finally:
        prefect_view.SUMMARY_DIFF_LINES = limit
    assert "more diff lines in the patch" in cut and "+    return 20" not in cut
