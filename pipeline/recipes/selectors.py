"""Recipe selectors: cheap checks (kind filter, regexes, named matchers) picking the chunks to send.

Each named matcher is a regex prefilter here and a libcst check in `pipeline.recipes.matchers`,
imported only once some chunk passes a prefilter: loading or listing recipes never imports libcst.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, get_args

from pipeline.source.kinds import ChunkKind

if TYPE_CHECKING:
    from pipeline.source.chunking import Chunk

TYPING_NAMES = ("List", "Dict", "Set", "FrozenSet", "Tuple", "Type", "Optional", "Union")


@dataclass(frozen=True)
class _Matcher:
    """A named libcst check's cheap regex, which must hit first: most chunks never parse."""

    prefilter: re.Pattern[str]
    uses_context: bool = False  # the regex also reads the chunk's class header


MATCHERS: dict[str, _Matcher] = {
    "has_percent_format": _Matcher(re.compile(r"%")),
    "has_str_format": _Matcher(re.compile(r"\.format\b")),
    "legacy_typing": _Matcher(re.compile(r"\b(" + "|".join(TYPING_NAMES) + r")\s*\[")),
    "legacy_super": _Matcher(re.compile(r"\bsuper\s*\(\s*\w")),
    "object_base": _Matcher(re.compile(r"\bobject\b")),
    "missing_return_annotation": _Matcher(re.compile(r"\bdef\b")),
    "missing_param_annotation": _Matcher(re.compile(r"\bdef\b")),
    "missing_docstring": _Matcher(re.compile(r"\b(def|class)\b")),
    "complex_control_flow": _Matcher(re.compile(r"\b(if|for|while|try|with|match)\b")),
    "unittest_testcase": _Matcher(
        re.compile(r"\bTestCase\b|\bself\.(assert|fail)"), uses_context=True
    ),
    "self_assert_calls": _Matcher(re.compile(r"\bself\.(assert|fail)")),
}
KINDS: frozenset[str] = frozenset(get_args(ChunkKind))


@dataclass(frozen=True)
class Selectors:
    """Cheap checks deciding which chunks are sent: a kind filter, then any regex or matcher hit.

    With neither regexes nor matchers, every chunk of an allowed kind is a candidate.
    """

    kinds: frozenset[str] = KINDS
    regex: tuple[re.Pattern[str], ...] = ()
    matchers: tuple[str, ...] = ()

    def selects(self, chunk: Chunk) -> bool:
        """True when the chunk is worth sending to an engine."""
        if chunk.kind not in self.kinds:
            return False
        if not self.regex and not self.matchers:
            return True
        if any(p.search(chunk.text) for p in self.regex):
            return True
        header = "\n" + chunk.context.class_header
        hits = [
            name
            for name in self.matchers
            if MATCHERS[name].prefilter.search(
                chunk.text + header if MATCHERS[name].uses_context else chunk.text
            )
        ]
        if not hits:
            return False
        from pipeline.recipes.matchers import any_match  # libcst, only once a prefilter hit

        return any_match(hits, chunk)
