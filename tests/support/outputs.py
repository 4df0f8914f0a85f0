"""Reading what a real run left behind: its report directory, ledger rows, and every text a secret could
leak into (stdout, stderr, every file under the run's home, `git log -p`, a Prefect server's database)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from support.gitrepo import git


def report_dir(stdout: str) -> Path:
    """The report directory a run printed (`codemill: report DIR`)."""
    match = re.search(r"^codemill: report (.+)$", stdout, re.MULTILINE)
    assert match, stdout
    return Path(match.group(1))


def ledger_records(report: Path) -> list[dict[str, Any]]:
    """Every record of the run's ledger.jsonl (meta, rows, end)."""
    lines = (report / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def ledger_rows(report: Path) -> list[dict[str, Any]]:
    """The ledger's chunk and file rows."""
    return [r for r in ledger_records(report) if r["record"] == "row"]


def files_text(root: Path) -> dict[str, str]:
    """Every file under `root` (SQLite databases and their -wal files too), decoded leniently."""
    return {
        str(path): path.read_bytes().decode("utf-8", "replace")
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def leaks(
    secrets: Iterable[str],
    *,
    done: Iterable[subprocess.CompletedProcess[str]],
    roots: Iterable[Path],
    repos: Iterable[Path] = (),
) -> list[str]:
    """Where any secret appears: in a command's stdout/stderr, a file under a root, or a repo's history."""
    texts: dict[str, str] = {}
    for index, proc in enumerate(done):
        texts[f"run {index} stdout"] = proc.stdout
        texts[f"run {index} stderr"] = proc.stderr
    for root in roots:
        texts.update(files_text(root))
    for repo in repos:
        texts[f"git log -p --all in {repo}"] = git(repo, "log", "-p", "--all")
    found = []
    for secret in secrets:
        found.extend(f"{secret!r} in {where}" for where, text in texts.items() if secret in text)
    return found
