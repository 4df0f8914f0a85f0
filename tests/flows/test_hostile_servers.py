"""`codemill run` in-process against hostile model servers (support.fault_server): a trickle, an endless
stream, deep JSON, a gzip bomb and oversized answers each end the one chunk they answer with one sentence
in its ledger row, the other chunk goes on, the run exits with its documented code, the ledger is closed
and the report written, no worktree or half-made branch remains and the user's checkout is untouched."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.fake_model_server import FakeModelServer, FakeReply
from support.fault_server import deep_json, endless_stream, gzip_bomb, oversized, trickle
from support.gitrepo import fingerprint, git, make_repo
from typer.testing import CliRunner

from flows.cli import app
from pipeline.model import request

KEY = "sk-hostile-cli-SECRET"
SOURCE = 'def good(x):\n    return "good %s" % x\n\n\ndef bad(x):\n    return "bad %s" % x\n'
BAD = 'def bad(x):\n    return f"bad {x}"\n'
Fault = Callable[[], FakeReply]


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_PROFILE", raising=False)
    homes = {"PREFECT_HOME": "prefect", "CODEMILL_STATE_DIR": "state", "XDG_CACHE_HOME": "cache"}
    for name, folder in {**homes, "AIMLAPI_API_KEY": KEY}.items():
        monkeypatch.setenv(name, folder if name.startswith("AIMLAPI") else str(tmp_path / folder))
    # Two quick attempts, so a retried fault costs two deadlines, not six and a minute of backoff.
    settings = request.ModelSettings.from_config.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(
        request.ModelSettings,
        "from_config",
        classmethod(
            lambda cls, config: dataclasses.replace(
                settings(cls, config), max_attempts=2, backoff_base=0.01
            )
        ),
    )
    return CliRunner()


def python_block(text: str) -> str:
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)[-1]


def handler(fault: Fault) -> Callable[[dict[str, Any], dict[str, str]], FakeReply]:
    """The fault for the chunk `bad`; `good` comes back as an f-string (a change to commit)."""

    def answer(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
        chunk = python_block(body["messages"][1]["content"])
        if "def bad" in chunk:
            return fault()
        changed = re.sub(r'"(\w+) %s" % x', r'f"\1 {x}"', chunk)
        if body.get("stream"):
            return FakeReply.stream(f"```python\n{changed}```")
        return FakeReply.completion(f"```python\n{changed}```")

    return answer


# fault, extra flags, the request deadline, exit code, the bad chunk's status and reason, its sentence
CASES = {
    "trickle": (
        lambda: trickle(FakeReply.completion(f"```python\n{BAD}```"), 0.05),
        (),
        "0.5",
        5,
        ("failed", "provider-error"),
        "did not finish its answer within the request deadline of 0.5 s",
    ),
    "endless-stream": (
        lambda: endless_stream(0.05),
        ("--stream",),
        "0.5",
        5,
        ("failed", "provider-error"),
        "did not finish its answer within the request deadline of 0.5 s",
    ),
    "deep-json": (
        lambda: deep_json(100_000),
        (),
        "30",
        5,
        ("failed", "provider-error"),
        "JSON nested too deeply to read",
    ),
    "gzip-bomb": (
        lambda: gzip_bomb(1 << 30),
        (),
        "30",
        0,
        ("rejected", "too-large"),
        "the body decodes to more than 327,680 bytes, more than 8,192 tokens can need",
    ),
    "oversized-answer": (
        lambda: oversized(BAD, 200_000),
        (),
        "30",
        0,
        ("rejected", "too-large"),
        "characters, more than 8,192 tokens can hold",
    ),
    "oversized-body": (
        lambda: oversized(BAD, 4_000_000),
        (),
        "30",
        0,
        ("rejected", "too-large"),
        "the body decodes to more than 327,680 bytes",
    ),
}


def ledger(report: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (report / "ledger.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_hostile_server_fails_one_chunk_and_the_run_ends_well(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    fault, flags, deadline, code, verdict, sentence = CASES[case]
    monkeypatch.setenv("CODEMILL_REQUEST_DEADLINE", deadline)
    repo = make_repo(tmp_path / "repo", {"mod.py": SOURCE})
    before = fingerprint(repo)
    with FakeModelServer(handler=handler(fault)) as server:
        done = runner.invoke(
            app,
            [
                *("run", "--engine", "llm", "--base-url", server.base_url, *flags),
                *("--orchestrator", "local", "--no-progress", str(repo)),
            ],
        )

    assert done.exit_code == code, done.output
    assert "internal error" not in done.output and KEY not in done.output
    match = re.search(r"^codemill: report (.+)$", done.output, re.MULTILINE)
    assert match, done.output
    report = Path(match.group(1))
    records = ledger(report)
    assert records[-1]["record"] == "end"
    rows = {r["chunk"]: r for r in records if r["record"] == "row"}
    assert rows["good"]["status"] == "accepted"
    bad = rows["bad"]
    assert (bad["status"], bad["reason"]) == verdict
    assert sentence in bad["detail"] and bad["detail"].count(". ") == 0  # one sentence
    retried = bad["reason"] == "provider-error"  # too-large is never retried
    assert [r["retried"] for r in bad["requests"]] == ([True, False] if retried else [False])
    assert (report / "summary.md").is_file() and (report / "changes.patch").is_file()
    assert sum(p.stat().st_size for p in report.iterdir()) < 200_000  # no answer kept whole
    assert fingerprint(repo) == before
    assert len(git(repo, "worktree", "list").splitlines()) == 1
    branches = git(repo, "branch", "--list", "--format=%(refname:short)").split()
    if code:  # a partial run makes no branch
        assert branches == ["main"] and "partial" in done.output
    else:
        [branch] = [b for b in branches if b != "main"]
        committed = git(repo, "show", f"{branch}:mod.py")
        assert 'return f"good {x}"' in committed and 'return "bad %s" % x' in committed


def test_an_oversized_answer_gets_no_repair_turn_and_its_cost_counts(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "repo", {"mod.py": SOURCE})
    with FakeModelServer(handler=handler(lambda: oversized(BAD, 200_000))) as server:
        done = runner.invoke(
            app,
            [
                *(
                    "run",
                    "--engine",
                    "llm",
                    "--base-url",
                    server.base_url,
                    "--dry-run",
                    "--repair-turns",
                    "1",
                ),
                *("--orchestrator", "local", "--no-progress", str(repo)),
            ],
        )
        asked = [
            r
            for r in server.requests
            if "def bad" in python_block(r.body["messages"][1]["content"])
        ]
    assert done.exit_code == 0, done.output
    match = re.search(r"^codemill: report (.+)$", done.output, re.MULTILINE)
    assert match, done.output
    [bad] = [r for r in ledger(Path(match.group(1))) if r.get("chunk") == "bad"]
    assert len(asked) == 1  # a repair turn would send the answer back
    assert [t["verdict"] for t in bad["turns"]] == ["too-large"]
    assert bad["turns"][0]["cost_usd"] == 0.0012
