"""A small repository whose offline dry run a reviewer chooses from (tests of report.html's selection and
`apply --select`): three files change, and its test command passes only while pkg/a.py and pkg/b.py agree
(both still use Optional[...] or neither), so the run's whole change passes it and a selection changing
only one of them does not."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app
from support.gitrepo import make_repo

TYPED = "from typing import Optional\n\n\n"
CHECK = (
    "from pathlib import Path\n"
    'old = {"Optional[" in Path(p).read_text() for p in ("pkg/a.py", "pkg/b.py")}\n'
    "raise SystemExit(len(old) - 1)\n"
)
FILES = {
    "pkg/__init__.py": "",
    "pkg/a.py": TYPED
    + "def first(x: Optional[int]) -> Optional[int]:\n    return x\n\n\n"
    + "def second(y: Optional[str]) -> Optional[str]:\n    return y\n",
    "pkg/b.py": TYPED + "def third(z: Optional[int]) -> Optional[int]:\n    return z\n",
    "other/c.py": TYPED + "def fourth(w: Optional[int]) -> int:\n    return w or 0\n",
    "check.py": CHECK,
    "pyproject.toml": f'[tool.codemill]\ntest_cmd = "{sys.executable} check.py"\n',
}


def offline_dry_run(runner: CliRunner, root: Path) -> tuple[Path, Path]:
    """The repository made at `root` and the report directory of its offline dry run."""
    repo = make_repo(root, FILES)
    args = ["run", "--recipe", "modernize", "--dry-run", "--orchestrator", "local", "--no-progress"]
    done = runner.invoke(app, [*args, str(repo)])
    assert done.exit_code == 0, done.output
    match = re.search(r"^codemill: report (.+)$", done.output, re.MULTILINE)
    assert match, done.output
    return repo, Path(match.group(1))


def accepted_ids(report: Path) -> dict[str, str]:
    """chunk id -> path of every accepted row of the run's ledger."""
    records = map(json.loads, (report / "ledger.jsonl").read_text().splitlines())
    return {
        f"{r['path']}::{r['chunk']}@{r['start_line']}": r["path"]
        for r in records
        if r["record"] == "row" and r["status"] == "accepted"
    }
