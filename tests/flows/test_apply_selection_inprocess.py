"""`codemill apply --select FILE / --exclude PATH|CHUNK` in-process on a real offline run: only the kept
chunks land, on a branch of their own, after the gates judged them as one set; a set that fails a gate,
another run's selection or a name the run does not have is one sentence and no branch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.gitrepo import git
from support.inprocess import isolated_runner
from support.reviewed_run import accepted_ids, offline_dry_run
from typer.testing import CliRunner, Result

from flows.cli import app


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    return isolated_runner(monkeypatch, tmp_path)


@pytest.fixture
def dry_run(runner: CliRunner, tmp_path: Path) -> tuple[Path, Path]:
    """The repository and the report directory of its offline dry run (every chunk accepted)."""
    return offline_dry_run(runner, tmp_path / "repo")


def apply(runner: CliRunner, repo: Path, report: Path, *args: str) -> Result:
    return runner.invoke(app, ["apply", str(report), "--repo", str(repo), *args])


def branches(repo: Path) -> list[str]:
    return git(repo, "branch", "--format=%(refname:short)").split()


def changed_on(repo: Path, branch: str) -> str:
    return git(repo, "diff", "main", branch, "--stat")


def selection(report: Path, **lists: list[str]) -> dict[str, object]:
    return {"format": "codemill-selection/1", "run_id": report.name, **lists}


def test_a_selection_lands_only_what_it_keeps_on_its_own_branch(
    runner: CliRunner, dry_run: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, report = dry_run
    ids = accepted_ids(report)
    assert sorted(set(ids.values())) == ["other/c.py", "pkg/a.py", "pkg/b.py"]
    keep = [i for i, path in ids.items() if path != "other/c.py"]
    chosen = tmp_path / "selection.json"
    left_out = [i for i in ids if i not in keep]
    chosen.write_text(json.dumps(selection(report, kept=keep, left_out=left_out)))

    done = apply(runner, repo, report, "--select", str(chosen))

    assert done.exit_code == 0, done.output
    assert f"kept {len(keep)} of {len(ids)} accepted chunks; gated as one set: " in done.output
    assert "tests: " in done.output and "import: " in done.output
    [branch] = [b for b in branches(repo) if b != "main"]
    assert branch.startswith(f"codemill/modernize/{report.name}-selected-")
    stat = changed_on(repo, branch)
    assert "pkg/a.py" in stat and "pkg/b.py" in stat and "other/c.py" not in stat
    assert "Optional" not in git(repo, "show", f"{branch}:pkg/b.py")

    # the whole run still lands under its own name: a selection's branch never takes it
    whole = apply(runner, repo, report)
    assert whole.exit_code == 0, whole.output
    assert f"codemill/modernize/{report.name}" in branches(repo)
    assert "other/c.py" in changed_on(repo, f"codemill/modernize/{report.name}")


def test_exclude_takes_files_directories_and_chunk_ids(
    runner: CliRunner, dry_run: tuple[Path, Path]
) -> None:
    repo, report = dry_run
    done = apply(runner, repo, report, "--exclude", "other/", "--branch", "cm/dir")
    assert done.exit_code == 0, done.output
    assert "other/c.py" not in changed_on(repo, "cm/dir")
    [fourth] = [i for i, p in accepted_ids(report).items() if p == "other/c.py"]
    only = ("--exclude", "pkg", "--exclude", "check.py", "--branch", "cm/chunk")
    kept_c = apply(runner, repo, report, *only)
    assert kept_c.exit_code == 0, kept_c.output
    assert "kept 1 of" in kept_c.output
    assert changed_on(repo, "cm/chunk").count("|") == 1  # other/c.py alone
    none = apply(runner, repo, report, *only[:4], "--exclude", fourth)
    assert none.exit_code == 0, none.output
    assert "the selection keeps no change; no branch made" in none.output
    assert sorted(branches(repo)) == ["cm/chunk", "cm/dir", "main"]


def test_a_selection_that_fails_the_gates_as_a_set_lands_nothing(
    runner: CliRunner, dry_run: tuple[Path, Path]
) -> None:
    repo, report = dry_run
    done = apply(
        runner, repo, report, "--exclude", "pkg/b.py"
    )  # pkg/a.py changes alone: test fails
    assert done.exit_code == 2, done.output
    line = done.output.strip()
    assert line.startswith("codemill: the selection fails its gates as one set: chunk pkg/a.py::")
    assert "the test command failed" in line and line.endswith("nothing was applied")
    assert "\n" not in line
    assert branches(repo) == ["main"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"run_id": "20250101-000000-abcdef"}, "was made for run 20250101-000000-abcdef, not run "),
        ({"left_out": ["pkg/nowhere.py"]}, "names 'pkg/nowhere.py', which is no chunk, file or "),
        (
            {"kept": ["pkg/a.py::first@99"]},
            "names 'pkg/a.py::first@99', which is no accepted chunk",
        ),
        ({"format": "something-else"}, 'is not a codemill selection ("format"'),
        ({"left_out": "pkg/a.py"}, 'needs "run_id" (a string) and "kept" or "left_out"'),
    ],
)
def test_a_selection_that_does_not_fit_its_run_is_one_sentence_and_no_branch(
    runner: CliRunner,
    dry_run: tuple[Path, Path],
    tmp_path: Path,
    content: dict[str, object],
    message: str,
) -> None:
    repo, report = dry_run
    chosen = tmp_path / "selection.json"
    chosen.write_text(json.dumps({**selection(report, left_out=[]), **content}))
    done = apply(runner, repo, report, "--select", str(chosen))
    assert done.exit_code == 2, done.output
    assert message in done.output
    assert done.output.count("\n") == 1
    assert branches(repo) == ["main"]


def test_an_unknown_exclude_and_an_unreadable_file_are_refused(
    runner: CliRunner, dry_run: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, report = dry_run
    typo = apply(runner, repo, report, "--exclude", "pkg/a.pyy")
    assert typo.exit_code == 2
    assert "--exclude names 'pkg/a.pyy', which is no chunk, file or directory of run" in typo.output
    missing = apply(runner, repo, report, "--select", str(tmp_path / "none.json"))
    assert missing.exit_code == 2
    assert f"cannot read the selection {tmp_path / 'none.json'}: " in missing.output
    (tmp_path / "bad.json").write_text("{not json")
    bad = apply(runner, repo, report, "--select", str(tmp_path / "bad.json"))
    assert bad.exit_code == 2 and "cannot read the selection" in bad.output
    assert branches(repo) == ["main"]
