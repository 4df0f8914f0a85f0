"""A whole run in-process (no orchestrator): the run's decisions, its end record, and a stop signal."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest
from support.gitrepo import git, make_repo

from pipeline.config import RunConfig
from pipeline.engines.codemod_files import CodemodFileEngine
from pipeline.paths import state_file
from pipeline.run import steps
from pipeline.run.execute import execute_run
from pipeline.run.result import RunResult
from pipeline.run.runner import LocalRunner, QuietView
from pipeline.run.steps import FilePlan, LeftOut, Record

FILES = {
    f"m{i}.py": f"def f(x):\n    return 'v%s' % x\n\n\ndef g():\n    return {i}\n" for i in range(4)
}


def run(config: RunConfig, env: dict[str, str]) -> RunResult:
    work = execute_run(config, ["."], runner=LocalRunner(), view=QuietView(), env=env)
    return asyncio.run(work)


def end_record(result: RunResult) -> dict[str, object]:
    last = (result.report_dir / "ledger.jsonl").read_text(encoding="utf-8").splitlines()[-1]
    record: dict[str, object] = json.loads(last)
    assert record["record"] == "end"
    return record


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"CODEMILL_STATE_DIR": str(tmp_path / "state")}


def config_for(repo: Path, tmp_path: Path, **settings: object) -> RunConfig:
    return RunConfig(repo=repo, engine="codemod", report_dir=tmp_path / "reports", **settings)  # type: ignore[arg-type]


def test_a_finished_run_commits_saves_state_and_ends_done(
    tmp_path: Path, env: dict[str, str]
) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    result = run(config_for(repo, tmp_path, branch="cm/done", import_check=False), env)
    assert result.exit_code == 0 and not result.partial
    assert result.changed_files == sorted(FILES) and len(result.commits) == 4
    assert end_record(result)["outcome"] == "done"
    assert state_file(repo, "modernize", env).is_file()


def interrupted_after_the_first_file(monkeypatch: pytest.MonkeyPatch, signum: int) -> None:
    """The codemod step sends the run a signal after the first file, as a terminal would."""
    real = steps.refactor_codemod

    def first_then_signal(
        engine: CodemodFileEngine,
        files: list[FilePlan],
        record: Record,
        left_out: LeftOut,
        *,
        jobs: int,
    ) -> None:
        real(engine, files[:1], record, left_out, jobs=jobs)
        os.kill(os.getpid(), signum)
        real(engine, files[1:], record, left_out, jobs=jobs)

    monkeypatch.setattr(steps, "refactor_codemod", first_then_signal)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_ends_the_run_partial_with_no_branch_and_no_state(
    tmp_path: Path, env: dict[str, str], signum: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    config = config_for(repo, tmp_path, branch="cm/stopped", import_check=False)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    interrupted_after_the_first_file(monkeypatch, signum)
    result = run(config, env)
    assert result.interrupted == signum and result.partial
    assert result.exit_code == 128 + signum
    assert len(result.changed_files) == 1  # what was accepted before the signal, and nothing after
    end = end_record(result)
    assert end["outcome"] == "interrupted"
    assert f"interrupted by {signal.Signals(signum).name}" in str(end["stop_reason"])
    patch = (result.report_dir / "changes.patch").read_text(encoding="utf-8")
    assert patch.count("diff --git") == 1
    assert git(repo, "branch", "--list", "cm/stopped") == "" and not result.commits
    assert not state_file(repo, "modernize", env).exists()
    # the handlers given back as they were (SIG_IGN when started in the background, as CI may)
    assert {s: signal.getsignal(s) for s in handlers} == handlers


def test_exit_codes_follow_how_the_run_ended(tmp_path: Path) -> None:
    from pipeline.records.ledger import Ledger, RunMeta

    totals = Ledger(RunMeta("r", "modernize", "llm", "m", "abc")).totals()
    done = RunResult("r", "modernize", "llm", "m", tmp_path, totals, [], 0, [])
    assert done.exit_code == 0
    assert RunResult(**{**vars(done), "push_error": "refused"}).exit_code == 6
    assert RunResult(**{**vars(done), "fatal": True}).exit_code == 3
    assert RunResult(**{**vars(done), "provider_failed": ["m.py::f"]}).exit_code == 5
    unreachable = RunResult(**{**vars(done), "fatal": True, "unreachable": True})
    assert unreachable.exit_code == 5
    assert RunResult(**{**vars(unreachable), "interrupted": signal.SIGTERM}).exit_code == 143


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_codemod_engine_works_the_largest_files_first_in_the_same_order_with_any_jobs(
    tmp_path: Path, env: dict[str, str], jobs: int
) -> None:
    body = "def f{n}(x):\n    return 'v%s' % x\n\n\n"
    sizes = {"a.py": 1, "b.py": 6, "c.py": 3, "d.py": 6}  # functions per file: b and d tie on size
    files = {path: "".join(body.format(n=n) for n in range(count)) for path, count in sizes.items()}
    repo = make_repo(tmp_path / "repo", files)
    result = run(config_for(repo, tmp_path, dry_run=True, import_check=False, jobs=jobs), env)
    rows = [
        json.loads(line) for line in (result.report_dir / "ledger.jsonl").read_text().splitlines()
    ]
    paths = list(dict.fromkeys(r["path"] for r in rows if r["record"] == "row"))
    assert paths == ["b.py", "d.py", "c.py", "a.py"]  # by size, largest first; a tie by path
    assert result.changed_files == ["a.py", "b.py", "c.py", "d.py"]
