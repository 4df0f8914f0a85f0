"""What a run shows in Prefect's UI: its flow run's name, tags and parameters, the summary and chunk table
artifacts, and codemill's own lines for the run's logs.

Plain functions of the run's values, with no Prefect import: `flows/refactor.py` makes the calls. Every
text here is built from what the run records, with URL credentials masked (the key is never in it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pipeline.config import RunConfig
from pipeline.evidence.levels import counts as counts_by_level
from pipeline.evidence.levels import counts_line
from pipeline.judge.verdicts import Status
from pipeline.model.prices import cost_text
from pipeline.records.ledger import FILE_KIND, LedgerRow
from pipeline.redact import redact_url
from pipeline.run.progress import counted
from pipeline.run.result import RunResult

# The settings that only a model run uses: an offline run's parameters leave them out.
MODEL_SETTINGS = frozenset(
    {
        "model", "base_url", "api_key_env", "concurrency", "rpm", "tpm", "max_cost", "repair_turns",
        "no_cache", "refresh_cache", "stream", "price_input", "price_output", "context_tokens",
        "gate_repairs", "connect_timeout", "read_timeout", "request_deadline", "prices",
        "cache_path",
    }
)  # fmt: skip
SUMMARY_CHUNKS = 25  # changed chunks whose diffs the summary artifact shows
SUMMARY_DIFF_LINES = 400  # diff lines over all of them
TABLE_ROWS = 500  # rows of the chunk table artifact
STATUS_ORDER = {Status.ACCEPTED: 0, Status.REJECTED: 1, Status.FAILED: 2, Status.UNCHANGED: 3}
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@")


def recipe_name(recipe: str) -> str:
    """A recipe as people name it: a built-in's name, or a recipe file's stem."""
    return Path(recipe).stem if recipe.endswith(".md") else recipe


def repo_name(config: RunConfig, given: str | None = None) -> str:
    """The repository as people name it: the fleet's name for it, else its directory's."""
    return given or config.repo.name or "repo"


def run_name(repo: str, config: RunConfig, run_id: str | None) -> str:
    """`<repo>-<recipe>-<run id>`: the flow run's name; the run id is its report directory's."""
    parts = [repo, recipe_name(config.recipe), run_id]
    return "-".join(part for part in parts if part)


def run_tags(repo: str, config: RunConfig, engine: str) -> list[str]:
    """The flow run's tags: codemill's, and the recipe, engine and repository to filter runs by."""
    return ["codemill", f"recipe:{recipe_name(config.recipe)}", f"engine:{engine}", f"repo:{repo}"]


def run_parameters(config: dict[str, Any], engine: str, setup: dict[str, Any]) -> dict[str, Any]:
    """The serialized config as the UI shows it: the engine the run uses, no model settings on an
    offline run, and of the setup only what names the run (never the loaded recipe)."""
    shown = {
        key: value for key, value in config.items() if engine == "llm" or key not in MODEL_SETTINGS
    }
    shown["engine"] = engine
    kept = ("run_id", "base_commit", "branch")
    return {"config": shown, **{key: setup[key] for key in kept if setup.get(key) is not None}}


def start_line(
    config: RunConfig, engine: str, files: int, chunks: int | None, left_out: int
) -> str:
    """The run's first log line: what runs, with which engine, over how much."""
    how = f"model {config.model} at {redact_url(config.base_url)}" if engine == "llm" else "offline"
    cut = counted(chunks, "chunk") if chunks is not None else "chunks cut as it goes"
    out = f", {counted(left_out, 'file')} left out" if left_out else ""
    return (
        f"codemill: recipe {recipe_name(config.recipe)}, engine {engine} ({how}); "
        f"{counted(files, 'file')}, {cut}{out}"
    )


def outcome_lines(result: RunResult) -> list[str]:
    """The run's end in the flow run's logs: counts, spend (model runs), branch, the report's place."""
    t = result.totals
    counts = ", ".join(f"{n} {status}" for status, n in t.by_status.items()) or "no chunks"
    lines = [f"codemill: {counts}; {counted(len(result.changed_files), 'file')} changed"]
    if t.evidence:
        lines.append(f"codemill: {counts_line(t.by_status.get('accepted', 0), t.evidence)}")
    if result.engine == "llm":
        spent = cost_text(t.usage.cost_usd, t.usage.unpriced)
        hits = counted(t.cached_rows, "cache hit")
        lines.append(f"codemill: {counted(t.usage.tokens, 'token')}, {spent}, {hits}")
    if result.stop_reason:
        lines.append(f"codemill: stopped early: {result.stop_reason}")
    if result.branch and result.commits:
        pushed = " and pushed" if result.pushed else ""
        made = counted(len(result.commits), "commit")
        lines.append(f"codemill: branch {result.branch}: {made}{pushed}")
    report = result.report_dir / "report.html"
    lines.append(f"codemill: report {report.as_uri() if report.is_absolute() else report}")
    return [redact_url(line) for line in lines]


def ordered_rows(rows: Iterable[LedgerRow]) -> list[LedgerRow]:
    """Chunks that need a decision first (accepted, then rejected and failed), files left out last."""
    return sorted(
        rows,
        key=lambda r: (r.kind == FILE_KIND, STATUS_ORDER.get(r.status, 4), r.path, r.start_line),
    )


