"""The repository cache: a bare mirror cloned once and fetched after, a worktree at the run's base commit."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.gitrepo import git, make_repo

from pipeline import repository
from pipeline.fleet import cache


def remote(tmp_path: Path) -> tuple[Path, str]:
    """A working repository and a bare remote cloned from it, as file:// URL."""
    work = make_repo(tmp_path / "src", {"pkg/a.py": "x = 1\n", "README.md": "hi\n"})
    git(tmp_path, "clone", "-q", "--bare", str(work), str(tmp_path / "remote.git"))
    git(work, "remote", "add", "origin", str(tmp_path / "remote.git"))
    return work, (tmp_path / "remote.git").as_uri()


def test_clone_once_then_fetch_and_follow_the_remote(tmp_path: Path) -> None:
    work, url = remote(tmp_path)
    store = tmp_path / "cache"
    first = cache.checkout(url, "src-1", store, None)
    assert not first.fetched
    assert first.base_commit == git(work, "rev-parse", "HEAD").strip()
    assert (first.root / "pkg" / "a.py").read_text() == "x = 1\n"
    repository.open_repository(first.root)  # a checkout codemill can run on

    (work / "pkg" / "a.py").write_text("x = 2\n")
    git(work, "commit", "-qam", "second")
    git(work, "push", "-q", "origin", "main")
    second = cache.checkout(url, "src-1", store, "main")
    assert second.fetched and second.root == first.root
    assert second.base_commit == git(work, "rev-parse", "HEAD").strip()
    assert (second.root / "pkg" / "a.py").read_text() == "x = 2\n"
    assert cache.base_commit(url, "src-1", store, "main~1") == first.base_commit
    assert cache.list_files(url, "src-1", store, first.base_commit) == ["README.md", "pkg/a.py"]


def test_a_stray_file_in_the_worktree_is_cleaned_on_reuse(tmp_path: Path) -> None:
    _, url = remote(tmp_path)
    first = cache.checkout(url, "k", tmp_path / "cache", None)
    (first.root / "pkg" / "a.py").write_text("edited\n")
    (first.root / "junk.py").write_text("junk\n")
    again = cache.checkout(url, "k", tmp_path / "cache", None)
    assert (again.root / "pkg" / "a.py").read_text() == "x = 1\n"
    assert not (again.root / "junk.py").exists()


def test_a_branch_made_in_the_cache_pushes_back_to_the_source(tmp_path: Path) -> None:
    work, url = remote(tmp_path)
    done = cache.checkout(url, "k", tmp_path / "cache", None)
    result = repository.commit_changes(
        repository.open_repository(done.root),
        base=done.base_commit,
        branch="codemill/test",
        changes={"pkg/a.py": b"x = 3\n"},
        recipe="modernize",
        model="m",
        run_id="r1",
        commit_per="run",
        push="origin",
    )
    assert result.pushed
    shown = git(tmp_path / "remote.git", "show", "codemill/test:pkg/a.py")
    assert shown == "x = 3\n"
    assert "codemill/test" not in git(work, "branch")  # the user's own checkout is not involved


def test_unknown_base_and_unreachable_source_are_one_sentence(tmp_path: Path) -> None:
    _, url = remote(tmp_path)
    with pytest.raises(cache.CacheError, match=r"^base 'nope' is not a commit of the repository$"):
        cache.checkout(url, "k", tmp_path / "cache", "nope")
    with pytest.raises(cache.CacheError, match=r"^git clone failed: .+") as caught:
        cache.checkout((tmp_path / "missing.git").as_uri(), "m", tmp_path / "cache", None)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "cache" / "m" / "mirror.git").exists()  # no half-made mirror


def test_default_cache_dir_follows_the_environment(tmp_path: Path) -> None:
    assert cache.default_cache_dir({"CODEMILL_FLEET_CACHE": "/c"}) == Path("/c")
    assert cache.default_cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/codemill/repos")
