"""`Optional[X]` -> `X | None`.

TRIGGER is the cheap text test a module must pass before this codemod can change it.
"""

from __future__ import annotations

import re

import libcst as cst
import libcst.matchers as m
from libcst.codemod import VisitorBasedCodemodCommand
from libcst.codemod.visitors import RemoveImportsVisitor
from libcst.metadata import QualifiedName, QualifiedNameProvider, QualifiedNameSource

TRIGGER = re.compile(r"\bOptional\b")


class ConvertOptionalToOrCommand(VisitorBasedCodemodCommand):
    """Rewrite `Optional[X]` as `X | None` (3.10+); string forward references stay as they are."""

    DESCRIPTION: str = "Convert `Optional[X]` to `X | None` in Python 3.10+"
    METADATA_DEPENDENCIES = (QualifiedNameProvider,)

    def leave_Subscript(
        self, original_node: cst.Subscript, updated_node: cst.Subscript
    ) -> cst.BaseExpression:
        name = QualifiedName(name="typing.Optional", source=QualifiedNameSource.IMPORT)
        if not QualifiedNameProvider.has_name(self, original_node, name):
            return updated_node
        if len(updated_node.slice) != 1:
            return updated_node
        index = updated_node.slice[0].slice
        if not isinstance(index, cst.Index) or m.findall(index.value, m.SimpleString()):
            return (
                updated_node  # `"Foo" | None` fails at runtime: keep the forward reference as it is
            )
        return cst.BinaryOperation(left=index.value, operator=cst.BitOr(), right=cst.Name("None"))

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        RemoveImportsVisitor.remove_unused_import(self.context, module="typing", obj="Optional")
        return updated_node
