"""The cheap text test before each known codemod: a module that fails it cannot be changed by that codemod,
so it is never parsed or scope-analysed for it."""

from __future__ import annotations

import re

from pipeline.codemods import (
    optional_to_or,
    remove_object_base,
    rename_typing_aliases,
    zero_arg_super,
)

_LIBCST = "libcst.codemod.commands."
_OURS = "pipeline.codemods."

TRIGGERS: dict[str, re.Pattern[str]] = {
    _LIBCST + "rename_typing_generic_aliases.RenameTypingGenericAliases": (
        rename_typing_aliases.TRIGGER
    ),
    _OURS + "RenameTypingAliasesCommand": rename_typing_aliases.TRIGGER,
    _LIBCST + "convert_union_to_or.ConvertUnionToOrCommand": re.compile(r"\bUnion\b"),
    _OURS + "ConvertOptionalToOrCommand": optional_to_or.TRIGGER,
    _LIBCST + "convert_percent_format_to_fstring.ConvertPercentFormatStringCommand": re.compile(
        "%"
    ),
    _LIBCST + "convert_format_to_fstring.ConvertFormatStringCommand": re.compile(r"\.format\b"),
    _LIBCST + "unnecessary_format_string.UnnecessaryFormatString": re.compile(
        r"(?i)\b(f|rf|fr)['\"]"
    ),
    _OURS + "RemoveObjectBaseCommand": remove_object_base.TRIGGER,
    _OURS + "ZeroArgSuperCommand": zero_arg_super.TRIGGER,
}


def trigger_for(codemod: str) -> re.Pattern[str] | None:
    """The trigger of a codemod by its dotted name; None when it has none (then it always runs)."""
    return TRIGGERS.get(codemod)
