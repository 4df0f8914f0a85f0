"""Replaying a run from its ledger rebuilds exactly the changes the run assembled, or refuses clearly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from support.gitrepo import git, make_repo

from pipeline.config import RunConfig
from pipeline.engines.codemod_files import CodemodFileEngine
from pipeline.engines.codemod_module import proposals_for_chunks
from pipeline.engines.proposal import Proposal
from pipeline.judge.policy import Allowances, Policy
from pipeline.judge.verdicts import Verdict
from pipeline.recipes.loading import load_recipe
from pipeline.records.ledger import ChunkSpan, Ledger, LedgerRow, RunMeta
from pipeline.run.replay import ReplayError, read_ledger, replay
from pipeline.run.steps import assemble, ledger_row, plan_run, record_skipped, refactor_codemod
from pipeline.source.chunking import chunk_module

BUDGET = 2000
POLICY = Policy(load_recipe("modernize").allowances, (3, 11))
FILES = {
    "pkg/models.py": (
        "from typing import Optional\n\n\nclass Item(object):\n"
        "    def __init__(self, name: Optional[str]) -> None:\n"
        "        super(Item, self).__init__()\n        self.name = name\n\n"
        '    def label(self) -> str:\n        return "item %s" % self.name\n'
    ),
    "pkg/util.py": 'def twice(x):\n    return "%s%s" % (x, x)\n\n\nDONE = True\n',
    "pkg/plain.py": "VALUE = 1\n",
}


def _run(repo: Path, run_dir: Path) -> tuple[Ledger, dict[str, tuple[bytes, bytes]]]:
    """A real offline run's ledger (streamed to run_dir) and the changes the runner assembled."""
    config = RunConfig(repo=repo, recipe="modernize", engine="codemod", budget=BUDGET)
    recipe = load_recipe("modernize")
    plan = plan_run(config, ["."], chunk=False)
    run_dir.mkdir(parents=True)
    ledger = Ledger(
        RunMeta(
            "run-1", "modernize", "codemod", "libcst-codemods", plan.base_commit, policy=POLICY
        ),
        stream_to=run_dir / "ledger.jsonl",
    )
    proposals: list[Proposal] = []

    def record(proposal: Proposal) -> None:
        proposals.append(proposal)
        ledger.append(ledger_row("run-1", proposal, engine="codemod", concurrency_limit=None))

    engine = CodemodFileEngine(recipe, POLICY, budget=BUDGET)
    refactor_codemod(
        engine, plan.files, record, lambda s: record_skipped("run-1", ledger, [s]), jobs=2
    )
    ledger.finish()
    return ledger, assemble(plan.files, proposals)


