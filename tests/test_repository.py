"""pipeline.repository on real repositories in tmp_path: branches, commits, trailers, refusals, push, and the
user's checkout left byte-identical."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from pipeline.repository import (
    BadChangeError,
    BareRepositoryError,
    BranchCheckedOutError,
    BranchExistsError,
    CommitError,
    CommitResult,
    EmptyRepositoryError,
    InvalidBranchError,
    NotARepositoryError,
    PushError,
    UnknownBaseError,
    UnknownRemoteError,
    apply_check,
    check_branch,
    commit_changes,
    open_repository,
    run_branch_name,
)


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    full_env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", **(env or {})}
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True, env=full_env)
    return done.stdout.decode("utf-8", "surrogateescape")


def make_repo(root: Path, identity: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    if identity:
        git(root, "config", "user.name", "Ada Tester")
        git(root, "config", "user.email", "ada@example.org")
    (root / "a.py").write_bytes(b"def f():\n    return 1\n")
    (root / "pkg").mkdir()
    (root / "pkg" / "b.py").write_bytes(b"x = 1\r\ny = 2\r\n")
    (root / "tool.py").write_bytes(b"#!/usr/bin/env python\nprint('hi')\n")
    (root / "tool.py").chmod(0o755)
    (root / "link.py").symlink_to("a.py")
    git(root, "add", ".")
    env = {"GIT_AUTHOR_NAME": "x", "GIT_AUTHOR_EMAIL": "x@x", "GIT_COMMITTER_NAME": "x"}
    git(root, "commit", "-q", "-m", "base", env={**env, "GIT_COMMITTER_EMAIL": "x@x"})
    return root


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temp files of the code under test go here, so leftovers can be seen."""
    where = tmp_path / "tmp"
    where.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(where))
    return where


def snapshot(root: Path) -> dict[str, str]:
    """Every working-tree file's hash, status, HEAD, index and refs of the user's checkout."""
    state: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel == ".git" or rel.startswith(".git/"):
            continue
        if path.is_symlink():
            state[rel] = "link:" + os.readlink(path)
        elif path.is_file():
            state[rel] = f"{path.stat().st_mode:o}:" + hashlib.sha256(path.read_bytes()).hexdigest()
    state["<status>"] = git(root, "status", "--porcelain", "--untracked-files=all")
    state["<HEAD file>"] = (root / ".git" / "HEAD").read_text()
    state["<HEAD>"] = git(root, "rev-parse", "HEAD")
    state["<index>"] = hashlib.sha256((root / ".git" / "index").read_bytes()).hexdigest()
    state["<main>"] = git(root, "rev-parse", "refs/heads/main")
    return state


def commit(repo_dir: Path, **kw: Any) -> CommitResult:
    args: dict[str, Any] = {
        "base": "main",
        "branch": "codemill/r/1",
        "recipe": "pep585",
        "model": "MiniMax-M2.1",
        "run_id": "run-42",
        "commit_per": "file",
    }
    args.update(kw)
    return commit_changes(open_repository(repo_dir), **args)


NEW_A = b"def f() -> int:\n    return 1\n"
NEW_B = b"x = 1\r\ny = 3\r\n"


def test_per_file_commits_carry_exact_bytes_and_trailers(repo_dir: Path) -> None:
    base = git(repo_dir, "rev-parse", "HEAD").strip()
    result = commit(repo_dir, changes={"pkg/b.py": NEW_B, "a.py": NEW_A})
    assert result.branch == "codemill/r/1" and not result.pushed
    shas = result.commits
    assert len(shas) == 2
    assert git(repo_dir, "rev-parse", "codemill/r/1").strip() == shas[-1]
    assert git(repo_dir, "rev-parse", f"{shas[0]}^").strip() == base
    assert git(repo_dir, "rev-parse", f"{shas[1]}^").strip() == shas[0]
    subjects = git(repo_dir, "log", "--format=%s", "--reverse", f"{base}..codemill/r/1")
    assert subjects.splitlines() == ["refactor(pep585): a.py", "refactor(pep585): pkg/b.py"]
    trailers = (
        git(repo_dir, "log", "-1", "--format=%(trailers:only,unfold)", shas[0]).strip().splitlines()
    )
    assert trailers == [
        "Codemill-Recipe: pep585",
        "Codemill-Model: MiniMax-M2.1",
        "Codemill-Run: run-42",
    ]
    assert git(repo_dir, "cat-file", "blob", "codemill/r/1:a.py").encode() == NEW_A
    assert git(repo_dir, "cat-file", "blob", "codemill/r/1:pkg/b.py").encode() == NEW_B
    assert git(repo_dir, "diff", "--name-only", shas[0], shas[1]).split() == ["pkg/b.py"]
    author = git(repo_dir, "log", "-1", "--format=%an <%ae>|%cn <%ce>", shas[0]).strip()
    assert author == "Ada Tester <ada@example.org>|Ada Tester <ada@example.org>"


