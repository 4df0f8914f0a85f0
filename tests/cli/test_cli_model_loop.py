"""The model loop through the real CLI on real repositories with the loopback model: the cost forecast
before any request, --max-cost refusing up front, forecast against actual in the report, an unpriced
local model's cost shown as unknown, and a gate turn that repairs a chunk the tests dropped."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.cli_support import LLM, CliEnv, codemill, make_cli_env
from support.fake_model_server import FakeModelServer, FakeReply
from support.gitrepo import git, make_repo
from support.samples import SHAPES, tidy_recipe

KEY = "sk-test-model-loop-SECRET"
FUNCTIONS = "".join(f'def f{i}(x):\n    return "v{i} %s" % x\n\n\n' for i in range(6))


@pytest.fixture
def cli(tmp_path: Path) -> CliEnv:
    """The local orchestrator: Prefect is not what these tests are about."""
    return make_cli_env(tmp_path / "home", None)


def last_python_block(text: str) -> str:
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)[-1]


def run(
    cli: CliEnv, repo: Path, server: FakeModelServer, *args: str
) -> subprocess.CompletedProcess[str]:
    return codemill(
        cli,
        "run",
        ".",
        "--recipe",
        "modernize",
        "--base-url",
        server.base_url,
        *args,
        cwd=repo,
        extra_env={"AIMLAPI_API_KEY": KEY, **LLM},
    )


def report_dir(stdout: str) -> Path:
    match = re.search(r"^codemill: report (.+)$", stdout, re.MULTILINE)
    assert match, stdout
    return Path(match.group(1))


def rows(report: Path) -> list[dict[str, Any]]:
    lines = (report / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["record"] == "row"]


def sized_answer(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
    """The chunk back, with token counts of the size a BPE tokenizer gives (about 3.6 bytes/token)."""
    messages = body["messages"]
    chunk = last_python_block(
        messages[-1]["content"] if len(messages) == 2 else messages[1]["content"]
    )
    content = (
        f"<think>\n{'Consider the chunk. ' * (len(chunk) // 40)}\n</think>\n\n```python\n{chunk}```"
    )
    prompt = sum(len(m["content"].encode()) for m in messages) // 3.6 + 6 * len(messages)
    usage = {"prompt_tokens": int(prompt), "completion_tokens": int(len(content) / 3.6)}
    return FakeReply.completion(content, usage=usage, usd=None)


def test_estimate_asks_nothing_and_max_cost_refuses_up_front(tmp_path: Path, cli: CliEnv) -> None:
    repo = make_repo(tmp_path / "repo", {"many.py": FUNCTIONS})
    with FakeModelServer(handler=sized_answer) as server:
        estimate = run(cli, repo, server, "--estimate")
        asked_for_estimate = len(server.requests)
        refused = run(cli, repo, server, "--dry-run", "--max-cost", "0.000001")
        asked_when_refused = len(server.requests)
        forced = run(cli, repo, server, "--dry-run", "--max-cost", "0.000001", "--force")

    assert estimate.returncode == 0, estimate.stderr
    assert asked_for_estimate == 0 and "nothing was sent" in estimate.stdout
    assert re.search(r"modernize: 6 of 6 chunks to send, 0 cache hits", estimate.stdout)
    assert "MiniMax-M2.1 list prices" in estimate.stdout
    assert refused.returncode == 2 and asked_when_refused == 0
    assert "is over --max-cost $1e-06" in refused.stderr and "--force" in refused.stderr
    assert forced.returncode == 0, forced.stderr
    report = report_dir(forced.stdout)
    sent = [r for r in rows(report) if r["attempts"]]
    assert sent and all(r["forecast"]["prompt_tokens"] > 0 for r in sent)
    summary = (report / "summary.md").read_text()
    assert "Forecast against actual" in summary


def test_a_rerun_forecasts_cache_hits_and_an_unpriced_model_shows_unknown(
    tmp_path: Path, cli: CliEnv
) -> None:
    repo = make_repo(tmp_path / "repo", {"many.py": FUNCTIONS})
    with FakeModelServer(handler=sized_answer) as server:
        first = run(cli, repo, server, "--dry-run", "--model", "SmolLM2-135M")
        again = run(cli, repo, server, "--estimate", "--model", "SmolLM2-135M")

    assert first.returncode == 0, first.stderr
    assert "unknown (6 answers with no price" in first.stdout
    assert (
        "MiniMax" not in (report_dir(first.stdout) / "summary.md").read_text().split("## Usage")[1]
    )
    assert re.search(r"0 of 6 chunks to send, 6 cache hits", again.stdout)
    assert "model SmolLM2-135M has no price" in again.stdout


TIDY = tidy_recipe()


def test_a_gate_turn_fixes_the_chunk_a_test_dropped(tmp_path: Path, cli: CliEnv) -> None:
    repo = make_repo(tmp_path / "repo", SHAPES)
    (tmp_path / "tidy.md").write_text(TIDY)
    feedback: list[str] = []

    def handler(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
        messages = body["messages"]
        chunk = last_python_block(messages[1]["content"])
        if "def area" not in chunk and "def perimeter" not in chunk:  # the tests: unchanged
            return FakeReply.completion(f"```python\n{chunk}```")
        if "def area" not in chunk:
            return FakeReply.completion(
                "```python\ndef perimeter(w, h):\n    return 2 * w + 2 * h\n```"
            )
        if len(messages) == 2:  # passes the per-chunk proof, breaks test_area
            return FakeReply.completion(
                "<think>\nScale.\n</think>\n\n```python\ndef area(w, h):\n    return w * h + 1\n```"
            )
        feedback.append(messages[-1]["content"])
        assert messages[2]["content"].startswith("<think>")  # the previous answer, think block kept
        return FakeReply.completion("```python\ndef area(w, h):\n    return int(w * h)\n```")

    test_cmd = f"{sys.executable} -m pytest -q -p no:cacheprovider tests"
    with FakeModelServer(handler=handler) as server:
        done = codemill(
            cli,
            "run",
            ".",
            "--recipe",
            str(tmp_path / "tidy.md"),
            "--base-url",
            server.base_url,
            "--test-cmd",
            test_cmd,
            "--branch",
            "tidy",
            cwd=repo,
            extra_env={"AIMLAPI_API_KEY": KEY, **LLM},
        )
        sent = len(server.requests)

    assert done.returncode == 0, done.stderr
    assert sent == 5  # four first answers (two of them the tests, unchanged), one gate turn
    [message] = feedback
    assert "broke a test" in message and "test_area" in message and "assert 7 == 6" in message
    shapes = git(repo, "show", "tidy:pkg/shapes.py")
    assert "return int(w * h)" in shapes and "return 2 * w + 2 * h" in shapes
    report = report_dir(done.stdout)
    [area] = [r for r in rows(report) if r["chunk"] == "area"]
    assert area["status"] == "accepted" and [t["turn"] for t in area["turns"]] == ["answer", "gate"]
    assert all(t["cost_usd"] > 0 for t in area["turns"]) and area["attempts"] == 2
    assert (
        area["gates"]["repaired"] == "kept" and area["gates"]["tests"] == "passed after a gate turn"
    )
    end = json.loads((report / "ledger.jsonl").read_text().splitlines()[-1])
    assert "1 extra test runs" in end["gates"]["gate-repairs"]
    assert "1 gate turns" in end["gates"]["gate-repairs"]
