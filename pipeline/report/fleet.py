"""The fleet report: `fleet.json`, `fleet.md` and `fleet.html`, one row per repository, the totals, and the
slowest and most expensive repositories.

Made from the repositories' small results only (never their code). `fleet.html` is one self-contained page
like `report.html`: inline CSS, no script, nothing loaded from anywhere (the same CSP), every value escaped
by Jinja2's autoescaping.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from pipeline.paths import private_dir, write_atomic
from pipeline.records.repo_result import RepoResult, most_expensive, slowest, totals
from pipeline.report import pulls

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
TOP = 5


@dataclass
class FleetRun:
    """One fleet run as the reports show it."""

    fleet_run: str
    recipe: str
    fleet_file: str
    started: str
    finished: str | None = None
    exit_code: int = 0
    results: list[RepoResult] = field(default_factory=list)
    pulls: list[dict[str, Any]] = field(default_factory=list)  # `codemill status` readings, if any


@dataclass(frozen=True)
class FleetReportPaths:
    """Where the fleet report's files went."""

    directory: Path
    json: Path
    markdown: Path
    html: Path


def fleet_json(run: FleetRun) -> str:
    """The fleet run as JSON: meta, totals, slowest, most expensive and one object per repository."""
    data: dict[str, Any] = {
        "fleet_run": run.fleet_run,
        "recipe": run.recipe,
        "fleet_file": run.fleet_file,
        "started": run.started,
        "finished": run.finished,
        "exit_code": run.exit_code,
        "totals": asdict(totals(run.results)),
        "slowest": [r.name for r in slowest(run.results, TOP)],
        "most_expensive": [r.name for r in most_expensive(run.results, TOP)],
        "repos": [r.to_json() for r in run.results],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def fleet_markdown(run: FleetRun) -> str:
    """The fleet run in Markdown: counts, a table of repositories, the slowest and most expensive."""
    t = totals(run.results)
    counts = ", ".join(f"{n} {status}" for status, n in t.by_status.items()) or "no repositories"
    lines = [
        f"# codemill fleet: {run.recipe}",
        "",
        f"Fleet run `{run.fleet_run}` of `{run.fleet_file}`, exit code {run.exit_code}.",
        "",
        f"{t.repos} repositories: {counts}. {t.files_changed} files changed, {t.accepted} chunks "
        f"accepted, {t.rejected} rejected, {t.tokens:,} tokens, ${t.cost_usd:.4f}, "
        f"{t.branches} branches ({t.pushed} pushed).",
        "",
        "| repository | status | reason | files | accepted | rejected | tokens | cost | branch | s "
        "| report |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for r in run.results:
        branch = f"`{r.branch}`{' (pushed)' if r.pushed else ''}" if r.branch else ""
        cells = [
            r.name,
            str(r.status),
            r.reason,
            r.files_changed,
            r.accepted,
            r.rejected,
            f"{r.tokens:,}",
            f"${r.cost_usd:.4f}",
            branch,
            f"{r.seconds:.1f}",
            r.report,
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines += ["", "Slowest: " + _ranked(slowest(run.results, TOP), "s")]
    lines += ["", "Most expensive: " + _ranked(most_expensive(run.results, TOP), "$")]
    return "\n".join(lines) + "\n"


def _ranked(rows: list[RepoResult], unit: str) -> str:
    if not rows:
        return "none."
    if unit == "$":
        return ", ".join(f"{r.name} (${r.cost_usd:.4f})" for r in rows) + "."
    return ", ".join(f"{r.name} ({r.seconds:.1f} s)" for r in rows) + "."


def _report_link(result: RepoResult) -> str:
    report = Path(result.report) / "report.html"
    return report.as_uri() if report.is_absolute() else str(report)


_ENV = Environment(
    loader=PackageLoader("pipeline.report", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    keep_trailing_newline=True,
)


def render_fleet_html(run: FleetRun) -> str:
    """The fleet report as one page that loads nothing (with the pull requests' burndown and their
    sorting script when `codemill status` has read them)."""
    extra = pulls.pulls_context(run.pulls) if run.pulls else {}
    return _ENV.get_template("fleet.html.j2").render(
        csp=pulls.CSP if run.pulls else CSP,
        **extra,
        run=run,
        totals=totals(run.results),
        slowest=slowest(run.results, TOP),
        expensive=most_expensive(run.results, TOP),
        report_link=_report_link,
    )


def write_fleet_report(directory: Path, run: FleetRun) -> FleetReportPaths:
    """Write the three files atomically into `directory` (made if missing)."""
    private_dir(directory)
    paths = FleetReportPaths(
        directory, directory / "fleet.json", directory / "fleet.md", directory / "fleet.html"
    )
    write_atomic(paths.json, fleet_json(run).encode("utf-8"))
    write_atomic(paths.markdown, fleet_markdown(run).encode("utf-8"))
    write_atomic(paths.html, render_fleet_html(run).encode("utf-8"))
    return paths
