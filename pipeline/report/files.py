"""A run's reports from its ledger and diffs: a git-appliable patch, Markdown, JUnit, a report dir
(with report.html from pipeline.report.html).

Patch text is the files' bytes decoded as UTF-8 with surrogateescape, so any byte survives a round
trip when written back with the same error handler (write_report_dir does).
"""

from __future__ import annotations

import difflib
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.judge.verdicts import Status
from pipeline.paths import ReportError, private_dir, write_atomic
from pipeline.report.html import render_html
from pipeline.run.ledger import FILE_KIND, Ledger, LedgerRow

Changes = Mapping[str, tuple[bytes, bytes]]  # repo-relative path -> (bytes before, bytes after)
_NO_EOL = b"\\ No newline at end of file\n"
_C_ESCAPES = {7: "a", 8: "b", 9: "t", 10: "n", 11: "v", 12: "f", 13: "r", 34: '"', 92: "\\"}
_XML_BAD = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _lines(data: bytes) -> list[bytes]:
    """Split on LF only (as git does), keeping the ends; CR stays part of its line."""
    parts = data.split(b"\n")
    lines = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _quote(path: str) -> str:
    """git's C-style quoting of a path with special or non-ASCII bytes (core.quotePath)."""
    raw = path.encode("utf-8", "surrogateescape")
    if all(32 <= b < 127 and b not in (34, 92) for b in raw):
        return path
    out = []
    for b in raw:
        if b in _C_ESCAPES:
            out.append("\\" + _C_ESCAPES[b])
        elif 32 <= b < 127:
            out.append(chr(b))
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def _prefixed(prefix: str, path: str) -> str:
    quoted = _quote(path)
    return f'"{prefix}{quoted[1:]}' if quoted.startswith('"') else f"{prefix}{path}"


def _range(start: int, stop: int) -> str:
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start if length == 0 else start + 1},{length}"


def _emit(out: list[bytes], sign: bytes, lines: Iterable[bytes]) -> None:
    for line in lines:
        out.append(sign + line)
        if not line.endswith(b"\n"):
            out.append(b"\n" + _NO_EOL)


def _file_diff(path: str, before: bytes, after: bytes, context: int) -> bytes:
    a, b = _lines(before), _lines(after)
    a_name, b_name = _prefixed("a/", path), _prefixed("b/", path)
    out = [f"diff --git {a_name} {b_name}\n--- {a_name}\n+++ {b_name}\n".encode()]
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        out.append(f"@@ -{_range(i1, i2)} +{_range(j1, j2)} @@\n".encode())
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                _emit(out, b" ", a[a1:a2])
                continue
            _emit(out, b"-", a[a1:a2])
            _emit(out, b"+", b[b1:b2])
    return b"".join(out)


def unified_patch(changes: Changes, context: int = 3) -> str:
    """A patch `git apply` accepts on the base: files in path order, unchanged files left out."""
    parts = [
        _file_diff(path, before, after, context)
        for path, (before, after) in sorted(changes.items())
        if before != after
    ]
    return b"".join(parts).decode("utf-8", "surrogateescape")


def diffstat(before: bytes, after: bytes) -> tuple[int, int]:
    """Lines added and removed between two versions of a file."""
    added = removed = 0
    a, b = _lines(before), _lines(after)
    for tag, a1, a2, b1, b2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            removed += a2 - a1
            added += b2 - b1
    return added, removed


def _cell(text: object) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> list[str]:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _gates(row: LedgerRow) -> str:
    return "; ".join(f"{name}: {decision}" for name, decision in row.gates.items())


