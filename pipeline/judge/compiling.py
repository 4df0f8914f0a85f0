"""Compiling a chunk in its real context: a method inside a class, `await` only in async code.

`wrap` puts a chunk's text inside stand-ins for its enclosing scopes; the compiler and the name
analysis (`pipeline.judge.names`) both read the wrapped source.
"""

from __future__ import annotations
import __future__

import re
import warnings
from dataclasses import dataclass

_WRAPPERS = {"class": "class _:", "function": "def _():", "async_function": "async def _():"}


@dataclass(frozen=True)
class Wrapped:
    """A chunk's text inside its enclosing scopes; `offset` lines of header come before it."""

    source: str
    offset: int


def wrap(text: str, enclosing: tuple[str, ...], nonlocals: set[str]) -> Wrapped:
    """The text indented inside `class _:` / `def _():` stand-ins for its enclosing scopes."""
    unit = "\t" if re.search(r"^\t", text, re.MULTILINE) else "    "
    header: list[str] = []
    if nonlocals and any(kind != "class" for kind in enclosing):
        # The real enclosing function may bind what `nonlocal` names; stand in for it.
        header += ["def _outer():", unit + " = ".join([*sorted(nonlocals), "None"])]
    base = len(header) // 2
    for depth, kind in enumerate(enclosing, start=base):
        header.append(unit * depth + _WRAPPERS[kind])
    prefix = unit * (base + len(enclosing))
    lines = text.splitlines(keepends=True)
    body = "".join(prefix + line if line.strip() else line for line in lines)
    return Wrapped("".join(h + "\n" for h in header) + body, len(header))


def compile_error(
    text: str, enclosing: tuple[str, ...], nonlocals: set[str], future_annotations: bool
) -> tuple[int, str] | None:
    """Compile the text inside its enclosing scopes; the first error's chunk line and message."""
    wrapped = wrap(text, enclosing, nonlocals)
    flags = __future__.annotations.compiler_flag if future_annotations else 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(wrapped.source, "<chunk>", "exec", flags=flags, dont_inherit=True)
    except SyntaxError as e:
        return max((e.lineno or 1) - wrapped.offset, 1), (e.msg or "invalid syntax").rstrip(".")
    except (ValueError, OverflowError, RecursionError, MemoryError) as e:
        return 1, f"{type(e).__name__}: {e}".rstrip(".")
    return None
