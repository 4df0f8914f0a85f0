"""`codemill run --jobs N` through the CLI: the same ledger and patch with one worker or several, and every
file of the run in the ledger, also the ones the prefilter never parsed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli_support import CliEnv, codemill, make_cli_env
from tests.support.gitrepo import copy_example, git

TIMING = (
    "run_id",
    "latency_s",
    "sha256",
)  # differ between any two runs (the chain digest covers the run id)


def report_of(done_stdout: str) -> Path:
    match = re.search(r"^codemill: report (.+)$", done_stdout, re.MULTILINE)
    assert match, done_stdout
    return Path(match.group(1))


def rows(report: Path) -> list[dict[str, Any]]:
    lines = (report / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    found = [r for r in map(json.loads, lines) if r["record"] == "row"]
    return [{k: v for k, v in r.items() if k not in TIMING} for r in found]


@pytest.mark.slow
def test_jobs_1_and_jobs_2_give_the_same_ledger_and_patch(tmp_path: Path) -> None:
    cli: CliEnv = make_cli_env(tmp_path / "home", prefect_api=None)  # no API: as a new user runs it
    repo = copy_example("legacy_app", tmp_path / "repo")
    (repo / "legacy_app" / "plain.py").write_text("VALUE = 1\n")  # no codemod looks for this
    (repo / "legacy_app" / "broken.py").write_text("def f(:\n    return '%s' % 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "more files")

    runs = []
    for jobs in ("1", "2"):
        done = codemill(
            cli,
            "run",
            ".",
            "--recipe",
            "modernize",
            "--dry-run",
            "--no-import-check",
            "--jobs",
            jobs,
            cwd=repo,
        )
        assert done.returncode == 0, done.stderr
        runs.append(report_of(done.stdout))

    one, two = runs
    assert rows(one) == rows(two)
    assert (one / "changes.patch").read_bytes() == (two / "changes.patch").read_bytes()
    by_path = {r["path"]: r for r in rows(one) if r["kind"] == "file"}
    assert by_path["legacy_app/plain.py"]["reason"] == "no-trigger"
    assert by_path["legacy_app/broken.py"]["reason"] == "parse-error"
    tracked = set(git(repo, "ls-files", "legacy_app/*.py", "tests/*.py").split())
    tracked.discard("legacy_app/_version.py")  # excluded in the example's [tool.codemill]
    assert {r["path"] for r in rows(one)} == tracked
    assert "+++ b/legacy_app/models.py" in (one / "changes.patch").read_text()
