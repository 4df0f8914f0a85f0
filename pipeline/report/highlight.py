"""Code lines as HTML for report.html: Pygments token spans, escaped text, every CR a visible symbol.

Lexing is the one costly step of rendering a report, so a run colours at most COLOURED_LINES diff
lines (a ColourAllowance shared by its files); the rest stay plain. Any doubt about a lexer's line alignment
falls back to plain text: a line is never shifted or lost.
"""

from __future__ import annotations

import functools
import html
from dataclasses import dataclass
from typing import Protocol

from markupsafe import Markup
from pygments import lex
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer
from pygments.token import STANDARD_TYPES

COLOURED_LINES = 10_000  # diff lines Pygments colours per report; the rest stay plain, for speed
_CR = "\u240d"  # a carriage return, shown as a symbol: it never splits a line, and CRLF shows
_CR_MARK = f'<span class="cr" title="carriage return">{_CR}</span>'


def escape(value: object) -> object:
    """Run text as HTML, as `html.escape` does (`&quot;`, `&#x27;`); anything else as it is.

    The template environment's finalize: Jinja's autoescape then leaves the Markup alone and escapes
    what is not text (numbers) itself.
    """
    if type(value) is str:
        return Markup(html.escape(value, quote=True))
    return value


class TokenType(Protocol):
    """What codemill uses of a Pygments token type (documented: singletons with a `parent`)."""

    @property
    def parent(self) -> TokenType | None: ...

    def __hash__(self) -> int: ...


@dataclass
class ColourAllowance:
    """How many more lines the report may colour."""

    lines: int = COLOURED_LINES

    def take(self, n: int) -> bool:
        """Spend n lines if that many are left; once short, nothing more is coloured."""
        if n > self.lines:
            self.lines = 0
            return False
        self.lines -= n
        return True


@functools.cache
def _token_class(ttype: TokenType) -> str:
    """Pygments' short CSS class of a token type (its nearest standard ancestor's)."""
    parent = ttype
    while parent not in STANDARD_TYPES and parent.parent is not None:
        parent = parent.parent
    return str(STANDARD_TYPES.get(parent, ""))


@functools.lru_cache(maxsize=8192)
def _span(css: str, text: str) -> str:
    """One token as HTML; cached, since code repeats its keywords, names and punctuation."""
    escaped = html.escape(text)
    return f'<span class="{css}">{escaped}</span>' if css else escaped


def shown(lines: list[str], python: bool) -> list[Markup]:
    """Lines (without their LF) as HTML: coloured when `python`, every CR a visible symbol."""
    plain = [ln.removesuffix("\r").replace("\r", _CR) for ln in lines]
    coloured = _highlighted(plain) if python else [html.escape(ln) for ln in plain]
    return [
        Markup(h + _CR_MARK if ln.endswith("\r") else h)
        for h, ln in zip(coloured, lines, strict=True)
    ]


def _highlighted(lines: list[str]) -> list[str]:
    """Each line as escaped HTML with Pygments token spans, lexing the lines as one text."""
    lexer = PythonLexer(stripnl=False, stripall=False, ensurenl=True)
    out: list[str] = []
    current: list[str] = []
    for ttype, value in lex("".join(ln + "\n" for ln in lines), lexer):  # each line ends in \n
        css = _token_class(ttype)
        for i, part in enumerate(value.split("\n")):
            if i:
                out.append("".join(current))
                current = []
            if part:
                current.append(_span(css, part))
    if current or len(out) != len(lines):  # never trust a lexer with alignment: plain text then
        return [html.escape(ln) for ln in lines]
    return out


@functools.cache
def pygments_css() -> Markup:
    """The default style's token colours, scoped to `.code` (no highlighted-line rule)."""
    rules = HtmlFormatter(style="default").get_style_defs(".code").splitlines()
    return Markup(
        "\n".join(
            line
            for line in rules
            if line.startswith(".code .") and not line.startswith(".code .hll")
        )
    )
