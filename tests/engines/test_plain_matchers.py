"""plain_matchers: codemods without matcher decorators skip libcst's matcher bookkeeping; codemods with
them behave exactly as before; libcst is left as it was found, even after an error."""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m
import libcst.matchers._visitors as visitors
import pytest
from libcst.codemod import CodemodContext, VisitorBasedCodemodCommand

from pipeline.engines import plain_matchers as pm

SOURCE = "def f(x):\n    y = x\n    return [x for x in y]\n\n\ndef g(x):\n    return x\n"


class RenameXInF(VisitorBasedCodemodCommand):
    """x -> z, but only inside f: a decorator-gated leave function (the matcher machinery)."""

    @m.call_if_inside(m.FunctionDef(name=m.Name("f")))
    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        return updated_node.with_changes(value="z") if updated_node.value == "x" else updated_node


class RenameYToW(VisitorBasedCodemodCommand):
    """y -> w everywhere, with a constructed leave function (`@m.leave`)."""

    @m.leave(m.Name("y"))
    def rename(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        return updated_node.with_changes(value="w")


class Plain(VisitorBasedCodemodCommand):
    """return -> pass-through: a plain leave_ method, no decorator."""

    def leave_Return(self, original_node: cst.Return, updated_node: cst.Return) -> cst.Return:
        return updated_node.with_changes(whitespace_after_return=cst.SimpleWhitespace("  "))


def transformed(command: type[VisitorBasedCodemodCommand]) -> str:
    return command(CodemodContext()).transform_module(cst.parse_module(SOURCE)).code


@pytest.mark.parametrize("command", [RenameXInF, RenameYToW, Plain])
def test_every_codemod_gives_the_same_result_inside(
    command: type[VisitorBasedCodemodCommand],
) -> None:
    outside = transformed(command)
    assert outside != SOURCE  # each one changes something
    with pm.plain_matchers():
        assert transformed(command) == outside


def test_a_class_without_decorators_is_scanned_once(monkeypatch: pytest.MonkeyPatch) -> None:
    scans: list[type] = []
    real = visitors._gather_constructed_leave_funcs

    def counting(obj: object) -> object:
        scans.append(type(obj))
        return real(obj)

    monkeypatch.setattr(visitors, "_gather_constructed_leave_funcs", counting)
    monkeypatch.setattr(pm, "_found_nothing", {})
    with pm.plain_matchers():
        for _ in range(3):
            Plain(CodemodContext())
            RenameYToW(CodemodContext())
    assert scans.count(Plain) == 1
    assert scans.count(RenameYToW) == 3  # a leave decorator: scanned each time, as libcst does


def test_libcst_is_restored_after_the_block_even_on_an_error() -> None:
    before = [getattr(visitors, n) for n in pm._GATHERERS]
    methods = [kind.__dict__[n] for kind, _ in pm._KINDS for n in pm._METHODS]
    with pytest.raises(RuntimeError), pm.plain_matchers():
        assert visitors._gather_matchers is not before[2]
        raise RuntimeError("a codemod failed")
    assert [getattr(visitors, n) for n in pm._GATHERERS] == before
    assert [kind.__dict__[n] for kind, _ in pm._KINDS for n in pm._METHODS] == methods
    assert pm.SUPPORTED  # this libcst has what the patch needs (else it would silently do nothing)
