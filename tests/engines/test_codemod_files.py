"""The codemod engine per file, as a worker runs it: the prefilter (a file no trigger matches is never
parsed), one parse per file for the whole stage, one scope analysis per distinct tree (with libcst's own
result), and the same ledger and patch with any number of jobs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import libcst as cst
import pytest
from libcst.codemod import CodemodContext, SkipFile, VisitorBasedCodemodCommand
from libcst.metadata.scope_provider import ScopeVisitor

from pipeline.engines.codemod_files import CodemodFileEngine
from pipeline.engines.codemod_module import CodemodEngine, module_names
from pipeline.engines.proposal import Proposal
from pipeline.judge.policy import Allowances, Policy
from pipeline.judge.verdicts import Status
from pipeline.recipes.loading import load_recipe, resolve_codemod
from pipeline.records.ledger import LedgerRow
from pipeline.run.steps import assemble, ledger_row, plan_run, refactor_codemod
from pipeline.source.files import SkippedFile, SkipReason, SourceFile
from pipeline.source.splicing import splice
from tests.support.gitrepo import make_repo

MODERNIZE = load_recipe("modernize")
PERCENT = replace(
    MODERNIZE,
    codemods=(
        "libcst.codemod.commands.convert_percent_format_to_fstring.ConvertPercentFormatStringCommand",
    ),
)
LEGACY = Path(__file__).resolve().parents[2] / "examples" / "legacy_app"
CHANGED = 'def f(x):\n    return "x=%s" % x\n\n\nclass C:\n    pass\n'
PLAIN = "def f(x):\n    return x\n\n\nclass C:\n    pass\n"


def source(path: str, text: str) -> SourceFile:
    return SourceFile(path, text.encode(), text)


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text libcst.parse_module is called with, in this process."""
    seen: list[str] = []
    real: Callable[..., cst.Module] = cst.parse_module

    def counting(text: str, *args: object, **kwargs: object) -> cst.Module:
        seen.append(text)
        return real(text, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cst, "parse_module", counting)
    return seen


def engine(recipe: object = PERCENT, **kwargs: object) -> CodemodFileEngine:
    return CodemodFileEngine(recipe, Policy(), budget=2000, **kwargs)  # type: ignore[arg-type]


def test_a_file_no_trigger_matches_is_never_parsed_and_still_recorded(parses: list[str]) -> None:
    outcome = engine().refactor_source(source("plain.py", PLAIN))

    assert parses == []
    assert outcome.proposals == ()
    assert outcome.skipped is not None and outcome.skipped.reason is SkipReason.NO_TRIGGER
    assert "recipe modernize" in outcome.skipped.detail


def test_without_the_prefilter_the_same_file_is_parsed_and_every_chunk_recorded(
    parses: list[str],
) -> None:
    outcome = engine(prefilter=False).refactor_source(source("plain.py", PLAIN))

    assert parses == [PLAIN]
    assert outcome.skipped is None
    assert [(p.chunk.name, p.verdict.status) for p in outcome.proposals] == [
        ("f", Status.UNCHANGED),
        ("C", Status.UNCHANGED),
    ]


def test_a_changed_file_is_parsed_once_for_chunks_codemods_and_new_chunks(
    parses: list[str],
) -> None:
    outcome = engine().refactor_source(source("m.py", CHANGED))

    assert parses.count(CHANGED) == 1  # validation parses the changed chunk only, never the file
    assert all(len(text) < len(CHANGED) for text in parses if text != CHANGED)
    [f, c] = outcome.proposals
    assert (f.verdict.status, f.new_text) == (Status.ACCEPTED, 'def f(x):\n    return f"x={x}"\n')
    assert c.verdict.status is Status.UNCHANGED


def test_a_file_that_does_not_parse_is_left_out_with_its_line() -> None:
    outcome = engine().refactor_source(source("bad.py", "x = '%s' %\n"))

    assert outcome.skipped is not None and outcome.skipped.reason is SkipReason.PARSE_ERROR
    assert "line 1" in outcome.skipped.detail


TRICKY = {  # what shared metadata could get wrong: helpers after a pass that changed nothing, chains
    "unused.py": "from typing import List, Optional, Union\n\n\ndef f(x):\n    return x\n",
    "chain.py": (
        "from typing import Dict, List, Optional, Union\n\n\n"
        "def f(x: Optional[List[int]], y: Union[Dict[str, int], None]) -> Optional[str]:\n"
        "    return 'v%s' % x + '{}'.format(y)\n\n\n"
        "class C(object):\n    def m(self):\n        return super(C, self).m()\n"
    ),
    "pkg/__init__.py": "from typing import Optional\nX: Optional[int] = None\nprint('%d' % 1)\n",
}


