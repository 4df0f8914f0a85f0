"""A run's report directory: every report written there, each file atomically."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.paths import ReportError, private_dir, write_atomic
from pipeline.records.ledger import Ledger
from pipeline.report.html import render_html
from pipeline.report.junit import junit_xml
from pipeline.report.markdown import summary_markdown
from pipeline.report.patch import Changes, unified_patch


@dataclass(frozen=True)
class ReportPaths:
    """Where write_report_dir put each report."""

    directory: Path
    patch: Path
    summary: Path
    ledger: Path
    junit: Path
    html: Path


def write_report_dir(
    report_dir: Path, ledger: Ledger, changes: Changes, *, patch: str | None = None
) -> ReportPaths:
    """Write changes.patch (none when nothing changed), summary.md, ledger.jsonl, junit.xml and
    report.html, each atomically.

    `patch` is `unified_patch(changes)` when the caller already made it (a run fingerprints it first).
    """
    try:
        private_dir(report_dir)
    except OSError as exc:
        raise ReportError(f"cannot create report directory {report_dir}: {exc}") from exc
    paths = ReportPaths(
        report_dir,
        report_dir / "changes.patch",
        report_dir / "summary.md",
        report_dir / "ledger.jsonl",
        report_dir / "junit.xml",
        report_dir / "report.html",
    )
    patch = unified_patch(changes) if patch is None else patch
    if patch:
        write_atomic(paths.patch, patch.encode("utf-8", "surrogateescape"))
    else:  # no change: no patch, which `git apply` would refuse (summary.md says so)
        paths.patch.unlink(missing_ok=True)
    write_atomic(paths.summary, summary_markdown(ledger, changes).encode("utf-8"))
    write_atomic(paths.junit, junit_xml(ledger).encode("utf-8"))
    write_atomic(paths.html, render_html(ledger, changes).encode("utf-8"))
    ledger.write(paths.ledger)
    return paths
