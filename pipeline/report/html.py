"""report.html: one self-contained page (inline CSS/JS, no network) with the run, its counts and diffs.

The page is `templates/report.html.j2` (Jinja2, autoescaped, strict about undefined names); this module
turns the ledger and the changes into the plain values it shows. Everything from the run (paths,
file contents, details, gate decisions) is HTML-escaped and lives in the DOM only; the script reads
only chunk ids, paths and the run id back from data attributes and writes them with JSON.stringify or
textContent, never as markup, so hostile text can never run. Counts carry stable ids (count-<status>,
tokens-prompt, cost-usd...) and rows carry data-status for the filters, which the URL hash
`#status=rejected,failed` (or `#status=all`) also drives; the page opens on what needs a decision.
Each accepted chunk, file and directory has a checkbox: the reviewer's selection, downloaded as JSON
for `codemill apply --select` (`pipeline.run.selection`).
"""

from __future__ import annotations

import functools
import posixpath
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import jinja2

from pipeline.evidence.levels import Level
from pipeline.judge.verdicts import Status
from pipeline.model.prices import cost_text
from pipeline.records.ledger import FILE_KIND, Ledger, LedgerRow, RunMeta, Totals
from pipeline.report.diff_view import DiffLine, diff_lines
from pipeline.report.highlight import ColourAllowance, escape, pygments_css

_COLUMN_WIDTHS = (19, 7, 10, 11, 23, 14, 5, 6, 5)  # percent, one per column of a file's row table
_OFFLINE_WIDTHS = (22, 7, 10, 12, 33, 16)  # an offline run's table: no tries, tokens or cache
_STATUS_COLOURS = {
    Status.ACCEPTED: ("#1a7f37", "#dafbe1"),
    Status.UNCHANGED: ("#57606a", "#eaeef2"),
    Status.REJECTED: ("#cf222e", "#ffebe9"),
    Status.SKIPPED: ("#9a6700", "#fff8c5"),
    Status.FAILED: ("#8250df", "#fbefff"),
}
NEEDS_DECISION = (Status.ACCEPTED, Status.REJECTED)  # what the page opens on


class RowView(NamedTuple):
    """One ledger row as its table row shows it."""

    status: str
    chunk: str
    kind: str  # empty for a whole-file row
    start_line: int
    end_line: int
    reason: str
    detail: str
    gates: list[tuple[str, str, str]]  # name, decision, ok|skip|bad
    attempts: int
    tokens: int
    cache: str
    chunk_id: str  # the selection's id of a chunk that can land; empty otherwise
    made_by: str  # what made an accepted change: the codemods, or the recipe and model
    evidence: str = ""  # the evidence level of a gated change (a badge and data-evidence), else ""
    evidence_text: str = ""  # what it means for this chunk: the tests that ran it, or why not


@dataclass(frozen=True)
class FileView:
    """One file's section: counts by status, its rows, its diff."""

    index: int
    path: str
    counts: list[tuple[str, int]]
    data_counts: str
    rows: list[RowView]
    diff: list[DiffLine]
    added: int
    removed: int
    unchanged: bool  # the run looked at the file and left it as it was
    group: str  # its directory: the reviewer's selection can untick a whole one
    selectable: int  # how many of its chunks can land (each with a checkbox)


def _cost(totals: Totals) -> str:
    """The run's cost: a plain number when every answer's cost is known, else what is unknown."""
    usage = totals.usage
    return cost_text(usage.cost_usd, usage.unpriced) if usage.unpriced else f"{usage.cost_usd:.4f}"


def _gate_kind(decision: str) -> str:
    low = decision.lower()
    return "ok" if low.startswith(("pass", "ok")) else "skip" if low.startswith("skip") else "bad"


def made_by(row: LedgerRow, meta: RunMeta) -> str:
    """What made an accepted chunk's change: its rewrites (codemods, ruff rules), the model, or both."""
    rules = [rule for rule in row.rule.split(",") if rule]
    named = f"{'rules' if len(rules) > 1 else 'rule'} {', '.join(rules)}" if rules else ""
    model = f"recipe {meta.recipe}, model {row.model or meta.model or 'unknown'}"
    if row.engine == "codemod":
        return f"codemods: {named}" if named else f"the codemods of recipe {meta.recipe}"
    if row.engine == "codemod+llm":
        return f"codemods: {named}, then {model}" if named else f"the codemods, then {model}"
    return model


def _row_view(row: LedgerRow, meta: RunMeta) -> RowView:
    whole_file = row.kind == FILE_KIND
    lands = row.status is Status.ACCEPTED and row.new_text is not None
    return RowView(
        status=str(row.status),
        chunk="(file)" if whole_file else row.chunk,
        kind="" if whole_file else row.kind,
        start_line=row.start_line,
        end_line=row.end_line,
        reason=row.reason or "",
        detail=row.detail,
        gates=[(k, v, _gate_kind(v)) for k, v in row.gates.items()],
        attempts=row.usage.attempts,
        tokens=row.usage.tokens,
        cache="hit" if row.usage.from_cache else "",
        chunk_id=row.chunk_id if lands else "",
        made_by=made_by(row, meta) if row.status is Status.ACCEPTED else "",
        evidence="" if row.evidence is None else str(row.evidence.level),
        evidence_text="" if row.evidence is None else row.evidence.text(),
    )


