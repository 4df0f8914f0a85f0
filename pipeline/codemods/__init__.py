"""codemill's own libcst codemods, one command per module (as in `libcst/codemod/commands/`).

Each module holds one `VisitorBasedCodemodCommand` and its `TRIGGER`, the cheap text test a module must pass
before the command can change it. Recipes name them as `pipeline.codemods.<Command>`. May import libcst only.
"""

from __future__ import annotations

from pipeline.codemods.optional_to_or import ConvertOptionalToOrCommand
from pipeline.codemods.remove_object_base import RemoveObjectBaseCommand
from pipeline.codemods.rename_typing_aliases import RenameTypingAliasesCommand
from pipeline.codemods.zero_arg_super import ZeroArgSuperCommand

__all__ = [
    "ConvertOptionalToOrCommand",
    "RemoveObjectBaseCommand",
    "RenameTypingAliasesCommand",
    "ZeroArgSuperCommand",
]
