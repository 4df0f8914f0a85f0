"""The parse guard: no text reaches libcst's native parser when it could take the process down.

libcst's native parser dies with SIGSEGV on nesting CPython refuses (2,000 nested parentheses), and its
Python side recurses per level (codegen, visitors): deep expressions raise RecursionError or take
seconds. CPython's own parser is a cheap and sound first look (C, about an eighth of libcst's parse
time): text it refuses for depth never goes further. Syntax it merely lacks (newer grammar) is left
to libcst and the target-syntax check.
"""

from __future__ import annotations

import ast
import re
import warnings

import libcst as cst

from pipeline.errors import CodemillError

_TOO_DEEP = re.compile(r"too many|too deeply|too complex", re.IGNORECASE)


class UnsafeParse(CodemillError):
    """Text too deeply nested to hand to libcst; the message says why in one line."""


def parse_refusal(text: str) -> str | None:
    """Why CPython refuses `text` as too deeply nested (the line and its words), else None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(text, "<guard>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as exc:
        message = exc.msg or ""
        if _TOO_DEEP.search(message):
            return f"line {exc.lineno}: {message} (refused before libcst's parser)"
        return None
    except (RecursionError, MemoryError) as exc:
        kind = "RecursionError" if isinstance(exc, RecursionError) else "MemoryError"
        return f"nested too deeply for a parser ({kind} in Python's own parser)"
    return None


def guarded_parse(text: str) -> cst.Module:
    """`libcst.parse_module(text)` behind the guard: UnsafeParse instead of a crash or a recursion."""
    refusal = parse_refusal(text)
    if refusal is not None:
        raise UnsafeParse(refusal)
    try:
        return cst.parse_module(text)
    except RecursionError:
        raise UnsafeParse("nested too deeply for libcst (RecursionError)") from None
