"""pipeline.paths: private directories and files whatever the umask, and no write path around them."""

from __future__ import annotations

import ast
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.model.cache import ResponseCache
from pipeline.model.completion import Completion
from pipeline.paths import append_private, create_private, private_dir, private_file, write_atomic
from pipeline.records.ledger import Ledger, RunMeta

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=[0o000, 0o022, 0o277], ids=["umask-000", "umask-022", "umask-277"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_private_dir_makes_every_missing_parent_0700_and_leaves_existing_ones(
    tmp_path: Path, umask: int
) -> None:
    os.chmod(tmp_path, 0o755)
    deep = private_dir(tmp_path / "a" / "b" / "c")
    assert [mode(p) for p in (deep, deep.parent, deep.parent.parent)] == [0o700] * 3
    assert mode(tmp_path) == 0o755
    assert private_dir(deep) == deep  # already there: fine


def test_private_dir_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(OSError):
        private_dir(tmp_path / "f")


def test_files_are_0600(tmp_path: Path, umask: int) -> None:
    write_atomic(tmp_path / "atomic", b"data")
    with create_private(tmp_path / "stream") as fh:
        fh.write("line\n")
    private_file(tmp_path / "db")
    for _ in range(2):
        with append_private(tmp_path / "journal") as fh:
            fh.write("line\n")
    assert [mode(tmp_path / n) for n in ("atomic", "stream", "db", "journal")] == [0o600] * 4
    assert (tmp_path / "journal").read_text() == "line\nline\n"
    assert (tmp_path / "atomic").read_bytes() == b"data"
    with pytest.raises(FileExistsError):
        create_private(tmp_path / "stream")


def test_write_atomic_narrows_a_file_that_was_wider(tmp_path: Path) -> None:
    (tmp_path / "old").write_bytes(b"old")
    os.chmod(tmp_path / "old", 0o644)
    write_atomic(tmp_path / "old", b"new")
    assert mode(tmp_path / "old") == 0o600 and (tmp_path / "old").read_bytes() == b"new"


def test_a_streamed_ledger_is_private(tmp_path: Path, umask: int) -> None:
    with Ledger(RunMeta("r", "modernize", "llm", None, None), stream_to=tmp_path / "l.jsonl"):
        pass
    assert mode(tmp_path / "l.jsonl") == 0o600


def test_the_cache_database_and_its_wal_files_are_private(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "cache" / "codemill" / "responses.sqlite3"
    cache = ResponseCache(path)
    try:
        cache.put("k", Completion("```python\nx\n```", "", "```python\nx\n```", "stop"))
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
        assert all(f.exists() for f in files)
        assert [mode(f) for f in files] == [0o600] * 3
        assert mode(path.parent) == mode(path.parent.parent) == 0o700
    finally:
        cache.close()


def test_an_older_wider_cache_is_narrowed_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "responses.sqlite3"
    ResponseCache(path).close()
    os.chmod(path, 0o644)
    ResponseCache(path).close()
    assert mode(path) == 0o600


# Calls that create files or directories. Outside pipeline/paths.py they are allowed only where
# codemill writes into a git worktree or a temporary directory it removes (not a user-visible output).
_CREATORS = {"mkdir", "makedirs", "write_text", "write_bytes", "mkstemp", "connect", "open"}
_ALLOWED = {
    ("pipeline/repository/patches.py", "write_bytes"),  # the patch, in a TemporaryDirectory (0700)
    ("pipeline/engines/ruff_fixes.py", "mkdir"),  # the base blobs for ruff, in a TemporaryDirectory
    ("pipeline/engines/ruff_fixes.py", "write_bytes"),  # (0700), removed when ruff is done
    ("pipeline/repository/worktrees.py", "open"),  # worktree_lock (read-only) and owner.lock (0600)
    ("pipeline/gates/scratch.py", "open"),  # chunk edits into the gate's scratch worktree
    ("pipeline/gates/import_server.py", "open"),  # os.devnull
    ("pipeline/model/cache.py", "connect"),  # after private_file: SQLite keeps the mode
    ("pipeline/report/ci.py", "open"),  # appends to GitHub's own $GITHUB_STEP_SUMMARY
    ("pipeline/forge/throttle.py", "open"),  # os.open(..., 0o600): the write limit's lock file
    ("pipeline/publish/status.py", "connect"),  # forge.connect: a forge client, not a file
    ("pipeline/publish/target.py", "connect"),  # forge.connect: a forge client, not a file
    ("pipeline/gates/shadow/spec.py", "mkdir"),  # 0700, inside the gate's private temporary dir
    ("pipeline/gates/shadow/spec.py", "write_text"),  # the spec, in that private dir
    ("pipeline/gates/shadow/plugin.py", "open"),  # the repository's pytest writes its results there
    ("pipeline/run/worktree.py", "mkstemp"),  # apply --to-worktree: the user's own working tree
}


def _creating_calls(path: Path) -> set[str]:
    """Names of the file-creating calls in a module (`x.mkdir(...)`, `open(..., "w")`...)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name == "open":
            modes = [a.value for a in node.args[1:2] if isinstance(a, ast.Constant)]
            modes += [
                k.value.value
                for k in node.keywords
                if k.arg == "mode" and isinstance(k.value, ast.Constant)
            ]
            reads = all(isinstance(m, str) and set(m) <= set("rbt") for m in modes)
            if not node.args or (modes and reads) or (not modes and len(node.args) < 2):
                continue  # a read
        if name in _CREATORS:
            found.add(name)
    return found


def test_no_write_path_bypasses_the_private_helpers() -> None:
    offenders = []
    for folder in ("pipeline", "flows"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel == "pipeline/paths.py":
                continue
            offenders += [f"{rel}: {n}" for n in _creating_calls(path) if (rel, n) not in _ALLOWED]
    assert offenders == []
