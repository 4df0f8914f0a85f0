"""The test command's base run started early: the gate uses it as its own first run, in its worktree;
a red or slow base means what it meant; closing it leaves no process and no worktree."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from gates.test_gates import FILES, PYTEST, assert_untouched, change, make_repo, snapshot

from pipeline.gates.base_tests import BaseTests
from pipeline.gates.suite import BaseTestsFail, run_test_gate

# Appends "<run>" to LOG each time it runs (a base run and a changed run), then runs the tests.
COUNTED = f"echo run >> {{log}} && {PYTEST}"


def runs_logged(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def wait_for(condition: object, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.05)


def test_the_gate_takes_the_early_base_run_as_its_first(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    before = snapshot(tmp_path / "repo")
    log = tmp_path / "runs.log"
    command = COUNTED.format(log=log)
    head = repo.head.commit.hexsha
    with BaseTests(repo, head, command, 60) as early:
        wait_for(lambda: runs_logged(log) == 1)  # the base ran before any gate was asked for
        assert len(repo.git.worktree("list").splitlines()) == 2
        changes = change("pkg/util.py", b"x * 2", b"x + x")
        result = run_test_gate(
            repo, head, changes, {}, test_cmd=command, timeout=60, base_tests=early
        )
        assert runs_logged(log) == 2  # the gate ran only the changed run itself
        assert result.runs == 2 and not result.dropped
        assert result.history[0].status == 0
        assert len(repo.git.worktree("list").splitlines()) == 2  # no second worktree was made
    assert_untouched(repo, before)  # closed: the early worktree is gone too


def test_an_early_base_run_of_another_command_is_not_used(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    log = tmp_path / "runs.log"
    head = repo.head.commit.hexsha
    changes = change("pkg/util.py", b"x * 2", b"x + x")
    with BaseTests(repo, head, "exit 1", 60) as other:
        command = COUNTED.format(log=log)
        result = run_test_gate(
            repo, head, changes, {}, test_cmd=command, timeout=60, base_tests=other
        )
    assert runs_logged(log) == 2 and result.runs == 2 and result.history[0].status == 0


def test_a_red_early_base_refuses_as_before_unless_allowed(tmp_path: Path) -> None:
    files = {**FILES, "tests/test_old.py": b"def test_already_broken():\n    assert False\n"}
    repo = make_repo(tmp_path / "repo", files)
    head = repo.head.commit.hexsha
    changes = change("pkg/util.py", b"x * 2", b"x + x")
    red = r"already fails on the base commit \(tests/test_old"
    with BaseTests(repo, head, PYTEST, 60) as early, pytest.raises(BaseTestsFail, match=red):
        run_test_gate(repo, head, changes, {}, test_cmd=PYTEST, timeout=60, base_tests=early)
    with BaseTests(repo, head, PYTEST, 60) as early:
        result = run_test_gate(
            repo,
            head,
            changes,
            {},
            test_cmd=PYTEST,
            timeout=60,
            allow_failing_base=True,
            base_tests=early,
        )
    assert result.decisions["pkg/util.py"].kept and result.runs == 2
    assert result.history[0].failing == ("tests/test_old.py::test_already_broken",)
    assert len(repo.git.worktree("list").splitlines()) == 1


def test_an_early_base_run_past_its_timeout_is_a_base_that_did_not_finish(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    head = repo.head.commit.hexsha
    changes = change("pkg/util.py", b"x * 2", b"x + x")
    with BaseTests(repo, head, "sleep 30", 1) as early:
        time.sleep(2)  # the gate comes late: the run was stopped at its own timeout meanwhile
        with pytest.raises(BaseTestsFail, match="did not finish within 1 s on the base commit"):
            run_test_gate(repo, head, changes, {}, test_cmd="sleep 30", timeout=1, base_tests=early)


def test_closing_an_early_base_run_kills_it_and_removes_its_worktree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    pid_file = tmp_path / "child.pid"
    script = f"import os, time; open('{pid_file}', 'w').write(str(os.getpid())); time.sleep(60)"
    command = f'{sys.executable} -c "{script}"'
    early = BaseTests(repo, repo.head.commit.hexsha, command, 120)
    wait_for(lambda: pid_file.exists() and pid_file.read_text())
    child = int(pid_file.read_text())
    tree = early.tree
    early.close()
    early.close()  # twice is harmless
    wait_for(lambda: not Path(f"/proc/{child}").exists() or _zombie(child), 10)
    assert not Path(f"/proc/{child}").exists() or _zombie(child)
    assert not tree.exists()
    assert len(repo.git.worktree("list").splitlines()) == 1


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def test_a_base_run_closed_before_its_gate_is_not_served(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    head = repo.head.commit.hexsha
    early = BaseTests(repo, head, PYTEST, 60)
    assert early.serves(head, PYTEST, 60) and not early.serves(head, PYTEST, 61)
    early.close()
    assert not early.serves(head, PYTEST, 60)
