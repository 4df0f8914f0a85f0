"""The diff of one file as report.html shows it: hunks of numbered lines, coloured hunk by hunk."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from markupsafe import Markup

from pipeline.report.highlight import ColourAllowance, shown
from pipeline.report.line_diff import hunks

_CONTEXT = 3
_PY_SUFFIXES = (".py", ".pyi", ".pyw")


class DiffLine(NamedTuple):
    """One table row: kind is ctx, del, add or hunk (whose code is the header or the EOL note)."""

    kind: str
    old: int  # line number before; 0 on an added line or a hunk header
    new: int  # line number after; 0 on a removed line or a hunk header
    code: Markup


def _split_lines(data: bytes) -> tuple[list[str], bool]:
    """A file's lines without their LF (bad bytes as \\xNN escapes), and whether it ends in one."""
    lines = data.decode("utf-8", "backslashreplace").split("\n")
    ends_with_newline = lines[-1] == ""
    if ends_with_newline:
        lines.pop()
    return lines, ends_with_newline


def diff_lines(
    path: str, before: bytes, after: bytes, colour_left: ColourAllowance
) -> Iterator[DiffLine]:
    """A unified diff with old/new line numbers, Python code coloured while the allowance lasts.

    The match is the patch's (`line_diff`), so a last line whose newline went shows as changed, as
    in git. Only the lines shown are lexed (each side of a hunk as one text), so a one-line change in a
    big file costs a few lines; a hunk that starts inside a multi-line string may be miscoloured.
    """
    a, a_eol = _split_lines(before)
    b, b_eol = _split_lines(after)
    python = path.endswith(_PY_SUFFIXES)
    for group in hunks(before, after, _CONTEXT):  # lines split as here: the same count, in order
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        colour = python and colour_left.take(i2 - i1 + j2 - j1)
        ha = dict(enumerate(shown(a[i1:i2], colour), start=i1))
        hb = dict(enumerate(shown(b[j1:j2], colour), start=j1))
        yield DiffLine("hunk", 0, 0, Markup(f"@@ -{i1 + 1},{i2 - i1} +{j1 + 1},{j2 - j1} @@"))
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                for k in range(a2 - a1):
                    yield DiffLine("ctx", a1 + k + 1, b1 + k + 1, ha[a1 + k])
                continue
            for k in range(a1, a2):
                yield DiffLine("del", k + 1, 0, ha[k])
            for k in range(b1, b2):
                yield DiffLine("add", 0, k + 1, hb[k])
    if a_eol != b_eol:
        side = "before" if not a_eol else "after"
        yield DiffLine("hunk", 0, 0, Markup(f"\\ No newline at end of file ({side})"))
