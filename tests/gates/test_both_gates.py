"""Both gates at once: the import check runs while the tests run on every change, and the outcome is what
the two gates one after the other decide (what is dropped, why, what is kept, and which errors)."""

from __future__ import annotations

import sys
from pathlib import Path

import git
import pytest
from gates.test_gating import FILES, plans, proposals_for
from support.gitrepo import fingerprint, make_repo

from pipeline.engines.proposal import Proposal
from pipeline.gates.combined import GateSettings, run_gates
from pipeline.gates.scratch import GateError
from pipeline.gates.suite import BaseTestsFail
from pipeline.judge.verdicts import Reason, Status, Verdict
from pipeline.run.steps import assemble
from pipeline.source.chunking import chunk_module

CHECK = f"{sys.executable} check.py"


def gated(root: Path, paths: list[str], **settings: object) -> tuple[dict, list, dict]:
    files = plans(paths)
    proposals = proposals_for(files)
    changes = assemble(files, proposals)
    report = run_gates(git.Repo(root), "HEAD", changes, proposals, GateSettings(**settings))  # type: ignore[arg-type]
    outcome = [(p.chunk.name, p.verdict.status, p.verdict.reason, dict(p.gates)) for p in proposals]
    return report.changes, outcome, report.summary


def test_both_gates_at_once_decide_what_the_gates_in_order_decide(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", FILES)
    before = fingerprint(root)
    paths = ["pkg/config.py", "pkg/words.py"]
    both = gated(root, paths, import_check=True, test_cmd=CHECK, test_timeout=60)
    imports_only = gated(root, paths, import_check=True)
    tests_after = gated(root, sorted(imports_only[0]), test_cmd=CHECK, test_timeout=60)

    assert both[0] == tests_after[0] and list(both[0]) == ["pkg/words.py"]
    names = {name: (status, reason) for name, status, reason, _ in both[1]}
    assert names["<statements 1-3>"] == (Status.REJECTED, Reason.BREAKS_IMPORT)
    assert names["bang"] == (Status.REJECTED, Reason.BREAKS_TESTS)
    assert names["greet"] == (Status.ACCEPTED, None)
    in_order = {n: g for n, _, _, g in imports_only[1]}
    for name, _, _, gates in tests_after[1]:
        in_order[name] = {**in_order[name], **gates}
    assert {name: gates for name, _, _, gates in both[1]} == in_order
    assert both[2]["import"] == imports_only[2]["import"]
    assert both[2]["tests"].endswith("1 changes dropped")
    assert fingerprint(root) == before
    assert len(git.Repo(root).git.worktree("list").splitlines()) == 1


def test_the_import_check_runs_while_the_tests_do(tmp_path: Path) -> None:
    """The changed module's import waits for the tests' first run: in order, it would time out."""
    flag = tmp_path / "tests-started"
    waiting = (
        "import os, time\n\n"
        "deadline = time.monotonic() + 30\n"
        f"while not os.path.exists({str(flag)!r}) and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        f"assert os.path.exists({str(flag)!r}), 'the tests never ran meanwhile'\n"
    )
    files = {**FILES, "pkg/slow.py": "X = 1\n"}
    root = make_repo(tmp_path / "repo", files)
    [chunk] = chunk_module("pkg/slow.py", "X = 1\n")
    proposal = Proposal(chunk, Verdict.accepted(), waiting)
    changes = {"pkg/slow.py": (b"X = 1\n", waiting.encode())}
    command = f"touch {flag} && {CHECK}"
    settings = GateSettings(import_check=True, import_timeout=60, test_cmd=command, test_timeout=60)
    report = run_gates(git.Repo(root), "HEAD", changes, [proposal], settings)

    assert proposal.gates == {"import": "passed", "tests": "passed"}, proposal.gates
    assert list(report.changes) == ["pkg/slow.py"]


def test_when_the_import_check_drops_everything_the_tests_decide_nothing(tmp_path: Path) -> None:
    red = {**FILES, "check.py": "raise SystemExit('base is red')\n"}
    root = make_repo(tmp_path / "repo", red)
    changes, outcome, summary = gated(
        root, ["pkg/config.py"], import_check=True, test_cmd=CHECK, test_timeout=60
    )
    assert changes == {}
    assert summary == {
        "import": "1 modules checked, 1 broke their import"
    }  # no test gate, no error
    [(_, status, reason, gates)] = outcome
    assert (status, reason) == (Status.REJECTED, Reason.BREAKS_IMPORT) and "tests" not in gates


def test_a_red_base_with_changes_left_still_refuses(tmp_path: Path) -> None:
    red = {**FILES, "check.py": "raise SystemExit('base is red')\n"}
    root = make_repo(tmp_path / "repo", red)
    with pytest.raises(BaseTestsFail, match="already fails on the base commit"):
        gated(root, ["pkg/config.py", "pkg/words.py"], import_check=True, test_cmd=CHECK)


def test_the_import_checks_own_error_comes_first_as_in_order(tmp_path: Path) -> None:
    red = {**FILES, "check.py": "raise SystemExit('base is red')\n"}
    root = make_repo(tmp_path / "repo", red)
    with pytest.raises(GateError, match="import timeout must be positive"):
        gated(root, ["pkg/words.py"], import_check=True, import_timeout=0, test_cmd=CHECK)