def libcst_chain(codemods: Sequence[str], path: str, text: str) -> str:
    """The module after each codemod in turn, run by libcst itself (its copies, its metadata)."""
    module, package = module_names(path)
    tree = cst.parse_module(text)
    for dotted in codemods:
        context = CodemodContext(filename=path, full_module_name=module, full_package_name=package)
        try:
            tree = resolve_codemod(dotted)(context).transform_module(tree)
        except SkipFile:
            continue
    return tree.code


def legacy(relpath: str) -> tuple[str, str]:
    return relpath, (LEGACY / relpath).read_text(encoding="utf-8")


FAST_SAMPLES = list(TRICKY.items())  # chain.py: all eight codemods, each changing something
ALL_LEGACY = [legacy(str(p.relative_to(LEGACY))) for p in sorted(LEGACY.rglob("*.py"))]


def assert_libcsts_own_result(path: str, text: str) -> None:
    expected = libcst_chain(MODERNIZE.codemods, path, text)
    for prefilter in (True, False):  # False: every codemod runs, triggers or not
        tree = cst.parse_module(text)
        new_tree, new_text = CodemodEngine(MODERNIZE, prefilter=prefilter).refactor_tree(
            path, tree, text
        )
        assert new_text == expected, (path, prefilter)
        assert new_tree.code == new_text
        assert tree.code == text  # the parsed tree itself is left as it was


@pytest.mark.parametrize(("path", "text"), FAST_SAMPLES, ids=lambda v: v[:24])
def test_shared_metadata_gives_libcsts_own_result(path: str, text: str) -> None:
    assert_libcsts_own_result(path, text)


@pytest.mark.slow
@pytest.mark.parametrize(("path", "text"), ALL_LEGACY, ids=lambda v: v[:40])
def test_shared_metadata_gives_libcsts_own_result_on_the_example(path: str, text: str) -> None:
    assert_libcsts_own_result(path, text)


def test_the_analysis_runs_once_per_distinct_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    """Codemods and helpers that change nothing reuse the tree's metadata (the cost of a codemod)."""
    computed: list[ScopeVisitor] = []
    real = ScopeVisitor.infer_accesses

    def counting(self: ScopeVisitor) -> None:
        computed.append(self)
        real(self)

    monkeypatch.setattr(ScopeVisitor, "infer_accesses", counting)
    text = TRICKY["unused.py"]
    _, new_text = CodemodEngine(MODERNIZE, prefilter=False).refactor_tree(
        "unused.py", cst.parse_module(text), text
    )
    assert new_text == "\n\ndef f(x):\n    return x\n"  # the unused aliases went, as libcst does
    # one tree: no codemod changed it, and the imports three of them found unneeded (the typing
    # aliases, Union, Optional) went in one removal pass at the end; libcst's own way analyses
    # again for each of the eight codemods and each of the three removal helpers
    assert len(computed) == 1


def _run(repo: Path, jobs: int) -> tuple[list[dict[str, object]], dict[str, tuple[bytes, bytes]]]:
    from pipeline.config import RunConfig

    plan = plan_run(RunConfig(repo=repo, jobs=jobs), ["."], chunk=False)
    proposals: list[Proposal] = []
    rows: list[LedgerRow] = []

    def record(proposal: Proposal) -> None:
        proposals.append(proposal)
        rows.append(ledger_row("r", proposal, engine="codemod", concurrency_limit=None))

    def left_out(item: SkippedFile) -> None:
        rows.append(LedgerRow.for_skipped_file("r", item.path, str(item.reason), item.detail))

    recipe = replace(
        PERCENT, codemods=(*PERCENT.codemods, "pipeline.codemods.RemoveObjectBaseCommand")
    )
    refactor_codemod(engine(recipe), plan.files, record, left_out, jobs=jobs)
    shown = [{k: v for k, v in r.to_json().items() if k != "latency_s"} for r in rows]
    return shown, assemble(plan.files, proposals)


