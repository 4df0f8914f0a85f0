"""RunCounter and Snapshot: the running counts a display shows while a run goes."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest

from pipeline.engines.proposal import Proposal
from pipeline.judge.verdicts import Reason, Status, Verdict
from pipeline.model.completion import Usage
from pipeline.run.progress import RunCounter, Snapshot
from pipeline.source.chunking import chunk_module

CHUNK = chunk_module("m.py", "def f(x):\n    return x\n")[0]


def proposal(status: Status, **usage: Any) -> Proposal:
    """A proposal with the given status and usage fields (tokens, cost, cache_hit)."""
    reason = None if status in (Status.ACCEPTED, Status.UNCHANGED) else Reason.BUDGET
    return Proposal(CHUNK, Verdict(status, reason), usage=Usage(**usage))


def test_the_counter_counts_each_outcome_tokens_cost_and_cache_hits() -> None:
    counter = RunCounter()
    counter.start(9)
    assert counter.snapshot() == Snapshot(total=9)
    counter.add(
        proposal(Status.ACCEPTED, prompt_tokens=1000, completion_tokens=234, cost_usd=0.01), 8
    )
    counter.add(
        proposal(Status.ACCEPTED, prompt_tokens=10, completion_tokens=5, attempts=1, cache_hits=1),
        8,
    )
    counter.add(
        proposal(Status.REJECTED, prompt_tokens=100, reasoning_tokens=50, cost_usd=0.0023), 4
    )
    counter.add(proposal(Status.UNCHANGED), 4)
    counter.add(proposal(Status.SKIPPED), 4)
    counter.add(proposal(Status.SKIPPED), 4)
    earlier = counter.snapshot()
    counter.add(proposal(Status.FAILED), 2)

    snap = counter.snapshot()
    assert replace(snap, usage=Usage()) == Snapshot(
        total=9,
        done=7,
        accepted=2,
        rejected=1,
        unchanged=1,
        skipped=2,
        failed=1,
        concurrency_limit=2,
        files_done=1,  # every proposal here is a chunk of the one file
    )
    # prompt + completion; reasoning tokens are inside completion already
    assert (snap.usage.tokens, snap.usage.cost_usd, snap.usage.cache_hits) == (1349, 0.0123, 1)
    assert earlier.done == 6 and earlier.concurrency_limit == 4  # a snapshot never moves


def test_the_line_sums_skipped_and_failed_and_shows_the_limit_when_known() -> None:
    snap = Snapshot(
        total=120,
        done=57,
        accepted=30,
        rejected=4,
        unchanged=20,
        skipped=2,
        failed=1,
        usage=Usage(prompt_tokens=1234567, cost_usd=0.12345, cache_hits=3),
        concurrency_limit=8,
    )
    assert snap.line() == (
        "57/120 chunks: 30 accepted, 4 rejected, 20 unchanged, 3 skipped/failed; "
        "1,234,567 tokens, $0.1235, limit 8"
    )
    assert Snapshot(total=3).line() == (
        "0/3 chunks: 0 accepted, 0 rejected, 0 unchanged, 0 skipped/failed; 0 tokens, $0.0000"
    )


def test_the_counter_loses_no_update_across_threads() -> None:
    counter = RunCounter()
    counter.start(4000)
    done = proposal(Status.ACCEPTED, prompt_tokens=3, completion_tokens=2)

    def work() -> None:
        for _ in range(1000):
            counter.add(done, 16)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    snap = counter.snapshot()
    assert (snap.done, snap.accepted, snap.usage.tokens) == (4000, 4000, 20000)


def test_a_run_that_cuts_its_chunks_as_it_goes_counts_files_out_of_a_known_total() -> None:
    counter = RunCounter()
    counter.start(0, files=3)  # a codemod run: chunks are cut in the workers
    assert counter.snapshot().fraction() == 0.0
    a, b = replace(CHUNK, path="a.py"), replace(CHUNK, path="b.py")
    counter.add(Proposal(a, Verdict.unchanged()), None)
    counter.add(Proposal(a, Verdict.unchanged()), None)
    counter.file_left_out("c.py")
    snap = counter.snapshot()
    assert snap.line().startswith("2/3 files, 2 chunks: 0 accepted")
    assert snap.fraction() == pytest.approx(2 / 3)
    counter.add(Proposal(b, Verdict.unchanged()), None)
    assert counter.snapshot().fraction() == 1.0
    assert Snapshot(total=4, done=1, files=9).line().startswith("1/4 chunks")  # chunks when known
    assert Snapshot().fraction() is None
