"""report.html: one self-contained page (inline CSS/JS, no network) with the run, its counts and diffs.

Everything from the run (paths, file contents, details, gate decisions) is HTML-escaped and lives
in the DOM only; the script reads no data, so hostile text can never reach it. Counts carry stable
ids (count-<status>, tokens-prompt, cost-usd...) and rows carry data-status for the filters, which
the URL hash `#status=rejected,failed` also drives.
"""

from __future__ import annotations

import difflib
import html
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from pygments import lex
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer
from pygments.token import STANDARD_TYPES, _TokenType

from pipeline.judge.verdicts import Status
from pipeline.run.ledger import FILE_KIND, Ledger, LedgerRow

HIGHLIGHT_BUDGET = 10_000  # diff lines Pygments colours per report; the rest stay plain, for speed
_CONTEXT = 3
_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
_PY_SUFFIXES = (".py", ".pyi", ".pyw")
_CR = "\u240d"  # a carriage return, shown as a symbol: it never splits a line, and CRLF shows
_CR_MARK = f'<span class="cr" title="carriage return">{_CR}</span>'


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _token_class(ttype: _TokenType, cache: dict[_TokenType, str]) -> str:
    """Pygments' short CSS class of a token type (its nearest standard ancestor's)."""
    found = cache.get(ttype)
    if found is None:
        parent = ttype
        while parent not in STANDARD_TYPES and parent.parent is not None:
            parent = parent.parent
        found = cache[ttype] = STANDARD_TYPES.get(parent, "")
    return found


def _split_lines(data: bytes) -> tuple[list[str], bool]:
    """A file's lines without their LF (bad bytes as \\xNN escapes), and whether it ends in one."""
    lines = data.decode("utf-8", "backslashreplace").split("\n")
    ends_with_newline = lines[-1] == ""
    if ends_with_newline:
        lines.pop()
    return lines, ends_with_newline


def _shown(lines: list[str], python: bool) -> list[str]:
    """Lines as HTML: coloured, every CR a visible symbol (so CRLF changes show)."""
    plain = [ln.removesuffix("\r").replace("\r", _CR) for ln in lines]
    coloured = _highlighted(plain, python)
    return [h + _CR_MARK if ln.endswith("\r") else h for h, ln in zip(coloured, lines, strict=True)]


@dataclass
class _Budget:
    """How many more lines the report may colour: lexing is the one costly step of rendering."""

    lines: int = HIGHLIGHT_BUDGET

    def take(self, n: int) -> bool:
        if n > self.lines:
            self.lines = 0
            return False
        self.lines -= n
        return True


def _highlighted(lines: list[str], python: bool) -> list[str]:
    """Each line as escaped HTML with Pygments token spans, lexing the lines as one text."""
    if not python:
        return [_e(ln) for ln in lines]
    lexer = PythonLexer(stripnl=False, stripall=False, ensurenl=True)
    cache: dict[_TokenType, str] = {}
    out: list[str] = []
    current: list[str] = []
    for ttype, value in lex("".join(ln + "\n" for ln in lines), lexer):  # each line ends in \n
        css = _token_class(ttype, cache)
        for i, part in enumerate(value.split("\n")):
            if i:
                out.append("".join(current))
                current = []
            if part:
                current.append(f'<span class="{css}">{_e(part)}</span>' if css else _e(part))
    if current or len(out) != len(
        lines
    ):  # never trust a lexer with alignment: fall back to plain text
        return [_e(ln) for ln in lines]
    return out


