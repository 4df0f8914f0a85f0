"""A pull request's body tells the run: recipe, run id, counts, cost, each changed file with its chunks,
the rejected chunks and why, the files no one owns; a body over the forge's limit is cut with a note."""

from __future__ import annotations

from pipeline.judge.verdicts import Reason
from pipeline.publish.body import CUT_NOTE, body_of, cut, title_of
from pipeline.records.ledger import Ledger, LedgerRow, RunMeta


def ledger() -> Ledger:
    out = Ledger(RunMeta("20260101-000000-abc", "modernize", "codemod", None, "a" * 40))
    out.append(
        LedgerRow("r", "pkg/a.py", "A", "class", 1, 2, "d1", "accepted", gates={"import": "ok"})
    )
    out.append(LedgerRow("r", "pkg/a.py", "f", "function", 4, 9, "d2", "rejected",
                         Reason.SYNTAX, "line 3: <script> is not Python"))  # fmt: skip
    out.append(LedgerRow("r", "pkg/b.py", "B", "class", 1, 2, "d3", "accepted"))
    return out


def test_the_body_tells_the_run() -> None:
    body = body_of(ledger(), ["pkg/a.py", "pkg/b.py"], {"pkg/a.py": ("alice",)}, 65_536)
    assert body.startswith(
        "<!-- codemill:publish -->\nRecipe **modernize** (codemod), run `20260101-000000-abc`"
    )
    assert "Chunks: 2 accepted, 1 rejected; cost $0.0000." in body and "whole run" not in body
    split = body_of(ledger(), ["pkg/b.py"], {}, 65_536)
    assert "Chunks: 1 accepted; cost $0.0000.\nThe whole run: 2 accepted, 1 rejected; cost" in split
    assert "pkg/a.py" not in split
    assert "Evidence: import ok 1." in body
    assert "- `pkg/a.py` (@alice)\n  - `A` lines 1-2" in body
    assert (
        "- `pkg/b.py` (no owner)" in body and "**No code owner** for 1 file(s): pkg/b.py." in body
    )
    assert f"- `pkg/a.py` `f`: {Reason.SYNTAX} — line 3: <script> is not Python" in body
    assert title_of(ledger(), ["pkg/a.py"], "alice") == "codemill: modernize on 1 file (alice)"


def test_a_long_body_is_cut_at_a_line_with_a_note() -> None:
    body = "".join(f"- line {n}\n" for n in range(10_000))
    short = cut(body, 1_000)
    assert len(short) <= 1_000 and short.endswith(CUT_NOTE.format(limit=1_000))
    assert short.split("\n\n_")[0].endswith("\n") or short.split("\n\n_")[0].endswith(
        str(short.count("- line") - 1)
    )
    assert cut("short\n", 1_000) == "short\n"
