"""junit.xml: one test case per file (passed, failure for rejected chunks, error, skipped)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter

from pipeline.judge.verdicts import Status
from pipeline.records.ledger import Ledger, LedgerRow

_XML_BAD = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


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


def _evidence_properties(case: ET.Element, rows: list[LedgerRow]) -> None:
    """One property per chunk with evidence: `evidence:NAME@LINE` = what proved it (or fell short)."""
    proved = [r for r in rows if r.evidence is not None]
    if proved:
        props = ET.SubElement(case, "properties")
        for row in proved:
            name = _xml_text(f"evidence:{row.chunk}@{row.start_line}")
            text = row.evidence.text() if row.evidence is not None else ""
            ET.SubElement(props, "property", name=name, value=_xml_text(text))


def junit_xml(ledger: Ledger) -> str:
    """One test case per file: passed, failure (rejected chunks), error (engine failed), skipped."""
    meta = ledger.meta
    suite_name = _xml_text(f"codemill.{meta.recipe}")
    suite = ET.Element("testsuite", name=suite_name, timestamp=meta.started)
    props = ET.SubElement(suite, "properties")
    for name, value in (("run_id", meta.run_id), ("engine", meta.engine), ("model", meta.model)):
        ET.SubElement(props, "property", name=name, value=_xml_text(value or ""))
    for level, n in ledger.totals().evidence.items():
        ET.SubElement(props, "property", name=f"evidence.{level}", value=str(n))
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
        _evidence_properties(case, rows)
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
