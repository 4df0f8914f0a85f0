"""`--engine hybrid` end to end, in-process over the loopback model: the recipe's rewrites (libcst codemods
and ruff's fixes) first, the model only for the chunks that still match the selectors, starting from the
rewritten text; every change attributed (engine and rule) in the ledger, counted in the summary, and the
same repository through `--engine llm` for the comparison."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from support.fake_model_server import FakeModelServer, FakeReply
from support.gitrepo import make_repo
from support.inprocess import isolated_runner
from typer.testing import CliRunner, Result

from flows.cli import app

KEY = "sk-test-hybrid-SECRET"
SOURCE = """\
import logging

log = logging.getLogger(__name__)


def plain(x):
    return "plain %s" % x


def keyed(d):
    return "%(a)s!" % d


class Base(object):
    def name(self):
        return "base"


class Child(Base):
    def name(self):
        return super(Child, self).name() + "%(b)s" % {"b": 1}


def untouched(x):
    return x + 1


def lazy(x):
    log.info("%s", x)
"""


def python_block(text: str) -> str:
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)[-1]


def rewrite(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
    """The model: every `"%(k)s..." % mapping` it is shown becomes an f-string; the rest comes back
    as it was sent (so what the model was shown is kept in `body`)."""
    chunk = python_block(body["messages"][1]["content"])
    changed = re.sub(r'"%\((\w)\)s!" % (\w+)', lambda m: f"f\"{{{m[2]}['{m[1]}']}}!\"", chunk)
    changed = changed.replace('"%(b)s" % {"b": 1}', 'f"{1}"')
    return FakeReply.completion(f"```python\n{changed}```", usage={"prompt_tokens": 100})


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    return isolated_runner(monkeypatch, tmp_path, AIMLAPI_API_KEY=KEY)


def invoke(runner: CliRunner, repo: Path, *args: str) -> Result:
    return runner.invoke(
        app, ["run", *args, "--orchestrator", "local", "--no-progress", "--dry-run", str(repo)]
    )


def report_dir(output: str) -> Path:
    match = re.search(r"^codemill: report (.+)$", output, re.MULTILINE)
    assert match, output
    return Path(match.group(1))


def rows(report: Path) -> dict[str, dict[str, Any]]:
    lines = (report / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    return {r["chunk"]: r for r in map(json.loads, lines) if r["record"] == "row"}


def test_the_hybrid_asks_the_model_only_what_the_rewrites_leave(
    runner: CliRunner, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", {"pkg/mod.py": SOURCE})
    with FakeModelServer(handler=rewrite) as server:
        hybrid = invoke(
            runner, repo, "--base-url", server.base_url, "--no-cache", "--engine", "hybrid"
        )
        shown = [python_block(r.body["messages"][1]["content"]) for r in server.requests]
        asked_hybrid = len(server.requests)
        model = invoke(runner, repo, "--base-url", server.base_url, "--no-cache", "--engine", "llm")
        asked_model = len(server.requests) - asked_hybrid

    assert hybrid.exit_code == 0, hybrid.output
    assert "engine hybrid" in hybrid.output
    got = rows(report_dir(hybrid.output))
    assert got["plain"]["engine"] == "codemod" and got["plain"]["status"] == "accepted"
    assert got["plain"]["rule"] == "ConvertPercentFormatStringCommand"
    assert got["keyed"]["engine"] == "llm" and got["keyed"]["new_text"].endswith("f\"{d['a']}!\"\n")
    assert got["Base"]["engine"] == "codemod" and got["Base"]["rule"] == "ruff:UP004"  # ruff first
    child = got["Child"]
    assert child["engine"] == "codemod+llm" and child["status"] == "accepted"
    assert child["rule"] == "ruff:UP008"  # ruff's super() fix, then the model's f-string
    assert 'return super().name() + f"{1}"' in child["new_text"]
    # the model saw Child as the codemods left it, and never saw plain, Base or untouched
    assert any("super().name()" in text for text in shown)
    assert not any("def plain" in text or "class Base" in text for text in shown)
    assert got["untouched"]["status"] == "skipped" and got["untouched"]["engine"] == "hybrid"
    summary = (report_dir(hybrid.output) / "summary.md").read_text()
    assert "- Changes by engine: codemod 2, llm 1, codemod+llm 1" in summary

    assert model.exit_code == 0, model.output
    by_model = rows(report_dir(model.output))
    accepted = [r for r in by_model.values() if r["status"] == "accepted"]
    assert asked_hybrid < asked_model
    assert len([r for r in got.values() if r["status"] == "accepted"]) >= len(accepted)
    assert KEY not in hybrid.output + model.output


def test_the_estimate_forecasts_the_hybrids_smaller_bill_and_max_cost_uses_it(
    runner: CliRunner, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", {"pkg/mod.py": SOURCE})
    with FakeModelServer(handler=rewrite) as server:
        prices = ("--price-input", "1000", "--price-output", "1")  # USD per million tokens
        flags = ("--base-url", server.base_url, "--no-cache", *prices)
        estimate = invoke(runner, repo, *flags, "--estimate")
        limit = ("--max-cost", "2.5")  # over the hybrid's forecast, under the model engine's
        refused = invoke(runner, repo, *flags, *limit, "--engine", "llm")
        tight = invoke(runner, repo, *flags, "--max-cost", "1")  # under the hybrid's too
        asked_refused = len(server.requests)
        done = invoke(runner, repo, *flags, *limit)

    assert estimate.exit_code == 0, estimate.output
    header, hybrid_line, _, model_line = estimate.output.splitlines()[-4:]
    assert header.startswith("codemill: forecast for engine hybrid (the recipe's rewrites first")
    hybrid = "codemill: modernize (hybrid: the rewrites first): 2 of 7 chunks to send"
    assert hybrid_line.startswith(hybrid)
    every = "codemill: with --engine llm (every selected chunk to the model): modernize: 4 of 7"
    assert model_line.startswith(every)
    assert refused.exit_code == 2 and "is over --max-cost $2.50" in refused.output
    assert tight.exit_code == 2 and "of 2 chunks is over --max-cost $1.00" in tight.output
    assert asked_refused == 0
    assert done.exit_code == 0, done.output
    assert "4 accepted" in done.output


def test_a_model_answer_that_fails_its_proof_leaves_the_rewrites_change_standing(
    runner: CliRunner, tmp_path: Path
) -> None:
    def renames(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
        chunk = python_block(body["messages"][-1]["content"] if len(body["messages"]) == 2 else "")
        return FakeReply.completion(f"```python\n{chunk.replace('def name', 'def label')}```")

    repo = make_repo(tmp_path / "repo", {"pkg/mod.py": SOURCE})
    with FakeModelServer(handler=renames) as server:
        done = invoke(
            runner, repo, "--base-url", server.base_url, "--no-cache", "--repair-turns", "0"
        )

    assert done.exit_code == 0, done.output
    child = rows(report_dir(done.output))["Child"]
    assert child["status"] == "accepted" and child["engine"] == "codemod"
    assert child["rule"] == "ruff:UP008" and "return super().name() +" in child["new_text"]
    assert child["detail"].startswith("the model's turn added nothing: ")
    assert child["prompt_tokens"] > 0  # the model's turn was paid for, and counted