FILES = {
    "a.py": CHANGED,
    "b.py": PLAIN,
    "pkg/c.py": "class D(object):\n    def m(self):\n        return 'c%d' % 1\n",
    "pkg/broken.py": "def f(:\n    return '%s' % 1\n",
    "pkg/d.py": 'X = "%s items" % 5\nY = 2\n',
}


def test_the_ledger_and_the_changes_are_the_same_with_one_job_or_three(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", FILES)

    one, three = _run(repo, 1), _run(repo, 3)

    assert one == three
    rows, changes = one
    assert sorted(changes) == ["a.py", "pkg/c.py", "pkg/d.py"]
    assert {r["path"]: r["reason"] for r in rows if r["kind"] == "file"} == {
        "b.py": "no-trigger",
        "pkg/broken.py": "parse-error",
    }


class RepeatLastStatement(VisitorBasedCodemodCommand):
    """A codemod that puts one node object in two places, as libcst allows a transform to do."""

    DESCRIPTION = "Repeat the module's last statement (the same node twice)."

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        return updated_node.with_changes(body=[*updated_node.body, updated_node.body[-1]])


REPEAT = f"{__name__}.RepeatLastStatement"
TYPING = "libcst.codemod.commands.rename_typing_generic_aliases.RenameTypingGenericAliases"


@pytest.mark.parametrize("codemods", [(REPEAT,), (REPEAT, TYPING)], ids=["last", "then-scope"])
def test_a_tree_holding_a_node_twice_is_recut_and_analysed_right(codemods: tuple[str, ...]) -> None:
    """The last codemod's tree is not copied; one a later codemod analyses is (libcst's own result)."""
    text = "from typing import List\n\n\ndef f(x: List[int]):\n    return x\n\n\nY = 1\n"
    recipe = replace(MODERNIZE, codemods=codemods)
    expected = libcst_chain(codemods, "m.py", text)
    assert expected.count("Y = 1\n") == 2
    policy = Policy(Allowances(annotations=True, signatures=True))
    engine = CodemodFileEngine(recipe, policy, budget=2000)
    outcome = engine.refactor_source(source("m.py", text))
    changed = [p for p in outcome.proposals if p.verdict.status is not Status.UNCHANGED]
    assert changed and all(p.verdict.status is Status.ACCEPTED for p in changed), changed
    assert (
        splice(text.encode(), [(p.chunk, p.new_text or "") for p in changed]) == expected.encode()
    )


def test_chunks_that_do_not_rebuild_the_codemods_module_are_all_rejected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing is recorded of a file whose chunk pairs would splice into another module than the
    codemods wrote: here the mapping loses the pair of the one changed chunk."""
    import pipeline.engines.codemod_files as codemod_files

    real = codemod_files.proposals_for_chunks

    def losing(*args: object, **kwargs: object) -> list[tuple[object, str]]:
        pairs = real(*args, **kwargs)  # type: ignore[arg-type]
        return [(chunk, chunk.text) for chunk, _ in pairs]

    monkeypatch.setattr(codemod_files, "proposals_for_chunks", losing)
    outcome = engine().refactor_source(source("a.py", CHANGED))
    assert outcome.proposals
    for proposal in outcome.proposals:
        assert proposal.verdict.status is Status.REJECTED
        assert "do not reproduce the codemods' module" in (proposal.verdict.detail or "")


def test_a_chunk_that_mixes_newlines_is_recorded_with_the_splices_own_newlines() -> None:
    """The codemod joins lines of a chunk whose newlines mix: its text is recorded, and only the
    newlines the splice writes there may differ from the codemod's."""
    data = (
        b"from typing import Union\r\n\r\ndef f(x: Union[\r\n    int,\n    str]):\n    return x\r\n"
    )
    recipe = replace(
        MODERNIZE, codemods=("libcst.codemod.commands.convert_union_to_or.ConvertUnionToOrCommand",)
    )
    policy = Policy(Allowances(annotations=True, signatures=True, imports=True))
    outcome = CodemodFileEngine(recipe, policy, budget=2000).refactor_source(
        SourceFile("m.py", data, data.decode())
    )
    changed = [p for p in outcome.proposals if p.verdict.status is not Status.UNCHANGED]
    assert changed and all(p.verdict.status is Status.ACCEPTED for p in changed), changed
    after = splice(data, [(p.chunk, p.new_text or "") for p in changed])
    expected = libcst_chain(recipe.codemods, "m.py", data.decode()).encode()
    assert after != data and after.replace(b"\r\n", b"\n") == expected.replace(b"\r\n", b"\n")
