"""The offline engine: codemods on real legacy code, failures that change nothing, chunk mapping."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import pytest

from pipeline.engines.codemod_module import (
    CodemodEngine,
    CodemodError,
    module_names,
    proposals_for_chunks,
)
from pipeline.recipes.loading import load_recipe
from pipeline.source.chunking import Chunk, chunk_module
from pipeline.source.splicing import splice

LEGACY = Path(__file__).resolve().parents[2] / "examples" / "legacy_app"
SOURCES = sorted(p.relative_to(LEGACY).as_posix() for p in LEGACY.rglob("*.py"))
MODERNIZE = load_recipe("modernize")


def single(dotted: str) -> CodemodEngine:
    return CodemodEngine(replace(MODERNIZE, codemods=(dotted,)))


@pytest.mark.parametrize("dotted", MODERNIZE.codemods)
def test_each_modernize_codemod_changes_real_legacy_code(dotted: str) -> None:
    engine = single(dotted)
    changed = 0
    for rel in SOURCES:
        old = (LEGACY / rel).read_text(encoding="utf-8")
        new = engine.refactor_file(rel, old)
        compile(new, rel, "exec")  # parses and compiles
        changed += new != old
    assert changed >= 1, f"{dotted} changed nothing in legacy_app"


@pytest.mark.slow  # runs the example's own test suite in a subprocess
def test_modernize_keeps_the_example_tests_passing(tmp_path: Path) -> None:
    copy = tmp_path / "legacy_app"
    shutil.copytree(LEGACY, copy, ignore=shutil.ignore_patterns("__pycache__"))
    engine = CodemodEngine(MODERNIZE)
    changed = []
    for rel in SOURCES:
        old = (copy / rel).read_text(encoding="utf-8")
        new = engine.refactor_file(rel, old)
        if new != old:
            (copy / rel).write_text(new, encoding="utf-8")
            changed.append(rel)
    assert "legacy_app/orders.py" in changed and len(changed) >= 5
    orders = (copy / "legacy_app/orders.py").read_text(encoding="utf-8")
    assert "super().__init__(number, customer, region)" in orders
    assert "class Order:" in orders and "Number = int | Decimal" in orders
    assert "Optional" not in orders and '"quantity must be positive, got %s"' not in orders
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(copy)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "26 passed" in result.stdout


def test_our_codemods_leave_unsafe_cases_alone() -> None:
    source = (
        "from typing import Optional\n"
        "object = type\n"  # a rebound `object` is not the builtin
        "class A(object):\n"
        "    def f(self, other: Optional['A'] = None) -> Optional[int]:\n"
        "        g = lambda: super(A, self).f()\n"
        "        return [super(A, self).f() for _ in range(1)][0]\n"
        "    def h(this):\n"
        "        return super(A, this).h()\n"
        "class B(A):\n"
        "    def f(self):\n"
        "        return super(A, self).f()\n"  # skips A on purpose: not the same as super()
    )
    engine = CodemodEngine(
        replace(
            MODERNIZE,
            codemods=(
                "pipeline.codemods.ConvertOptionalToOrCommand",
                "pipeline.codemods.RemoveObjectBaseCommand",
                "pipeline.codemods.ZeroArgSuperCommand",
            ),
        )
    )
    new = engine.refactor_file("m.py", source)
    assert "Optional['A']" in new and "-> int | None" in new
    assert "class A(object):" in new
    assert "lambda: super(A, self).f()" in new
    assert "[super(A, self).f() for _ in range(1)]" in new
    assert "return super().h()" in new  # any name for the first parameter
    assert "return super(A, self).f()\n" in new.split("class B")[1]


def test_one_pass_alias_rename_matches_libcst_six_pass_one() -> None:
    source = (
        "from typing import Dict, List, Optional\n"
        "def f(a: List[int]) -> Dict[str, Optional[List[str]]]:\n"
        "    return {str(len(a)): []}\n"
    )
    ours = single("pipeline.codemods.RenameTypingAliasesCommand")
    libcst_own = single(
        "libcst.codemod.commands.rename_typing_generic_aliases.RenameTypingGenericAliases"
    )
    assert ours.refactor_file("m.py", source) == libcst_own.refactor_file("m.py", source)
    assert ours.refactor_file("m.py", source) == (
        "from typing import Optional\n"
        "def f(a: list[int]) -> dict[str, Optional[list[str]]]:\n"
        "    return {str(len(a)): []}\n"
    )
    # `typing.Tuple` becomes `tuple` (libcst's own writes `builtins.tuple` and imports builtins)
    dotted = "import typing\nT = typing.Tuple[int, ...]\n"
    assert ours.refactor_file("m.py", dotted) == "import typing\nT = tuple[int, ...]\n"


def test_object_base_with_keywords_and_other_bases() -> None:
    engine = single("pipeline.codemods.RemoveObjectBaseCommand")
    new = engine.refactor_file(
        "m.py", "class M(object, metaclass=type): pass\nclass N(object,): pass\n"
    )
    assert new == "class M(metaclass=type): pass\nclass N: pass\n"


def test_codemod_failure_names_it_and_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "mod.py"
    original = 'from .sibling import thing\nprint("%s!" % thing)\n'
    target.write_text(original, encoding="utf-8")
    engine = CodemodEngine(
        replace(
            MODERNIZE,
            codemods=(
                "libcst.codemod.commands.convert_percent_format_to_fstring."
                "ConvertPercentFormatStringCommand",
                "libcst.codemod.commands.remove_unused_imports.RemoveUnusedImportsCommand",
            ),
        )
    )
    # a top-level module has no package, so the relative import cannot be resolved
    with pytest.raises(CodemodError) as info:
        new = engine.refactor_file("mod.py", target.read_text(encoding="utf-8"))
        target.write_text(new, encoding="utf-8")
    assert info.value.codemod.endswith("RemoveUnusedImportsCommand")
    assert "mod.py" in str(info.value) and "absolute module name" in str(info.value)
    assert target.read_text(encoding="utf-8") == original
    # inside a package the same file is fine, and the first codemod's change is kept
    assert 'f"{thing}!"' in engine.refactor_file("pkg/mod.py", original)


def test_unparsable_file_is_a_codemod_error() -> None:
    with pytest.raises(CodemodError, match=r"codemod \(parse\) failed on bad\.py"):
        CodemodEngine(MODERNIZE).refactor_file("bad.py", "def f(:\n")


def test_module_names() -> None:
    assert module_names("src/pkg/mod.py") == ("src.pkg.mod", "src.pkg")
    assert module_names("pkg/__init__.py") == ("pkg", "pkg")
    assert module_names("top.py") == ("top", "")


# --- mapping the codemodded module back to chunks (real chunk_module and splice) ---


def mapped(old: str, new: str, budget: int = 2000, path: str = "m.py") -> list[tuple[Chunk, str]]:
    """Pairs for `new`, checked the way a run uses them: spliced into the old bytes."""
    chunks = chunk_module(path, old, budget)
    pairs = proposals_for_chunks(chunks, new, old_text=old, budget=budget)
    assert splice(old.encode(), pairs) == new.encode()
    covered = [c for c, _ in pairs]
    assert all(a.end_byte <= b.start_byte for a, b in pairwise(covered))
    return pairs


@pytest.mark.parametrize("budget", [2000, 300])
def test_proposals_pair_every_chunk_of_a_real_module(budget: int) -> None:
    rel = "legacy_app/orders.py"
    old = (LEGACY / rel).read_text(encoding="utf-8")
    new = CodemodEngine(MODERNIZE).refactor_file(rel, old)
    chunks = chunk_module(rel, old, budget)
    pairs = mapped(old, new, budget, rel)
    changed = {c.name for c, text in pairs if text != c.text}
    assert changed
    if budget == 300:  # classes are split: `class Order(object):` is a gap, given to its next chunk
        assert "Order.cancel" in changed and "RushOrder" in changed
        assert "Order.add" not in changed
        header = [c for c, text in pairs if "class Order(object):" in c.text]
        assert len(header) == 1 and header[0].indent == "" and header[0].kind == "statements"
    untouched = [c for c, text in pairs if text == c.text]
    assert all(c in chunks for c in untouched)  # nothing unchanged is re-cut
    same = proposals_for_chunks(chunks, old, old_text=old, budget=budget)
    assert same == [(c, c.text) for c in chunks]


def test_removed_definition_merges_with_a_neighbour() -> None:
    old = "import os\n\n\ndef a():\n    return 1\n\n\ndef b():\n    return 2\n\n\ndef c():\n    return 3\n"
    new = "import os\n\n\ndef a():\n    return 1\n\n\ndef c():\n    return 30\n"
    pairs = mapped(old, new, 100)
    merged = [c for c, _ in pairs if ".." in c.name]
    assert len(merged) == 1 and merged[0].kind == "statements"
    assert "def b" in merged[0].text
    assert pairs[0] == (chunk_module("m.py", old, 100)[0], "import os\n")


def test_added_definition_is_recorded() -> None:
    old = "def a():\n    return 1\n\n\ndef c():\n    return 3\n"
    new = "def a():\n    return 1\n\n\ndef b():\n    return 2\n\n\ndef c():\n    return 3\n"
    pairs = mapped(old, new, 100)
    assert any("def b" in text for _, text in pairs)


def test_change_between_chunks_is_given_to_the_next_chunk() -> None:
    old = "def a():\n    return 1\n\n# old note\n\ndef b():\n    return 2\n"
    new = "def a():\n    return 1\n\n# new note\n\ndef b():\n    return 2\n"
    pairs = mapped(old, new, 100)
    assert pairs[0][1] == pairs[0][0].text  # `a` unchanged
    assert "# new note" in pairs[-1][1] or "# new note" in pairs[0][1]


def test_change_in_the_file_head_is_recorded() -> None:
    old = "#!/usr/bin/env python\n\nx = 1\n"
    new = "#!/usr/bin/python3\n\nx = 1\n"
    ((chunk, text),) = mapped(old, new, 100)
    assert chunk.start_byte == 0 and text.startswith("#!/usr/bin/python3")