def test_per_run_commit_lists_files_and_keeps_executable_mode(repo_dir: Path) -> None:
    new_tool = b"#!/usr/bin/env python\nprint('hello')\n"
    result = commit(repo_dir, changes={"a.py": NEW_A, "tool.py": new_tool}, commit_per="run")
    (sha,) = result.commits
    message = git(repo_dir, "log", "-1", "--format=%B", sha)
    assert message.splitlines()[0] == "refactor(pep585): 2 files"
    assert "- a.py\n- tool.py\n" in message
    assert message.rstrip().endswith("Codemill-Run: run-42")
    assert git(repo_dir, "ls-tree", sha, "tool.py").split()[0] == "100755"
    assert git(repo_dir, "ls-tree", sha, "a.py").split()[0] == "100644"
    assert git(repo_dir, "cat-file", "blob", f"{sha}:tool.py").encode() == new_tool
    # files that were not changed stay exactly as at base, symlink included
    assert git(repo_dir, "diff", "--name-only", "main", sha).split() == ["a.py", "tool.py"]


def test_unchanged_bytes_make_no_commit_and_no_branch(repo_dir: Path) -> None:
    same_a = (repo_dir / "a.py").read_bytes()
    result = commit(repo_dir, changes={"a.py": same_a, "pkg/b.py": NEW_B})
    assert len(result.commits) == 1
    result = commit(repo_dir, changes={"a.py": same_a}, branch="codemill/r/2")
    assert result.commits == []
    assert git(repo_dir, "branch", "--list", "codemill/r/2") == ""


def test_empty_changes_write_nothing(repo_dir: Path, private_tmp: Path) -> None:
    before = snapshot(repo_dir)
    result = commit(repo_dir, changes={})
    assert result.commits == []
    assert git(repo_dir, "branch", "--list", "codemill/*") == ""
    assert snapshot(repo_dir) == before
    assert list(private_tmp.iterdir()) == []


