"""Which rewrite changed which lines: each chunk a file's rewrites changed names the rule(s) behind it.

The rewrites of a file run one after another (ruff's fixes, then each libcst codemod); each step's change
is traced back to the base file's lines through the steps before it, so a chunk (whose lines are the base
file's) is attributed to every step that touched one of its lines.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Touched:
    """A rewrite (`ruff:UP031`, `ZeroArgSuperCommand`) and the base lines it changed (1-based, inclusive)."""

    rule: str
    first: int
    last: int


def codemod_name(dotted: str) -> str:
    """How a ledger names a libcst codemod: its class name."""
    return dotted.rpartition(".")[2]


class LineTrace:
    """The base file's line behind each line of the text as the rewrites leave it, step by step."""

    def __init__(self, base: str) -> None:
        self.text = base
        self.origin = list(range(1, len(base.splitlines()) + 1)) or [1]
        self.touched: list[Touched] = []

    def step(self, rule: str, after: str, known: Sequence[Touched] = ()) -> None:
        """Follow one rewrite to `after`, naming it `rule`; `known`: its changes as the tool named them
        (ruff's report of each fix, in base lines), `rule` then naming only what none of them covers."""
        old, new = self.text.splitlines(), after.splitlines()
        matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
        origin: list[int] = []
        ranges = []
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            here = self.origin[i1:i2] or [self.origin[min(i1, len(self.origin) - 1)]]
            if tag != "equal":
                ranges.append((min(here), max(here)))
            origin += here[: j2 - j1] + [here[-1]] * max(0, (j2 - j1) - len(here))
        self.text, self.origin = after, origin or [1]
        self.touched += known
        for first, last in ranges:
            if not any(k.first <= last and first <= k.last for k in known):
                self.touched.append(Touched(rule, first, last))

    def rules(self, first: int, last: int) -> tuple[str, ...]:
        """The rewrites that touched any of the base lines `first`..`last`, in the order they ran."""
        found = [t.rule for t in self.touched if t.first <= last and first <= t.last]
        return tuple(dict.fromkeys(found))
