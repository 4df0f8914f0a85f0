"""Several small repositories in one child flow run: the fleet's packs.

A child flow run costs a process and Prefect's start-up (tens of seconds on a loaded machine) whatever it
carries; a small repository's run is seconds. `--repos-per-run K` puts K repositories in each child run, in
the plan's order; `--repos-per-run auto` packs by size: a repository of more than BIG_BYTES of Python
runs alone, the others are spread over at least as many runs as may be in flight (and at most
MAX_PER_RUN repositories each), the heaviest first into the lightest run, so runs end together. Inside a
run, repositories go smallest first, each with its own branch, report and result.
A sharded repository is never packed: each shard is a run of its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from pipeline.errors import UsageError
from pipeline.fleet.plan import Member, Work

AUTO = "auto"
BIG_BYTES = 2_000_000  # Python bytes above which a repository's run is long enough to go alone
MAX_PER_RUN = 25  # repositories in one child run at most, with auto


class PackingError(UsageError):
    """A --repos-per-run value codemill cannot use; the message is one sentence."""


def repos_per_run(value: str) -> int | None:
    """`--repos-per-run`: a count of at least 1, or `auto` (None: packed by size)."""
    if value.strip().lower() == AUTO:
        return None
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise PackingError(
            f"--repos-per-run {value!r} must be a whole number of at least 1, or auto"
        )
    return count


def pack(
    plan: Sequence[Work], per_run: int | None, in_flight: int, size_of: Callable[[Member], int]
) -> list[list[Work]]:
    """The plan's repositories still to run, grouped into child runs (each a list of Work)."""
    to_run = [work for work in plan if work.known is None]
    alone = [[work] for work in to_run if len(work.members) > 1]  # shards: one run each
    single = [work for work in to_run if len(work.members) == 1]
    if per_run is not None:
        return alone + [single[i : i + per_run] for i in range(0, len(single), per_run)]
    sizes = {work.entry.key: size_of(work.members[0]) for work in single}
    big = [[work] for work in single if sizes[work.entry.key] > BIG_BYTES]
    small = sorted(
        (work for work in single if sizes[work.entry.key] <= BIG_BYTES),
        key=lambda work: -sizes[work.entry.key],
    )
    runs = max(1, in_flight, math.ceil(len(small) / MAX_PER_RUN)) if small else 0
    bins: list[list[Work]] = [[] for _ in range(runs)]
    loads = [0] * runs
    for work in small:  # the heaviest first, into the lightest run that has room (LPT)
        room = [i for i in range(runs) if len(bins[i]) < MAX_PER_RUN]
        lightest = min(room, key=lambda i: (loads[i], len(bins[i])))
        bins[lightest].append(work)
        loads[lightest] += max(1, sizes[work.entry.key])
    packs = [sorted(b, key=lambda work: sizes[work.entry.key]) for b in bins if b]
    return alone + big + packs