def test_users_checkout_is_byte_identical_and_dirt_stays_out(
    repo_dir: Path, private_tmp: Path
) -> None:
    (repo_dir / "a.py").write_bytes(b"def f():\n    return 'dirty'\n")  # modified, unstaged
    (repo_dir / "tool.py").write_bytes(b"staged change\n")
    git(repo_dir, "add", "tool.py")  # modified, staged
    (repo_dir / "untracked.py").write_bytes(b"secret = 1\n")
    (repo_dir / "pkg" / "new_untracked.py").write_bytes(b"y = 2\n")
    before = snapshot(repo_dir)
    result = commit(repo_dir, changes={"a.py": NEW_A, "pkg/b.py": NEW_B}, commit_per="run")
    assert snapshot(repo_dir) == before
    tip = result.commits[-1]
    files = git(repo_dir, "ls-tree", "-r", "--name-only", tip).split()
    assert sorted(files) == ["a.py", "link.py", "pkg/b.py", "tool.py"]
    assert git(repo_dir, "cat-file", "blob", f"{tip}:tool.py") == git(
        repo_dir, "cat-file", "blob", "main:tool.py"
    )
    assert git(repo_dir, "cat-file", "blob", f"{tip}:a.py").encode() == NEW_A
    assert git(repo_dir, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert list(private_tmp.iterdir()) == []


def test_worktree_removed_and_no_branch_after_a_failed_commit(
    repo_dir: Path, private_tmp: Path
) -> None:
    git(repo_dir, "config", "commit.gpgsign", "true")
    git(repo_dir, "config", "gpg.program", "false")  # every commit fails, for real
    before = snapshot(repo_dir)
    with pytest.raises(CommitError, match="git commit-tree failed"):
        commit(repo_dir, changes={"a.py": NEW_A})
    assert git(repo_dir, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert not (repo_dir / ".git" / "worktrees").exists() or not any(
        (repo_dir / ".git" / "worktrees").iterdir()
    )
    assert list(private_tmp.iterdir()) == []
    assert git(repo_dir, "branch", "--list", "codemill/*") == ""
    assert snapshot(repo_dir) == before


def test_user_hooks_do_not_run_in_the_worktree(repo_dir: Path) -> None:
    hooks = repo_dir / ".git" / "hooks"
    marker = repo_dir.parent / "hook-ran"
    for name in ("pre-commit", "commit-msg", "post-commit", "post-checkout"):
        (hooks / name).write_text(f"#!/bin/sh\necho {name} >> {marker}\nexit 1\n")
        (hooks / name).chmod(0o755)
    result = commit(repo_dir, changes={"a.py": NEW_A})
    assert len(result.commits) == 1
    assert not marker.exists()


def test_refusals_are_typed_one_sentence_errors(repo_dir: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(NotARepositoryError, match="not inside a git repository"):
        open_repository(plain)
    with pytest.raises(NotARepositoryError, match=r"missing does not exist$"):
        open_repository(tmp_path / "missing")
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    with pytest.raises(BareRepositoryError, match="bare"):
        open_repository(bare)
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    with pytest.raises(EmptyRepositoryError, match="no commit"):
        open_repository(empty)
    assert open_repository(repo_dir / "pkg").working_tree_dir == str(repo_dir)
    with pytest.raises(UnknownBaseError, match="'nope'"):
        commit(repo_dir, base="nope", changes={"a.py": NEW_A})
    with pytest.raises(UnknownBaseError):
        commit(repo_dir, base="--all", changes={"a.py": NEW_A})
    with pytest.raises(InvalidBranchError):
        commit(repo_dir, branch="bad..name", changes={"a.py": NEW_A})
    with pytest.raises(UnknownRemoteError, match="'origin'"):
        commit(repo_dir, push="origin", changes={"a.py": NEW_A})
    assert git(repo_dir, "branch", "--list", "codemill/*") == ""


@pytest.mark.parametrize(
    ("path", "match"),
    [
        ("../outside.py", "not a plain path"),
        ("/etc/passwd", "not a plain path"),
        (".git/config", "not a plain path"),
        ("new_file.py", "never creates files"),
        ("link.py", "not a regular file"),
        ("pkg", "not a regular file"),
    ],
)
def test_changes_outside_regular_base_files_are_refused(
    repo_dir: Path, path: str, match: str
) -> None:
    with pytest.raises(BadChangeError, match=match):
        commit(repo_dir, changes={path: b"x = 1\n"})
    assert git(repo_dir, "branch", "--list", "codemill/*") == ""


def test_existing_branch_refused_then_replaced_with_force(repo_dir: Path) -> None:
    first = commit(repo_dir, changes={"a.py": NEW_A}).commits
    with pytest.raises(BranchExistsError, match="already exists"):
        commit(repo_dir, changes={"pkg/b.py": NEW_B})
    assert git(repo_dir, "rev-parse", "codemill/r/1").strip() == first[-1]
    second = commit(repo_dir, changes={"pkg/b.py": NEW_B}, force_branch=True)
    tip = second.commits[-1]
    assert git(repo_dir, "rev-parse", "codemill/r/1").strip() == tip
    assert (
        git(repo_dir, "rev-parse", f"{tip}^").strip() == git(repo_dir, "rev-parse", "main").strip()
    )


def test_force_never_moves_the_checked_out_branch(repo_dir: Path) -> None:
    before = snapshot(repo_dir)
    with pytest.raises(BranchCheckedOutError, match="checked out"):
        commit(repo_dir, branch="main", changes={"a.py": NEW_A}, force_branch=True)
    with pytest.raises(BranchExistsError):
        check_branch(open_repository(repo_dir), "main")
    assert snapshot(repo_dir) == before


def test_push_to_a_local_bare_remote(repo_dir: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo_dir, "remote", "add", "origin", str(remote))
    result = commit(repo_dir, changes={"a.py": NEW_A}, push="origin")
    assert result.pushed
    assert git(remote, "rev-parse", "codemill/r/1").strip() == result.commits[-1]
    again = commit(repo_dir, changes={"pkg/b.py": NEW_B}, push="origin", force_branch=True)
    assert git(remote, "rev-parse", "codemill/r/1").strip() == again.commits[-1]


def test_failed_push_keeps_the_local_branch_and_says_so(repo_dir: Path, tmp_path: Path) -> None:
    git(repo_dir, "remote", "add", "broken", str(tmp_path / "no-such-remote.git"))
    with pytest.raises(PushError, match="was committed but pushing to broken failed") as err:
        commit(repo_dir, changes={"a.py": NEW_A}, push="broken")
    assert not err.value.result.pushed
    tip = err.value.result.commits[-1]
    assert git(repo_dir, "rev-parse", "codemill/r/1").strip() == tip


def test_fallback_identity_when_none_is_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / "none"))
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("EMAIL", raising=False)
    repo_dir = make_repo(tmp_path / "anon", identity=False)
    git(repo_dir, "config", "user.useConfigOnly", "true")  # git itself would refuse to commit
    result = commit(repo_dir, changes={"a.py": NEW_A})
    sha = result.commits[-1]
    who = git(repo_dir, "log", "-1", "--format=%an <%ae>|%cn <%ce>", sha).strip()
    assert who == "codemill <codemill@localhost>|codemill <codemill@localhost>"


def test_run_branch_name_is_unique_per_run() -> None:
    assert (
        run_branch_name("pep585", "20250304-050607-a1b2c3")
        == "codemill/pep585/20250304-050607-a1b2c3"
    )
    assert run_branch_name("my recipe:v2", "r-1") == "codemill/my-recipe-v2/r-1"


def test_bad_metadata_is_refused(repo_dir: Path) -> None:
    with pytest.raises(Exception, match="one non-empty line"):
        commit(repo_dir, changes={"a.py": NEW_A}, model="a\nCodemill-Run: forged")


def test_apply_check_accepts_good_and_explains_bad_patches(repo_dir: Path) -> None:
    repo = open_repository(repo_dir)
    before = snapshot(repo_dir)
    good = (
        "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1,2 +1,2 @@\n"
        "-def f():\n+def f() -> int:\n     return 1\n"
    )
    assert apply_check(repo, "main", good) is None
    bad = good.replace("-def f():", "-def g():")
    reason = apply_check(repo, "main", bad)
    assert reason is not None and "a.py" in reason
    assert snapshot(repo_dir) == before
    with pytest.raises(UnknownBaseError):
        apply_check(repo, "nope", good)


def test_non_ascii_paths_are_named_plainly_in_messages(repo_dir: Path) -> None:
    (repo_dir / "ü.py").write_bytes(b"v = 1\n")
    git(repo_dir, "add", "ü.py")
    git(repo_dir, "commit", "-q", "-m", "add")
    for per, branch in (("run", "codemill/r/run"), ("file", "codemill/r/file")):
        result = commit(repo_dir, changes={"ü.py": b"v = 2\n"}, commit_per=per, branch=branch)
        message = git(repo_dir, "log", "-1", "--format=%B", result.commits[-1])
        assert "ü.py" in message and "\\303" not in message


def test_a_taken_branch_hint_never_offers_to_overwrite_another_run(repo_dir: Path) -> None:
    commit(repo_dir, changes={"a.py": NEW_A})
    with pytest.raises(BranchExistsError) as other_run:
        commit(repo_dir, changes={"a.py": NEW_A}, run_id="run-43")
    assert str(other_run.value) == (
        "branch 'codemill/r/1' already holds codemill run run-42; name another with --branch"
    )
    with pytest.raises(BranchExistsError, match="or pass --force-branch to replace it"):
        commit(repo_dir, changes={"a.py": NEW_A})  # the same run applied again may replace it
    git(repo_dir, "branch", "mine", "main")  # a person's branch, not a run's
    with pytest.raises(BranchExistsError, match="or pass --force-branch to replace it"):
        commit(repo_dir, changes={"a.py": NEW_A}, branch="mine")


def test_a_failed_push_to_a_url_never_shows_its_credentials(repo_dir: Path) -> None:
    url = "http://alice:pa55-SECRET@127.0.0.1:9/nobody/repo.git"  # port 9: nothing listens
    with pytest.raises(PushError) as err:
        commit(repo_dir, changes={"a.py": NEW_A}, push=url)
    message = str(err.value)
    assert "pushing to http://***@127.0.0.1:9/nobody/repo.git failed" in message
    assert "pa55-SECRET" not in message and "alice" not in message
    assert err.value.result.commits  # the branch was still made locally
