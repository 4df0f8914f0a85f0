"""A push that fails keeps the branch and the whole report (exit 6, no credential shown); `apply` refuses a
partial run unless told `--partial`."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from support.cli_support import CODEMILL, CliEnv, codemill, make_cli_env
from support.gitrepo import git, make_repo
from support.prefect_server import free_port

GATED_DRY_RUN = (
    "run",
    ".",
    "--recipe",
    "modernize",
    "--dry-run",
    "--no-progress",
    "--no-import-check",
)
GATED_DRY_RUN += ("--test-cmd", "sleep 120")
FUNCTIONS = "".join(f"def f{i}(x):\n    return 'v%s' % x\n\n\n" for i in range(6))


@pytest.fixture
def cli(tmp_path: Path) -> CliEnv:
    return make_cli_env(tmp_path / "home", prefect_api=None)


def report_of(stdout: str) -> Path:
    match = re.search(r"^codemill: report (.+)$", stdout, re.MULTILINE)
    assert match, stdout
    return Path(match.group(1))


def test_a_failed_push_keeps_the_branch_and_the_report_and_hides_the_password(
    tmp_path: Path, cli: CliEnv
) -> None:
    repo = make_repo(tmp_path / "repo", {"m.py": FUNCTIONS})
    url = f"https://bot:hunter2-secret@127.0.0.1:{free_port()}/team/app.git"
    done = codemill(
        cli, "run", ".", "--recipe", "modernize", "--branch", "cm/push", "--push", url,
        "--no-progress", cwd=repo,
    )  # fmt: skip
    assert done.returncode == 6, done.stderr
    assert "branch cm/push was committed but pushing to https://***@127.0.0.1" in done.stderr
    assert git(repo, "rev-parse", "--verify", "cm/push").strip()
    report = report_of(done.stdout)
    names = {p.name for p in report.iterdir()}
    assert {"changes.patch", "summary.md", "junit.xml", "report.html", "ledger.jsonl"} <= names
    end = json.loads((report / "ledger.jsonl").read_text().splitlines()[-1])
    assert end["record"] == "end" and end["outcome"] == "done"
    everything = done.stdout + done.stderr
    everything += "".join(p.read_text(encoding="utf-8") for p in report.iterdir())
    assert "hunter2" not in everything


def test_apply_refuses_an_interrupted_run_unless_told_partial(tmp_path: Path, cli: CliEnv) -> None:
    files = {"m.py": FUNCTIONS, "pkg/__init__.py": "", "pkg/slow.py": FUNCTIONS}
    repo = make_repo(tmp_path / "repo", files)
    proc = subprocess.Popen(
        [CODEMILL, *GATED_DRY_RUN],
        cwd=repo,
        env=cli.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while (
        "codemill: recipe " not in (line := proc.stderr.readline()) and time.monotonic() < deadline
    ):
        assert line, "the run ended before it started its work"
    time.sleep(3)  # into the test gate's base run
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    report = report_of(out)

    refused = codemill(cli, "apply", str(report), "--branch", "cm/partial", cwd=repo)
    assert refused.returncode == 2, refused.stderr
    assert "was interrupted: its changes are partial; pass --partial" in refused.stderr
    assert git(repo, "branch", "--list", "cm/partial") == ""

    applied = codemill(cli, "apply", str(report), "--branch", "cm/partial", "--partial", cwd=repo)
    assert applied.returncode == 0, applied.stderr
    assert "f'v{x}'" in git(repo, "show", "cm/partial:m.py") or 'f"v{x}"' in git(
        repo, "show", "cm/partial:m.py"
    )
