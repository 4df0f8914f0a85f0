"""report.html: a real run (real chunks, spliced edits) rendered, then loaded in headless Chromium:
no console errors, no network, counts equal the ledger's, filters hide rows, hostile text stays text."""

from __future__ import annotations

import re
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import browser

from pipeline.judge.verdicts import Reason, Status, Verdict
from pipeline.model.completion import Usage
from pipeline.records.ledger import Ledger, LedgerRow, RunMeta
from pipeline.report import html as html_report
from pipeline.report.diff_view import DiffLine
from pipeline.report.directory import write_report_dir
from pipeline.report.html import render_html
from pipeline.source.chunking import Chunk, chunk_module
from pipeline.source.splicing import splice

ARTIFACTS = Path(__file__).parents[1] / "artifacts"
HOSTILE = '</script><img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'

SOURCES = {
    "inventory/stock.py": '''"""Stock levels."""
from typing import Dict, List, Optional


def total(counts: List[int]) -> int:
    """Sum of the counts."""
    result = 0
    for c in counts:
        result += c
    return result


def lookup(table: Dict[str, int], key: str) -> Optional[int]:
    if key in table:
        return table[key]
    return None


class Shelf(object):
    def __init__(self, name: str) -> None:
        super(Shelf, self).__init__()
        self.name = name

    def label(self) -> str:
        return "Shelf %s" % self.name
''',
    "orders/cart.py": """from typing import List, Tuple


def lines(items: List[Tuple[str, int]]) -> List[str]:
    out = []
    for name, qty in items:
        out.append("{}: {}".format(name, qty))
    return out


def weight(items: List[Tuple[str, int]]) -> int:
    return sum([qty for _, qty in items])
""",
    f"odd/{HOSTILE}.py": f"""def hostile() -> str:
    return {HOSTILE!r}
""",
}

# (path, chunk name) -> (status, reason, detail, new text, gates)
OUTCOMES: dict[tuple[str, str], tuple[Status, Reason | None, str, str | None, dict[str, str]]] = {
    ("inventory/stock.py", "total"): (
        Status.ACCEPTED,
        None,
        "",
        'def total(counts: list[int]) -> int:\n    """Sum of the counts."""\n'
        "    return sum(counts)\n",
        {"import": "passed", "tests": "passed"},
    ),
    ("inventory/stock.py", "lookup"): (
        Status.ACCEPTED,
        None,
        "",
        "def lookup(table: dict[str, int], key: str) -> int | None:\n    return table.get(key)\n",
        {"import": "passed"},
    ),
    ("inventory/stock.py", "Shelf"): (
        Status.REJECTED,
        Reason.LAZY,
        f"body of `label` elided with `...` {HOSTILE}",
        None,
        {"tests": "breaks-tests: tests/test_stock.py::test_label"},
    ),
    ("orders/cart.py", "lines"): (
        Status.ACCEPTED,
        None,
        "",
        "def lines(items: list[tuple[str, int]]) -> list[str]:\n"
        '    return [f"{name}: {qty}" for name, qty in items]\n',
        {},
    ),
    ("orders/cart.py", "weight"): (Status.UNCHANGED, None, "", None, {}),
    (f"odd/{HOSTILE}.py", "hostile"): (
        Status.ACCEPTED,
        None,
        "",
        f"def hostile() -> str:\n    return {HOSTILE!r}  # {HOSTILE}\n",
        {},
    ),
}


