"""list_sources on real git repositories made in tmp_path: what is read, what is skipped and why."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pipeline.repository import UnknownBaseError
from pipeline.source.chunking import plan_file
from pipeline.source.files import SkippedFile, SkipReason, SourceError, list_sources


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "protocol.file.allow=always", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def make_repo(path: Path, files: dict[str, bytes]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "t@example.com")
    git(path, "config", "user.name", "T")
    commit(path, files)
    return path


def commit(repo: Path, files: dict[str, bytes], message: str = "c") -> None:
    for name, data in files.items():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def skips(result_skipped: list[SkippedFile]) -> dict[str, SkipReason]:
    return {s.path: s.reason for s in result_skipped}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(
        tmp_path / "repo",
        {
            "pkg/__init__.py": b"",
            "pkg/core.py": b"def f():\n    return 1\n",
            "pkg/util.py": b"X = 1\n",
            "tests/test_core.py": b"def test_f():\n    pass\n",
            "README.md": b"# readme\n",
            "pkg/types.pyi": b"def f() -> int: ...\n",
        },
    )


def test_lists_committed_python_files_only(repo: Path) -> None:
    result = list_sources(repo)
    assert [f.path for f in result.files] == [
        "pkg/__init__.py",
        "pkg/core.py",
        "pkg/util.py",
        "tests/test_core.py",
    ]
    core = result.files[1]
    assert core.data == b"def f():\n    return 1\n" and core.text == core.data.decode()
    assert core.encoding == "utf-8" and not core.bom
    assert result.base_commit == git(repo, "rev-parse", "HEAD").strip()
    assert skips(result.skipped) == {"pkg/types.pyi": SkipReason.STUB}
    assert result.uncommitted == []


def test_stubs_on_request(repo: Path) -> None:
    result = list_sources(repo, include_stubs=True)
    assert "pkg/types.pyi" in [f.path for f in result.files]
    assert result.skipped == []


def test_uncommitted_changes_are_not_read_but_reported(repo: Path) -> None:
    (repo / "pkg/core.py").write_bytes(b"def f():\n    return 'dirty'\n")
    (repo / "pkg/new.py").write_bytes(b"NEW = 1\n")
    (repo / "pkg/util.py").unlink()
    result = list_sources(repo)
    core = next(f for f in result.files if f.path == "pkg/core.py")
    assert core.data == b"def f():\n    return 1\n"
    assert "pkg/new.py" not in [f.path for f in result.files]
    assert "pkg/util.py" in [f.path for f in result.files]
    assert result.uncommitted == ["pkg/core.py", "pkg/new.py", "pkg/util.py"]


def test_base_commit_is_read_not_head(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD").strip()
    commit(repo, {"pkg/core.py": b"def f():\n    return 2\n", "pkg/later.py": b""})
    result = list_sources(repo, base=first)
    assert result.base_commit == first
    core = next(f for f in result.files if f.path == "pkg/core.py")
    assert core.data.endswith(b"return 1\n")
    assert "pkg/later.py" not in [f.path for f in result.files]
    assert result.uncommitted == ["pkg/core.py", "pkg/later.py"]


def test_paths_subdirectory_single_file_and_absolute(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert [f.path for f in list_sources(repo, ["tests"]).files] == ["tests/test_core.py"]
    assert [f.path for f in list_sources(repo, ["pkg/util.py"]).files] == ["pkg/util.py"]
    absolute = str(repo / "pkg" / "core.py")
    assert [f.path for f in list_sources(repo, [absolute]).files] == ["pkg/core.py"]
    monkeypatch.chdir(repo / "pkg")  # relative to the current directory inside the repository
    assert [f.path for f in list_sources(repo, ["util.py"]).files] == ["pkg/util.py"]


def test_include_and_exclude_globs(repo: Path) -> None:
    def listed(**kw: list[str]) -> list[str]:
        return [f.path for f in list_sources(repo, **kw).files]  # type: ignore[arg-type]

    assert listed(exclude=["tests/**"]) == ["pkg/__init__.py", "pkg/core.py", "pkg/util.py"]
    assert listed(exclude=["tests/"]) == ["pkg/__init__.py", "pkg/core.py", "pkg/util.py"]
    assert listed(exclude=["test_*.py", "__init__.py"]) == ["pkg/core.py", "pkg/util.py"]
    assert listed(include=["pkg/c*.py"]) == ["pkg/core.py"]
    assert listed(include=["**/core.py"]) == ["pkg/core.py"]
    assert listed(include=["pkg/**"], exclude=["*/u*"]) == ["pkg/__init__.py", "pkg/core.py"]
    assert listed(include=["pkg/[!_]*.py"]) == ["pkg/core.py", "pkg/util.py"]


def test_only_restricts_to_given_paths(repo: Path) -> None:
    result = list_sources(repo, only={"pkg/util.py", "tests/test_core.py", "gone.py"})
    assert [f.path for f in result.files] == ["pkg/util.py", "tests/test_core.py"]


def test_symlink_is_skipped_not_followed(repo: Path) -> None:
    os.symlink("core.py", repo / "pkg" / "alias.py")
    os.symlink("/etc/passwd", repo / "pkg" / "outside.py")
    commit(repo, {})
    result = list_sources(repo)
    skipped = {s.path: s for s in result.skipped}
    assert skipped["pkg/alias.py"].reason is SkipReason.SYMLINK
    assert skipped["pkg/alias.py"].detail == "a symbolic link to core.py; not followed"
    assert skipped["pkg/outside.py"].reason is SkipReason.SYMLINK
    assert "pkg/alias.py" not in [f.path for f in result.files]


def test_submodule_is_skipped_not_followed(repo: Path, tmp_path: Path) -> None:
    other = make_repo(tmp_path / "other", {"lib.py": b"def g():\n    pass\n"})
    git(repo, "submodule", "add", "-q", str(other), "vendor/other")
    git(repo, "commit", "-q", "-m", "add submodule")
    result = list_sources(repo)
    assert skips(result.skipped)["vendor/other"] is SkipReason.SUBMODULE
    assert not [f for f in result.files if f.path.startswith("vendor/")]


def test_generated_marker_in_the_first_lines(repo: Path) -> None:
    late = b"".join(b"x%d = 1\n" % i for i in range(10)) + b"# @generated\n"
    commit(
        repo,
        {
            "pkg/gen.py": b'"""Protocol stubs.\n\n@generated by protoc.\n"""\n',
            "pkg/late.py": late,
        },
    )
    result = list_sources(repo)
    assert skips(result.skipped)["pkg/gen.py"] is SkipReason.GENERATED
    assert "pkg/late.py" in [f.path for f in result.files]


def test_too_large(repo: Path) -> None:
    commit(repo, {"pkg/big.py": b"x = 1\n" * 100})
    result = list_sources(repo, max_bytes=500)
    skipped = {s.path: s for s in result.skipped}
    assert skipped["pkg/big.py"].reason is SkipReason.TOO_LARGE
    assert skipped["pkg/big.py"].detail == "600 bytes, over the limit of 500"


def test_encodings(repo: Path) -> None:
    latin = "# -*- coding: latin-1 -*-\nNAME = 'café'\n".encode("latin-1")
    commit(
        repo,
        {
            "pkg/latin.py": latin,
            "pkg/bad.py": b"ok = 1\nx = '\xff'\n",
            "pkg/bom.py": b"\xef\xbb\xbfX = '\xc3\xa9'\n",
            "pkg/cookie.py": b"# coding: no-such-codec\nX = 1\n",
        },
    )
    result = list_sources(repo)
    files = {f.path: f for f in result.files}
    skipped = {s.path: s for s in result.skipped}
    assert files["pkg/latin.py"].text.endswith("NAME = 'café'\n")
    assert files["pkg/latin.py"].encoding == "iso-8859-1" and files["pkg/latin.py"].data == latin
    assert files["pkg/bom.py"].bom and files["pkg/bom.py"].text == "X = 'é'\n"
    assert skipped["pkg/bad.py"].reason is SkipReason.NOT_UTF8
    assert skipped["pkg/bad.py"].detail == "line 2, column 6: byte 0xff is not utf-8"
    assert skipped["pkg/cookie.py"].reason is SkipReason.NOT_UTF8
    assert "no-such-codec" in skipped["pkg/cookie.py"].detail


def test_parse_error_is_found_by_the_planner(repo: Path) -> None:
    commit(repo, {"pkg/broken.py": b"def ok():\n    pass\n\ndef broken(:\n    pass\n"})
    source = next(f for f in list_sources(repo).files if f.path == "pkg/broken.py")
    skipped = plan_file(source, 2000)
    assert isinstance(skipped, SkippedFile) and skipped.reason is SkipReason.PARSE_ERROR
    assert skipped.detail == "line 4, column 12: invalid syntax"


def test_clear_errors(repo: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(SourceError, match="not a git repository: "):
        list_sources(plain)
    with pytest.raises(UnknownBaseError, match="base 'nope' is not a commit in this repository"):
        list_sources(repo, base="nope")
    with pytest.raises(SourceError, match="path not in repository: /"):
        list_sources(repo, ["/"])
    with pytest.raises(SourceError, match="path not in repository: missing"):
        list_sources(repo, ["missing"])
