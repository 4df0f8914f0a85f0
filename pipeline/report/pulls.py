"""The pull requests' page: a burndown over every `codemill status` reading (open, merged, closed and
failing checks, as an inline SVG chart) and a table of each pull request's latest reading, sortable by
any column. One self-contained page (`pulls.html`) like `fleet.html`: its only script is inline and
reads no data, every value is escaped, nothing is loaded from anywhere."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from pipeline.paths import private_dir, write_atomic

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"  # sorting
SERIES = {"open": "#1d6fd8", "merged": "#2a9d3a", "closed": "#777777", "failing": "#c62828"}
STATE_ORDER = {"open": "1", "draft": "2", "merged": "3", "closed": "4"}
WIDTH, HEIGHT, PAD = 640, 240, 32


@dataclass(frozen=True)
class Point:
    """The pull requests as one reading saw them: how many there were and where they stood."""

    at: str
    opened: int
    open: int
    merged: int
    closed: int
    failing: int


def latest(snapshots: Iterable[Mapping[str, Any]]) -> dict[tuple[str, int], Mapping[str, Any]]:
    """Each pull request's last reading, by (repository, number)."""
    last: dict[tuple[str, int], Mapping[str, Any]] = {}
    for snap in sorted(snapshots, key=lambda s: str(s["at"])):
        last[(str(snap["repo"]), int(snap["number"]))] = snap
    return last


def burndown(snapshots: Sequence[Mapping[str, Any]]) -> list[Point]:
    """One point per reading: every pull request known by then, at its latest state."""
    points = []
    for at in sorted({str(s["at"]) for s in snapshots}):
        now = latest(s for s in snapshots if str(s["at"]) <= at).values()
        live = [s for s in now if s["state"] in ("open", "draft")]
        points.append(Point(at, len(now), len(live),
                            sum(s["state"] == "merged" for s in now),
                            sum(s["state"] == "closed" for s in now),
                            sum(s["checks"] == "failing" for s in live)))  # fmt: skip
    return points


def chart_svg(points: list[Point]) -> Markup:
    """The burndown as an inline SVG: one polyline per series, a dot per reading, a legend."""
    top = max([p.opened for p in points] + [1])
    step = (WIDTH - 2 * PAD) / max(len(points) - 1, 1)

    def xy(index: int, value: int) -> tuple[float, float]:
        return PAD + index * step, HEIGHT - PAD - value * (HEIGHT - 2 * PAD) / top

    parts = [f'<svg id="burndown" width="{WIDTH}" '
             f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img">',
             f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
             'stroke="#bbb"/>']  # fmt: skip
    for number, (name, colour) in enumerate(SERIES.items()):
        coords = [xy(i, getattr(p, name)) for i, p in enumerate(points)]
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        values = ",".join(str(getattr(p, name)) for p in points)
        parts.append(f'<polyline id="line-{name}" data-values="{values}" points="{line}" '
                     f'fill="none" stroke="{colour}" stroke-width="2"/>')  # fmt: skip
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in coords]
        parts.append(
            f'<text x="{PAD + number * 110}" y="16" fill="{colour}" font-size="12">{name}</text>'
        )
    parts.append(
        f'<text x="{PAD - 4}" y="{PAD}" text-anchor="end" font-size="11">{top}</text></svg>'
    )
    return Markup("".join(parts))  # numbers and fixed words only: nothing from a forge


_ENV = Environment(
    loader=PackageLoader("pipeline.report", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    keep_trailing_newline=True,
)


def pulls_context(snapshots: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What the pull requests' section of a page shows (pulls.html, fleet.html)."""
    rows = sorted(latest(snapshots).values(), key=lambda s: (str(s["repo"]), int(s["number"])))
    points = burndown(snapshots)
    return {"rows": rows, "points": points, "chart": chart_svg(points),
            "state_order": STATE_ORDER, "last": points[-1] if points else None}  # fmt: skip


def render_pulls_html(snapshots: Sequence[Mapping[str, Any]], title: str) -> str:
    """The page: the burndown of every reading and the table of the latest one of each pull request."""
    context = pulls_context(snapshots)
    return _ENV.get_template("pulls.html.j2").render(csp=CSP, title=title, **context)


def write_pulls_html(directory: Path, snapshots: Sequence[Mapping[str, Any]], title: str) -> Path:
    """`pulls.html` in `directory`, written atomically."""
    private_dir(directory)
    path = directory / "pulls.html"
    write_atomic(path, render_pulls_html(snapshots, title).encode("utf-8"))
    return path


def pulls_markdown(snapshots: Sequence[Mapping[str, Any]], title: str) -> str:
    """The latest reading of each pull request and the burndown's last point, in Markdown (the Prefect
    artifact)."""
    points = burndown(snapshots)
    last = points[-1] if points else Point("", 0, 0, 0, 0, 0)
    lines = [f"# codemill pull requests: {title}", "",
             f"{last.opened} opened: {last.open} open, {last.merged} merged, {last.closed} closed, "
             f"{last.failing} failing checks ({len(points)} readings).", "",
             "| repository | number | state | checks | mergeable | branch |",
             "| --- | ---: | --- | --- | --- | --- |"]  # fmt: skip
    for s in sorted(latest(snapshots).values(), key=lambda s: (str(s["repo"]), int(s["number"]))):
        cells = [s["repo"], f"[#{s['number']}]({s['url']})", s["state"], s["checks"], s["mergeable"],
                 f"`{s['branch']}`"]  # fmt: skip
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