def real_run() -> tuple[Ledger, dict[str, tuple[bytes, bytes]]]:
    """Chunk the sources for real, record an outcome per chunk, splice the accepted ones."""
    ledger = Ledger(RunMeta("20250301-101500-c0de", "modernize", "llm", "MiniMax-M2.1", "9f3e2a1"))
    changes: dict[str, tuple[bytes, bytes]] = {}
    for path, text in SOURCES.items():
        replacements: list[tuple[Chunk, str]] = []
        for n, chunk in enumerate(chunk_module(path, text)):
            status, reason, detail, new, gates = OUTCOMES.get(
                (path, chunk.name), (Status.FAILED, Reason.PROVIDER_ERROR, "HTTP 503 x3", None, {})
            )
            row = LedgerRow.for_chunk(
                ledger.meta.run_id,
                chunk,
                Verdict(status, reason, detail),
                usage=Usage(
                    attempts=(attempts := 1 + (status is Status.REJECTED)),
                    prompt_tokens=300 + 10 * n,
                    completion_tokens=80 + n,
                    reasoning_tokens=40,
                    cached_tokens=128 * (n % 2),
                    cost_usd=0.0011,
                    cache_hits=attempts if n % 3 == 0 else 0,
                    latency_s=1.5,
                ),
                gates=gates,
                new_text=new,
            )
            ledger.append(row)
            if new is not None:
                replacements.append((chunk, new))
        data = text.encode()
        changes[path] = (data, splice(data, replacements))
    ledger.append(
        LedgerRow.for_skipped_file(ledger.meta.run_id, "gen/pb2.py", "generated", HOSTILE)
    )
    ledger.finish("max-cost reached after 6 of 9 chunks")
    return ledger, changes


def png_size(png: Path) -> tuple[int, int]:
    width, height = struct.unpack(">II", png.read_bytes()[16:24])
    return width, height


# ---- the page in a real browser -------------------------------------------------------------


@pytest.mark.slow
def test_report_in_chromium_counts_filters_and_stays_inert(tmp_path: Path) -> None:
    ledger, changes = real_run()
    totals = ledger.totals()
    assert {str(s) for s in Status} <= totals.by_status.keys() | {"unchanged"}
    paths = write_report_dir(tmp_path / "report", ledger, changes)
    with browser.open_page(paths.html.as_uri(), tmp_path / "chromium") as page:
        assert page.console_errors == []
        assert page.requests == [paths.html.as_uri()]  # nothing but the page itself
        shown = page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('[id^=count-]')]"
            ".map(e => [e.id, Number(e.textContent)]))"
        )
        assert shown == {
            "count-rows": totals.rows,
            "count-files": totals.files,
            **{f"count-{s}": totals.by_status.get(str(s), 0) for s in Status},
        }
        usage = page.evaluate(
            "['tokens-prompt','tokens-completion','tokens-reasoning','tokens-cached',"
            "'cost-usd','cache-hits'].map(i => document.getElementById(i).textContent)"
        )
        assert usage == [
            str(totals.usage.prompt_tokens),
            str(totals.usage.completion_tokens),
            str(totals.usage.reasoning_tokens),
            str(totals.usage.cached_tokens),
            f"{totals.usage.cost_usd:.4f}",
            str(totals.cached_rows),
        ]
        reasons = page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('tr[data-reason]')]"
            ".map(t => [t.dataset.reason, Number(t.cells[1].textContent)]))"
        )
        assert reasons == totals.by_reason
        assert page.evaluate("document.querySelectorAll('tr[data-status]').length") == totals.rows
        # it opens on what needs a decision; the total card shows every status
        decide = totals.by_status["accepted"] + totals.by_status["rejected"]
        assert page.evaluate("document.getElementById('visible-rows').textContent") == str(decide)
        page.click("a.card.total")
        assert page.evaluate("location.hash") == "#status=all"
        assert page.evaluate("document.getElementById('visible-rows').textContent") == str(
            totals.rows
        )
        # hostile paths, contents and details are text, never markup or script
        assert page.evaluate("window.__pwned === undefined && document.images.length === 0")
        texts = page.evaluate("document.body.innerText")
        assert texts.count(HOSTILE) >= 4  # detail, skipped detail, path header, diff line
        assert page.evaluate("document.scripts.length") == 1

        # untick "accepted": its rows disappear and the hash records the filter
        page.click("input[data-filter][value=accepted]")
        accepted = totals.by_status["accepted"]
        assert page.evaluate(
            "[...document.querySelectorAll('tr[data-status=accepted]')]"
            ".every(r => getComputedStyle(r).display === 'none')"
        )
        assert page.evaluate("document.getElementById('visible-rows').textContent") == str(
            totals.rows - accepted
        )
        assert page.evaluate("location.hash") == "#status=unchanged,rejected,skipped,failed"

        # a card link shows one status only; files without it are hidden
        page.click("a.card.s-rejected")
        visible = page.evaluate(
            "[...document.querySelectorAll('tr[data-status]')]"
            ".filter(r => r.offsetParent !== null).map(r => r.dataset.status)"
        )
        assert visible == ["rejected"] * totals.by_status["rejected"]
        files = page.evaluate(
            "[...document.querySelectorAll('section.file')].filter(f => !f.hidden)"
            ".map(f => f.dataset.path)"
        )
        assert files == ["inventory/stock.py"]
        boxes = page.evaluate(
            "[...document.querySelectorAll('input[data-filter]')].map(b => b.checked)"
        )
        assert boxes == [s is Status.REJECTED for s in Status]
        assert page.console_errors == []


