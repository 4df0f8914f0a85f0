"""Evidence through the CLI, in-process, on a real repository with a real pytest suite and the loopback model:
the default test gate found from pyproject.toml's pytest section, each accepted change's evidence (which tests
ran its changed lines, measured with coverage.py), --require-evidence keeping the unproven out of the patch,
--fail-on-unproven's exit code, and a found gate that fails on the base turned off with one loud line."""

from __future__ import annotations

import json
import os
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from support.fake_model_server import FakeModelServer, FakeReply
from support.gitrepo import make_repo
from support.inprocess import isolated_runner
from support.samples import tidy_recipe
from typer.testing import CliRunner, Result

from flows.cli import app

KEY = "sk-test-evidence-SECRET"
CALC = """def add_one(x):
    return x + 1


def in_order(a, b):
    return a < b


def shout(word):
    return word.upper()
"""
TESTS = """from calc import add_one, shout


def test_add_one():
    assert add_one(1) == 2


def test_add_one_again():
    assert add_one(5) == 6


def test_shout_is_called():
    shout("hi")
"""
PYPROJECT = (
    '[project]\nname = "calc"\nversion = "0"\n\n'
    '[tool.pytest.ini_options]\naddopts = "-p no:cacheprovider"\n'
)


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """The CLI with the key set, no Prefect, and `python` on PATH the one running these tests (it has
    pytest and coverage.py, as a project's own environment does)."""
    for name in ("PREFECT_API_URL", "PREFECT_PROFILE", "CODEMILL_NO_TEST_GATE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIMLAPI_API_KEY", KEY)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("CODEMILL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    bin_dir = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", bin_dir + os.pathsep + os.environ.get("PATH", ""))
    return CliRunner()


