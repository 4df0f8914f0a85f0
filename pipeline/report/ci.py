"""What a CI job gets from a run: its JUnit file where the job asked, its summary on the GitHub job page."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pipeline.paths import ReportError, private_dir, write_atomic

STEP_SUMMARY = "GITHUB_STEP_SUMMARY"


def copy_junit(report_dir: Path, target: Path) -> None:
    """Copy the run's junit.xml to `target` (parents made), atomically."""
    try:
        data = (report_dir / "junit.xml").read_bytes()
        private_dir(target.parent)
        write_atomic(target, data)
    except OSError as exc:
        raise ReportError(f"cannot write the JUnit report to {target}: {exc}") from None


def append_step_summary(report_dir: Path, env: Mapping[str, str]) -> Path | None:
    """Append summary.md to $GITHUB_STEP_SUMMARY when it is set (GitHub shows it on the job page)."""
    target = env.get(STEP_SUMMARY, "").strip()
    if not target:
        return None
    try:
        summary = (report_dir / "summary.md").read_text(encoding="utf-8")
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(summary.rstrip("\n") + "\n\n")
    except OSError as exc:
        raise ReportError(
            f"cannot append the summary to ${STEP_SUMMARY} ({target}): {exc}"
        ) from None
    return Path(target)
