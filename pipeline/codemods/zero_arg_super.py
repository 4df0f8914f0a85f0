"""`super(C, self)` -> `super()` in a method of C.

TRIGGER is the cheap text test a module must pass before this codemod can change it.
"""

from __future__ import annotations

import re

import libcst as cst
import libcst.matchers as m
from libcst.codemod import CodemodContext, VisitorBasedCodemodCommand

TRIGGER = re.compile(r"\bsuper\s*\(\s*\w")


class ZeroArgSuperCommand(VisitorBasedCodemodCommand):
    """Rewrite `super(C, self)` as `super()` directly in a method of C, not in a nested scope."""

    DESCRIPTION: str = "Convert `super(Class, self)` to `super()`"
    _SCOPES = (
        cst.ClassDef,
        cst.FunctionDef,
        cst.Lambda,
        cst.ListComp,
        cst.SetComp,
        cst.DictComp,
        cst.GeneratorExp,
    )

    def __init__(self, context: CodemodContext) -> None:
        super().__init__(context)
        self._scopes: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, self._SCOPES):
            self._scopes.append(node)
        return super().on_visit(node)

    def on_leave(
        self, original_node: cst.CSTNodeT, updated_node: cst.CSTNodeT
    ) -> cst.CSTNodeT | cst.RemovalSentinel:
        result = super().on_leave(original_node, updated_node)
        if isinstance(original_node, self._SCOPES):
            self._scopes.pop()
        return result

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if not m.matches(updated_node, m.Call(func=m.Name("super"), args=[m.Arg(), m.Arg()])):
            return updated_node
        if len(self._scopes) < 2:
            return updated_node
        method, cls = self._scopes[-1], self._scopes[-2]
        if not (isinstance(method, cst.FunctionDef) and isinstance(cls, cst.ClassDef)):
            return updated_node
        params = [*method.params.posonly_params, *method.params.params]
        if not params:
            return updated_node
        first, second = (arg.value for arg in updated_node.args)
        if (
            m.matches(first, m.Name(cls.name.value))
            and m.matches(second, m.Name(params[0].name.value))
            and all(arg.keyword is None and arg.star == "" for arg in updated_node.args)
        ):
            return updated_node.with_changes(args=[])
        return updated_node
