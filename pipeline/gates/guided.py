"""Bisection guided by the failing run's own coverage: which changes its failing tests ran, and the command
that runs only the tests reaching the changes under test.

A change no failing test ran (by that run's per-test contexts) cannot be what failed them, so the search goes
over the reached ones only, the others held as background; its runs select the tests that reached the changes
still searched (pytest node ids after the command). The kept set then passes the whole suite once; if it does
not (a change that acts without running under a test: a module constant read at import), the gate searches
again over everything, unguided. Only the found `python -m pytest -q` is given node ids: a configured
command's shape is the user's.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from pipeline.evidence.coverage_map import CoverageMap

MAX_SELECTED = (
    400  # more test ids than this: the whole suite runs instead (a command line's length)
)


def reached(paths: Iterable[str], failing: Iterable[str], base_map: CoverageMap) -> set[str]:
    """The paths whose code some failing test ran."""
    failed = set(failing)
    return {p for p in paths if base_map.tests_reaching([p]) & failed}


def selecting(command: str, paths: Iterable[str], base_map: CoverageMap) -> str | None:
    """`command` followed by the node ids of the tests that reach `paths`; None for the whole suite."""
    tests = sorted(base_map.tests_reaching(paths))
    if not tests or len(tests) > MAX_SELECTED:
        return None
    return f"{command} {' '.join(shlex.quote(t) for t in tests)}"
