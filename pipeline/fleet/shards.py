"""`--shard-by paths`: one repository's Python files cut into shards, each its own child run, and the shards'
ledgers put back together into the one run they stand for.

Shards are contiguous runs of the sorted paths (a package stays together as far as the sizes allow), of
near-equal file counts. Each shard is a dry run; the fleet replays the shards' accepted chunks on the base
commit (as `codemill apply` does) and gates them together, so the combined change is what one run would
have made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from pipeline.records.ledger import Ledger, RunMeta
from pipeline.run.replay import read_ledger

SOURCE_SUFFIXES = (".py", ".pyi")


def under_prefixes(path: str, prefixes: Sequence[str]) -> bool:
    """Whether a repository path is one of `prefixes` or under one (every path when there are none)."""
    return not prefixes or any(path == p or path.startswith(p + "/") for p in prefixes)


def split_paths(
    files: Sequence[str], prefixes: Sequence[str], shards: int
) -> list[tuple[str, ...]]:
    """The Python files under `prefixes`, sorted, in at most `shards` contiguous groups of similar size."""
    chosen = sorted(f for f in files if f.endswith(SOURCE_SUFFIXES) and under_prefixes(f, prefixes))
    count = max(1, min(shards, len(chosen)))
    groups: list[tuple[str, ...]] = []
    start = 0
    for index in range(count):
        stop = round(len(chosen) * (index + 1) / count)
        groups.append(tuple(chosen[start:stop]))
        start = stop
    return [g for g in groups if g] or [()]


def combine_ledgers(meta: RunMeta, report_dirs: Sequence[Path]) -> Ledger:
    """One ledger holding every row of the shards' ledgers, under the combined run's meta."""
    combined = Ledger(meta)
    for directory in report_dirs:
        shard = read_ledger(directory)
        for row in shard.rows:
            combined.append(replace(row, run_id=meta.run_id))
        meta.gates.update(shard.meta.gates)
    return combined
