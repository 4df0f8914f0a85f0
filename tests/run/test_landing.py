"""How a run lands, through the `codemill` command in-process on real repositories: the committed blobs are
the proven bytes whatever .gitattributes says, a branch exists only for a run that ended well (an interrupt
while committing or a full disk leaves no branch and no state), odd file names land like any other, and a
killed run's worktree is reclaimed by the next run. The user's checkout stays byte-identical throughout."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support.gitrepo import fingerprint, git, make_repo
from support.inprocess import isolated_runner
from typer.testing import CliRunner, Result

from flows.cli import app
from pipeline.report import directory

OLD = 'def f{n}(x):\n    return "v{n} %s" % x\n'
NEW = 'def f{n}(x):\n    return f"v{n} {{x}}"\n'


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    return isolated_runner(monkeypatch, tmp_path)


def run(runner: CliRunner, repo: Path, *args: str) -> Result:
    argv = [
        "run",
        "--orchestrator",
        "local",
        "--no-progress",
        "--no-import-check",
        *args,
        str(repo),
    ]
    return runner.invoke(app, argv)


def branches(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/codemill").split()


def worktrees(repo: Path) -> int:
    return git(repo, "worktree", "list", "--porcelain").count("worktree ")


def state_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "state").rglob("*.json"))


def report_dir(output: str) -> Path:
    match = re.search(r"^codemill: report (.+)$", output, re.MULTILINE)
    assert match, output
    return Path(match.group(1))


def files_of(repo: Path) -> dict[str, bytes]:
    """Every file of the checkout, with .git's index and HEAD."""
    return {
        p.relative_to(repo).as_posix(): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and (".git" not in p.relative_to(repo).parts or p.name in ("index", "HEAD"))
    }


def end_record(report: Path) -> dict[str, Any]:
    last = (report / "ledger.jsonl").read_text(encoding="utf-8").splitlines()[-1]
    record: dict[str, Any] = json.loads(last)
    assert record["record"] == "end"
    return record


def test_the_committed_blobs_are_the_proven_bytes_whatever_git_attributes_say(
    runner: CliRunner, tmp_path: Path
) -> None:
    attributes = (
        "wide.py working-tree-encoding=UTF-16LE\n"
        "idented.py ident\n"
        "crlf.py eol=crlf\n"
        "auto.py text=auto\n"
        "filtered.py filter=broken\n"
    )
    names = ["wide", "idented", "crlf", "auto", "filtered"]
    files: dict[str, str | bytes] = {".gitattributes": attributes}
    files |= {f"{name}.py": OLD.format(n=i) for i, name in enumerate(names)}
    files["wide.py"] = OLD.format(n=0).encode("utf-16-le")  # git stores it as UTF-8
    files["idented.py"] = "# $Id$\n" + OLD.format(n=1)
    repo = make_repo(tmp_path / "repo", files)
    git(repo, "config", "filter.broken.clean", "false")  # every clean fails from now on
    git(repo, "config", "filter.broken.required", "true")
    os.utime(repo / "filtered.py", (1, 1))  # stat-dirty: git must run the clean filter to compare
    before = files_of(repo)  # git status itself fails on the filter: the bytes, index and HEAD

    done = run(runner, repo)

    assert done.exit_code == 0, done.output
    [branch] = branches(repo)
    expected = {f"{name}.py": NEW.format(n=i).encode() for i, name in enumerate(names)}
    expected["idented.py"] = b"# $Id$\n" + NEW.format(n=1).encode()
    for path, data in expected.items():
        blob = subprocess.run(
            ["git", "cat-file", "blob", f"{branch}:{path}"], cwd=repo, capture_output=True
        ).stdout
        assert blob == data, path
    assert files_of(repo) == before


