"""The test command's reaper: no test process outlives codemill, even after kill -9 of codemill.

`python -I lifetime.py PARENT_PID COMMAND` leads a new session, runs the shell command in its group, and
asks the kernel (`prctl(PR_SET_PDEATHSIG)`, Linux) for SIGTERM when codemill dies: it then kills the whole
group. Elsewhere a killed codemill can leave the tests running to their end. Standard library only: it
runs in Python's isolated mode. (The import-check fork server watches its parent pid itself.)
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from types import FrameType

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int, signum: int = signal.SIGKILL) -> None:
    """Have the kernel send `signum` to this process when its parent dies; exit now if it already has."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # no prctl: nothing more to ask for
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _kill_group(signum: int, frame: FrameType | None) -> None:
    os.killpg(0, signal.SIGKILL)


def reap(parent_pid: int, command: str) -> int:
    """Run the shell command in this process group; the group dies with the parent. Its exit status."""
    signal.signal(signal.SIGTERM, _kill_group)
    die_with_parent(parent_pid, signal.SIGTERM)
    code = subprocess.call(command, shell=True)
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(reap(int(sys.argv[1]), sys.argv[2]))
