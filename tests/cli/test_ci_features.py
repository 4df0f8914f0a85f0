"""CI features through the real CLI on real repositories: --fail-on-changes, --junit, the GitHub step
summary, and `codemill report` / `codemill apply` rebuilding a reviewed dry run without the model."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support.cli_support import CliEnv, codemill, make_cli_env
from support.gitrepo import fingerprint, git, make_repo

from pipeline.records.ledger import Ledger

FILES = {
    "pkg/__init__.py": "",
    "pkg/models.py": (
        "class Item(object):\n"
        "    def __init__(self, name):\n"
        "        super(Item, self).__init__()\n"
        "        self.name = name\n\n"
        "    def label(self):\n"
        '        return "item %s" % self.name\n'
    ),
    "pkg/util.py": 'def twice(x):\n    return "%s%s" % (x, x)\n\n\nDONE = True\n',
    "pkg/clean.py": "VALUE = 1\n",
}
REPORTS = ("changes.patch", "summary.md", "ledger.jsonl", "junit.xml")


@pytest.fixture
def cli(tmp_path: Path) -> CliEnv:
    """The local orchestrator: Prefect is not what these tests are about."""
    return make_cli_env(tmp_path / "home", None)


def report_dir(stdout: str) -> Path:
    match = re.search(r"^codemill: report (.+)$", stdout, re.MULTILINE)
    assert match, stdout
    return Path(match.group(1))


def test_fail_on_changes_junit_and_step_summary(tmp_path: Path, cli: CliEnv) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    junit = tmp_path / "out" / "nested" / "codemill.xml"

    done = codemill(
        cli,
        "run",
        ".",
        "--recipe",
        "modernize",
        "--dry-run",
        "--fail-on-changes",
        "--junit",
        str(junit),
        cwd=repo,
        extra_env={"GITHUB_STEP_SUMMARY": str(summary)},
    )

    assert done.returncode == 4, done.stdout + done.stderr
    assert " would change" in done.stderr
    report = report_dir(done.stdout)
    assert junit.read_bytes() == (report / "junit.xml").read_bytes()
    cases = {c.get("name") for c in ET.parse(junit).getroot().iter("testcase")}
    assert {"pkg/models.py", "pkg/util.py"} <= cases
    text = summary.read_text()
    assert text.startswith("earlier step\n")
    assert text.count("# codemill run `") == 1 and "pkg/util.py" in text


def test_fail_on_changes_passes_a_clean_tree(tmp_path: Path, cli: CliEnv) -> None:
    repo = make_repo(tmp_path / "repo", {"clean.py": FILES["pkg/clean.py"]})
    done = codemill(
        cli, "run", ".", "--recipe", "modernize", "--dry-run", "--fail-on-changes", cwd=repo
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 files changed" in done.stdout


def test_junit_to_an_unwritable_place_is_a_usage_error(tmp_path: Path, cli: CliEnv) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = codemill(cli, "run", ".", "--dry-run", "--junit", str(blocker / "junit.xml"), cwd=repo)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "cannot write the JUnit report" in done.stderr and "Traceback" not in done.stderr


def test_report_and_apply_rebuild_a_reviewed_dry_run(tmp_path: Path, cli: CliEnv) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    (repo / "pkg" / "util.py").write_text("# a local edit\n")
    before = fingerprint(repo)
    dry = codemill(cli, "run", ".", "--recipe", "modernize", "--dry-run", cwd=repo)
    assert dry.returncode == 0, dry.stderr
    run = report_dir(dry.stdout)
    again = tmp_path / "again"

    rendered = codemill(cli, "report", str(run), "--out", str(again), cwd=repo)

    assert rendered.returncode == 0, rendered.stderr
    for name in REPORTS:
        assert (again / name).read_bytes() == (run / name).read_bytes(), name
    assert (again / "report.html").stat().st_size > 0

    applied = codemill(cli, "apply", str(run), "--branch", "cm/reviewed", cwd=repo)

    assert applied.returncode == 0, applied.stderr
    assert "branch cm/reviewed: 2 commits" in applied.stdout
    assert fingerprint(repo) == before
    expected = tmp_path / "expected"
    git(repo, "worktree", "add", "-q", "--detach", str(expected), "main")
    subprocess.run(["git", "apply", str(run / "changes.patch")], cwd=expected, check=True)
    for path in ("pkg/models.py", "pkg/util.py", "pkg/clean.py"):
        assert git(repo, "show", f"cm/reviewed:{path}") == (expected / path).read_text(), path
    body = git(repo, "log", "-1", "--format=%B", "cm/reviewed")
    assert f"Codemill-Run: {run.name}" in body and "Codemill-Recipe: modernize" in body


def test_apply_refuses_a_gone_base_or_a_stale_chunk(tmp_path: Path, cli: CliEnv) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    dry = codemill(cli, "run", ".", "--recipe", "modernize", "--dry-run", cwd=repo)
    run = report_dir(dry.stdout)
    ledger = (run / "ledger.jsonl").read_text()

    gone = tmp_path / "gone"
    shutil.copytree(run, gone)
    moved = Ledger.read(gone / "ledger.jsonl")  # rewritten whole: its integrity chain holds
    moved.meta.base_commit = "1" * 40
    (gone / "ledger.jsonl").write_text(moved.dumps())
    refused = codemill(cli, "apply", str(gone), cwd=repo)
    assert refused.returncode == 2
    assert f"base commit {'1' * 12} is not in the repository" in refused.stderr

    stale = tmp_path / "stale"
    shutil.copytree(run, stale)
    digest = re.search(r'"path": "pkg/util.py", "chunk": "twice".*?"digest": "(\w+)"', ledger)
    assert digest
    (stale / "ledger.jsonl").write_text(ledger.replace(digest.group(1), "0" * 64))
    refused = codemill(cli, "apply", str(stale), cwd=repo)
    assert refused.returncode == 2
    assert "ledger.jsonl is not as its run wrote it (line 3 is not the record" in refused.stderr
    assert git(repo, "branch", "--list").strip() == "* main"

    nothing = codemill(cli, "report", str(tmp_path), cwd=repo)
    assert nothing.returncode == 2 and "has no ledger.jsonl" in nothing.stderr


def test_since_a_ref_limits_the_run_to_changed_files(tmp_path: Path, cli: CliEnv) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    (repo / "pkg" / "models.py").write_text(FILES["pkg/models.py"] + "\n\nX = '%d' % 1\n")
    git(repo, "commit", "-qam", "touch models")

    done = codemill(
        cli, "run", ".", "--recipe", "modernize", "--dry-run", "--since", "HEAD~1", cwd=repo
    )

    assert done.returncode == 0, done.stderr
    assert "--since: 1 file changed since HEAD~1" in done.stdout
    patch = (report_dir(done.stdout) / "changes.patch").read_text()
    assert "b/pkg/models.py" in patch and "pkg/util.py" not in patch
    bad = codemill(cli, "run", ".", "--dry-run", "--since", "nope", cwd=repo)
    assert bad.returncode == 2 and "--since 'nope' is not a commit" in bad.stderr