def summary_markdown(ledger: Ledger, changes: Changes | None = None) -> str:
    """The run in Markdown: what ran, counts by status and reason, usage, and a table per file."""
    meta, totals = ledger.meta, ledger.totals()
    out = [f"# codemill run `{meta.run_id}`", ""]
    out.append(f"- Recipe: `{meta.recipe}`; engine: {meta.engine}; model: {meta.model or 'none'}")
    out.append(f"- Base commit: `{meta.base_commit or 'unknown'}`")
    finished = meta.finished or "did not finish (no end record: the run was interrupted)"
    out.append(f"- Started: {meta.started}; finished: {finished}")
    if meta.stop_reason:
        out.append(f"- **Stopped early:** {_cell(meta.stop_reason)}")
    for gate, account in meta.gates.items():
        out.append(f"- Gate `{gate}`: {_cell(account)}")
    out += ["", f"{totals.rows} rows over {totals.files} files.", "", "## By status", ""]
    out += _table(["Status", "Count"], totals.by_status.items())
    if totals.by_reason:
        out += ["## By reason", ""]
        out += _table(["Reason", "Count"], totals.by_reason.items())
    out += ["## Usage", ""]
    out += _table(
        ["Prompt tokens", "Completion", "Reasoning", "Cached", "Cost (USD)", "Cache hits"],
        [
            [
                totals.usage.prompt_tokens,
                totals.usage.completion_tokens,
                totals.usage.reasoning_tokens,
                totals.usage.cached_tokens,
                f"{totals.usage.cost_usd:.4f}",
                f"{totals.cached_rows}/{totals.rows}",
            ]
        ],
    )
    out += ["## Files", ""]
    for path in sorted({r.path for r in ledger.rows}):
        heading = f"### `{path}`"
        if changes is not None and path in changes:
            added, removed = diffstat(*changes[path])
            heading += f" (+{added} -{removed})"
        out += [heading, ""]
        out += _table(
            ["Chunk", "Lines", "Status", "Reason", "Detail", "Gates"],
            (
                [
                    f"`{r.chunk}`" if r.chunk else "(file)",
                    f"{r.start_line}-{r.end_line}" if r.kind != FILE_KIND else "",
                    str(r.status),
                    r.reason or "",
                    r.detail,
                    _gates(r),
                ]
                for r in ledger.rows_for(path)
            ),
        )
    return "\n".join(out)


def _xml_text(text: str) -> str:
    return _XML_BAD.sub("\ufffd", text)


def _row_line(row: LedgerRow) -> str:
    where = f"{row.chunk} (lines {row.start_line}-{row.end_line})" if row.chunk else "file"
    return _xml_text(f"{where}: {row.reason or row.status}: {row.detail}".rstrip(": "))


def _outcome(rows: list[LedgerRow]) -> tuple[str, str, str] | None:
    """The JUnit element, message and text of one file's case; None when it passed."""
    for status, element in ((Status.REJECTED, "failure"), (Status.FAILED, "error")):
        bad = [r for r in rows if r.status is status]
        if bad:
            codes = sorted({str(r.reason or r.status) for r in bad})
            return element, ", ".join(codes), "\n".join(_row_line(r) for r in bad)
    if all(r.status is Status.SKIPPED for r in rows):
        codes = sorted({str(r.reason or r.status) for r in rows})
        return "skipped", ", ".join(codes), "\n".join(_row_line(r) for r in rows)
    return None


def junit_xml(ledger: Ledger) -> str:
    """One test case per file: passed, failure (rejected chunks), error (engine failed), skipped."""
    meta = ledger.meta
    suite_name = _xml_text(f"codemill.{meta.recipe}")
    suite = ET.Element("testsuite", name=suite_name, timestamp=meta.started)
    props = ET.SubElement(suite, "properties")
    for name, value in (("run_id", meta.run_id), ("engine", meta.engine), ("model", meta.model)):
        ET.SubElement(props, "property", name=name, value=_xml_text(value or ""))
    counts: Counter[str] = Counter()
    total_time = 0.0
    paths = sorted({r.path for r in ledger.rows})
    for path in paths:
        rows = ledger.rows_for(path)
        seconds = sum(r.usage.latency_s for r in rows)
        total_time += seconds
        case = ET.SubElement(
            suite, "testcase", classname=suite_name, name=_xml_text(path), time=f"{seconds:.3f}"
        )
        outcome = _outcome(rows)
        if outcome is not None:
            element, message, text = outcome
            ET.SubElement(case, element, message=_xml_text(message)).text = text
            counts[element] += 1
    suite.set("tests", str(len(paths)))
    suite.set("failures", str(counts["failure"]))
    suite.set("errors", str(counts["error"]))
    suite.set("skipped", str(counts["skipped"]))
    suite.set("time", f"{total_time:.3f}")
    root = ET.Element("testsuites", name="codemill")
    for key in ("tests", "failures", "errors", "skipped", "time"):
        root.set(key, suite.get(key, ""))
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


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
    """Write changes.patch, summary.md, ledger.jsonl, junit.xml and report.html, each atomically.

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
    write_atomic(paths.patch, patch.encode("utf-8", "surrogateescape"))
    write_atomic(paths.summary, summary_markdown(ledger, changes).encode("utf-8"))
    write_atomic(paths.junit, junit_xml(ledger).encode("utf-8"))
    write_atomic(paths.html, render_html(ledger, changes).encode("utf-8"))
    ledger.write(paths.ledger)
    return paths
