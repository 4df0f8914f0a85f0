"""A recipe's codemod is proven a libcst codemod from its source before its module is imported: a module
that is not a codemod never runs (issue 18, item 13), a real one outside codemill still loads."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.recipes.codemod_check import derives_from_codemod, find_spec_unimported
from pipeline.recipes.loading import resolve_codemod

CODEMOD = """\
import libcst as cst
from libcst.codemod import VisitorBasedCodemodCommand


class RenameFoo(VisitorBasedCodemodCommand):
    DESCRIPTION = "foo -> bar"

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        return updated_node.with_changes(value="bar") if updated_node.value == "foo" else updated_node
"""


def side_effect(marker: Path) -> str:
    """A module body that leaves `marker` behind when it runs."""
    return f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path for the test's own modules, forgotten again afterwards."""
    root = tmp_path / "mods"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    before = set(sys.modules)
    yield root
    for name in set(sys.modules) - before:
        if name.startswith("cm_"):
            del sys.modules[name]


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")


def test_the_zen_of_python_is_refused_without_being_imported(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert "this" not in sys.modules
    with pytest.raises(ValueError, match=r"^codemod 'this\.Zen': the source of this defines no"):
        resolve_codemod("this.Zen")
    assert "this" not in sys.modules
    assert "Beautiful is better" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("files", "dotted"),
    [
        ({"cm_loud.py": "{effect}class Command:\n    pass\n"}, "cm_loud.Command"),
        ({"cm_pkg/__init__.py": "{effect}", "cm_pkg/sub.py": "X = 1\n"}, "cm_pkg.sub.X"),
        ({"cm_fake.py": "{effect}from json import JSONDecoder as Command\n"}, "cm_fake.Command"),
        ({"cm_cycle.py": "{effect}class A(B):\n    pass\nclass B(A):\n    pass\n"}, "cm_cycle.A"),
    ],
    ids=["module-not-a-codemod", "package-above-it", "imported-non-codemod", "cycle"],
)
def test_a_module_that_is_not_a_codemod_never_runs(
    modules: Path, files: dict[str, str], dotted: str
) -> None:
    marker = modules.parent / "ran.txt"
    write(
        modules,
        {name: text.replace("{effect}", side_effect(marker)) for name, text in files.items()},
    )
    with pytest.raises(ValueError, match=r"^codemod '[\w.]+': the source of [\w.]+ defines no"):
        resolve_codemod(dotted)
    assert not marker.exists()
    assert not [name for name in sys.modules if name.startswith("cm_")]


def test_a_missing_module_or_a_bad_name_is_named(modules: Path) -> None:
    with pytest.raises(ValueError, match=r"cannot find module cm_none\.sub$"):
        resolve_codemod("cm_none.sub.Command")
    assert find_spec_unimported("json.nope") is None
    for dotted in ("cm_x..Command", ".cm_x.Command", "cm x.Command", "cm_x.Command()"):
        with pytest.raises(ValueError, match=r"is not a dotted module\.Class name$"):
            resolve_codemod(dotted)
    (modules / "cm_deep.py").write_text("x = " + "(" * 200_000 + ")" * 200_000 + "\n")
    with pytest.raises(ValueError, match=r"the source of cm_deep defines no libcst codemod"):
        resolve_codemod("cm_deep.Command")


@pytest.mark.parametrize(
    ("files", "dotted"),
    [
        ({"cm_direct.py": CODEMOD}, "cm_direct.RenameFoo"),
        (  # through a relative import, a local base class and a package re-export
            {
                "cm_tools/__init__.py": "from .rename import RenameFoo\n",
                "cm_tools/base.py": CODEMOD.replace("RenameFoo", "Base"),
                "cm_tools/rename.py": "from . import base\n\n\nclass RenameFoo(base.Base):\n    pass\n",
            },
            "cm_tools.RenameFoo",
        ),
        (  # through a module alias and an attribute chain
            {
                "cm_alias.py": CODEMOD.replace(
                    "class RenameFoo(VisitorBasedCodemodCommand)",
                    "import libcst.codemod as cm\n\n\nclass Mid(cm.VisitorBasedCodemodCommand):\n"
                    "    pass\n\n\nclass RenameFoo(Mid)",
                )
            },
            "cm_alias.RenameFoo",
        ),
        (
            {"cm_star.py": "from libcst.codemod import *\n\n\nclass C(Codemod):\n    pass\n"},
            "cm_star.C",
        ),
    ],
    ids=["direct", "relative-and-reexported", "alias-chain", "star-import"],
)
def test_a_real_codemod_outside_codemill_still_loads(
    modules: Path, files: dict[str, str], dotted: str
) -> None:
    write(modules, files)
    module, _, name = dotted.rpartition(".")
    assert derives_from_codemod(module, name)
    if (
        name != "C"
    ):  # `Codemod` itself is abstract: proven a codemod, refused only for its arguments
        assert resolve_codemod(dotted).__name__ == name


def test_codemill_and_libcst_codemods_are_trusted_and_imported_directly() -> None:
    assert (
        resolve_codemod("pipeline.codemods.ZeroArgSuperCommand").__name__ == "ZeroArgSuperCommand"
    )
    dotted = "libcst.codemod.commands.convert_union_to_or.ConvertUnionToOrCommand"
    assert resolve_codemod(dotted).__name__ == "ConvertUnionToOrCommand"
