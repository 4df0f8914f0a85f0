"""Where things are in a fleet file's text: tomllib parses values but gives no line numbers, so a refusal
that names the entry's line needs this small scan of the same text.

It reads only what a fleet file uses: top-level `key = value` lines, `[[repo]]` headers and the keys under
them, skipping lines inside multi-line strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*(?P<name>[^\]]+?)\s*\]\]")
_TABLE_HEADER = re.compile(r"^\s*\[\s*(?P<name>[^\]]+?)\s*\]")
_KEY = re.compile(r"""^\s*(?:"(?P<dq>[^"]+)"|'(?P<sq>[^']+)'|(?P<bare>[A-Za-z0-9_.-]+))\s*=""")
_TRIPLE = re.compile(r'"""|\'\'\'')


@dataclass
class Section:
    """A `[[name]]` (or `[name]`) header's line and the line of each key under it."""

    name: str
    line: int
    keys: dict[str, int] = field(default_factory=dict)


@dataclass
class Layout:
    """The top-level keys' lines and every table in order of appearance."""

    top: dict[str, int] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)

    def entries(self, name: str) -> list[Section]:
        """The `[[name]]` sections, in file order (the n-th is the array's n-th table)."""
        return [s for s in self.sections if s.name == name]


def scan(text: str) -> Layout:
    """Line numbers (1-based) of the keys and tables in a TOML text that tomllib accepted."""
    layout = Layout()
    current: Section | None = None
    open_quote: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if open_quote is not None:
            if open_quote in line:
                open_quote = None if line.count(open_quote) % 2 else open_quote
            continue
        header = _ARRAY_HEADER.match(line) or _TABLE_HEADER.match(line)
        if header:
            current = Section(header.group("name").strip("\"' "), number)
            layout.sections.append(current)
            continue
        key = _KEY.match(line)
        if key:
            name = key.group("dq") or key.group("sq") or key.group("bare") or ""
            target = layout.top if current is None else current.keys
            target.setdefault(name, number)
        quotes = _TRIPLE.findall(line)
        if len(quotes) % 2:
            open_quote = quotes[-1]
    return layout
