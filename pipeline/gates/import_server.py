"""Fork server for the import gate: each request imports one module in a fresh forked child.

Run as a script (`python -I import_server.py PARENT_PID`); it imports nothing beyond what the interpreter
loads at startup, so a forked child has no module of the checked repository cached and no extra
module that could shadow one. Protocol, one line each way over stdin/stdout:

    request   "<timeout seconds>\\t<import roots, os.pathsep-joined>\\t<module>"
    answer    "ok" | "fail\\t<last line of the exception>" | "timeout" | "died\\t<how>"

The child runs in its own process group with stdin/stdout/stderr on /dev/null (a module that prints
or reads cannot disturb the protocol); on timeout the whole group is killed. The server never outlives
codemill: it ends when its stdin closes, and while a child runs it watches its parent pid, so even after
kill -9 of codemill the child's group is killed within a poll and the server exits.
"""

import os
import sys
import time

_MAX_MESSAGE = 4000
_PARENT = [0]  # codemill's pid, from argv: when the parent changes, codemill has died


def _describe(exc: BaseException) -> str:
    """The last line `traceback.format_exception_only` would print, without importing traceback."""
    kind = type(exc)
    name = kind.__qualname__
    if kind.__module__ not in ("builtins", "__main__"):
        name = f"{kind.__module__}.{name}"
    text = str(exc)
    line = f"{name}: {text}" if text else name
    lines = [ln for ln in line.splitlines() if ln.strip()]
    return (lines[-1] if lines else name).strip()[:_MAX_MESSAGE]


def _child(roots: str, module: str, write_fd: int) -> None:
    """Import `module` with `roots` first on sys.path and write the outcome; never returns."""
    status = "ok"
    try:
        os.setpgid(0, 0)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        sys.path[:0] = roots.split(os.pathsep)
        sys.argv = [module]
        __import__(module)
    except BaseException as exc:
        status = "fail\t" + _describe(exc).replace("\t", " ")
    try:
        os.write(write_fd, status.encode("utf-8", "replace"))
    finally:
        os._exit(0)


def _wait(pid: int, timeout: float) -> int | None:
    """The child's wait status, or None once `timeout` passes (polling with a growing sleep)."""
    deadline = time.monotonic() + timeout
    pause = 0.0002
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() >= deadline:
            return None
        if os.getppid() != _PARENT[0]:  # codemill died: take the child with us
            _kill(pid)
            os._exit(1)
        time.sleep(pause)
        pause = min(pause * 2, 0.01)


def _kill(pid: int) -> None:
    """Kill the child's process group (and the child itself, if it had not set its group yet)."""
    for kill in (os.killpg, os.kill):
        try:  # noqa: SIM105 (contextlib is not loaded at startup; the server imports nothing)
            kill(pid, 9)
        except OSError:
            pass
    os.waitpid(pid, 0)


def _check(timeout: float, roots: str, module: str) -> str:
    """Import one module in a forked child and return the answer line."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(roots, module, write_fd)
    os.close(write_fd)
    try:
        try:  # noqa: SIM105 (as above)
            os.setpgid(pid, pid)
        except OSError:
            pass
        status = _wait(pid, timeout)
        if status is None:
            _kill(pid)
            return "timeout"
        message = os.read(read_fd, 2 * _MAX_MESSAGE + 16).decode("utf-8", "replace")
    finally:
        os.close(read_fd)
    if message:
        return message
    if os.WIFSIGNALED(status):
        return f"died\tkilled by signal {os.WTERMSIG(status)}"
    return f"died\texit status {os.waitstatus_to_exitcode(status)}"


def main() -> None:
    """Answer import requests until stdin closes."""
    sys.dont_write_bytecode = True
    _PARENT[0] = int(sys.argv[1]) if len(sys.argv) > 1 else os.getppid()
    for line in sys.stdin:
        timeout, roots, module = line.rstrip("\n").split("\t")
        answer = _check(float(timeout), roots, module)
        sys.stdout.write(answer.replace("\n", " ") + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
