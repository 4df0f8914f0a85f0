"""The evidence of one accepted chunk: how far it was proven, and by which tests.

The levels, weakest first: `static` (the per-chunk proof only: parse, compile, interface, scope),
`imported` (the import check, or the test run's imports, ran its changed lines), `exercised` (tests ran its
changed lines), `shadowed` (tests called the changed function and the old and new versions agreed on every
comparable call). The shadow runs (pipeline/gates/shadow*) raise an exercised chunk to `shadowed` with
`Evidence.shadowed(calls)`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

SHOWN_TESTS = 3  # test ids kept per chunk: the first few, the count says how many more


class Level(StrEnum):
    """An evidence level; compare them with `rank`."""

    STATIC = "static"
    IMPORTED = "imported"
    EXERCISED = "exercised"
    SHADOWED = "shadowed"

    @property
    def rank(self) -> int:
        return list(Level).index(self)


@dataclass(frozen=True)
class Evidence:
    """One chunk's evidence: its level, how many tests ran its changed lines (and the first few ids),
    how many calls the shadow runs compared, and a short note (why it is no higher)."""

    level: Level = Level.STATIC
    tests: int = 0
    test_ids: tuple[str, ...] = ()
    shadow_calls: int = 0
    note: str = ""

    def at_least(self, level: Level) -> bool:
        """Whether this evidence reaches `level`."""
        return self.level.rank >= level.rank

    def shadowed(self, calls: int) -> Evidence:
        """This evidence raised to `shadowed`: `calls` calls compared, all equal (the shadow runs' seam)."""
        return replace(self, level=Level.SHADOWED, shadow_calls=calls, note="")

    def text(self) -> str:
        """One phrase for a report: "exercised by 3 tests (a, b, c)", "static (not exercised)",
        "shadowed: 4 calls compared, all equal; exercised by 2 tests (a, b)"."""
        if self.level is Level.SHADOWED:
            compared = f"shadowed: {self.shadow_calls} calls compared, all equal"
            return f"{compared}; {self._exercised()}" if self.tests else compared
        if self.level is Level.EXERCISED:
            return self._exercised()
        return f"{self.level} ({self.note})" if self.note else str(self.level)

    def _exercised(self) -> str:
        more = (
            f", +{self.tests - len(self.test_ids)} more" if self.tests > len(self.test_ids) else ""
        )
        return f"exercised by {self.tests} tests ({', '.join(self.test_ids)}{more})"

    def to_json(self) -> dict[str, Any]:
        return {
            "level": str(self.level),
            "tests": self.tests,
            "test_ids": list(self.test_ids),
            "shadow_calls": self.shadow_calls,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evidence:
        return cls(
            Level(data["level"]),
            int(data.get("tests", 0)),
            tuple(data.get("test_ids", ())),
            int(data.get("shadow_calls", 0)),
            str(data.get("note", "")),
        )


def exercised(test_ids: list[str]) -> Evidence:
    """Tests ran the changed lines: their count and the first few ids (sorted, so runs compare)."""
    ordered = sorted(set(test_ids))
    return Evidence(Level.EXERCISED, len(ordered), tuple(ordered[:SHOWN_TESTS]))


def counts(levels: list[Level]) -> dict[str, int]:
    """How many chunks reached each level, strongest first, levels with none left out."""
    return {str(lv): levels.count(lv) for lv in reversed(Level) if levels.count(lv)}


def counts_line(accepted: int, by_level: dict[str, int]) -> str:
    """The run's summary line: "80 accepted: 41 shadowed, 23 exercised, 16 static"."""
    parts = ", ".join(f"{n} {level}" for level, n in by_level.items())
    return f"{accepted} accepted: {parts}" if parts else f"{accepted} accepted"