def rewrite(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
    """A behaviour-keeping change in add_one (tested), a flipped comparison in in_order (no test runs it)."""
    chunk = re.findall(r"```python\n(.*?)```", body["messages"][1]["content"], re.DOTALL)[-1]
    changed = chunk.replace("x + 1", "1 + x").replace("a < b", "a >= b")
    return FakeReply.completion(f"```python\n{changed}```")


def repo_with_suite(root: Path, tests: str = TESTS) -> Path:
    files = {"calc.py": CALC, "tests/test_calc.py": tests, "pyproject.toml": PYPROJECT}
    (root.parent / "tidy.md").write_text(tidy_recipe(), encoding="utf-8")
    return make_repo(root, files)


def invoke(runner: CliRunner, repo: Path, *args: str) -> tuple[Result, dict[str, dict[str, Any]]]:
    """A dry model run over calc.py; the result and the ledger rows by chunk name."""
    with FakeModelServer(handler=rewrite) as server:
        done = runner.invoke(
            app,
            [
                *("run", "--recipe", str(repo.parent / "tidy.md"), "--base-url", server.base_url),
                *("--dry-run", "--orchestrator", "local", "--no-progress", *args),
                str(repo / "calc.py"),
            ],
        )
    match = re.search(r"^codemill: report (.+)$", done.output, re.MULTILINE)
    assert match, done.output
    report = Path(match.group(1))
    lines = (report / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    rows = {r["chunk"]: r for r in map(json.loads, lines) if r["record"] == "row"}
    return done, rows


def test_the_found_gate_measures_which_tests_ran_each_change(
    runner: CliRunner, tmp_path: Path
) -> None:
    repo = repo_with_suite(tmp_path / "repo")

    done, rows = invoke(runner, repo)

    assert done.exit_code == 0, done.output
    found = "codemill: test gate: python -m pytest -q (found [tool.pytest.ini_options] in pyproject.toml)"
    assert found in done.output
    assert rows["add_one"]["status"] == "accepted"
    assert rows["add_one"]["gates"]["tests"] == "passed"
    # tests ran its changed lines, and the shadow runs compared each of their calls: all equal
    assert rows["add_one"]["evidence"]["level"] == "shadowed"
    assert rows["add_one"]["evidence"]["shadow_calls"] == rows["add_one"]["shadow_calls"] >= 2
    assert rows["add_one"]["evidence"]["tests"] == 2
    assert rows["add_one"]["evidence"]["test_ids"] == [
        "tests/test_calc.py::test_add_one",
        "tests/test_calc.py::test_add_one_again",
    ]
    assert rows["in_order"]["status"] == "accepted"
    assert rows["in_order"]["evidence"] == {
        "level": "static",
        "tests": 0,
        "test_ids": [],
        "shadow_calls": 0,
        "note": "not exercised",
    }
    assert "codemill: 2 accepted: 1 shadowed, 1 static" in done.output
    report = Path(re.findall(r"^codemill: report (.+)$", done.output, re.M)[0])
    patch = (report / "changes.patch").read_text()
    assert "a >= b" in patch and "1 + x" in patch
    summary = (report / "summary.md").read_text()
    assert "- Evidence: 2 accepted: 1 shadowed, 1 static" in summary
    assert "exercised by 2 tests (tests/test_calc.py::test_add_one, " in summary
    junit = ET.parse(report / "junit.xml").getroot()
    props = {p.get("name"): p.get("value") for p in junit.iter("property")}
    assert props["evidence.shadowed"] == props["evidence.static"] == "1"
    assert props["evidence:in_order@5"] == "static (not exercised)"
    page = (report / "report.html").read_text()
    assert page.count('data-evidence="shadowed"') == 1
    assert 'class="badge ev ev-static" title="static (not exercised)">static</span>' in page
    assert '<select id="evidence-filter">' in page


def test_require_evidence_keeps_the_untested_change_out_as_unproven(
    runner: CliRunner, tmp_path: Path
) -> None:
    repo = repo_with_suite(tmp_path / "repo")

    done, rows = invoke(runner, repo, "--require-evidence", "exercised", "--fail-on-unproven")

    assert done.exit_code == 4, done.output  # --fail-on-unproven: the CI-gate family's exit code
    assert rows["in_order"]["status"] == "rejected"
    assert rows["in_order"]["reason"] == "unproven"
    assert rows["in_order"]["detail"] == (
        "its evidence is static (not exercised), below the required exercised"
    )
    assert rows["in_order"]["new_text"] is not None  # still there for a person to judge
    assert rows["add_one"]["status"] == "accepted"
    report = Path(re.findall(r"^codemill: report (.+)$", done.output, re.M)[0])
    patch = (report / "changes.patch").read_text()
    assert "1 + x" in patch and "a >= b" not in patch
    assert "codemill: 1 change kept out as unproven (--require-evidence)" in done.output


def test_a_found_gate_that_fails_on_the_base_is_turned_off_loudly(
    runner: CliRunner, tmp_path: Path
) -> None:
    red = TESTS + "\n\ndef test_already_red():\n    assert add_one(0) == 5\n"
    repo = repo_with_suite(tmp_path / "repo", red)

    done, rows = invoke(runner, repo)

    assert done.exit_code == 0, done.output
    [loud] = [line for line in done.output.splitlines() if "TEST GATE OFF" in line]
    assert "python -m pytest -q" in loud and "test_already_red" in loud
    assert rows["add_one"]["status"] == rows["in_order"]["status"] == "accepted"
    assert rows["add_one"]["evidence"]["level"] == "static"
    assert rows["add_one"]["evidence"]["note"] == "test gate off: the tests fail on the base commit"


def test_no_test_gate_turns_the_found_gate_off(runner: CliRunner, tmp_path: Path) -> None:
    repo = repo_with_suite(tmp_path / "repo")

    done, rows = invoke(runner, repo, "--no-test-gate")

    assert done.exit_code == 0, done.output
    assert "test gate" not in done.output
    assert "tests" not in rows["add_one"]["gates"]
    assert rows["add_one"]["evidence"]["note"] == "no test gate"


def test_a_codemod_change_the_import_check_imported_is_imported(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    runner = isolated_runner(monkeypatch, tmp_path)  # no key: the codemods, import check on
    repo = make_repo(tmp_path / "repo", {"shapes.py": "class Box(object):\n    size = 1\n"})

    done = runner.invoke(
        app, ["run", "--dry-run", "--orchestrator", "local", "--no-progress", str(repo)]
    )

    assert done.exit_code == 0, done.output
    report = Path(re.findall(r"^codemill: report (.+)$", done.output, re.M)[0])
    lines = (report / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    [row] = [
        r for r in map(json.loads, lines) if r["record"] == "row" and r["status"] == "accepted"
    ]
    assert row["gates"] == {"import": "passed"}
    assert row["evidence"]["level"] == "imported"
    assert row["evidence"]["note"] == "no test gate"
    assert "codemill: 1 accepted: 1 imported" in done.output