@pytest.mark.slow
def test_report_honours_a_status_hash_on_load(tmp_path: Path) -> None:
    ledger, changes = real_run()
    paths = write_report_dir(tmp_path / "report", ledger, changes)
    url = paths.html.as_uri() + "#status=skipped,failed"
    with browser.open_page(url, tmp_path / "chromium") as page:
        assert page.console_errors == []
        shown = page.evaluate(
            "[...document.querySelectorAll('tr[data-status]')]"
            ".filter(r => r.offsetParent !== null).map(r => r.dataset.status)"
        )
        by_status = ledger.totals().by_status
        assert sorted(shown) == sorted(
            ["failed"] * by_status["failed"] + ["skipped"] * by_status["skipped"]
        )
        assert page.evaluate("document.getElementById('visible-files').textContent") == str(
            len({r.path for r in ledger.rows if r.status in (Status.SKIPPED, Status.FAILED)})
        )


@pytest.mark.slow
def test_report_screenshot(tmp_path: Path) -> None:
    ledger, changes = real_run()
    paths = write_report_dir(tmp_path / "report", ledger, changes)
    png = browser.screenshot(paths.html.as_uri(), tmp_path / "report.png", tmp_path / "chromium")
    assert png_size(png) == (1280, 2000)
    assert png.stat().st_size > 50_000  # a rendered page, not a blank one
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(png, ARTIFACTS / "report.png")


def test_missing_chromium_fails_with_the_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    with pytest.raises(pytest.fail.Exception, match=r"run scripts/install-chromium\.sh"):
        browser.chromium()


# ---- the HTML itself (no browser) ------------------------------------------------------------


def test_page_loads_nothing_and_escapes_everything() -> None:
    ledger, changes = real_run()
    page = render_html(ledger, changes)
    assert "default-src 'none'" in page
    assert "<img" not in page and 'onerror="' not in page
    assert page.count("<script>") == 1 and page.count("</script>") == 1
    assert "&lt;/script&gt;&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;" in page
    without_hostile = render_html(*_without_hostile())
    assert "://" not in without_hostile  # no URL of any kind: no CDN, font or image


def test_plain_text_in_the_diff_is_escaped_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """The diff table skips Jinja's second escape; the environment's finalize still escapes text."""

    def raw_lines(*_: object) -> Iterator[DiffLine]:
        yield DiffLine("add", 0, 1, HOSTILE)  # type: ignore[arg-type]  # text, not Markup

    monkeypatch.setattr(html_report, "diff_lines", raw_lines)
    ledger = Ledger(RunMeta("r", "x", "codemod", None, None))
    page = render_html(ledger, {"a.py": (b"x = 1\n", b"x = 2\n")})
    assert '<tr class="add">' in page
    assert "<img" not in page and page.count("<script>") == 1
    assert "&lt;/script&gt;&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;" in page


def _without_hostile() -> tuple[Ledger, dict[str, tuple[bytes, bytes]]]:
    ledger, changes = real_run()
    clean = Ledger(ledger.meta)
    for row in ledger.rows:
        if HOSTILE not in row.path and HOSTILE not in row.detail:
            clean.append(row)
    return clean, {p: c for p, c in changes.items() if HOSTILE not in p}


