"""The answer in its chunk's own layout: the file's indentation, and "no change" when the only
differences are line endings or trailing whitespace. (A PEP 263 coding line is never in a chunk:
libcst keeps a module's leading comments in its header, a gap no answer can touch.)

Indentation: when the answer indents with another character (tabs for spaces) or another unit (two
spaces for four), every code line is re-indented to the chunk's unit at its block depth (found with the
tokenizer); a continuation or comment line keeps what follows its block's indent. A line inside a
multi-line string is never touched: when such a line (or a line the mapping cannot place) still uses
the foreign character, the answer is `indentation-changed`. Line endings are written by
`pipeline.source.splicing.render`, from the original chunk.
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass

from pipeline.source.layout import lf

_BLANK = " \t\f"


@dataclass(frozen=True)
class Relaid:
    """The answer in the chunk's layout, or the line (of the answer) that cannot be put in it."""

    text: str
    bad_line: int | None = None
    why: str = ""


def same_but_whitespace(original: str, proposed: str) -> bool:
    """True when the texts differ only in line endings, trailing whitespace or trailing blank lines."""
    return _squeezed(original) == _squeezed(proposed)


def _squeezed(text: str) -> list[str]:
    lines = [line.rstrip() for line in lf(text).split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _leading(line: str) -> str:
    return line[: len(line) - len(line.lstrip(_BLANK))]


def _first_indent(text: str) -> str | None:
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.INDENT:
                return tok.string
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None
    return None


def chunk_unit(text: str, indent: str) -> str:
    """The indentation unit of a chunk: its first block's, else its class's, else four spaces."""
    return _first_indent(text) or indent or "    "


@dataclass
class _Rows:
    """Per line of the answer: its block stack and whether a logical line starts there."""

    stacks: dict[int, tuple[str, ...]]
    starts: set[int]
    interior: set[int]  # lines that begin inside a string


def _rows(text: str) -> _Rows:
    rows = _Rows({}, set(), set())
    stack: list[str] = [""]
    fresh = True  # the next token starts a logical line
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        kind, row = tok.type, tok.start[0]
        if kind == tokenize.INDENT:
            stack.append(tok.string)
        elif kind == tokenize.DEDENT:
            stack.pop()
        rows.stacks.setdefault(row, tuple(stack))
        if tok.end[0] > row and kind not in (tokenize.NEWLINE, tokenize.NL):
            rows.interior.update(range(row + 1, tok.end[0] + 1))
        if kind in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            fresh = True
        elif kind not in (tokenize.NL, tokenize.COMMENT, tokenize.ENDMARKER):
            if fresh:
                rows.starts.add(row)
            fresh = False
    return rows


def relay(original: str, proposed: str, unit: str) -> Relaid:
    """The answer re-indented to the chunk's unit when its indentation style differs (see above)."""
    first = _first_indent(proposed)
    foreign = " " if "\t" in unit else "\t"
    if first is None or (first == unit and not _uses(proposed, foreign)):
        return Relaid(proposed)
    try:
        rows = _rows(proposed)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return Relaid(proposed)  # the parser will say what is wrong
    lines = proposed.split("\n")
    for number, line in enumerate(lines, start=1):
        if number in rows.interior or not line.strip(_BLANK):
            continue
        stack = rows.stacks.get(number, ("",))
        lead = _leading(line)
        if number in rows.starts:
            lines[number - 1] = unit * (len(stack) - 1) + line[len(lead) :]
            continue
        depth = max((d for d, old in enumerate(stack) if lead.startswith(old)), default=0)
        lines[number - 1] = unit * depth + line[len(stack[depth]) :]
    text = "\n".join(lines)
    return _checked(original, proposed, text, rows, foreign)


def _uses(text: str, char: str) -> bool:
    return any(_foreign(_leading(line), char) for line in text.split("\n") if line.strip(_BLANK))


def _foreign(lead: str, char: str) -> bool:
    """Tabs anywhere in a spaces file; in a tabs file, indenting by spaces (aligning after tabs is fine)."""
    return "\t" in lead if char == "\t" else lead.startswith(" ")


def _checked(original: str, proposed: str, text: str, rows: _Rows, foreign: str) -> Relaid:
    """The re-indented text, unless a line still uses the foreign character or the code changed."""
    strings_had_it = any(_foreign(_leading(line), foreign) for line in original.split("\n"))
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip(_BLANK) or not _foreign(_leading(line), foreign):
            continue
        if number in rows.interior and strings_had_it:
            continue
        where = "inside a multi-line string" if number in rows.interior else "on a code line"
        return Relaid(text, number, f"indents with {_named(foreign)} {where}")
    try:
        same = ast.dump(ast.parse(text)) == ast.dump(ast.parse(proposed))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        same = False
    if not same:
        return Relaid(text, 1, "cannot be re-indented without changing its code")
    return Relaid(text)


def _named(char: str) -> str:
    return "tabs" if char == "\t" else "spaces"
