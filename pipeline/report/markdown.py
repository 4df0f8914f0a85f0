"""summary.md: a run in Markdown (what ran, counts by status and reason, usage, a table per file)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pipeline.evidence.levels import counts_line
from pipeline.judge.verdicts import Status
from pipeline.model.prices import cost_text
from pipeline.records.ledger import FILE_KIND, Ledger, LedgerRow, Totals
from pipeline.report.line_diff import diffstat
from pipeline.report.patch import Changes


def _cell(text: object) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> list[str]:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _gates(row: LedgerRow) -> str:
    return "; ".join(f"{name}: {decision}" for name, decision in row.gates.items())


def _apart(forecast: int, actual: int) -> str:
    return f"{forecast:,} forecast, {actual:,} actual" + (
        f" ({(forecast - actual) / actual:+.0%})" if actual else ""
    )


def _forecast_lines(totals: Totals) -> list[str]:
    """How far the forecast was from what the chunks answered in one request actually took."""
    forecast, actual = totals.forecast, totals.forecast_actual
    if not forecast.prompt_tokens:
        return []
    prompt = _apart(forecast.prompt_tokens, actual.prompt_tokens)
    completion = _apart(forecast.completion_tokens, actual.completion_tokens)
    return [
        f"Forecast against actual, over the chunks answered in one request: prompt tokens {prompt}; "
        f"completion tokens {completion}.",
        "",
    ]


def _usage_lines(totals: Totals) -> list[str]:
    """Tokens of each kind, cost and cache hits over the run; the forecast; partial token counts."""
    out = _table(
        ["Prompt tokens", "Completion", "Reasoning", "Cached", "Cost (USD)", "Cache hits"],
        [
            [
                totals.usage.prompt_tokens,
                totals.usage.completion_tokens,
                totals.usage.reasoning_tokens,
                totals.usage.cached_tokens,
                cost_text(totals.usage.cost_usd, totals.usage.unpriced)
                if totals.usage.unpriced
                else f"{totals.usage.cost_usd:.4f}",
                f"{totals.cached_rows}/{totals.rows}",
            ]
        ],
    )
    out += _forecast_lines(totals)
    if totals.usage.unreported:
        out += [
            f"{totals.usage.unreported} answers came without token counts: the token totals are "
            "partial.",
            "",
        ]
    return out


ENGINE_ORDER = {"codemod": 0, "llm": 1, "codemod+llm": 2}


def _attribution_lines(ledger: Ledger) -> list[str]:
    """What made the accepted changes: a count per engine (a hybrid run's codemods, model, or both)
    and per rewrite rule; nothing for a run whose changes all come from its one engine, unnamed."""
    accepted = [r for r in ledger.rows if r.status is Status.ACCEPTED]
    engines = Counter(r.engine for r in accepted)
    rules = Counter(rule for r in accepted for rule in r.rule.split(",") if rule)
    out = []
    if ledger.meta.engine == "hybrid" or len(engines) > 1:
        order = sorted(engines, key=lambda e: (ENGINE_ORDER.get(e, len(ENGINE_ORDER)), e))
        out.append("- Changes by engine: " + ", ".join(f"{e} {engines[e]}" for e in order))
    if rules:
        named = sorted(rules.items(), key=lambda item: (-item[1], item[0]))
        out.append("- Changes by rule: " + ", ".join(f"`{rule}` {n}" for rule, n in named))
    return out


def summary_markdown(ledger: Ledger, changes: Changes | None = None) -> str:
    """The run in Markdown: what ran, counts by status and reason, usage, and a table per file."""
    meta, totals = ledger.meta, ledger.totals()
    out = [f"# codemill run `{meta.run_id}`", ""]
    out.append(f"- Recipe: `{meta.recipe}`; engine: {meta.engine}; model: {meta.model or 'none'}")
    out += _attribution_lines(ledger)
    out.append(f"- Base commit: `{meta.base_commit or 'unknown'}`")
    finished = meta.finished or "did not finish (no end record: the run was interrupted)"
    out.append(f"- Started: {meta.started}; finished: {finished}")
    if meta.stop_reason:
        out.append(f"- **Stopped early:** {_cell(meta.stop_reason)}")
    for gate, account in meta.gates.items():
        out.append(f"- Gate `{gate}`: {_cell(account)}")
    if totals.evidence:
        out.append(
            f"- Evidence: {counts_line(totals.by_status.get('accepted', 0), totals.evidence)}"
        )
    if changes is not None and not changes:
        out.append("- No changes: no changes.patch was written, there is nothing to apply")
    out += ["", f"{totals.rows} rows over {totals.files} files.", "", "## By status", ""]
    out += _table(["Status", "Count"], totals.by_status.items())
    if totals.by_reason:
        out += ["## By reason", ""]
        out += _table(["Reason", "Count"], totals.by_reason.items())
    out += ["## Usage", "", *_usage_lines(totals)]
    out += ["## Files", ""]
    for path in sorted({r.path for r in ledger.rows}):
        heading = f"### `{path}`"
        if changes is not None and path in changes:
            added, removed = diffstat(*changes[path])
            heading += f" (+{added} -{removed})"
        out += [heading, ""]
        out += _table(
            ["Chunk", "Lines", "Status", "Reason", "Detail", "Gates", "Evidence"],
            (
                [
                    f"`{r.chunk}`" if r.chunk else "(file)",
                    f"{r.start_line}-{r.end_line}" if r.kind != FILE_KIND else "",
                    str(r.status),
                    r.reason or "",
                    r.detail,
                    _gates(r),
                    "" if r.evidence is None else r.evidence.text(),
                ]
                for r in ledger.rows_for(path)
            ),
        )
    return "\n".join(out)
