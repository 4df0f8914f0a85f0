"""Run state between runs: where it lives, atomic records, --since file lists, same-change detection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.gitrepo import git, make_repo

from pipeline.paths import state_file
from pipeline.run.state import (
    LastRun,
    StateError,
    changed_files,
    load_last_run,
    patch_fingerprint,
    resolve_since,
    same_change,
    save_last_run,
    succeeded,
)


def _run(base: str = "a" * 40, sha: str = "f" * 64, branch: str | None = "cm/x") -> LastRun:
    return LastRun(
        "modernize", base, "20240101-000000-abcdef", "2024-01-01T00:00:00+00:00", sha, branch
    )


def _two_commits(tmp_path: Path) -> tuple[Path, str, str]:
    repo = make_repo(
        tmp_path / "repo", {"a.py": "x = 1\n", "b.py": "y = 1\n", "pkg/c.py": "z = 1\n"}
    )
    first = git(repo, "rev-parse", "HEAD").strip()
    (repo / "b.py").write_text("y = 2\n")
    (repo / "pkg" / "c.py").rename(repo / "pkg" / "d.py")
    (repo / "new.py").write_text("n = 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "second")
    return repo, first, git(repo, "rev-parse", "HEAD").strip()


def test_state_file_is_under_the_state_dir_per_repo_and_recipe(tmp_path: Path) -> None:
    env = {"CODEMILL_STATE_DIR": str(tmp_path / "state")}
    one = state_file(tmp_path / "r1", "modernize", env)
    assert one.parent.parent == tmp_path / "state" / "repos"
    assert one.name == "modernize.json"
    assert state_file(tmp_path / "r2", "modernize", env).parent != one.parent
    assert state_file(tmp_path / "r1", "../evil/name", env).parent == one.parent


def test_record_round_trips_and_is_written_atomically(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "modernize.json"
    assert load_last_run(path) is None
    save_last_run(path, _run())
    assert load_last_run(path) == _run()
    save_last_run(path, _run(branch=None))
    assert load_last_run(path) == _run(branch=None)
    assert [p.name for p in path.parent.iterdir()] == ["modernize.json"]  # no temp file left
    assert json.loads(path.read_text())["base_commit"] == "a" * 40


@pytest.mark.parametrize("content", ["{not json", '{"recipe": "x"}', "\xff"])
def test_a_broken_state_file_is_a_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "modernize.json"
    path.write_text(content, encoding="latin-1")
    with pytest.raises(StateError, match=str(path)):
        load_last_run(path)


def test_changed_files_lists_the_diff_between_two_commits(tmp_path: Path) -> None:
    repo, first, second = _two_commits(tmp_path)
    assert changed_files(repo, first, second) == {"b.py", "pkg/c.py", "pkg/d.py", "new.py"}
    assert changed_files(repo, second, second) == frozenset()
    with pytest.raises(StateError, match="not a commit"):
        changed_files(repo, "no-such-ref", second)
    with pytest.raises(StateError, match="not a commit"):
        changed_files(repo, "--output=/tmp/x", second)


def test_resolve_since(tmp_path: Path) -> None:
    repo, first, second = _two_commits(tmp_path)
    assert resolve_since(None, _run(first), repo, second).only is None
    assert resolve_since("HEAD~1", None, repo, second).only == {
        "b.py",
        "pkg/c.py",
        "pkg/d.py",
        "new.py",
    }
    nothing_before = resolve_since("last-run", None, repo, second)
    assert nothing_before.only is None and "no previous" in nothing_before.note
    after_first = resolve_since("last-run", _run(first), repo, second)
    assert after_first.only == changed_files(repo, first, second)
    assert "20240101-000000-abcdef" in after_first.note
    gone = resolve_since("last-run", _run("0123" * 10), repo, second)
    assert gone.only is None and "gone" in gone.note


def test_same_change_and_the_record_after_a_run() -> None:
    sha = patch_fingerprint("diff --git a/x b/x\n")
    assert sha == patch_fingerprint("diff --git a/x b/x\n") != patch_fingerprint("")
    last = _run(sha=sha)
    assert same_change(last, sha, changed=True)
    assert not same_change(last, sha, changed=False)
    assert not same_change(None, sha, changed=True)
    assert not same_change(last, patch_fingerprint("other"), changed=True)
    fields = {"recipe": "modernize", "base_commit": "b" * 40, "run_id": "r2", "finished": "t"}
    repeat = succeeded(last, fingerprint=sha, branch=None, **fields)
    assert repeat.branch == "cm/x" and repeat.base_commit == "b" * 40 and repeat.run_id == "r2"
    new = succeeded(last, fingerprint=patch_fingerprint("other"), branch=None, **fields)
    assert new.branch is None
    assert succeeded(None, fingerprint=sha, branch="cm/y", **fields).branch == "cm/y"