def _diff_rows(path: str, before: bytes, after: bytes, budget: _Budget) -> Iterator[str]:
    """Table rows of a unified diff with old/new line numbers and code coloured hunk by hunk.

    Only the lines shown are lexed (each side of a hunk as one text), so a one-line change in a
    big file costs a few lines; a hunk that starts inside a multi-line string may be miscoloured.
    """
    a, a_eol = _split_lines(before)
    b, b_eol = _split_lines(after)
    python = path.endswith(_PY_SUFFIXES)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(_CONTEXT):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        colour = python and budget.take(i2 - i1 + j2 - j1)
        ha = dict(enumerate(_shown(a[i1:i2], colour), start=i1))
        hb = dict(enumerate(_shown(b[j1:j2], colour), start=j1))
        yield (
            f'<tr class="hunk"><td></td><td></td><td colspan="2">'
            f"@@ -{i1 + 1},{i2 - i1} +{j1 + 1},{j2 - j1} @@</td></tr>"
        )
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                for k in range(a2 - a1):
                    yield (
                        f'<tr class="ctx"><td class="ln">{a1 + k + 1}</td>'
                        f'<td class="ln">{b1 + k + 1}</td><td class="sg"> </td>'
                        f'<td class="cd">{ha[a1 + k]}</td></tr>'
                    )
                continue
            for k in range(a1, a2):
                yield (
                    f'<tr class="del"><td class="ln">{k + 1}</td><td class="ln"></td>'
                    f'<td class="sg">-</td><td class="cd">{ha[k]}</td></tr>'
                )
            for k in range(b1, b2):
                yield (
                    f'<tr class="add"><td class="ln"></td><td class="ln">{k + 1}</td>'
                    f'<td class="sg">+</td><td class="cd">{hb[k]}</td></tr>'
                )
    if a_eol != b_eol:
        side = "before" if not a_eol else "after"
        yield (
            '<tr class="hunk"><td></td><td></td><td colspan="2">'
            f"\\ No newline at end of file ({side})</td></tr>"
        )


def _diffstat(rows: Iterable[str]) -> tuple[int, int]:
    added = removed = 0
    for row in rows:
        if row.startswith('<tr class="add"'):
            added += 1
        elif row.startswith('<tr class="del"'):
            removed += 1
    return added, removed


def _badge(status: str) -> str:
    return f'<span class="badge s-{_e(status)}">{_e(status)}</span>'


def _gate_chip(name: str, decision: str) -> str:
    low = decision.lower()
    kind = "ok" if low.startswith(("pass", "ok")) else "skip" if low.startswith("skip") else "bad"
    return f'<span class="gate g-{kind}" data-gate="{_e(name)}">{_e(name)}: {_e(decision)}</span>'


_COLUMNS = (
    "<colgroup>"
    + "".join(f'<col style="width:{w}%">' for w in (19, 7, 10, 11, 23, 14, 5, 6, 5))
    + "</colgroup>"
)


def _row_html(row: LedgerRow) -> str:
    status = str(row.status)
    chunk = "(file)" if row.kind == FILE_KIND else row.chunk
    lines = "" if row.kind == FILE_KIND else f"{row.start_line}&ndash;{row.end_line}"
    tokens = row.usage.tokens
    gates = "".join(_gate_chip(k, v) for k, v in row.gates.items())
    kind = "" if row.kind == FILE_KIND else f'<span class="kind">{_e(row.kind)}</span>'
    return (
        f'<tr data-status="{_e(status)}"><td class="chunk"><code>{_e(chunk)}</code>'
        f'{kind}</td><td class="num">{lines}</td>'
        f"<td>{_badge(status)}</td><td>{_e(row.reason or '')}</td>"
        f'<td class="detail">{_e(row.detail)}</td><td>{gates}</td>'
        f'<td class="num">{row.usage.attempts}</td><td class="num">{tokens}</td>'
        f'<td class="num">{"hit" if row.usage.from_cache else ""}</td></tr>'
    )


def _file_section(
    index: int,
    path: str,
    rows: list[LedgerRow],
    change: tuple[bytes, bytes] | None,
    budget: _Budget,
) -> str:
    tally = Counter(str(r.status) for r in rows)
    counts = {str(s): tally[str(s)] for s in Status if tally[str(s)]}
    data_counts = " ".join(f"{s}:{n}" for s, n in counts.items())
    diff = list(_diff_rows(path, *change, budget)) if change and change[0] != change[1] else []
    added, removed = _diffstat(diff)
    head = [
        f'<section class="file" id="file-{index}" data-path="{_e(path)}" '
        f'data-counts="{data_counts}"><header><h3><code>{_e(path)}</code></h3>'
    ]
    if diff:
        head.append(
            f'<span class="stat"><span class="plus">+{added}</span> '
            f'<span class="minus">&minus;{removed}</span></span>'
        )
    head.append('<span class="badges">')
    head += [f"{_badge(s)}<b>{n}</b>" for s, n in counts.items()]
    head.append("</span></header>")
    if rows:
        head.append(
            f'<table class="rows">{_COLUMNS}<thead><tr><th>Chunk</th><th>Lines</th><th>Status</th>'
            "<th>Reason</th><th>Detail</th><th>Gates</th><th>Tries</th><th>Tokens</th>"
            "<th>Cache</th></tr></thead><tbody>"
        )
        head += [_row_html(r) for r in rows]
        head.append("</tbody></table>")
    if diff:
        head.append('<details open class="diff"><summary>Diff</summary><table class="code">')
        head += diff
        head.append("</table></details>")
    elif change is not None:
        head.append('<p class="muted">No change to this file.</p>')
    head.append("</section>")
    return "".join(head)


