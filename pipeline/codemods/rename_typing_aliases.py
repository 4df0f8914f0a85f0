"""`List[int]` -> `list[int]` and the other typing aliases of builtin generics, in one pass.

TRIGGER is the cheap text test a module must pass before this codemod can change it.
"""

from __future__ import annotations

import re
from typing import ClassVar

import libcst as cst
from libcst.codemod import VisitorBasedCodemodCommand
from libcst.codemod.visitors import RemoveImportsVisitor
from libcst.metadata import QualifiedNameProvider

TRIGGER = re.compile(r"\b(List|Tuple|Dict|FrozenSet|Set|Type)\b")


class RenameTypingAliasesCommand(VisitorBasedCodemodCommand):
    """Rewrite `typing.List`/`Dict`/`Set`/`FrozenSet`/`Tuple`/`Type` as builtins in one pass.

    libcst's RenameTypingGenericAliases does the same in six passes (one full scope analysis each).
    """

    DESCRIPTION: str = (
        "Rename typing aliases of builtin generics (3.9+): `List[int]` -> `list[int]`"
    )
    METADATA_DEPENDENCIES = (QualifiedNameProvider,)
    ALIASES: ClassVar[dict[str, str]] = {
        "List": "list",
        "Dict": "dict",
        "Set": "set",
        "FrozenSet": "frozenset",
        "Tuple": "tuple",
        "Type": "type",
    }

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False  # the names being imported are not uses

    def _builtin(self, node: cst.CSTNode) -> str | None:
        for qualified in self.get_metadata(QualifiedNameProvider, node, set()):
            module, _, name = qualified.name.rpartition(".")
            if module == "typing" and name in self.ALIASES:
                return self.ALIASES[name]
        return None

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        builtin = self._builtin(original_node)
        return updated_node.with_changes(value=builtin) if builtin else updated_node

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        builtin = self._builtin(original_node)
        return cst.Name(builtin) if builtin else updated_node

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        for alias in self.ALIASES:
            RemoveImportsVisitor.remove_unused_import(self.context, module="typing", obj=alias)
        return updated_node