def test_diff_is_coloured_and_numbered() -> None:
    ledger, changes = real_run()
    page = render_html(ledger, changes)
    stock = page[page.index('data-path="inventory/stock.py"') :]
    stock = stock[: stock.index("</section>")]
    assert '<span class="k">def</span>' in stock  # Python tokens coloured by Pygments
    removed = re.findall(r'<tr class="del"><td class="ln">(\d+)</td>', stock)
    added = re.findall(r'<tr class="add"><td class="ln"></td><td class="ln">(\d+)</td>', stock)
    assert removed and added
    assert '<span class="plus">+' in stock and "&minus;" in stock
    assert "breaks-tests: tests/test_stock.py::test_label" in stock
    assert 'class="gate g-bad"' in stock and 'class="gate g-ok"' in stock


def test_line_ends_and_bad_bytes_are_shown_plainly() -> None:
    ledger = Ledger(RunMeta("r", "x", "codemod", None, None))
    changes = {
        "crlf.py": (b"a = 1\r\nb = 2\r\n", b"a = 1\r\nb = 3\r\n"),
        "cr.py": (b"s = 'a\rb'\nz = 1\n", b"s = 'a\rc'\nz = 1"),
        "latin.py": (b"n = '\xe9'\n", b"n = '\xe8'\n"),
        "to_lf.py": (b"k = 1\r\n", b"k = 1\n"),
        "same.py": (b"x = 1\n", b"x = 1\n"),
    }
    page = render_html(ledger, changes)
    assert "\r" not in page
    assert "\u240d" in page  # the lone CR made visible, lines still aligned
    assert "No newline at end of file (after)" in page
    assert "\\xe9" in page and "\\xe8" in page  # bytes that are not UTF-8, shown as escapes
    to_lf = page[page.index('data-path="to_lf.py"') :]
    assert 'title="carriage return"' in to_lf[: to_lf.index('<tr class="add">')]
    assert "No change to this file." in page
    assert "did not finish" in page


def test_a_large_run_is_coloured_within_the_budget() -> None:
    """5,000 rows, 200 diffs: all shown, the first 10,000 diff lines coloured (speed: bench/)."""
    ledger = Ledger(RunMeta("big", "modernize", "llm", "m", "c"))
    changes: dict[str, tuple[bytes, bytes]] = {}
    body = "".join(
        f"def f{i}(x: List[int]) -> int:\n    return len(x) + {i}\n\n" for i in range(25)
    )
    statuses = list(Status)
    for f in range(200):
        path = f"pkg/mod{f:03}.py"
        changes[path] = (body.encode(), body.replace("List[int]", "list[int]").encode())
        for i in range(25):
            status = statuses[(f + i) % len(statuses)]
            row = LedgerRow(
                "big", path, f"f{i}", "function", 3 * i + 1, 3 * i + 2, "d", status, detail="x"
            )
            ledger.append(row)
    page = render_html(ledger, changes)
    assert page.count('<tr data-status="') == 5000
    assert page.count('<tr class="add">') == 5000
    first, last = page.index('data-path="pkg/mod000.py"'), page.index('data-path="pkg/mod199.py"')
    assert '<span class="k">def</span>' in page[first:last]  # coloured within the budget
    assert '<span class="' not in page[last:].split('<table class="code">')[1]  # plain after it


@pytest.mark.slow
def test_browser_helper_reports_console_errors_and_blocked_loads(tmp_path: Path) -> None:
    page_file = tmp_path / "bad.html"
    csp = re.search(r'content="(default-src[^"]*)"', render_html(*real_run()))
    assert csp is not None
    page_file.write_text(
        f'<!DOCTYPE html><meta http-equiv="Content-Security-Policy" content="{csp[1]}">'
        '<img src="http://127.0.0.1:9/pixel.png"><script>console.error("boom")</script>'
    )
    with browser.open_page(page_file.as_uri(), tmp_path / "chromium") as page:
        errors = "\n".join(page.console_errors)
    assert "console.error: boom" in errors
    assert "Content Security Policy" in errors and "127.0.0.1:9/pixel.png" in errors