def _meta_item(label: str, value: object, ident: str) -> str:
    return f'<div><dt>{_e(label)}</dt><dd id="{ident}">{_e(value)}</dd></div>'


def _summary(ledger: Ledger) -> str:
    meta, totals = ledger.meta, ledger.totals()
    out = [f'<header class="top"><h1>codemill run <code id="run-id">{_e(meta.run_id)}</code></h1>']
    out.append('<dl class="meta">')
    out.append(_meta_item("Recipe", meta.recipe, "meta-recipe"))
    out.append(_meta_item("Engine", meta.engine, "meta-engine"))
    out.append(_meta_item("Model", meta.model or "none", "meta-model"))
    out.append(_meta_item("Base commit", meta.base_commit or "unknown", "meta-base"))
    out.append(_meta_item("Started", meta.started, "meta-started"))
    out.append(_meta_item("Finished", meta.finished or "did not finish", "meta-finished"))
    for gate, account in meta.gates.items():
        out.append(_meta_item(f"Gate: {gate}", account, f"meta-gate-{gate}"))
    out.append("</dl></header>")
    if meta.stop_reason:
        out.append(f'<p class="stop" id="stop-reason">Stopped early: {_e(meta.stop_reason)}</p>')
    elif meta.finished is None:
        out.append(
            '<p class="stop" id="stop-reason">The run did not finish '
            "(no end record: it was interrupted).</p>"
        )
    out.append('<div class="cards"><a class="card total" href="#">')
    out.append(f'<span class="big" id="count-rows">{totals.rows}</span>')
    out.append(f'<span>rows in <b id="count-files">{totals.files}</b> files</span></a>')
    for status in Status:
        n = totals.by_status.get(str(status), 0)
        out.append(
            f'<a class="card s-{status}{" zero" if not n else ""}" href="#status={status}" '
            f'title="show only {status}"><span class="big" id="count-{status}">{n}</span>'
            f"<span>{status}</span></a>"
        )
    out.append('</div><div class="panels"><section class="panel"><h2>Usage</h2><dl class="usage">')
    cache_rate = f" ({100 * totals.cached_rows / totals.rows:.0f}%)" if totals.rows else ""
    for label, value, ident in (
        ("Prompt tokens", f"{totals.usage.prompt_tokens}", "tokens-prompt"),
        ("Completion tokens", f"{totals.usage.completion_tokens}", "tokens-completion"),
        ("Reasoning tokens", f"{totals.usage.reasoning_tokens}", "tokens-reasoning"),
        ("Cached tokens", f"{totals.usage.cached_tokens}", "tokens-cached"),
        ("Cost (USD)", f"{totals.usage.cost_usd:.4f}", "cost-usd"),
    ):
        out.append(_meta_item(label, value, ident))
    out.append(
        f'<div><dt>Cache hits</dt><dd><span id="cache-hits">{totals.cached_rows}</span>'
        f"/{totals.rows}{cache_rate}</dd></div>"
    )
    out.append(
        f'<div><dt>Model time (s)</dt><dd id="latency">{totals.usage.latency_s:.1f}</dd></div>'
    )
    out.append('</dl></section><section class="panel"><h2>By reason</h2>')
    if totals.by_reason:
        out.append('<table class="reasons"><tbody>')
        out += [
            f'<tr data-reason="{_e(r)}"><td>{_e(r)}</td><td class="num">{n}</td></tr>'
            for r, n in totals.by_reason.items()
        ]
        out.append("</tbody></table>")
    else:
        out.append('<p class="muted">No reasons: nothing was rejected, failed or skipped.</p>')
    out.append("</section></div>")
    return "".join(out)


def _filters() -> str:
    boxes = "".join(
        f'<label class="s-{s}"><input type="checkbox" data-filter value="{s}" checked> {s}</label>'
        for s in Status
    )
    return (
        f'<nav class="filters" id="filters"><span>Show</span>{boxes}'
        '<span class="muted" id="visible">showing <b id="visible-rows"></b> rows in '
        '<b id="visible-files"></b> files</span></nav>'
    )


