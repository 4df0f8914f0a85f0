"""Ledger rows, totals, streaming to ledger.jsonl, and reading it back (also after a crash)."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from pipeline.judge.verdicts import Reason, Status, Verdict
from pipeline.model.completion import Usage
from pipeline.records.ledger import FILE_KIND, Ledger, LedgerError, LedgerRow, RunMeta
from pipeline.source.chunking import Chunk


def _meta() -> RunMeta:
    return RunMeta("run-1", "pep585", "llm", "MiniMax-M2.1", "abc123")


USAGE_FIELDS = {f.name for f in dataclasses.fields(Usage)}


def _row(path: str = "a.py", status: Status = Status.ACCEPTED, **kw: Any) -> LedgerRow:
    usage: dict[str, Any] = {"prompt_tokens": 10, "completion_tokens": 5, "cost_usd": 0.25}
    usage.update((k, kw.pop(k)) for k in list(kw) if k in USAGE_FIELDS)
    row = LedgerRow("run-1", path, "f", "function", 1, 3, "d1", status, usage=Usage(**usage))
    return dataclasses.replace(row, **kw)


def test_row_for_chunk_takes_span_digest_and_verdict() -> None:
    chunk = Chunk("m.py", 0, 10, 4, 9, "method", "C.m", "def m(self): ...\n")
    row = LedgerRow.for_chunk(
        "r",
        chunk,
        Verdict.rejected(Reason.SYNTAX, "syntax error at line 2"),
        usage=Usage(attempts=2),
    )
    assert (row.path, row.chunk, row.kind, row.start_line, row.end_line) == (
        "m.py",
        "C.m",
        "method",
        4,
        9,
    )
    assert row.digest == chunk.digest
    assert (row.status, row.reason, row.detail, row.usage.attempts) == (
        Status.REJECTED,
        Reason.SYNTAX,
        "syntax error at line 2",
        2,
    )


def test_no_field_can_hold_an_api_key() -> None:
    names = {f.name for f in dataclasses.fields(LedgerRow)} | {
        f.name for f in dataclasses.fields(RunMeta)
    }
    assert not any("key" in n or "auth" in n or "secret" in n for n in names)


def test_totals_count_by_status_and_reason_and_sum_usage() -> None:
    ledger = Ledger(_meta())
    ledger.append(_row(attempts=1, cache_hits=1, reasoning_tokens=7, cached_tokens=3))
    ledger.append(_row(status=Status.REJECTED, reason=Reason.LAZY, detail="elided body"))
    ledger.append(_row("b.py", status=Status.REJECTED, reason=Reason.LAZY))
    ledger.append(LedgerRow.for_skipped_file("run-1", "gen.py", "generated", "generated file"))
    t = ledger.totals()
    assert t.rows == 4 and t.files == 3
    assert t.by_status == {"accepted": 1, "rejected": 2, "skipped": 1}
    assert t.by_reason == {"generated": 1, "lazy": 2}
    assert (
        t.usage.prompt_tokens,
        t.usage.completion_tokens,
        t.usage.reasoning_tokens,
        t.usage.cached_tokens,
    ) == (
        30,
        15,
        7,
        3,
    )
    assert t.usage.cost_usd == pytest.approx(0.75)
    assert t.cached_rows == 1


def test_rows_for_returns_one_files_rows_in_line_order() -> None:
    ledger = Ledger(_meta())
    late = dataclasses.replace(_row(), start_line=20, end_line=30, chunk="g")
    ledger.append(late)
    ledger.append(_row("b.py"))
    ledger.append(_row())
    assert [r.chunk for r in ledger.rows_for("a.py")] == ["f", "g"]
    assert ledger.rows_for("nope.py") == []


def test_write_and_read_round_trip(tmp_path: Path) -> None:
    ledger = Ledger(_meta())
    ledger.append(_row(gates={"import": "passed"}, new_text="def f():\n    return 1\n"))
    ledger.append(_row(status=Status.REJECTED, reason="some-future-code", detail="x"))
    ledger.append(LedgerRow.for_skipped_file("run-1", "g.py", Reason.NOT_SELECTED, "excluded"))
    ledger.finish("max-cost reached")
    path = tmp_path / "ledger.jsonl"
    ledger.write(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(ln)["record"] for ln in lines] == ["run", "row", "row", "row", "end"]
    back = Ledger.read(path)
    assert back.rows == ledger.rows
    assert back.meta == ledger.meta
    assert back.meta.stop_reason == "max-cost reached"
    assert isinstance(back.rows[0].status, Status)
    assert back.rows[1].reason == "some-future-code"
    assert back.rows[2].reason is Reason.NOT_SELECTED and back.rows[2].kind == FILE_KIND


def test_streamed_rows_survive_a_crash_and_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(_meta(), stream_to=path)
    ledger.append(_row())
    ledger.append(_row("b.py"))
    # no finish(): the process "dies" here, in the middle of writing a third row
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"record": "row", "run_id": "run-1", "pa')
    back = Ledger.read(path)
    assert [r.path for r in back.rows] == ["a.py", "b.py"]
    assert back.meta.finished is None and back.meta.run_id == "run-1"


def test_stream_writes_end_line_on_finish_and_refuses_late_rows(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    with Ledger(_meta(), stream_to=path) as ledger:
        ledger.append(_row())
        ledger.finish("OpenAI-compatible provider said the key is invalid")
    assert json.loads(path.read_text().splitlines()[-1])["record"] == "end"
    with pytest.raises(LedgerError, match="closed"):
        ledger.append(_row())
    ledger.write(path)  # same path as the stream: nothing rewritten, nothing lost
    assert Ledger.read(path).rows == ledger.rows


def test_stream_refuses_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_text("precious\n")
    with pytest.raises(LedgerError, match="already exists"):
        Ledger(_meta(), stream_to=path)
    assert path.read_text() == "precious\n"


def test_concurrent_appends_all_land_whole(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(_meta(), stream_to=path)

    def work(n: int) -> None:
        for i in range(300):
            ledger.append(_row(f"f{n}.py", detail="x" * (i % 50)))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ledger.finish()
    back = Ledger.read(path)
    assert len(back.rows) == 2400
    assert all(len(back.rows_for(f"f{n}.py")) == 300 for n in range(8))


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("", "empty"),
        ('{"record": "row"}\n', "line 1"),
        (
            '{"record": "run", "run_id": "r", "recipe": "x", "engine": "llm", "model": null, '
            '"base_commit": null}\nnot json\n{"record": "end"}\n',
            "line 2",
        ),
        (
            '{"record": "run", "run_id": "r", "recipe": "x", "engine": "llm", "model": null, '
            '"base_commit": null}\n{"record": "row", "status": "bogus"}\n',
            "line 2",
        ),
    ],
)
def test_bad_ledger_files_get_a_clear_error(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_text(content)
    with pytest.raises(LedgerError, match=match):
        Ledger.read(path)


def test_missing_ledger_file_is_a_ledger_error(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="cannot read"):
        Ledger.read(tmp_path / "missing.jsonl")


def test_a_row_keeps_the_ledger_field_names_and_reads_back_an_old_row() -> None:
    row = _row(attempts=2, cache_hits=2, latency_s=1.5)
    data = row.to_json()
    for name in ("attempts", "prompt_tokens", "completion_tokens", "reasoning_tokens"):
        assert name in data
    assert (data["cost_usd"], data["cache_hit"], data["latency_s"]) == (0.25, True, 1.5)
    assert "usage" not in data
    assert LedgerRow.from_json(json.loads(json.dumps(data))) == row

    old = {k: v for k, v in data.items() if k not in ("cache_hits", "total_tokens")}
    assert LedgerRow.from_json(old).usage == row.usage  # written before rows counted cache hits
    old["cache_hit"] = False
    assert LedgerRow.from_json(old).usage.cache_hits == 0
