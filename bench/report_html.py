"""report.html render time for a large run, against the page as built at a git ref (the baseline).

Usage: python bench/report_html.py [--reps N] [--baseline REF]
The run is the one tests/report/test_html_report.py renders: 200 changed files of 25 functions, 5,000
ledger rows, 5,000 added diff lines (the first 10,000 diff lines coloured by Pygments). The baseline is
`pipeline/report/html.py` at REF (default: the commit before the Jinja2 templates), loaded beside the
current one; both render the same ledger in the same process, alternating; the best CPU time of N per side.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from pipeline.judge.verdicts import Status
from pipeline.records.ledger import Ledger, LedgerRow, RunMeta
from pipeline.report.html import render_html

Render = Callable[[Ledger, Mapping[str, tuple[bytes, bytes]]], str]
ROOT = Path(__file__).resolve().parent.parent


def large_run() -> tuple[Ledger, dict[str, tuple[bytes, bytes]]]:
    """5,000 rows over 200 files, each file's 25 annotations modernized."""
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
            ledger.append(
                LedgerRow(
                    "big", path, f"f{i}", "function", 3 * i + 1, 3 * i + 2, "d", status, detail="x"
                )
            )
    return ledger, changes


def baseline_renderer(ref: str, scratch: Path) -> Render:
    """render_html as it was at `ref`, imported from a copy of that file."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{ref}:pipeline/report/html.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = scratch / "baseline_html.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("baseline_html", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    render: Render = module.render_html
    return render


def _markup(page: str) -> str:
    """The page without the whitespace between tags (the template's line breaks)."""
    return re.sub(r">\s+<", "><", page)


def cpu_seconds(render: Render, ledger: Ledger, changes: dict[str, tuple[bytes, bytes]]) -> float:
    """CPU time of one render (the machine is shared: wall time would measure the neighbours)."""
    start = time.process_time()
    render(ledger, changes)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--baseline", default="7656ccb")
    args = parser.parse_args()
    ledger, changes = large_run()
    with tempfile.TemporaryDirectory() as scratch:
        old = baseline_renderer(args.baseline, Path(scratch))
        same = _markup(old(ledger, changes)) == _markup(render_html(ledger, changes))
        times: dict[str, list[float]] = {"baseline": [], "current": []}
        for _ in range(args.reps):
            times["baseline"].append(cpu_seconds(old, ledger, changes))
            times["current"].append(cpu_seconds(render_html, ledger, changes))
    base, now = min(times["baseline"]), min(times["current"])
    print(f"python {sys.version.split()[0]}, {args.reps} reps, best CPU time of each")
    print(f"baseline ({args.baseline}): {base:.3f} s")
    print(f"current:            {now:.3f} s  ({now / base:.2f}x the baseline)")
    print(f"same page but for whitespace between tags: {same}")


if __name__ == "__main__":
    main()
