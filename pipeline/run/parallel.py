"""Per-file work on a pool of worker processes, results back in the order of the input: `--jobs`.

Only small picklable data crosses the process boundary (a SourceFile's path, bytes and text; chunks and
proposals back), never a libcst tree. Order is the input's whatever finishes first, so a run's ledger and
patch are the same with any number of jobs. Workers are forked children that die with the run: they ignore
SIGINT (the run decides how to stop and kills them) and ask the kernel for SIGKILL when the run dies, even
by kill -9 (Linux). `jobs == 1`, or a single item, runs in this process: no pool at all.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from pipeline.gates.lifetime import die_with_parent

T = TypeVar("T")
R = TypeVar("R")

AHEAD_PER_JOB = 4  # items queued per worker: enough to keep each busy, few to cancel on a stop
BUFFER_PER_AHEAD = 16  # results held behind a slow item at the head, per item running

_work: Callable[[Any], Any] | None = None  # the worker's function, set once when it starts


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1: the default `--jobs`."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def ordered_map(
    work: Callable[[T], R],
    items: Iterable[T],
    *,
    jobs: int,
    crashed: Callable[[T], R],
) -> Iterator[R]:
    """`work(item)` for each item, on `jobs` worker processes, yielded in the order of `items`.

    `work` must be picklable (a module-level function, or a bound method of a picklable object); it is
    sent once to each worker. An item whose worker dies (a crash in native code, the OOM killer) gets
    `crashed(item)` instead, and the run goes on. Closing the iterator early kills the workers at once.
    """
    pending = deque(items)
    if jobs <= 1 or len(pending) <= 1:
        yield from map(work, pending)
        return
    while pending:
        with _pool(work, min(jobs, len(pending))) as pool:
            yield from _stream(pool, pending, ahead=AHEAD_PER_JOB * jobs)
        if pending:  # the pool broke: the items it held, one by one, then a new pool for the rest
            for item in [pending.popleft() for _ in range(min(len(pending), AHEAD_PER_JOB * jobs))]:
                yield from _isolated(work, item, crashed)


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """Forked workers for calls submitted one by one (`loop.run_in_executor`), with ordered_map's
    lifetime: they ignore SIGINT, die with the run even by kill -9, and are killed when the block ends."""
    with _pool(None, workers) as pool:
        yield pool


@contextlib.contextmanager
def _pool(work: Callable[[T], R] | None, workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of forked workers running `work`; killed, not waited for, if the caller stops early."""
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(work, os.getpid())
    )
    try:
        yield pool
    except BaseException:
        _kill(pool)
        raise
    _kill(pool)  # idle by now, or broken


def _stream(pool: ProcessPoolExecutor, pending: deque[T], *, ahead: int) -> Iterator[R]:
    """Keep `ahead` items running; yield each result once all before it are yielded.

    A slow item at the head never idles the other workers: items keep being submitted while it runs,
    and their results wait (at most BUFFER_PER_AHEAD * `ahead` of them) until it is done. An item
    leaves `pending` when its result is yielded; when the pool breaks, the rest stay there.
    """
    queued: deque[Future[R]] = deque()  # submitted, in the order of `pending`
    while pending:
        running = [future for future in queued if not future.done()]
        while len(queued) < min(len(pending), BUFFER_PER_AHEAD * ahead) and len(running) < ahead:
            try:
                running.append(pool.submit(_run, pending[len(queued)]))
            except BrokenProcessPool:  # a worker died since the last look: the caller isolates
                return
            queued.append(running[-1])
        if not queued[0].done():
            wait(running, return_when=FIRST_COMPLETED)
            continue
        try:
            result = queued.popleft().result()
        except BrokenProcessPool:
            return
        pending.popleft()
        yield result


def _isolated(work: Callable[[T], R], item: T, crashed: Callable[[T], R]) -> Iterator[R]:
    """`work(item)` alone in a fresh worker, so a crash is pinned on the item that caused it."""
    with _pool(work, 1) as pool:
        try:
            result: R = pool.submit(_run, item).result()
        except BrokenProcessPool:
            result = crashed(item)
    yield result


def _kill(pool: ProcessPoolExecutor) -> None:
    """Stop the pool now: queued work cancelled, running workers killed rather than waited for."""
    processes = list(getattr(pool, "_processes", {}).values())  # the only handle 3.11 offers
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(OSError, ValueError):
            process.kill()
    for process in processes:
        with contextlib.suppress(OSError, ValueError, AssertionError):
            process.join(timeout=1.0)


def _start_worker(work: Callable[[Any], Any] | None, parent: int) -> None:
    """In each worker, once: ignore SIGINT, die with the parent, remember the function to run."""
    global _work
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent)
    _work = work


def _run(item: Any) -> Any:
    assert _work is not None, "a worker runs only after _start_worker"
    return _work(item)