_STATUS_COLOURS = {
    Status.ACCEPTED: ("#1a7f37", "#dafbe1"),
    Status.UNCHANGED: ("#57606a", "#eaeef2"),
    Status.REJECTED: ("#cf222e", "#ffebe9"),
    Status.SKIPPED: ("#9a6700", "#fff8c5"),
    Status.FAILED: ("#8250df", "#fbefff"),
}

_BASE_CSS = """
:root{--fg:#1f2328;--muted:#656d76;--line:#d0d7de;--bg:#fff;--soft:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI","Liberation Sans",sans-serif;
color:var(--fg);background:var(--soft)}
main{max-width:1240px;margin:0 auto;padding:20px 24px 60px}
code,.code{font-family:ui-monospace,"SFMono-Regular","DejaVu Sans Mono","Liberation Mono",monospace;
font-size:12.5px}
h1{font-size:20px;margin:0 0 10px;font-weight:600}h1 code{font-size:18px}
h2{font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);margin:0 0 8px}
h3{font-size:14px;margin:0;font-weight:600;word-break:break-all}
.top{background:var(--bg);border:1px solid var(--line);border-radius:8px;padding:14px 18px}
dl{margin:0}dt{color:var(--muted);font-size:12px}dd{margin:0;font-weight:500;overflow-wrap:anywhere}
.meta{display:grid;grid-template-columns:repeat(6,auto);gap:6px 28px}
.stop{background:#fff8c5;border:1px solid #d4a72c;border-radius:8px;padding:8px 14px;margin:12px 0 0}
.cards{display:grid;grid-template-columns:1.4fr repeat(5,1fr);gap:10px;margin:14px 0}
.card{display:flex;flex-direction:column;background:var(--bg);border:1px solid var(--line);
border-left:5px solid var(--c,#8c959f);border-radius:8px;padding:8px 14px;color:inherit;
text-decoration:none}
.card:hover{box-shadow:0 1px 4px rgba(0,0,0,.12)}
.card .big{font-size:24px;font-weight:600;color:var(--c,var(--fg))}
.card.zero{opacity:.5}
.panels{display:grid;grid-template-columns:2fr 1fr;gap:10px}
.panel{background:var(--bg);border:1px solid var(--line);border-radius:8px;padding:12px 18px}
.usage{display:grid;grid-template-columns:repeat(4,auto);gap:6px 24px}
.reasons{border-collapse:collapse;width:100%}.reasons td{padding:2px 0;border-bottom:1px solid var(--soft)}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.muted{color:var(--muted)}
.filters{position:sticky;top:0;z-index:2;display:flex;gap:14px;align-items:center;flex-wrap:wrap;
background:rgba(246,248,250,.96);padding:10px 2px;margin:6px 0;border-bottom:1px solid var(--line)}
.filters label{cursor:pointer;user-select:none;font-weight:500;color:var(--c)}
.filters #visible{margin-left:auto}
.file{background:var(--bg);border:1px solid var(--line);border-radius:8px;margin:12px 0;
content-visibility:auto;contain-intrinsic-size:auto 480px;
overflow:hidden}
.file>header{display:flex;gap:14px;align-items:center;padding:8px 14px;background:var(--soft);
border-bottom:1px solid var(--line)}
.file .badges{margin-left:auto;display:flex;gap:4px;align-items:center}
.file .badges b{margin-right:6px;font-size:12px}
.stat{font:600 12px ui-monospace,"DejaVu Sans Mono",monospace}.plus{color:#1a7f37}.minus{color:#cf222e}
.badge{display:inline-block;padding:0 8px;border-radius:10px;font-size:11.5px;font-weight:600;
line-height:18px;color:var(--c);background:var(--cb);border:1px solid currentColor;white-space:nowrap}
.rows{border-collapse:collapse;width:100%;table-layout:fixed}
.rows th{text-align:left;font-size:12px;color:var(--muted);font-weight:500;padding:5px 10px;
border-bottom:1px solid var(--line)}
.rows td{padding:5px 10px;border-bottom:1px solid var(--soft);vertical-align:top;
overflow-wrap:anywhere}
.rows .kind{color:var(--muted);font-size:11px;margin-left:6px}
.rows .detail{max-width:420px;white-space:pre-wrap;word-break:break-word}
.gate{display:inline-block;font-size:11px;padding:0 6px;border-radius:4px;margin:1px 3px 1px 0}
.g-ok{background:#dafbe1;color:#1a7f37}.g-bad{background:#ffebe9;color:#cf222e}
.g-skip{background:#eaeef2;color:#57606a}
.diff>summary{cursor:pointer;padding:5px 14px;color:var(--muted);font-size:12px;
border-top:1px solid var(--line)}
table.code{border-collapse:collapse;width:100%;line-height:1.5;background:var(--bg)}
table.code td{padding:0 8px;white-space:pre-wrap;word-break:break-all;vertical-align:top}
table.code .ln{width:1%;min-width:44px;text-align:right;color:#8c959f;user-select:none}
table.code .sg{width:1%;user-select:none;padding:0 2px}
table.code .add{background:#e6ffec}table.code .add .ln{background:#ccffd8}
table.code .del{background:#ffebe9}table.code .del .ln{background:#ffd7d5}
table.code .cr{color:#afb8c1}
table.code .hunk td{background:#ddf4ff;color:#57606a;padding:2px 8px}
"""

