"""Each accepted chunk's evidence from what the gates saw (pipeline.gates.evidence), and --require-evidence's
cut: levels from a coverage map's contexts and the import check, the file rebuilt without the held chunks."""

from __future__ import annotations

from pipeline.engines.proposal import Proposal
from pipeline.evidence.coverage_map import CoverageMap
from pipeline.evidence.levels import Evidence, Level
from pipeline.gates.evidence import Proof, assign_evidence, hold_unproven
from pipeline.judge.verdicts import Reason, Status, Verdict
from pipeline.source.chunking import chunk_module
from pipeline.source.splicing import splice

BASE = "def a(x):\n    return x + 1\n\n\ndef b(x):\n    return x - 1\n\n\nLIMIT = 3\n"


def accepted() -> tuple[list[Proposal], dict[str, tuple[bytes, bytes]]]:
    """a, b and the module-level statement, each rewritten; the file's change."""
    chunks = chunk_module("m.py", BASE)
    rewrites = {"a": ("x + 1", "1 + x"), "b": ("x - 1", "-1 + x"), "<statements 9-9>": ("3", "4")}
    proposals = []
    for chunk in chunks:
        old, new = rewrites[chunk.name]
        proposals.append(Proposal(chunk, Verdict.accepted(), chunk.text.replace(old, new)))
    after = splice(BASE.encode(), [(p.chunk, p.new_text or "") for p in proposals])
    return proposals, {"m.py": (BASE.encode(), after)}


def test_levels_come_from_the_contexts_that_ran_the_changed_lines() -> None:
    proposals, changes = accepted()
    ran = {2: frozenset({"t.py::test_a", "t.py::test_a2"}), 1: frozenset({""}), 9: frozenset({""})}
    assign_evidence(proposals, changes, Proof(CoverageMap({"m.py": ran})))

    by_name = {p.chunk.name: p.evidence for p in proposals}
    assert by_name["a"] == Evidence(Level.EXERCISED, 2, ("t.py::test_a", "t.py::test_a2"))
    assert by_name["b"] == Evidence(Level.STATIC, note="not exercised")
    assert by_name["<statements 9-9>"] == Evidence(
        Level.IMPORTED, note="not exercised"
    )  # ran at import only


def test_without_coverage_the_import_check_makes_a_change_imported() -> None:
    proposals, changes = accepted()
    assign_evidence(proposals, changes, Proof(None, {"m.py"}, "tests not measured"))
    assert {p.evidence for p in proposals} == {Evidence(Level.IMPORTED, note="tests not measured")}


def test_the_held_chunk_leaves_the_file_and_keeps_its_text() -> None:
    proposals, changes = accepted()
    ran = {2: frozenset({"t.py::test_a"}), 6: frozenset({"t.py::test_b"})}
    assign_evidence(proposals, changes, Proof(CoverageMap({"m.py": ran})))

    kept = hold_unproven(proposals, changes, Level.EXERCISED)

    held = [p for p in proposals if p.verdict.status is Status.REJECTED]
    assert [(p.chunk.name, p.verdict.reason) for p in held] == [
        ("<statements 9-9>", Reason.UNPROVEN)
    ]
    assert held[0].new_text == "LIMIT = 4\n"
    assert kept["m.py"][1] == BASE.replace("x + 1", "1 + x").replace("x - 1", "-1 + x").encode()
    assert (
        hold_unproven(proposals, kept, Level.SHADOWED) == {}
    )  # nothing reaches it: no change left
