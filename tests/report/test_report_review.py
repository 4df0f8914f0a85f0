"""report.html for a reviewer, as HTML: it opens on what needs a decision, names the target Python and what
made each change, shows no model figures for an offline run, and offers a checkbox exactly for each chunk
that can land (ids as `apply --select` reads them), each file and each directory holding one."""

from __future__ import annotations

import re

from pipeline.judge.policy import Allowances, Policy
from pipeline.judge.verdicts import Status
from pipeline.records.ledger import Ledger, LedgerRow, RunMeta
from pipeline.report.html import render_html

OPTIONAL = "ConvertOptionalToOrCommand"
PERCENT = "ConvertPercentFormatStringCommand"


def row(path: str, name: str, line: int, status: Status, **fields: object) -> LedgerRow:
    return LedgerRow("r1", path, name, "function", line, line + 1, "d", status, **fields)  # type: ignore[arg-type]


def ledger(
    engine: str, model: str | None, *rows: LedgerRow, target_from: str | None = None
) -> Ledger:
    meta = RunMeta("r1", "modernize", engine, model, "abc", policy=Policy(Allowances(), (3, 8)))
    meta.target_python_from = target_from
    book = Ledger(meta)
    for each in rows:
        book.append(each)
    return book


CODEMOD_ROWS = (
    row("pkg/a.py", "f", 1, Status.ACCEPTED, engine="codemod", new_text="x", rule=OPTIONAL),
    row(
        "pkg/a.py",
        "g",
        5,
        Status.ACCEPTED,
        engine="codemod",
        new_text="y",
        rule=f"{OPTIONAL},ruff:UP031,{PERCENT}",
    ),
    row("pkg/a.py", "h", 9, Status.UNCHANGED, engine="codemod"),
    row("pkg/sub/b.py", "k", 3, Status.ACCEPTED, engine="codemod", new_text="z"),
    row("top.py", "t", 1, Status.REJECTED, engine="codemod", detail="Line 1: no."),
)


def test_an_offline_page_opens_on_decisions_and_names_codemods_and_target() -> None:
    page = render_html(
        ledger(
            "codemod", "libcst-codemods", *CODEMOD_ROWS, target_from="setup.cfg python_requires"
        ),
        {},
    )
    assert 'data-default="accepted rejected"' in page
    assert '<dd id="meta-target">3.8 (setup.cfg python_requires)</dd>' in page
    assert "codemods: rule ConvertOptionalToOrCommand<" in page
    assert (
        "codemods: rules ConvertOptionalToOrCommand, ruff:UP031, ConvertPercentFormatStringCommand<"
        in page
    )
    assert "the codemods of recipe modernize" in page  # a row that recorded none
    assert 'id="offline"' in page
    assert (
        "Model time" not in page and 'id="tokens-prompt"' not in page and 'id="latency"' not in page
    )
    assert "<th>Tokens</th>" not in page and "<th>Tries</th>" not in page


def test_every_chunk_that_can_land_has_its_checkbox_and_its_file_and_directory_theirs() -> None:
    page = render_html(ledger("codemod", "libcst-codemods", *CODEMOD_ROWS), {})
    assert re.findall(r'data-chunk="([^"]*)"', page) == [
        "pkg/a.py::f@1",
        "pkg/a.py::g@5",
        "pkg/sub/b.py::k@3",
    ]
    assert [r.chunk_id for r in CODEMOD_ROWS if r.new_text] == [
        "pkg/a.py::f@1",
        "pkg/a.py::g@5",
        "pkg/sub/b.py::k@3",
    ]
    files = re.findall(
        r'data-path="([^"]*)" data-group="([^"]*)"[^>]*><header>(<input[^>]*data-file)?', page
    )
    assert [(p, g, bool(box)) for p, g, box in files] == [
        ("pkg/a.py", "pkg", True),
        ("pkg/sub/b.py", "pkg/sub", True),
        ("top.py", "", False),  # nothing in it can land
    ]
    assert re.findall(r'data-group="([^"]*)" checked', page) == ["pkg", "pkg/sub"]
    assert '<b id="kept-count">3</b> of 3' in page


def test_a_model_run_names_recipe_and_model_and_shows_its_usage() -> None:
    accepted = row("a.py", "f", 1, Status.ACCEPTED, model="MiniMax-M2.1", new_text="x")
    page = render_html(ledger("llm", "minimax/m2-1", accepted), {})
    assert "recipe modernize, model MiniMax-M2.1" in page
    assert 'id="latency"' in page and 'id="tokens-prompt"' in page and 'id="offline"' not in page
    assert "<th>Tokens</th>" in page
    assert '<dd id="meta-target">3.8</dd>' in page


def test_a_run_with_nothing_to_decide_opens_on_every_status_and_offers_no_selection() -> None:
    quiet = ledger(
        "codemod", None, row("a.py", "f", 1, Status.UNCHANGED), row("b.py", "g", 1, Status.FAILED)
    )
    page = render_html(quiet, {})
    assert 'data-default="accepted unchanged rejected skipped failed"' in page
    assert '<section class="panel selection"' not in page and 'data-chunk="' not in page
    no_policy = Ledger(RunMeta("r2", "modernize", "codemod", None, None))
    assert '<dd id="meta-target">not recorded</dd>' in render_html(no_policy, {})
