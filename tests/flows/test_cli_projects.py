"""`codemill run` in-process on projects laid out as people lay them out: a package in a subfolder with its
own pyproject.toml (its [tool.codemill] used and named), a setup.cfg-only project (its target Python named
and used by the judge), a Python 2 project (refused in one sentence), and the bundled example as the quick
start runs it, from the root of a larger repository."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from support.gitrepo import make_repo
from support.inprocess import isolated_runner
from typer.testing import CliRunner, Result

from flows.cli import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "legacy_app"
OPTIONAL = (
    "from typing import Optional\n\n\ndef first(xs: list) -> Optional[int]:\n    return None\n"
)


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    return isolated_runner(monkeypatch, tmp_path)


def run(runner: CliRunner, *args: str) -> Result:
    command = ["run", "--orchestrator", "local", "--no-progress", "--dry-run", *args]
    return runner.invoke(app, command)


def ledger_records(output: str, kind: str) -> list[dict[str, Any]]:
    report = Path(output.split("codemill: report ")[1].split()[0])
    lines = (report / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["record"] == kind]


def ledger_rows(output: str) -> list[dict[str, Any]]:
    return ledger_records(output, "row")


def test_a_package_in_a_subfolder_runs_with_its_own_settings(
    runner: CliRunner, tmp_path: Path
) -> None:
    repo = make_repo(
        tmp_path / "repo",
        {
            "pyproject.toml": '[project]\nrequires-python = ">=3.12"\n',
            "libs/pkg/pyproject.toml": (
                '[project]\nrequires-python = ">=3.9"\n\n'
                '[tool.codemill]\nexclude = ["generated.py"]\n'
            ),
            "libs/pkg/kept.py": "class A(object):\n    pass\n",
            "libs/pkg/generated.py": "class B(object):\n    pass\n",
        },
    )
    done = run(runner, str(repo / "libs" / "pkg"))
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0] == "codemill: target Python 3.9 (libs/pkg/pyproject.toml requires-python >=3.9)"
    assert lines[1] == "codemill: settings from [tool.codemill] in libs/pkg/pyproject.toml"
    paths = {row["path"] for row in ledger_rows(done.output)}
    assert paths == {"libs/pkg/kept.py"}  # generated.py excluded by the package's own glob


def test_a_setup_cfg_project_targets_its_python_requires(runner: CliRunner, tmp_path: Path) -> None:
    cfg = "[metadata]\nname = old\n\n[options]\npython_requires = >=3.7\n"
    repo = make_repo(tmp_path / "repo", {"setup.cfg": cfg, "old.py": OPTIONAL})
    done = run(runner, str(repo))
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[0] == (
        "codemill: target Python 3.7 (setup.cfg python_requires >=3.7)"
    )
    (meta,) = ledger_records(done.output, "run")  # the report's header names it
    assert meta["target_python_from"] == "setup.cfg python_requires >=3.7"
    (row,) = ledger_rows(done.output)  # X | None is evaluated at def time: not on 3.7
    assert row["status"] == "rejected" and "needs Python 3.10, the target is 3.7" in row["detail"]
    newer = run(runner, str(repo), "--target-python", "3.10")
    assert newer.output.splitlines()[0] == "codemill: target Python 3.10 (--target-python)"
    (row,) = ledger_rows(newer.output)
    assert row["status"] == "accepted"


def test_a_python_2_project_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    setup = "from setuptools import setup\n\nsetup(name='old', python_requires='>=2.7')\n"
    repo = make_repo(tmp_path / "repo", {"setup.py": setup, "old.py": OPTIONAL})
    refused = run(runner, str(repo))
    assert refused.exit_code == 2
    assert refused.output.strip() == (
        "codemill: codemill targets Python 3.x; this project still supports 2.7 "
        "(setup.py python_requires >=2.7)"
    )
    flag = run(runner, str(repo), "--target-python", "2.7")
    assert flag.exit_code == 2
    assert "--target-python='2.7' is Python 2: codemill targets Python 3.x" in flag.output


def test_the_quick_start_uses_the_examples_own_settings(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "repo", {"pyproject.toml": "[project]\nname = 'outer'\n"})
    shutil.copytree(
        EXAMPLE, repo / "examples" / "legacy_app", ignore=shutil.ignore_patterns("__pycache__")
    )
    repo = make_repo(repo, {})
    monkeypatch.chdir(repo)
    done = run(runner, "examples/legacy_app", "--recipe", "modernize")
    assert done.exit_code == 0, done.output
    assert "settings from [tool.codemill] in examples/legacy_app/pyproject.toml" in done.output
    rows = ledger_rows(done.output)
    paths = {row["path"] for row in rows}
    assert "examples/legacy_app/legacy_app/_version.py" not in paths  # its exclude
    assert "examples/legacy_app/conftest.py" not in paths  # outside its include
    gates = [gate for row in rows if row["status"] == "accepted" for gate in row["gates"]]
    assert "tests" in gates  # its test_cmd gated them
