"""What one measured test run executed: for each file of the worktree, each line's test contexts.

Read with coverage.py's own API (CoverageData, contexts_by_lineno) from the data file the gate's plugin
(pipeline/gates/plugin/codemill_coverage.py) wrote. A context is a pytest node id; "" is a line that ran
outside any test (an import during collection).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from coverage import CoverageData


@dataclass(frozen=True)
class CoverageMap:
    """Per repository path, per line: the contexts that ran it."""

    lines: dict[str, dict[int, frozenset[str]]] = field(default_factory=dict)

    def contexts(self, path: str, lines: Iterable[int]) -> set[str]:
        """Every context that ran any of `lines` of `path` ("" included)."""
        ran = self.lines.get(path, {})
        return {ctx for line in lines for ctx in ran.get(line, ())}

    def measured(self, path: str) -> bool:
        """Whether the run executed any line of `path` at all."""
        return path in self.lines

    def tests_reaching(self, paths: Iterable[str]) -> set[str]:
        """The tests that ran any line of any of `paths` (the bisection's selection)."""
        return {c for p in paths for ctxs in self.lines.get(p, {}).values() for c in ctxs if c}


def read_coverage(data_file: Path, tree: Path) -> CoverageMap | None:
    """The map of a run measured into `data_file` under worktree `tree`; None when it was not measured
    (no data file: not a pytest command, or no coverage.py where the tests ran)."""
    if not data_file.is_file():
        return None
    data = CoverageData(basename=str(data_file))
    data.read()
    root = os.path.realpath(tree) + os.sep
    lines: dict[str, dict[int, frozenset[str]]] = {}
    for measured in data.measured_files():
        real = os.path.realpath(measured)
        if not real.startswith(root):
            continue
        by_line = data.contexts_by_lineno(measured)
        rel = Path(real[len(root) :]).as_posix()
        lines[rel] = {line: frozenset(ctxs) for line, ctxs in by_line.items()}
    return CoverageMap(lines)
