"""Which codemod made each chunk's change: the lines each one touched, traced back to the original file.

The codemods run one after another over the whole module; each that changed it left its code behind
(`codemod_module.Step`). Diffing each step's code against the one before, line by line, and carrying every
line's origin through the earlier steps gives the original lines each codemod touched; a chunk names the
codemods whose lines fall inside it. Once per changed file, never per chunk, and no parse.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from pipeline.engines.codemod_module import Step


def _origins(origin: list[int], i1: int, i2: int, count: int) -> list[int]:
    """The original line numbers of `count` new lines that replace origin[i1:i2] (an insertion takes
    the line before it, or the first line)."""
    if i2 > i1:
        return [origin[min(i1 + k, i2 - 1)] for k in range(count)]
    anchor = origin[i1 - 1] if i1 else (origin[0] if origin else 1)
    return [anchor] * count


def touched_lines(original: str, steps: Sequence[Step]) -> dict[str, set[int]]:
    """Each codemod's touched lines, numbered as in `original` (1-based)."""
    before = original.splitlines()
    origin = list(range(1, len(before) + 1))
    touched: dict[str, set[int]] = {}
    for name, code in steps:
        after = code.splitlines()
        matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
        carried: list[int] = []
        hits = touched.setdefault(name, set())
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            lines = _origins(origin, i1, i2, j2 - j1) if tag != "equal" else origin[i1:i2]
            if tag != "equal":
                hits.update(origin[i1:i2] or _origins(origin, i1, i2, 1))
            carried += lines
        before, origin = after, carried
    return touched


def codemods_within(touched: dict[str, set[int]], first: int, last: int) -> list[str]:
    """The codemods (in the order they ran) that touched a line from `first` to `last`."""
    return [name for name, lines in touched.items() if any(first <= n <= last for n in lines)]