_SCRIPT = """
(function () {
  var root = document.documentElement;
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input[data-filter]"));
  var files = Array.prototype.slice.call(document.querySelectorAll("section.file"));
  function shown() {
    var on = {};
    boxes.forEach(function (b) { on[b.value] = b.checked; });
    return on;
  }
  function apply() {
    var on = shown(), all = boxes.every(function (b) { return b.checked; });
    var rows = 0, visibleFiles = 0;
    boxes.forEach(function (b) { root.classList.toggle("hide-" + b.value, !b.checked); });
    files.forEach(function (f) {
      var n = 0, counts = f.getAttribute("data-counts");
      (counts ? counts.split(" ") : []).forEach(function (pair) {
        var kv = pair.split(":");
        if (on[kv[0]]) { n += parseInt(kv[1], 10); }
      });
      f.hidden = !(n > 0 || (all && !counts));
      if (!f.hidden) { visibleFiles += 1; }
      rows += n;
    });
    document.getElementById("visible-rows").textContent = String(rows);
    document.getElementById("visible-files").textContent = String(visibleFiles);
  }
  function fromHash() {
    var m = /(?:^#|&)status=([^&]*)/.exec(location.hash);
    var want = m ? decodeURIComponent(m[1]).split(",") : null;
    boxes.forEach(function (b) { b.checked = !want || want.indexOf(b.value) >= 0; });
    apply();
  }
  function toHash() {
    var on = boxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
    var hash = on.length === boxes.length ? "" : "#status=" + on.join(",");
    history.replaceState(null, "", hash || location.pathname + location.search);
    apply();
  }
  boxes.forEach(function (b) { b.addEventListener("change", toHash); });
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
"""


def _css() -> str:
    colours = "".join(
        f".s-{s}{{--c:{fg};--cb:{bg}}}.hide-{s} tr[data-status={s}]{{display:none}}"
        for s, (fg, bg) in _STATUS_COLOURS.items()
    )
    pygments_css = "\n".join(
        line
        for line in HtmlFormatter(style="default").get_style_defs(".code").splitlines()
        if line.startswith(".code .") and not line.startswith(".code .hll")
    )
    return _BASE_CSS + colours + "\n" + pygments_css


def render_html(ledger: Ledger, changes: Mapping[str, tuple[bytes, bytes]]) -> str:
    """The whole report as one HTML page that loads nothing from anywhere."""
    by_path: dict[str, list[LedgerRow]] = {}
    for row in ledger.rows:
        by_path.setdefault(row.path, []).append(row)
    for rows in by_path.values():
        rows.sort(key=lambda r: r.start_line)
    paths = sorted(by_path.keys() | changes.keys())
    budget = _Budget()
    sections = [
        _file_section(i, path, by_path.get(path, []), changes.get(path), budget)
        for i, path in enumerate(paths)
    ]
    title = f"codemill {ledger.meta.recipe} run {ledger.meta.run_id}"
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
            '<meta name="viewport" content="width=device-width,initial-scale=1">',
            f"<title>{_e(title)}</title><style>{_css()}</style></head><body><main>",
            _summary(ledger),
            _filters(),
            '<div id="files">',
            *sections,
            "</div>" if sections else '<p class="muted">No files in this run.</p></div>',
            f"</main><script>{_SCRIPT}</script></body></html>\n",
        ]
    )
