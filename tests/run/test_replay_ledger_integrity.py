"""The ledger's integrity record: every record chained by its sha256, a row's chunk span and the run's
policy read back as written, and every way a file can differ from what the run wrote named by line."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.judge.policy import Allowances, Policy
from pipeline.judge.verdicts import Verdict
from pipeline.records.ledger import ChunkSpan, Ledger, LedgerRow, RunMeta, text_digest
from pipeline.source.chunking import Chunk, ChunkContext

POLICY = Policy(Allowances(annotations=True, scope="modernize"), (3, 9))
CHUNK = Chunk(
    "m.py", 3, 40, 2, 4, "method", "C.m", "def m(self):\n    return 1\n", indent="\t",
    context=ChunkContext(imports="from __future__ import annotations\n"),
    enclosing=("class",), newline="\r\n", encoding="latin-1",
)  # fmt: skip


def written(tmp_path: Path, *, finish: bool = True, amend: bool = False) -> Path:
    """A streamed ledger of two rows (the first amended after the fact when asked)."""
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(RunMeta("r", "modernize", "llm", "m", "abc", 64, policy=POLICY), stream_to=path)
    row = LedgerRow.for_chunk(
        "r", CHUNK, Verdict.accepted(), new_text="def m(self):\n    return 2\n"
    )
    ledger.append(row)
    ledger.append(LedgerRow.for_skipped_file("r", "n.py", "generated", "marked"))
    if amend:
        ledger.amend(LedgerRow.for_chunk("r", CHUNK, Verdict.rejected("tests", "broke a test")))
    if finish:
        ledger.finish()
    ledger.write(path)
    return path


def test_a_ledger_reads_back_intact_with_its_spans_and_policy(tmp_path: Path) -> None:
    back = Ledger.read(written(tmp_path))
    assert back.damage is None and back.meta.policy == POLICY
    assert back.rows[0].span == ChunkSpan(
        3, 40, "\t", "\r\n", "latin-1", ("class",), text_digest(CHUNK.text), True
    )
    assert back.rows[1].span is None
    records = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    assert [r["record"] for r in records] == ["run", "row", "row", "end"]
    assert all(len(r["sha256"]) == 64 for r in records)


def test_an_amended_or_killed_run_is_still_intact(tmp_path: Path) -> None:
    assert Ledger.read(written(tmp_path / "a", amend=True)).damage is None
    killed = Ledger.read(written(tmp_path / "k", finish=False))
    assert killed.damage is None and killed.meta.finished is None


def test_every_change_to_a_record_is_named_by_its_line(tmp_path: Path) -> None:
    path = written(tmp_path)
    lines = path.read_text().splitlines(keepends=True)
    cases = {
        1: lines[1].replace("return 2", "return 3"),  # an accepted text
        3: lines[3].replace('"outcome": "done"', '"outcome": "interrupted"'),  # how it ended
        0: lines[0].replace('"scope": "modernize"', '"scope": "any"'),  # the policy
    }
    for index, line in cases.items():
        assert line != lines[index]
        path.write_text("".join([*lines[:index], line, *lines[index + 1 :]]))
        damage = Ledger.read(path).damage
        assert damage == f"line {index + 1} is not the record the run wrote there"
    path.write_text("".join(lines[:1] + lines[2:]))  # a row dropped
    assert Ledger.read(path).damage == "line 2 is not the record the run wrote there"


def test_a_ledger_without_digests_is_named_so(tmp_path: Path) -> None:
    path = written(tmp_path)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k != "sha256"}) + "\n" for r in records)
    )
    back = Ledger.read(path)
    assert back.damage == "line 1 has no digest (an older codemill wrote it, or it was edited)"
    assert len(back.rows) == 2
