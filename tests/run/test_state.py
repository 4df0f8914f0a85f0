"""Run state between runs: where it lives, atomic records, --since file lists, same-change detection."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import pytest
from support.gitrepo import git, make_repo

from pipeline.paths import state_file
from pipeline.run.state import (
    FIELDS,
    DamagedStateError,
    LastRun,
    StateError,
    changed_files,
    load_last_run,
    patch_fingerprint,
    recover_last_run,
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


GOOD = {
    "recipe": "modernize",
    "base_commit": "a" * 40,
    "run_id": "20240101-000000-abcdef",
    "finished": "2024-01-01T00:00:00+00:00",
    "patch_sha256": "f" * 64,
    "branch": "cm/x",
}


def with_(**changes: object) -> str:
    return json.dumps({**GOOD, **changes})


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{not json", "it is not JSON: Expecting property name"),
        ("\xff", "it is not JSON: 'utf-8' codec can't decode"),
        ("[" * 20_000 + "]" * 20_000, "it is not JSON: maximum recursion depth"),
        ("[1, 2]", "it holds a JSON list, not an object"),
        ('{"recipe": "x"}', "no `base_commit` field"),
        (with_(base_commit=12), "`base_commit` is 12, not a commit id"),
        (
            with_(base_commit="--output=/tmp/x"),
            '`base_commit` is "--output=/tmp/x", not a commit id',
        ),
        (with_(patch_sha256=["f"]), '`patch_sha256` is ["f"], not a sha256'),
        (with_(branch={"name": "x"}), '`branch` is {"name": "x"}, not a branch name or null'),
        (with_(run_id=None), "`run_id` is null, not a run id"),
        (with_(extra=1), "unknown field 'extra'"),
        (" " * 70_000, "it is over 65536 bytes"),
    ],
)
def test_a_damaged_state_file_says_what_is_wrong_with_it(
    tmp_path: Path, content: str, why: str
) -> None:
    path = tmp_path / "modernize.json"
    path.write_text(content, encoding="latin-1")
    with pytest.raises(DamagedStateError) as info:
        load_last_run(path)
    assert str(info.value).startswith(f"state file {path} is not a codemill run record ({why}")
    assert info.value.exit_code == 2 and "\n" not in str(info.value)


def test_every_field_of_a_record_is_checked_on_read() -> None:
    assert list(FIELDS) == [f.name for f in dataclasses.fields(LastRun)]
    assert load_last_run_from(with_(branch=None)) == _run(branch=None)


def load_last_run_from(text: str) -> LastRun | None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "r.json"
        path.write_text(text)
        return load_last_run(path)


@pytest.mark.parametrize("since", [None, "last-run"])
def test_a_damaged_state_file_is_moved_aside_and_the_run_goes_on(
    tmp_path: Path, since: str | None
) -> None:
    path = tmp_path / "modernize.json"
    path.write_text(with_(base_commit=12))
    last, warning = recover_last_run(path, since)
    [aside] = tmp_path.glob("modernize.json.broken-*")
    assert last is None and not path.exists() and aside.read_text() == with_(base_commit=12)
    goes_on = "--since last-run covers every file" if since else "no last run is known"
    assert warning == (
        f"state file {path} was damaged (`base_commit` is 12, not a commit id): "
        f"moved it to {aside}; {goes_on}"
    )
    assert recover_last_run(path, since) == (None, "")  # nothing is left to warn about
    save_last_run(path, _run())
    assert recover_last_run(path, since) == (_run(), "")


def test_a_state_file_that_cannot_be_read_or_moved_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "modernize.json"
    directory.mkdir()
    with pytest.raises(
        StateError, match=rf"^state file {directory} cannot be read \(Is a directory\)"
    ):
        load_last_run(directory)
    path = tmp_path / "other.json"
    path.write_text("{not json")

    def refuse(path: Path, *companions: str) -> Path:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("pipeline.run.state.move_aside", refuse)
    with pytest.raises(StateError) as info:
        recover_last_run(path, None)
    assert str(info.value).startswith(f"state file {path} is damaged (it is not JSON: ")
    assert str(info.value).endswith(
        "and cannot be moved aside (Permission denied); delete it to start over"
    )
    assert path.read_text() == "{not json"


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


def test_a_second_damaged_file_in_the_same_second_never_overwrites_the_first(
    tmp_path: Path,
) -> None:
    path = tmp_path / "modernize.json"
    for content in ("{first", "{second", "{third"):
        path.write_text(content)
        recover_last_run(path, None)
    asides = tmp_path.glob("modernize.json.broken-*")
    assert sorted(p.read_text() for p in asides) == ["{first", "{second", "{third"]
