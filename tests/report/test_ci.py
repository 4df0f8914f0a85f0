"""CI outputs of a run: the JUnit copy and the GitHub step summary append."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.paths import ReportError
from pipeline.report.ci import append_step_summary, copy_junit


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "junit.xml").write_text("<testsuites/>\n")
    (run / "summary.md").write_text("# codemill run `r`\n\nbody\n")
    return run


def test_copy_junit_makes_parents_and_copies_bytes(run_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "junit.xml"
    copy_junit(run_dir, target)
    assert target.read_bytes() == (run_dir / "junit.xml").read_bytes()
    with pytest.raises(ReportError, match="cannot write the JUnit report"):
        copy_junit(run_dir, target / "under-a-file.xml")


def test_step_summary_appends_only_when_set(run_dir: Path, tmp_path: Path) -> None:
    assert append_step_summary(run_dir, {}) is None
    target = tmp_path / "summary"
    target.write_text("before\n")
    env = {"GITHUB_STEP_SUMMARY": str(target)}
    assert append_step_summary(run_dir, env) == target
    append_step_summary(run_dir, env)
    text = target.read_text()
    assert text.startswith("before\n") and text.count("# codemill run `r`\n\nbody\n\n") == 2
    with pytest.raises(ReportError, match="GITHUB_STEP_SUMMARY"):
        append_step_summary(run_dir, {"GITHUB_STEP_SUMMARY": str(tmp_path / "no" / "dir")})
