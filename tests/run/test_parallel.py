"""The process pool behind --jobs: input order whatever finishes first, crashes pinned on their item, and
workers that never outlive the run (closed early, or the run killed with SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from pipeline.run.parallel import available_cores, ordered_map


def slow_square(n: int) -> int:
    time.sleep(0.05 * (n % 3))  # later items often finish first
    return n * n


def square_or_die(n: int) -> int:
    if n == 3:
        os._exit(7)  # what a crash in native code looks like from the pool
    return n * n


def worker_pid(_: int) -> int:
    time.sleep(0.2)
    return os.getpid()


def head_waits_for_the_last(item: tuple[int, str]) -> str:
    """Item 0 finishes only once the last item has run: the pool must run the others meanwhile."""
    n, marker = item
    if n == 0:
        deadline = time.monotonic() + 20
        while not os.path.exists(marker):
            if time.monotonic() > deadline:
                return "the last item never ran while the first one was running"
            time.sleep(0.01)
        return "done"
    if n == HEAD_LINE_ITEMS - 1:
        Path(marker).touch()
    return "done"


HEAD_LINE_ITEMS = 40  # far more than the items kept running (AHEAD_PER_JOB per job)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_a_slow_first_item_does_not_stop_the_others_running(tmp_path: Path) -> None:
    marker = str(tmp_path / "last-ran")
    items = [(n, marker) for n in range(HEAD_LINE_ITEMS)]
    results = list(ordered_map(head_waits_for_the_last, items, jobs=2, crashed=lambda _: "crashed"))
    assert results == ["done"] * HEAD_LINE_ITEMS


def test_results_come_back_in_input_order_as_with_one_job() -> None:
    items = list(range(24))
    assert list(ordered_map(slow_square, items, jobs=3, crashed=lambda n: -1)) == [
        n * n for n in items
    ]
    assert list(ordered_map(slow_square, items, jobs=1, crashed=lambda n: -1)) == [
        n * n for n in items
    ]


def test_work_runs_in_other_processes_with_jobs_and_here_with_one() -> None:
    assert set(ordered_map(worker_pid, range(4), jobs=1, crashed=lambda n: -1)) == {os.getpid()}
    pids = set(ordered_map(worker_pid, range(4), jobs=2, crashed=lambda n: -1))
    assert os.getpid() not in pids and len(pids) == 2


def test_an_item_that_kills_its_worker_gets_crashed_and_the_rest_go_on() -> None:
    results = list(ordered_map(square_or_die, range(10), jobs=2, crashed=lambda n: -n))
    assert results == [0, 1, 4, -3, 16, 25, 36, 49, 64, 81]


def test_closing_early_kills_the_workers_at_once() -> None:
    results = ordered_map(worker_pid, range(50), jobs=2, crashed=lambda n: -1)
    first = next(results)
    started = time.monotonic()
    results.close()
    assert time.monotonic() - started < 2.0
    deadline = time.monotonic() + 5
    while alive(first) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(first)


def test_workers_die_with_the_run_even_after_kill_9(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = textwrap.dedent(
        f"""
        import os, sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from pipeline.run.parallel import ordered_map
        from test_parallel import record_pid_and_sleep
        for _ in ordered_map(record_pid_and_sleep, [{str(pids)!r}] * 8, jobs=2, crashed=str):
            pass
        """
    )
    run = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).parents[2])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(_lines(pids)) < 2:
        time.sleep(0.1)
    workers = [int(p) for p in _lines(pids)]
    assert len(workers) == 2 and all(alive(p) for p in workers)
    run.send_signal(signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 5
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(p) for p in workers)


def record_pid_and_sleep(path: str) -> str:
    with open(path, "a", encoding="ascii") as out:
        out.write(f"{os.getpid()}\n")
    time.sleep(60)
    return path


def _lines(path: Path) -> set[str]:
    return set(path.read_text().split()) if path.exists() else set()


def test_workers_ignore_sigint_to_the_group() -> None:
    results = ordered_map(worker_pid, range(6), jobs=2, crashed=lambda n: -1)
    pid = next(results)
    os.kill(pid, signal.SIGINT)  # a Ctrl-C reaches every process of the group; the run decides
    assert len([pid, *results]) == 6


def test_available_cores_is_what_this_process_may_use() -> None:
    assert available_cores() == len(os.sched_getaffinity(0)) >= 1
