"""A chunk's text layout: dedented, with "\\n" newlines; the transforms from a file region and back.

Indentation convention (used everywhere): a chunk's `text` goes out dedented (its first line at column 0)
and a replacement comes back dedented; `pipeline.source.splicing` re-indents it with the chunk's `indent`.

Dedent/re-indent rules, inverse of each other: a line that begins inside a string literal (the tail of
a triple-quoted or backslash-continued string, found with the tokenizer) and a whitespace-only line are
never touched; every other line loses (or gets back) exactly `indent`. A chunk with a line that cannot
lose its indent (a bracket or backslash continuation line less indented than the block) is not split
out: its class goes whole, as one top-level chunk, which needs no dedent (see `pipeline.source.chunking`).

Newlines: a chunk's `text` and its replacement use "\\n"; `pipeline.source.splicing` writes the chunk's own
newline (`Chunk.newline`: "\\r\\n" in a CRLF file). A class member whose newlines are mixed keeps its
class whole, like a lossy dedent; a top-level chunk with mixed newlines has `newline == ""`: its text
keeps the file's own newlines and its replacement is written as given.
"""

from __future__ import annotations

import io
import re
import tokenize

NEWLINE = re.compile(r"\r\n?|\n")
_BLANK = " \t\f"
_FSTRING_START: int = getattr(tokenize, "FSTRING_START", -1)
_FSTRING_END: int = getattr(tokenize, "FSTRING_END", -1)


def _interior_lines(text: str) -> frozenset[int]:
    """0-based indices of the lines of `text` ("\\n" newlines) that begin inside a string literal."""
    if '"""' not in text and "'''" not in text and "\\\n" not in text:
        return frozenset()
    rows: set[int] = set()
    fstarts: list[int] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.STRING:
                rows.update(range(tok.start[0], tok.end[0]))
            elif tok.type == _FSTRING_START:
                fstarts.append(tok.start[0])
            elif tok.type == _FSTRING_END and fstarts:
                rows.update(range(fstarts.pop(), tok.end[0]))
    except (tokenize.TokenError, SyntaxError) as exc:
        raise ValueError(f"cannot tokenize the text to find its strings: {exc}") from exc
    return frozenset(rows)


def dedent(text: str, indent: str) -> str | None:
    """`text` without `indent` on each line (strings and blank lines untouched); None when lossy."""
    if not indent:
        return text
    lines = text.split("\n")
    interior = _interior_lines(text)
    for i, line in enumerate(lines):
        if i in interior or not line.strip(_BLANK):
            continue
        if not line.startswith(indent):
            return None
        lines[i] = line[len(indent) :]
    return "\n".join(lines)


def reindent(text: str, indent: str) -> str:
    """The inverse of `dedent`: `indent` before each line that is neither in a string nor blank."""
    if not indent:
        return text
    lines = text.split("\n")
    interior = _interior_lines(text)
    return "\n".join(
        line if i in interior or not line.strip(_BLANK) else indent + line
        for i, line in enumerate(lines)
    )


def region_newline(raw: str, default: str) -> str | None:
    """The one newline used in `raw` (`default` when it has none); None when mixed."""
    if "\r" not in raw:
        return "\n" if "\n" in raw else default
    kinds = set(NEWLINE.findall(raw))
    return kinds.pop() if len(kinds) == 1 else None


def lf(text: str) -> str:
    """`text` with "\\n" newlines only."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text
