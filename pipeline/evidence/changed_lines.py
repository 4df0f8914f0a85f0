"""Which lines of a file's NEW bytes an accepted chunk changed, as coverage.py numbers them.

A chunk's new text replaces its span; the lines that differ from its old text (difflib) are moved to the
first line of the statement holding them (coverage records a statement at its first line), so a change
inside a multi-line call or a condition is found where coverage saw it run.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Edit:
    """One kept chunk's change in a file: its id, base byte span, new bytes, and old and new text."""

    chunk_id: str
    start: int
    end: int
    new: bytes
    old_text: str
    new_text: str


def changed_in_text(old: str, new: str) -> set[int]:
    """0-based lines of `new` that differ from `old` (a pure deletion marks the line after it)."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    marked: set[int] = set()
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for tag, _, _, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            marked.update(range(j1, j2) if j2 > j1 else [min(j1, max(len(new_lines) - 1, 0))])
    return marked


def statement_heads(text: str, lines: set[int]) -> set[int]:
    """Each 0-based line moved to the first line of the innermost statement that holds it (kept as
    is when the text does not parse alone)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return set(lines)
    spans = [
        (node.lineno - 1, (node.end_lineno or node.lineno) - 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.stmt)
    ]
    heads = set()
    for line in lines:
        holding = [s for s in spans if s[0] <= line <= s[1]]
        heads.add(max(holding)[0] if holding else line)  # the innermost: the latest start
    return heads | lines


def new_lines_by_chunk(new_file: bytes, edits: Sequence[Edit]) -> dict[str, set[int]]:
    """Per chunk id, the 1-based lines of `new_file` its change touched (`edits`: the file's kept ones)."""
    out: dict[str, set[int]] = {}
    shift = 0
    for edit in sorted(edits, key=lambda e: e.start):
        start = edit.start + shift
        first = new_file[:start].count(b"\n") + 1
        touched = statement_heads(edit.new_text, changed_in_text(edit.old_text, edit.new_text))
        out[edit.chunk_id] = {first + line for line in touched}
        shift += len(edit.new) - (edit.end - edit.start)
    return out
