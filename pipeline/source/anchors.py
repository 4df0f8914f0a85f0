"""Cheap line-level facts the span proof reads: where lines start, which lines may begin a statement,
and the token a statement's first line begins with (a guess that is always proven, never trusted)."""

from __future__ import annotations

import functools
import re

import libcst as cst

from pipeline.source.layout import NEWLINE

_ANCHOR_AHEAD = r"(?=[^\s#@)\]}])(?!(?:else|elif|except|finally)\b)"
ANCHOR_HEAD = re.compile(_ANCHOR_AHEAD)


@functools.cache
def anchor_pattern(indent: str) -> re.Pattern[str]:
    """A newline, then `indent`, then a character that may begin a statement (not a clause)."""
    return re.compile("\n" + re.escape(indent) + _ANCHOR_AHEAD)


def line_bounds(text: str) -> list[int]:
    """Start offset of each line of `text`, then its length when the last line is open."""
    starts = [0, *(m.end() for m in NEWLINE.finditer(text))]
    return [*starts, len(text)] if text and not text.endswith(("\n", "\r")) else starts


def newlines(code: str) -> int:
    """Line breaks in `code` ("\r\n", "\r" or "\n")."""
    return code.count("\n") + code.count("\r") - code.count("\r\n")


_KEYWORDS: dict[type[cst.CSTNode], str] = {
    cst.Import: "import",
    cst.ImportFrom: "from",
    cst.Return: "return",
    cst.Pass: "pass",
    cst.Break: "break",
    cst.Continue: "continue",
    cst.Raise: "raise",
    cst.Assert: "assert",
    cst.Del: "del",
    cst.Global: "global",
    cst.Nonlocal: "nonlocal",
    cst.ClassDef: "class",
    cst.If: "if",
    cst.While: "while",
    cst.Try: "try",
    cst.TryStar: "try",
    cst.Match: "match",
}


def first_token(node: cst.BaseStatement) -> str | None:
    """The text a statement's anchor line begins with, when cheap to know (None: unknown).

    Only guides the guess of which candidate line is which statement's anchor; never trusted.
    """
    if isinstance(node, cst.FunctionDef | cst.For | cst.With):
        if node.asynchronous is not None:
            return "async"
        return (
            "def"
            if isinstance(node, cst.FunctionDef)
            else "for"
            if isinstance(node, cst.For)
            else "with"
        )
    small: cst.CSTNode = node.body[0] if isinstance(node, cst.SimpleStatementLine) else node
    keyword = _KEYWORDS.get(type(small))
    if keyword is not None:
        return keyword
    if isinstance(small, cst.Expr):
        expr: cst.CSTNode = small.value
    elif isinstance(small, cst.Assign):
        expr = small.targets[0].target
    elif isinstance(small, cst.AnnAssign | cst.AugAssign):
        expr = small.target
    else:
        return None
    return _expression_token(expr)


def _expression_token(expr: cst.CSTNode) -> str | None:
    """The text an expression statement's first line begins with, when cheap to know."""
    while True:
        if getattr(expr, "lpar", None):
            return "("
        if isinstance(expr, cst.Name):
            return expr.value
        if isinstance(expr, cst.SimpleString):
            return expr.value[: len(expr.prefix) + 1]
        if isinstance(expr, cst.FormattedString):
            return expr.start
        if isinstance(expr, cst.Attribute | cst.Subscript):
            expr = expr.value
        elif isinstance(expr, cst.Call):
            expr = expr.func
        elif isinstance(
            expr,
            cst.ConcatenatedString | cst.BinaryOperation | cst.Comparison | cst.BooleanOperation,
        ):
            expr = expr.left
        elif isinstance(expr, cst.Tuple) and expr.elements:
            expr = expr.elements[0].value
        elif isinstance(expr, cst.List | cst.ListComp):
            return "["
        elif isinstance(expr, cst.Dict | cst.Set | cst.DictComp | cst.SetComp):
            return "{"
        else:
            return None
