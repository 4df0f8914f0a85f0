"""Benchmark: what naming each chunk's codemods costs an offline run (issue 22, "what made the change").

Over standard-library modules, the modernize recipe's codemods run as the codemod engine runs them
(`CodemodEngine.refactor_traced`: one parse, the code after each codemod that changed the module kept);
then `attribution.touched_lines` traces each codemod's lines back to the original file. Reported: files,
files changed, steps kept, the codemods' time, the attribution's time and its share, and the largest single
file's attribution time. One process, no jobs: the share is what each worker pays.

    python bench/attribution.py [--limit 60]
"""

from __future__ import annotations

import argparse
import sysconfig
import time
from pathlib import Path

import libcst as cst

from pipeline.engines.attribution import touched_lines
from pipeline.engines.codemod_module import CodemodEngine
from pipeline.recipes.loading import load_recipe


def modules(limit: int) -> list[Path]:
    """The largest `limit` top-level stdlib modules that parse with libcst."""
    lib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(lib.glob("*.py"), key=lambda p: p.stat().st_size, reverse=True)
    return files[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=60)
    args = parser.parse_args()
    engine = CodemodEngine(load_recipe("modernize"))
    codemods = attribution = worst = 0.0
    changed = steps = 0
    paths = modules(args.limit)
    for path in paths:
        text = path.read_text(encoding="utf-8")
        try:
            tree = cst.parse_module(text)
        except cst.ParserSyntaxError:
            continue
        started = time.perf_counter()
        traced = engine.refactor_traced(path.name, tree, text)
        codemods += time.perf_counter() - started
        if not traced.steps:
            continue
        changed, steps = changed + 1, steps + len(traced.steps)
        started = time.perf_counter()
        touched_lines(text, traced.steps)
        took = time.perf_counter() - started
        attribution, worst = attribution + took, max(worst, took)
    share = 100 * attribution / codemods if codemods else 0.0
    print(f"{len(paths)} files, {changed} changed, {steps} codemod steps kept")
    print(f"codemods {codemods:.2f} s, attribution {attribution:.3f} s ({share:.1f}%)")
    print(f"largest single file's attribution {1000 * worst:.1f} ms")


if __name__ == "__main__":
    main()
