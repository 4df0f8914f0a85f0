"""One run of a repository's test command: the process, its timeout, and what its output says.

The command runs under the reaper (`lifetime.py`) in a session of its own, so no test process outlives
codemill; its output goes to an unlinked temp file, so a started run needs no reader and can go on while the
caller does other work (the early base run of `pipeline.gates.base_tests`).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import child_environment

REAPER = Path(__file__).with_name("lifetime.py")  # runs the command; its group dies with codemill

_PYTEST_SUMMARY = re.compile(r"^(?:FAILED|ERROR) (?!\()(.+?)(?: - .*)?$")
_PYTEST_VERBOSE = re.compile(r"^(\S+::\S+) (?:FAILED|ERROR)\b")
_UNITTEST = re.compile(r"^(?:FAIL|ERROR): (\S+) \(([^)]+)\)")
_TAIL_CHARS = 300
OUTPUT_CHARS = 20_000


@dataclass(frozen=True)
class TestRun:
    """One run of the test command: exit status (None on timeout), failing ids, output tail, and
    the changed paths its output names (a traceback through a changed file makes it a suspect)."""

    __test__ = False

    status: int | None
    failing: tuple[str, ...]
    tail: str
    seconds: float
    mentions: frozenset[str] = frozenset()
    output: str = ""  # the output's last OUTPUT_CHARS, for a gate turn's failure excerpt

    @property
    def timed_out(self) -> bool:
        return self.status is None


def failing_tests(output: str) -> tuple[str, ...]:
    """Failing test ids in output order: pytest short summary or verbose lines, unittest headers."""
    found: list[str] = []
    for raw in output.splitlines():
        line = raw.rstrip()
        test_id = None
        if (match := _PYTEST_SUMMARY.match(line)) or (match := _PYTEST_VERBOSE.match(line)):
            test_id = match.group(1)
        elif match := _UNITTEST.match(line):
            name, where = match.groups()
            test_id = where if where.endswith(f".{name}") else f"{where}.{name}"
        if test_id and test_id not in found:
            found.append(test_id)
    return tuple(found)


def _last_line(output: str) -> str:
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    return lines[-1][:_TAIL_CHARS] if lines else "no output"


class Running:
    """The test command started in a worktree: a watcher thread ends it at its timeout; `finish` waits.

    Its output goes to an unlinked temp file (no pipe to drain), so it can run while the caller does other
    work: the early base run (`pipeline.gates.base_tests`) goes beside the refactoring this way.
    """

    def __init__(
        self, tree: Path, command: str, timeout: float, extra_env: Mapping[str, str] | None = None
    ) -> None:
        self.timeout = timeout
        self._output = tempfile.TemporaryFile()  # noqa: SIM115 (closed by finish, once it is read)
        self.started = time.perf_counter()
        # the reaper leads the group and takes it down if codemill dies
        self._proc = subprocess.Popen(
            [sys.executable, "-I", str(REAPER), str(os.getpid()), command],
            cwd=tree,
            env=child_environment(PYTHONDONTWRITEBYTECODE="1", **(extra_env or {})),
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.status: int | None = None
        self.seconds = 0.0
        self._watcher = threading.Thread(target=self._watch, name="codemill-tests", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        try:
            self.status = self._proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.kill()  # status stays None: timed out
        self.seconds = time.perf_counter() - self.started

    def finish(self, paths: Sequence[str]) -> TestRun:
        """Wait for the command (at most its timeout); its outcome, naming which of `paths` it mentions."""
        try:
            while self._watcher.is_alive():  # short waits: a stop signal is handled between them
                self._watcher.join(0.1)
        except BaseException:  # interrupted: leave no test process behind
            self.kill()
            raise
        self._output.seek(0)
        text = self._output.read().decode("utf-8", "replace")
        self._output.close()
        mentions = frozenset(p for p in paths if p in text)
        return TestRun(
            self.status,
            failing_tests(text),
            _last_line(text),
            self.seconds,
            mentions,
            text[-OUTPUT_CHARS:],
        )

    def kill(self) -> None:
        """Kill the command's whole process group if it still runs, and reap it (idempotent)."""
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait()

    def discard(self) -> None:
        """Stop the command without reading its outcome: killed if it still runs, its output dropped."""
        self.kill()
        self._watcher.join()
        self._output.close()


def run_command(
    tree: Path,
    command: str,
    timeout: float,
    paths: Sequence[str],
    extra_env: Mapping[str, str] | None = None,
) -> TestRun:
    """Run the shell command in the worktree; kill its whole process group on timeout or interrupt."""
    return Running(tree, command, timeout, extra_env).finish(paths)