def test_replay_rebuilds_the_assembled_changes_byte_for_byte(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    _, changes = _run(repo, tmp_path / "run")
    assert changes
    (repo / "pkg" / "models.py").write_text("# the working tree is not the base\n")

    replayed = replay(repo, read_ledger(tmp_path / "run"))

    assert replayed.changes == changes
    assert replayed.base_commit == git(repo, "rev-parse", "HEAD").strip()


def test_replay_of_chunks_the_codemod_engine_merged(tmp_path: Path) -> None:
    old = "import os\n\n\ndef f():\n    return 1\n\n\ndef g():\n    return 2\n"
    new = "import os\n\n\ndef g():\n    return 22\n"
    repo = make_repo(tmp_path / "repo", {"m.py": old})
    pairs = proposals_for_chunks(chunk_module("m.py", old, 64), new, old_text=old, budget=64)
    assert any(".." in chunk.name for chunk, _ in pairs)  # "import os" and f became one chunk
    removing = Policy(Allowances(definitions_removed=True), (3, 11))  # the change removes f
    ledger = Ledger(RunMeta("r", "modernize", "codemod", None, "HEAD", policy=removing))
    for chunk, text in pairs:
        ledger.append(LedgerRow.for_chunk("r", chunk, Verdict.accepted(), new_text=text))
    assert replay(repo, ledger).changes == {"m.py": (old.encode(), new.encode())}


def test_replay_on_a_later_commit_still_reads_the_base(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    _, changes = _run(repo, tmp_path / "run")
    (repo / "pkg" / "models.py").write_text("# rewritten later\n")
    git(repo, "commit", "-qam", "later")
    assert replay(repo, read_ledger(tmp_path / "run")).changes == changes


def test_refuses_a_missing_base_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    ledger, _ = _run(repo, tmp_path / "run")
    ledger.meta.base_commit = "0123456789" * 4
    with pytest.raises(ReplayError, match="base commit 012345678901 is not in the repository"):
        replay(repo, ledger)


def test_a_row_whose_span_holds_other_text_is_codemills_fault(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    ledger, _ = _run(repo, tmp_path / "run")
    rows = ledger.rows
    index = next(i for i, r in enumerate(rows) if r.new_text is not None)
    broken = Ledger(ledger.meta)
    for i, row in enumerate(rows):
        span = row.span
        assert span is not None or row.new_text is None
        moved = replace(row, span=replace(span, start_byte=span.start_byte + 1)) if span else row
        broken.append(moved if i == index else row)
    message = (
        f"{rows[index].path}: chunk .* cannot be replayed \\(its bytes are not the text the run "
        "judged\\); this is a codemill bug, not a change of yours: apply the run's own patch "
        "with `git apply changes.patch` instead"
    )
    with pytest.raises(ReplayError, match=message):
        replay(repo, broken)


def test_a_directory_without_a_ledger_or_with_a_bad_one(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match=r"has no ledger\.jsonl"):
        read_ledger(tmp_path)
    (tmp_path / "ledger.jsonl").write_text('{"record": "row"}\n')
    with pytest.raises(ReplayError, match="not valid"):
        read_ledger(tmp_path)


def test_a_run_with_nothing_accepted_replays_to_no_change(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"m.py": "x = 1\n"})
    ledger = Ledger(RunMeta("r", "modernize", "codemod", None, "HEAD", policy=POLICY))
    ledger.append(LedgerRow.for_skipped_file("r", "m.py", "generated", "marked"))
    assert replay(repo, ledger).changes == {}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda span: None, "its row records no byte span"),
        (lambda span: replace(span, end_byte=10**6), "its byte span lies outside the file"),
        (lambda span: replace(span, encoding="utf-16"), "its bytes do not decode as utf-16"),
    ],
)
def test_a_row_the_replay_cannot_rebuild_names_why(
    tmp_path: Path, change: Callable[[ChunkSpan], ChunkSpan | None], why: str
) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    ledger, _ = _run(repo, tmp_path / "run")
    broken = Ledger(ledger.meta)
    for row in ledger.rows:
        accepted = row.new_text is not None and row.span is not None
        broken.append(replace(row, span=change(row.span)) if accepted else row)
    with pytest.raises(
        ReplayError, match=f"cannot be replayed \\({why}\\); this is a codemill bug"
    ):
        replay(repo, broken)


def test_a_ledger_with_no_policy_is_not_proven_blindly(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    ledger, _ = _run(repo, tmp_path / "run")
    ledger.meta.policy = None
    with pytest.raises(ReplayError, match="the run recorded no policy to prove it under"):
        replay(repo, ledger)


def test_the_proof_is_made_under_the_policy_the_run_recorded(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    ledger, changes = _run(repo, tmp_path / "run")  # under Python 3.11: `str | None` is fine
    assert b"str | None" in changes["pkg/models.py"][1]
    assert replay(repo, ledger).changes == changes
    ledger.meta.policy = Policy(POLICY.allowances, (3, 8))
    with pytest.raises(ReplayError, match=r"pkg/models.py: .* fails its proof again.*3\.8"):
        replay(repo, ledger)
