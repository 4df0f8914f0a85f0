"""A changed file's line diff, matched once and read by every view of the run (patch, summary, HTML).

Matching lines is the costly part of a report (difflib, about 40 ms for a large file); the patch, the
summary's line counts and report.html all need the same match, so it is made once per pair of versions.
Lines are split on LF only, ends kept, as git does: a last line without its newline differs from the
same line with one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from functools import lru_cache
from typing import Literal

Tag = Literal["replace", "delete", "insert", "equal"]
Opcode = tuple[Tag, int, int, int, int]  # difflib's (tag, a1, a2, b1, b2)


def split_lines(data: bytes) -> list[bytes]:
    """Split on LF only (as git does), keeping the ends; CR stays part of its line."""
    parts = data.split(b"\n")
    lines = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


@lru_cache(maxsize=1024)  # the views ask file by file, one view after another
def line_opcodes(before: bytes, after: bytes) -> tuple[Opcode, ...]:
    """How `after`'s lines come from `before`'s: difflib's opcodes, with no junk heuristic."""
    matcher = difflib.SequenceMatcher(None, split_lines(before), split_lines(after), autojunk=False)
    return tuple(matcher.get_opcodes())


def hunks(
    before: bytes, after: bytes, context: int = 3
) -> Iterable[list[tuple[str, int, int, int, int]]]:
    """The changes grouped into hunks with `context` equal lines around each: difflib's own grouping,
    over the shared match."""
    return _Matched(line_opcodes(before, after)).get_grouped_opcodes(context)


class _Matched(difflib.SequenceMatcher[bytes]):
    """A SequenceMatcher that answers with opcodes matched before instead of matching again."""

    def __init__(self, opcodes: tuple[Opcode, ...]) -> None:
        super().__init__(None, [], [], autojunk=False)
        self._matched = opcodes

    def get_opcodes(self) -> list[Opcode]:
        return list(self._matched)  # a fresh list: the grouping edits its first and last entries


def diffstat(before: bytes, after: bytes) -> tuple[int, int]:
    """Lines added and removed between two versions of a file."""
    added = removed = 0
    for tag, a1, a2, b1, b2 in line_opcodes(before, after):
        if tag != "equal":
            removed += a2 - a1
            added += b2 - b1
    return added, removed
