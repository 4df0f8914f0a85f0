"""`codemill run`, `report` and `apply` in-process with the local orchestrator and the loopback model: the
forecast and --max-cost refusal before any request, a gate turn repairing the chunk a test broke, and a
reviewed dry run rebuilt and committed without the model. The fast set's view of the model run; the same
promises are kept through the real command and Prefect in tests/cli/test_cli_model_loop.py."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from support.fake_model_server import FakeModelServer, FakeReply
from support.gitrepo import git, make_repo
from support.samples import SHAPES, tidy_recipe
from typer.testing import CliRunner, Result

from flows.cli import app

KEY = "sk-test-inprocess-SECRET"
FUNCTIONS = "".join(f'def f{i}(x):\n    return "v{i} %s" % x\n\n\n' for i in range(4))
TIDY = tidy_recipe()


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    for name in ("PREFECT_API_URL", "PREFECT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIMLAPI_API_KEY", KEY)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("CODEMILL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return CliRunner()


def python_block(text: str) -> str:
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)[-1]


def echo(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
    """The chunk back with a `%` format turned into an f-string, and token counts reported."""
    chunk = python_block(body["messages"][1]["content"])
    changed = re.sub(r'"(v\d) %s" % x', r'f"\1 {x}"', chunk)
    return FakeReply.completion(f"```python\n{changed}```", usage={"prompt_tokens": 90})


def invoke(runner: CliRunner, repo: Path, *args: str) -> Result:
    return runner.invoke(app, [*args, "--orchestrator", "local", "--no-progress", str(repo)])


def report_dir(output: str) -> Path:
    match = re.search(r"^codemill: report (.+)$", output, re.MULTILINE)
    assert match, output
    return Path(match.group(1))


def rows(report: Path) -> list[dict[str, Any]]:
    lines = (report / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["record"] == "row"]


def test_the_forecast_comes_first_and_max_cost_refuses_before_any_request(
    runner: CliRunner, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", {"many.py": FUNCTIONS})
    with FakeModelServer(handler=echo) as server:
        model = ("run", "--recipe", "modernize", "--engine", "llm", "--base-url", server.base_url)
        estimate = invoke(runner, repo, *model, "--estimate")
        refused = invoke(runner, repo, *model, "--dry-run", "--max-cost", "0.000001")
        asked_before = len(server.requests)
        done = invoke(runner, repo, *model, "--dry-run")

    assert estimate.exit_code == 0, estimate.output
    assert "modernize: 4 of 4 chunks to send, 0 cache hits" in estimate.output
    assert "nothing was sent" in estimate.output
    assert refused.exit_code == 2 and "is over --max-cost $1e-06" in refused.output
    assert asked_before == 0
    assert done.exit_code == 0, done.output
    assert "codemill: orchestrator local (in-process, asked for)" in done.output
    assert "4 accepted" in done.output and KEY not in done.output
    report = report_dir(done.output)
    assert all(
        r["status"] == "accepted" and r["forecast"]["prompt_tokens"] > 0 for r in rows(report)
    )
    assert '+    return f"v0 {x}"' in (report / "changes.patch").read_text()
    assert git(repo, "branch", "--list").split() == ["*", "main"]  # a dry run commits nothing


def test_a_gate_turn_repairs_the_chunk_a_test_broke(runner: CliRunner, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", SHAPES)
    (tmp_path / "tidy.md").write_text(TIDY)
    turns: list[str] = []

    def handler(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
        messages = body["messages"]
        chunk = python_block(messages[1]["content"])
        if "def area" not in chunk:
            return FakeReply.completion(f"```python\n{chunk}```")
        if len(messages) == 2:  # passes the per-chunk proof, breaks test_area
            return FakeReply.completion("```python\ndef area(w, h):\n    return w * h + 1\n```")
        turns.append(messages[-1]["content"])
        return FakeReply.completion("```python\ndef area(w, h):\n    return int(w * h)\n```")

    test_cmd = f"{sys.executable} -m pytest -q -p no:cacheprovider tests"
    with FakeModelServer(handler=handler) as server:
        done = invoke(
            runner,
            repo,
            *("run", "--recipe", str(tmp_path / "tidy.md"), "--base-url", server.base_url),
            *("--test-cmd", test_cmd, "--branch", "tidy"),
        )

    assert done.exit_code == 0, done.output
    [turn] = turns
    assert "broke a test" in turn and "test_area" in turn and "assert 7 == 6" in turn
    assert "return int(w * h)" in git(repo, "show", "tidy:pkg/shapes.py")
    [area] = [r for r in rows(report_dir(done.output)) if r["chunk"] == "area"]
    assert [t["turn"] for t in area["turns"]] == ["answer", "gate"]
    assert area["gates"]["tests"] == "passed after a gate turn"


def test_a_reviewed_dry_run_is_reported_again_and_applied_without_the_model(
    runner: CliRunner, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", {"many.py": FUNCTIONS})
    with FakeModelServer(handler=echo) as server:
        dry = invoke(
            runner, repo, "run", "--engine", "llm", "--base-url", server.base_url, "--dry-run"
        )
        asked = len(server.requests)
    assert dry.exit_code == 0, dry.output
    report = report_dir(dry.output)
    patch = (report / "changes.patch").read_text()
    (report / "changes.patch").unlink()

    again = runner.invoke(app, ["report", str(report), "--repo", str(repo)])
    applied = runner.invoke(app, ["apply", str(report), "--repo", str(repo), "--branch", "cm/ok"])

    assert again.exit_code == 0, again.output
    assert (report / "changes.patch").read_text() == patch
    assert applied.exit_code == 0, applied.output
    assert asked == 4 and 'return f"v3 {x}"' in git(repo, "show", "cm/ok:many.py")
    kept = (report / "ledger.jsonl").read_text().splitlines()[:-1]  # killed before its end record
    (report / "ledger.jsonl").write_text("\n".join(kept) + "\n")
    refused = runner.invoke(app, ["apply", str(report), "--repo", str(repo), "--branch", "cm/no"])
    assert refused.exit_code == 2 and "pass --partial" in refused.output
