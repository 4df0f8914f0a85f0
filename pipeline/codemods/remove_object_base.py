"""`class C(object):` -> `class C:`.

TRIGGER is the cheap text test a module must pass before this codemod can change it.
"""

from __future__ import annotations

import re

import libcst as cst
from libcst.codemod import VisitorBasedCodemodCommand
from libcst.metadata import QualifiedName, QualifiedNameProvider, QualifiedNameSource

TRIGGER = re.compile(r"\bobject\b")


class RemoveObjectBaseCommand(VisitorBasedCodemodCommand):
    """Drop the redundant `object` base: `class C(object):` -> `class C:`."""

    DESCRIPTION: str = "Remove the explicit `object` base class"
    METADATA_DEPENDENCIES = (QualifiedNameProvider,)

    def leave_ClassDef(
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.ClassDef:
        builtin = QualifiedName(name="builtins.object", source=QualifiedNameSource.BUILTIN)
        kept = [
            arg
            for arg, orig in zip(updated_node.bases, original_node.bases, strict=True)
            if not QualifiedNameProvider.has_name(self, orig.value, builtin)
        ]
        if len(kept) == len(updated_node.bases):
            return updated_node
        if kept:
            kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            return updated_node.with_changes(bases=kept)
        if updated_node.keywords:
            keywords = list(updated_node.keywords)
            return updated_node.with_changes(bases=[], keywords=keywords)
        return updated_node.with_changes(
            bases=[], lpar=cst.MaybeSentinel.DEFAULT, rpar=cst.MaybeSentinel.DEFAULT
        )
