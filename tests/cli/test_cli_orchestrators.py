"""The same run under both orchestrators: in-process (local) and as Prefect tasks against a real server."""

from __future__ import annotations

import json
import re
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from support.cli_support import CODEMILL, LLM, codemill, make_cli_env
from support.fake_model_server import FakeModelServer, FakeReply
from support.gitrepo import copy_example, git, make_repo
from support.prefect_server import prefect_server

KEY = "sk-test-orchestrators-SECRET-42"
FUNCTIONS = "".join(f"def f{i}(x):\n    return 'v%s' % x\n\n\n" for i in range(16))
RUN = ("run", ".", "--recipe", "modernize", "--branch", "cm/x", "--no-progress")
VOLATILE = {"run_id", "latency_s", "sha256"}  # sha256: the chain digest covers the run id


def rows_and_patch(stdout: str) -> tuple[list[dict[str, Any]], str]:
    match = re.search(r"^codemill: report (.+)$", stdout, re.MULTILINE)
    assert match, stdout
    report = Path(match.group(1))
    lines = (report / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [
        {k: v for k, v in row.items() if k not in VOLATILE}
        for row in map(json.loads, lines)
        if row["record"] == "row"
    ]
    rows.sort(key=lambda r: (r["path"], r["start_line"], r["chunk"]))
    return rows, (report / "changes.patch").read_text(encoding="utf-8")


def test_local_and_prefect_runs_give_the_same_ledger_and_patch(
    tmp_path: Path, prefect_api: str
) -> None:
    repo = copy_example("legacy_app", tmp_path / "repo")
    local = make_cli_env(tmp_path / "local", prefect_api=None)
    remote = make_cli_env(tmp_path / "prefect", prefect_api)
    args = ("run", ".", "--recipe", "modernize", "--dry-run", "--no-progress")
    here = codemill(local, *args, cwd=repo)
    there = codemill(remote, *args, cwd=repo)
    assert here.returncode == 0 and there.returncode == 0, here.stderr + there.stderr
    assert "codemill: orchestrator local" in here.stderr
    assert f"codemill: orchestrator prefect (Prefect API {prefect_api})" in there.stderr
    local_rows, local_patch = rows_and_patch(here.stdout)
    prefect_rows, prefect_patch = rows_and_patch(there.stdout)
    assert local_rows and local_patch.startswith("diff --git")
    assert local_rows == prefect_rows
    assert local_patch == prefect_patch


def answer(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
    user = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    code = re.findall(r"```python\n(.*?)```", user, re.DOTALL)[-1]
    return FakeReply.completion("```python\n" + code.replace("'v%s' % x", "f'v{x}'") + "```")


@pytest.mark.slow
def test_a_prefect_run_whose_server_stops_mid_run_still_writes_its_report(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"m.py": FUNCTIONS})
    with ExitStack() as server_stack, FakeModelServer(answer, latency=1.0) as model:
        api = server_stack.enter_context(prefect_server(tmp_path / "prefect-home"))
        cli = make_cli_env(tmp_path / "home", api)
        proc = subprocess.Popen(
            [CODEMILL, *RUN, "--concurrency", "2", "--base-url", model.base_url],
            cwd=repo,
            env={**cli.env, "AIMLAPI_API_KEY": KEY, **LLM},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 180
        while len(model.requests) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert len(model.requests) >= 3, proc.communicate()
        server_stack.close()  # the Prefect server stops while the run goes on
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    rows, patch = rows_and_patch(out)
    assert len([r for r in rows if r["status"] == "accepted"]) == 16
    assert patch.count("+    return f'v{x}'") == 16
    assert git(repo, "rev-parse", "--verify", "cm/x").strip()
    match = re.search(r"^codemill: report (.+)$", out, re.MULTILINE)
    assert match
    end = json.loads(Path(match.group(1), "ledger.jsonl").read_text().splitlines()[-1])
    assert end["record"] == "end" and end["outcome"] == "done"