def chunk_table(
    rows: Sequence[LedgerRow], limit: int = TABLE_ROWS
) -> tuple[list[dict[str, Any]], int]:
    """The chunk table artifact's rows, sorted and capped; how many rows were left out."""
    ordered = ordered_rows(rows)
    table = [
        {
            "status": str(r.status),
            "path": r.path,
            "chunk": r.chunk,
            "lines": f"{r.start_line}-{r.end_line}",
            "reason": "" if r.reason is None else str(r.reason),
            "evidence": "" if r.evidence is None else str(r.evidence.level),
            "detail": r.detail[:200],
            "engine": r.engine,
            "cost_usd": None if r.usage.unpriced else round(r.usage.cost_usd, 6),
        }
        for r in ordered[:limit]
    ]
    return table, max(0, len(ordered) - limit)


def file_hunks(patch: str) -> dict[str, list[list[str]]]:
    """A unified patch's hunks by the path they change (each hunk its header and lines)."""
    out: dict[str, list[list[str]]] = {}
    path, header = "", False
    for line in patch.splitlines():
        if line.startswith("diff --git "):
            header = True
        elif header and line.startswith("--- "):
            path = line[4:].removeprefix("a/")
        elif line.startswith("@@") and (header or path in out):
            header = False
            out.setdefault(path, []).append([line])
        elif not header and path in out:
            out[path][-1].append(line)
    return out


def _changed_lines(hunk: list[str]) -> Iterator[int]:
    """The old-file line numbers a hunk removes, or inserts before."""
    found = _HUNK.match(hunk[0])
    old = int(found.group(1)) if found else 0
    for line in hunk[1:]:
        if line.startswith("-"):
            yield old
            old += 1
        elif line.startswith("+"):
            yield old
        elif line.startswith(" "):
            old += 1


def chunk_diffs(rows: Sequence[LedgerRow], patch: str) -> list[tuple[LedgerRow, list[str] | None]]:
    """Each accepted chunk with the patch's hunks that change its lines; a hunk is shown once, under
    the first chunk it changes (None for a chunk whose change is all in a hunk shown before)."""
    hunks = file_hunks(patch)
    shown: set[tuple[str, int]] = set()
    out: list[tuple[LedgerRow, list[str] | None]] = []
    for row in ordered_rows(r for r in rows if r.status == Status.ACCEPTED):
        mine: list[str] = []
        earlier = False
        for n, hunk in enumerate(hunks.get(row.path, [])):
            if not any(row.start_line <= k <= row.end_line for k in _changed_lines(hunk)):
                continue
            earlier = earlier or (row.path, n) in shown
            if (row.path, n) not in shown:
                shown.add((row.path, n))
                mine += hunk
        out.append((row, None if earlier and not mine else mine))
    return out


def _diff_section(row: LedgerRow, lines: list[str] | None, budget: int) -> tuple[list[str], int]:
    """One changed chunk's heading and diff, cut to `budget` lines; the lines left of the budget."""
    title = f"### `{row.path}` `{row.chunk}` (lines {row.start_line}-{row.end_line}, {row.engine})"
    if lines is None:
        return [title, "", "(changed in the diff of the chunk above)", ""], budget
    cut = lines[: max(0, budget)]
    body = "```diff\n" + "\n".join(cut) + "\n```" if cut else "(diff left out: see the patch)"
    if len(cut) < len(lines):
        body += f"\n\n({len(lines) - len(cut)} more diff lines in the patch)"
    return [title, "", body, ""], budget - len(cut)


def summary_markdown(rows: Sequence[LedgerRow], patch: str, report_dir: Path, heading: str) -> str:
    """The summary artifact: counts, where the report is, each changed chunk with its diff (capped)."""
    counts: dict[str, int] = {}
    for row in ordered_rows(rows):
        counts[str(row.status)] = counts.get(str(row.status), 0) + 1
    report = report_dir / "report.html"
    accepted = [r for r in rows if r.status is Status.ACCEPTED]
    levels = counts_by_level([r.evidence.level for r in accepted if r.evidence is not None])
    proved = [f"Evidence: {counts_line(len(accepted), levels)}", ""] if levels else []
    out = [
        f"# {heading}",
        "",
        ", ".join(f"{n} {status}" for status, n in counts.items()) or "no chunks",
        "",
        *proved,
        f"- Report: `{report.as_uri() if report.is_absolute() else report}`",
        f"- Patch: `{report_dir / 'changes.patch'}`",
        f"- Ledger: `{report_dir / 'ledger.jsonl'}`",
        "",
    ]
    diffs = chunk_diffs(rows, patch)
    out += [f"## Changed chunks ({len(diffs)})", ""]
    budget = SUMMARY_DIFF_LINES
    for row, lines in diffs[:SUMMARY_CHUNKS]:
        section, budget = _diff_section(row, lines, budget)
        out += section
    if len(diffs) > SUMMARY_CHUNKS:
        out.append(f"{len(diffs) - SUMMARY_CHUNKS} more changed chunks left out: see the report.")
    return redact_url("\n".join(out))
