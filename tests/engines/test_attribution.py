"""Each accepted chunk of a codemod run names the codemods that made its change, and no other: traced from
the code after each codemod back to the original lines, through the ledger to report.html."""

from __future__ import annotations

import json

from pipeline.engines.attribution import codemods_within, touched_lines
from pipeline.engines.codemod_files import CodemodFileEngine
from pipeline.judge.policy import Policy
from pipeline.judge.verdicts import Status
from pipeline.recipes.loading import load_recipe
from pipeline.records.ledger import LedgerRow
from pipeline.source.files import SourceFile

OPTIONAL = "pipeline.codemods.ConvertOptionalToOrCommand"
SUPER = "pipeline.codemods.ZeroArgSuperCommand"
OBJECT = "pipeline.codemods.RemoveObjectBaseCommand"
PERCENT = (
    "libcst.codemod.commands.convert_percent_format_to_fstring.ConvertPercentFormatStringCommand"
)
REMOVE_IMPORTS = "RemoveImportsVisitor"
TEXT = """from typing import Optional


def lookup(key: Optional[str]) -> Optional[int]:
    return None


def plain(x):
    return x


def label(x):
    return "item %s" % x


class Shelf(object):
    def __init__(self, name):
        super(Shelf, self).__init__()
        self.name = name
"""


def test_each_accepted_chunk_names_the_codemods_that_changed_it() -> None:
    recipe = load_recipe("modernize")
    engine = CodemodFileEngine(recipe, Policy(recipe.allowances, (3, 11)), budget=2000)
    outcome = engine.refactor_source(SourceFile("m.py", TEXT.encode(), TEXT))
    made = {p.chunk.name: (p.verdict.status, p.codemods) for p in outcome.proposals}
    assert made == {
        # the import the rewrite left unused goes with it: one chunk, both codemods, in their order
        "<statements 1-1>..lookup": (Status.ACCEPTED, [OPTIONAL, REMOVE_IMPORTS]),
        "plain": (Status.UNCHANGED, []),
        "label": (Status.ACCEPTED, [PERCENT]),
        "Shelf": (Status.ACCEPTED, [OBJECT, SUPER]),
    }


def test_lines_are_traced_through_earlier_codemods_that_moved_them() -> None:
    original = "a = 1\nb = 2\nc = 3\n"
    grown = (
        "a = 1\nx = 0\ny = 0\nb = 2\nc = 3\n"  # the first codemod inserts two lines after line 1
    )
    edited = "a = 1\nx = 0\ny = 0\nb = 2\nc = 4\n"  # the second changes what was line 3
    touched = touched_lines(original, [("first", grown), ("second", edited)])
    assert touched == {"first": {1}, "second": {3}}
    assert codemods_within(touched, 3, 3) == ["second"]
    assert codemods_within(touched, 1, 2) == ["first"]
    assert codemods_within(touched, 2, 2) == []
    shrunk = touched_lines("a\nb\nc\nd\n", [("drop", "a\nd\n"), ("tail", "a\nD\n")])
    assert shrunk == {"drop": {2, 3}, "tail": {4}}


def test_the_ledger_keeps_the_codemods_and_reads_rows_written_before_it_did() -> None:
    row = LedgerRow("r", "m.py", "f", "function", 1, 2, "d", Status.ACCEPTED, codemods=[OPTIONAL])
    data = json.loads(json.dumps(row.to_json()))
    assert LedgerRow.from_json(data).codemods == [OPTIONAL]
    del data["codemods"]
    assert LedgerRow.from_json(data).codemods == []