def test_an_interrupt_while_committing_leaves_no_branch_and_no_state(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.repository import commits

    repo = make_repo(tmp_path / "repo", {f"m{i}.py": OLD.format(n=i) for i in range(5)})
    before = fingerprint(repo)
    written = []
    real_write = commits._write_blob

    def interrupted_midway(*args: Any) -> str:
        written.append(args)
        if len(written) == 3:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C with two files' blobs written
        return real_write(*args)

    monkeypatch.setattr(commits, "_write_blob", interrupted_midway)
    done = run(runner, repo, "--commit-per", "file")

    assert done.exit_code == 130, done.output
    assert "no branch was made because the run did not finish" in done.output
    assert branches(repo) == [] and state_files(tmp_path) == [] and worktrees(repo) == 1
    assert end_record(report_dir(done.output))["outcome"] == "interrupted"
    assert fingerprint(repo) == before


def test_a_full_disk_at_the_report_leaves_no_branch_and_a_rerun_makes_one(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "repo", {"a.py": OLD.format(n=1), "b.py": OLD.format(n=2)})
    before = fingerprint(repo)
    real_write = directory.write_atomic

    def full_disk(path: Path, data: bytes) -> None:
        if path.name == "report.html":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real_write(path, data)

    monkeypatch.setattr(directory, "write_atomic", full_disk)
    failed = run(runner, repo)
    assert failed.exit_code == 2, failed.output
    message = failed.output.strip().splitlines()[-1]
    assert re.fullmatch(
        r"codemill: cannot write the report to /\S+: No space left on device; "
        r"no branch was made and the run's state was not saved",
        message,
    ), message
    assert branches(repo) == [] and state_files(tmp_path) == [] and worktrees(repo) == 1

    monkeypatch.setattr(directory, "write_atomic", real_write)
    again = run(runner, repo)
    assert again.exit_code == 0, again.output
    assert len(branches(repo)) == 1 and len(state_files(tmp_path)) == 1
    assert fingerprint(repo) == before


def test_two_runs_started_in_the_same_second_make_two_branches(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.run import setup

    real_id = setup.new_run_id
    same_second = datetime(2026, 12, 7, 4, 0, 0, tzinfo=UTC)
    monkeypatch.setattr(setup, "new_run_id", lambda now=None: real_id(same_second))
    repo = make_repo(tmp_path / "repo", {"a.py": OLD.format(n=1)})
    first = run(runner, repo)
    monkeypatch.setenv("CODEMILL_STATE_DIR", str(tmp_path / "other-state"))  # no "same change"
    second = run(runner, repo)

    assert first.exit_code == second.exit_code == 0, first.output + second.output
    made = branches(repo)
    assert len(made) == 2 and all(b.startswith("codemill/modernize/20261207-040000-") for b in made)
    for done in (first, second):
        assert "--force-branch" not in done.output


def test_odd_file_names_land_like_any_other(runner: CliRunner, tmp_path: Path) -> None:
    names = ["back\\slash.py", "new\nline.py", "tab\tname.py", 'quote".py', "plain.py"]
    repo = make_repo(tmp_path / "repo", {name: OLD.format(n=i) for i, name in enumerate(names)})
    before = fingerprint(repo)

    dry = run(runner, repo, "--dry-run")
    done = run(runner, repo)

    assert dry.exit_code == 0 and "5 files changed" in dry.output, dry.output
    assert done.exit_code == 0 and "5 files changed" in done.output, done.output
    [branch] = branches(repo)
    patch = (report_dir(done.output) / "changes.patch").read_bytes()
    diff = subprocess.run(
        ["git", "diff", "--no-color", "--no-ext-diff", "main", branch],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout
    strip_index = re.compile(rb"^index [0-9a-f]+\.\.[0-9a-f]+ \d+\n", re.MULTILINE)
    assert strip_index.sub(b"", diff) == patch
    assert fingerprint(repo) == before


KILLED_HOLDER = """
import os, signal, sys
from pipeline.repository import open_repository, resolve_base, temporary_worktree
repo = open_repository(sys.argv[1])
with temporary_worktree(repo, resolve_base(repo, "HEAD"), "gate") as tree:
    print(tree, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_runs_worktree_is_reclaimed_by_the_next_run(
    runner: CliRunner, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", {"a.py": OLD.format(n=1)})
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_HOLDER, str(repo)], capture_output=True, text=True
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    leftover = Path(killed.stdout.strip())
    assert str(leftover) in git(repo, "worktree", "list")

    done = run(runner, repo, "--dry-run")

    assert done.exit_code == 0, done.output
    assert str(leftover) not in git(repo, "worktree", "list")
    assert not leftover.parent.exists()


def test_a_gate_git_cannot_check_out_ends_the_run_in_one_sentence_with_its_report(
    runner: CliRunner, tmp_path: Path
) -> None:
    repo = make_repo(
        tmp_path / "repo", {".gitattributes": "*.py filter=broken\n", "a.py": OLD.format(n=1)}
    )
    git(repo, "config", "filter.broken.smudge", "false")  # every checkout of a .py file fails
    git(repo, "config", "filter.broken.required", "true")
    before = files_of(repo)

    done = runner.invoke(
        app, ["run", "--orchestrator", "local", "--no-progress", "--import-check", str(repo)]
    )

    assert done.exit_code == 2, done.output
    last = done.output.strip().splitlines()[-1]
    assert last.startswith("codemill: could not make a temporary worktree: git worktree failed")
    [report] = (tmp_path / "state" / "runs").glob("*/*")
    end = end_record(report)
    assert end["outcome"] == "stopped" and "nothing was committed" in str(end["stop_reason"])
    assert (report / "report.html").is_file()
    assert branches(repo) == [] and state_files(tmp_path) == [] and worktrees(repo) == 1
    assert files_of(repo) == before
