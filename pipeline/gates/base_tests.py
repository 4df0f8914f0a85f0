"""The test command on the base commit, started when the run starts instead of when its gate does.

The base run needs no change, so it goes beside the refactoring (the codemods' workers, the model's
requests) rather than after it: the test gate (`pipeline.gates.suite.run_test_gate`) then collects its
outcome and goes on in the same scratch worktree, as if it had just run the base itself. The command, the
kind of checkout, the timeout and what a red base means stay the same; only the time it waits for goes.
A run that ends without gating (no change, a stop signal, an error) closes it: the command's process group
is killed and the worktree removed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from pipeline.gates.scratch import scratch_worktree
from pipeline.gates.test_command import Running, TestRun
from pipeline.repository import Repository


class BaseTests:
    """The base run of one test command at one base commit: started now, its outcome read once."""

    def __init__(self, repo: Repository, base_commit: str, command: str, timeout: float) -> None:
        self.base_commit, self.command, self.timeout = base_commit, command, timeout
        self._stack = contextlib.ExitStack()
        self.tree: Path = self._stack.enter_context(scratch_worktree(repo, base_commit))
        try:
            self._running: Running | None = Running(self.tree, command, timeout)
        except BaseException:
            self._stack.close()
            raise
        self._outcome: TestRun | None = None
        self.closed = False

    def serves(self, base_commit: str, command: str, timeout: float) -> bool:
        """Whether this is the base run a gate of that command, at that commit, would make."""
        same = (self.base_commit, self.command, self.timeout) == (base_commit, command, timeout)
        return same and not self.closed

    def outcome(self, paths: Sequence[str]) -> TestRun:
        """The base run's outcome (waiting for it), naming which of `paths` its output mentions."""
        if self._outcome is None:
            assert self._running is not None, "the base run was closed before its gate"
            running, self._running = self._running, None
            self._outcome = running.finish(paths)
        return self._outcome

    def account(self) -> str:
        """The base run's result as the summary's gate line, when no change was left to gate (waits)."""
        run = self.outcome([])
        if run.timed_out:
            result = f"timed out after {self.timeout:g} s"
        elif run.status == 0:
            result = "passed"
        else:
            result = f"failed ({run.failing[0] if run.failing else f'exit {run.status}'})"
        return f"base run {result} in {run.seconds:.1f} s; no change to gate"

    def close(self) -> None:
        """Kill the command if it still runs and remove the worktree (idempotent)."""
        running, self._running, self.closed = self._running, None, True
        try:
            if running is not None:
                running.discard()
        finally:
            self._stack.close()

    def __enter__(self) -> BaseTests:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
