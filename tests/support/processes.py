"""The servers and browsers tests start: waiting until they answer, and stopping them for sure."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx


def stop(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, then SIGKILL if it is still there after `timeout` seconds; reaped either way."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_healthy(
    proc: subprocess.Popen[bytes], health_url: str, *, what: str, timeout: float, log: Path
) -> None:
    """Until `health_url` answers 200; a process that exits first, or never answers, is an error
    that names its log (and shows the log's end when it exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{what} exited with {proc.returncode} (log {log}):\n{tail}")
        try:
            if httpx.get(health_url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{what} not healthy after {timeout:.0f} s: see {log}")
