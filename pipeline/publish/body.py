"""A pull request's title and body, made from the run: recipe, counts, cost, each changed file with its
chunks and reasons, what was rejected and why, the owners, the run id; cut to the forge's limit."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from pipeline.model.prices import cost_text
from pipeline.records.ledger import Ledger, LedgerRow
from pipeline.run.progress import counted

CUT_NOTE = "\n\n_…cut to the forge's limit of {limit:,} characters; the full list is in the run's report._\n"
MARKER = "<!-- codemill:publish -->"  # a pull request codemill opened says so, for people and tools


def title_of(ledger: Ledger, files: Sequence[str], group: str = "") -> str:
    """`codemill: <recipe> on N files` (and the group's name when the run is split)."""
    part = f" ({group})" if group else ""
    count = counted(len(files), "file")
    return f"codemill: {ledger.meta.recipe} on {count}{part}"


def body_of(
    ledger: Ledger, files: Sequence[str], owners: Mapping[str, tuple[str, ...]], limit: int
) -> str:
    """The body for `files` of the run, cut to `limit` characters with a note saying so."""
    meta = ledger.meta
    chosen = set(files)
    head = [
        MARKER,
        f"Recipe **{meta.recipe}** ({meta.engine}{f', {meta.model}' if meta.model else ''}), "
        f"run `{meta.run_id}` on `{(meta.base_commit or '')[:12]}`.",
        "",
        f"Chunks: {_tally([r for r in ledger.rows if r.path in chosen])}.",
    ]
    if {r.path for r in ledger.rows if r.status == "accepted"} - chosen:  # split: the run besides
        head.append(f"The whole run: {_tally(ledger.rows)}.")
    if evidence := _evidence(ledger.rows, files):
        head.append(f"Evidence: {evidence}.")
    unowned = [f for f in files if not owners.get(f)]
    if unowned:
        head.append(f"\n**No code owner** for {len(unowned)} file(s): {', '.join(unowned)}.")
    sections = ["\n".join(head), _changed(ledger, files, owners), _rejected(ledger, files)]
    return cut("\n\n".join(s for s in sections if s) + "\n", limit)


def _tally(rows: Sequence[LedgerRow]) -> str:
    """`2 accepted, 1 rejected; cost $0.0123`: the rows' counts by status and what they cost."""
    counts = Counter(str(r.status) for r in rows)
    cost = cost_text(sum(r.usage.cost_usd for r in rows), sum(r.usage.unpriced for r in rows))
    shown = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"
    return f"{shown}; cost {cost}"


def _changed(ledger: Ledger, files: Sequence[str], owners: Mapping[str, tuple[str, ...]]) -> str:
    lines = ["### Changed files", ""]
    for path in files:
        who = " ".join(f"@{o}" for o in owners.get(path, ())) or "no owner"
        lines.append(f"- `{path}` ({who})")
        for row in ledger.rows_for(path):
            if row.status == "accepted":
                lines.append(f"  - `{row.chunk or '<module>'}` lines {row.start_line}-{row.end_line}"
                             f"{_why(row)}")  # fmt: skip
    return "\n".join(lines)


def _rejected(ledger: Ledger, files: Sequence[str]) -> str:
    """Every rejected chunk of the run's files (or of the whole run when it was not split)."""
    chosen = set(files)
    rows = [r for r in ledger.rows if r.status == "rejected" and r.path in chosen]
    if not rows:
        return ""
    lines = ["### Rejected", ""]
    lines += [f"- `{r.path}` `{r.chunk or '<module>'}`: {r.reason}{_why(r)}" for r in rows]
    return "\n".join(lines)


def _why(row: LedgerRow) -> str:
    detail = row.detail.replace("\n", " ").strip()
    return f" — {detail[:300]}" if detail else ""


def _evidence(rows: Sequence[LedgerRow], files: Sequence[str]) -> str:
    """What the gates said of the accepted chunks, counted: `imported 3, tests passed 2`."""
    chosen, counts = set(files), dict[str, int]()
    for row in rows:
        if row.status == "accepted" and row.path in chosen:
            for gate, decision in row.gates.items():
                key = f"{gate} {decision}"
                counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))


def cut(body: str, limit: int) -> str:
    """`body`, or its head cut at a line's end with a note, so the whole fits in `limit` characters."""
    if len(body) <= limit:
        return body
    note = CUT_NOTE.format(limit=limit)
    head = body[: max(0, limit - len(note))]
    return head[: head.rfind("\n") + 1 or len(head)] + note
