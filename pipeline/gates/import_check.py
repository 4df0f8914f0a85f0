"""Import gate: import every changed module with only its own change applied, in a fresh process.

A change that parses can still break its module at import time (`"Fwd" | None` in a runtime
position, an import a codemod left dangling). The failure must be pinned on the change that caused
it, so each module is imported against a worktree holding the base plus THAT ONE change: its package
`__init__`s and every module it imports are at base.

Design (cheapest that still pins per module): one scratch worktree per job, reused. A fork server
(`import_server.py`, run with `-I` and `dont_write_bytecode`) is started once per worktree; for each
module the gate writes its new bytes into the worktree, the server forks a child that imports it
(the parent never imports anything of the repository, so every child starts from the same fresh
state, at ~1 ms instead of an interpreter start), then the gate writes the base bytes back. Only a
module that fails is imported again at base: if it fails there too it is not blamed on the change.
Batching all changes into one worktree would be cheaper still but would let a broken neighbour fail
an innocent importer, so it is not done. POSIX only (needs fork).
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import IMPORT_TIMEOUT, child_environment
from pipeline.gates.scratch import GateError, check_path, module_for, overwrite, scratch_worktree
from pipeline.judge.verdicts import Reason
from pipeline.repository import Repository

_SERVER = Path(__file__).with_name("import_server.py")


@dataclass(frozen=True)
class ImportResult:
    """Whether a changed module still imports; `detail` is the exception's last line or a note."""

    path: str
    module: str | None
    ok: bool
    reason: Reason | None = None
    detail: str = ""
    seconds: float = 0.0


class _Server:
    """One fork server process answering import requests for one worktree."""

    def __init__(self, python: str) -> None:
        self._proc = subprocess.Popen(
            [python, "-I", str(_SERVER), str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=child_environment(PYTHONDONTWRITEBYTECODE="1"),
        )

    def ask(self, roots: list[Path], module: str, timeout: float) -> tuple[str, str]:
        """(kind, detail) for importing `module` with `roots` first on sys.path."""
        joined = os.pathsep.join(str(r) for r in roots)
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            self._proc.stdin.write(f"{timeout!r}\t{joined}\t{module}\n")
            self._proc.stdin.flush()
            line = self._proc.stdout.readline()
        except OSError:
            line = ""
        if not line:
            raise GateError("the import checker process stopped unexpectedly")
        kind, _, detail = line.rstrip("\n").partition("\t")
        return kind, detail

    def close(self) -> None:
        """Close stdin so the server exits, and reap it."""
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.close()
            self._proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self._proc.kill()
            self._proc.wait()


def _failure(kind: str, detail: str, module: str, timeout: float) -> str:
    """One sentence for a failed import answer."""
    if kind == "timeout":
        return f"importing {module} did not finish within {timeout:g} s and was stopped"
    if kind == "died":
        return f"importing {module} ended the process ({detail})"
    return detail


def _search_path(tree: Path, root: Path) -> list[Path]:
    """The module's import root, then the worktree root and a `src/` dir, as `python -m` from there."""
    roots = [root, tree]
    if (tree / "src").is_dir() and not (tree / "src" / "__init__.py").exists():
        roots.append(tree / "src")
    return list(dict.fromkeys(roots))


def _check_one(
    server: _Server,
    tree: Path,
    path: str,
    base_new: tuple[bytes, bytes],
    timeout: float,
) -> ImportResult:
    """Import one module with its change applied; on failure, again at base to assign blame."""
    started = time.perf_counter()
    target = tree / path
    named = module_for(tree, path)
    if named is None:
        return ImportResult(path, None, True, detail="not an importable module; not imported")
    root, module = named
    roots = _search_path(tree, tree / root)
    original = target.read_bytes()
    if base_new[1] == original:
        return ImportResult(path, module, True, detail="unchanged")
    overwrite(target, base_new[1])
    try:
        kind, detail = server.ask(roots, module, timeout)
    finally:
        overwrite(target, original)
    if kind == "ok":
        return ImportResult(path, module, True, seconds=time.perf_counter() - started)
    message = _failure(kind, detail, module, timeout)
    base_kind, base_detail = server.ask(roots, module, timeout)
    seconds = time.perf_counter() - started
    if base_kind != "ok":
        base_message = _failure(base_kind, base_detail, module, timeout)
        note = f"fails at base too ({base_message}); not blamed on the change"
        return ImportResult(path, module, True, detail=note, seconds=seconds)
    return ImportResult(path, module, False, Reason.BREAKS_IMPORT, message, seconds)


def _check_arguments(timeout: float, jobs: int) -> None:
    """Refuse, before any worktree is made, a platform without fork and a bad timeout or job count."""
    if not hasattr(os, "fork"):
        raise GateError("the import gate needs os.fork (Linux or macOS)")
    if timeout <= 0:
        raise GateError(f"the import timeout must be positive, not {timeout:g}")
    if jobs < 1:
        raise GateError(f"jobs must be at least 1, not {jobs}")


def check_imports(
    repo: Repository,
    base: str,
    changes: Mapping[str, tuple[bytes, bytes]],
    *,
    timeout: float = IMPORT_TIMEOUT,
    python: str = sys.executable,
    jobs: int = 2,
) -> dict[str, ImportResult]:
    """Import each changed module against base + its own change only; one result per path."""
    _check_arguments(timeout, jobs)
    paths = sorted(changes)
    for path in paths:
        check_path(path)
    todo: queue.SimpleQueue[str] = queue.SimpleQueue()
    for path in paths:
        todo.put(path)
    results: dict[str, ImportResult] = {}
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with scratch_worktree(repo, base, paths) as tree:
                server = _Server(python)
                try:
                    while True:
                        try:
                            path = todo.get_nowait()
                        except queue.Empty:
                            return
                        results[path] = _check_one(server, tree, path, changes[path], timeout)
                finally:
                    server.close()
        except BaseException as exc:
            errors.append(exc)

    if not paths:
        return {}
    workers = [threading.Thread(target=work) for _ in range(min(jobs, len(paths)))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    return {path: results[path] for path in paths}