def _file_view(
    index: int,
    path: str,
    rows: list[LedgerRow],
    meta: RunMeta,
    change: tuple[bytes, bytes] | None,
    colour_left: ColourAllowance,
) -> FileView:
    tally = Counter(str(r.status) for r in rows)
    counts = [(str(s), tally[str(s)]) for s in Status if tally[str(s)]]
    changed = change is not None and change[0] != change[1]
    diff = list(diff_lines(path, *change, colour_left)) if change is not None and changed else []
    kinds = Counter(line.kind for line in diff)
    views = [_row_view(r, meta) for r in rows]
    return FileView(
        index=index,
        path=path,
        counts=counts,
        data_counts=" ".join(f"{s}:{n}" for s, n in counts),
        rows=views,
        diff=diff,
        added=kinds["add"],
        removed=kinds["del"],
        unchanged=change is not None and not diff,
        group=posixpath.dirname(path),
        selectable=sum(1 for v in views if v.chunk_id),
    )


def _target(meta: RunMeta) -> str:
    """The run's target Python, and where it came from when the run recorded that."""
    if meta.policy is None:
        return "not recorded"
    version = ".".join(map(str, meta.policy.target_python))
    return f"{version} ({meta.target_python_from})" if meta.target_python_from else version


def _groups(files: list[FileView]) -> list[tuple[str, int]]:
    """Each directory holding chunks that can land, with how many: the selection's groups."""
    counts: Counter[str] = Counter()
    for file in files:
        counts[file.group] += file.selectable
    return [(group, n) for group, n in sorted(counts.items()) if n]


def _summary_values(ledger: Ledger) -> dict[str, object]:
    """The page's header, count cards and usage panel."""
    meta, totals = ledger.meta, ledger.totals()
    meta_items = [
        ("Recipe", meta.recipe, "meta-recipe"),
        ("Engine", meta.engine, "meta-engine"),
        ("Model", meta.model or "none", "meta-model"),
        ("Target Python", _target(meta), "meta-target"),
        ("Base commit", meta.base_commit or "unknown", "meta-base"),
        ("Started", meta.started, "meta-started"),
        ("Finished", meta.finished or "did not finish", "meta-finished"),
        *((f"Gate: {gate}", account, f"meta-gate-{gate}") for gate, account in meta.gates.items()),
    ]
    usage_items = [
        ("Prompt tokens", f"{totals.usage.prompt_tokens}", "tokens-prompt"),
        ("Completion tokens", f"{totals.usage.completion_tokens}", "tokens-completion"),
        ("Reasoning tokens", f"{totals.usage.reasoning_tokens}", "tokens-reasoning"),
        ("Cached tokens", f"{totals.usage.cached_tokens}", "tokens-cached"),
        ("Cost (USD)", _cost(totals), "cost-usd"),
    ]
    return {
        "meta": meta,
        "offline": meta.engine == "codemod",
        "default_statuses": " ".join(
            [str(s) for s in NEEDS_DECISION if totals.by_status.get(str(s))] or map(str, Status)
        ),
        "totals": totals,
        "meta_items": meta_items,
        "status_counts": [(str(s), totals.by_status.get(str(s), 0)) for s in Status],
        "usage_items": usage_items,
        "cache_rate": f" ({100 * totals.cached_rows / totals.rows:.0f}%)" if totals.rows else "",
        "latency": f"{totals.usage.latency_s:.1f}",
    }


@functools.cache
def _template() -> jinja2.Template:
    """The page template, compiled once per process."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=escape,  # escape as html.escape does, so the page keeps its bytes
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env.get_template("report.html.j2")


def render_html(ledger: Ledger, changes: Mapping[str, tuple[bytes, bytes]]) -> str:
    """The whole report as one HTML page that loads nothing from anywhere."""
    by_path: dict[str, list[LedgerRow]] = {}
    for row in ledger.rows:
        by_path.setdefault(row.path, []).append(row)
    for rows in by_path.values():
        rows.sort(key=lambda r: r.start_line)
    colour_left = ColourAllowance()
    files = [
        _file_view(i, path, by_path.get(path, []), ledger.meta, changes.get(path), colour_left)
        for i, path in enumerate(sorted(by_path.keys() | changes.keys()))
    ]
    return _template().render(
        title=f"codemill {ledger.meta.recipe} run {ledger.meta.run_id}",
        status_colours=[(str(s), fg, bg) for s, (fg, bg) in _STATUS_COLOURS.items()],
        pygments_css=pygments_css(),
        statuses=[str(s) for s in Status],
        evidence_levels=[str(level) for level in Level],
        column_widths=_OFFLINE_WIDTHS if ledger.meta.engine == "codemod" else _COLUMN_WIDTHS,
        files=files,
        groups=_groups(files),
        selectable=sum(file.selectable for file in files),
        **_summary_values(ledger),
    )
