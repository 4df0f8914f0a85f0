"""What a shadow run found, read back from the plugin's files: per changed function, its counts and the
first call where the original and the new version differ."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ShadowOutcome:
    """One changed function's shadow counts over a test run (every pytest process of it summed)."""

    chunk_id: str
    qualname: str = ""
    calls: int = 0
    compared: int = 0
    equal: int = 0
    not_comparable: Counter[str] = field(default_factory=Counter)
    difference: dict[str, str] | None = (
        None  # args, new, old, mutated, test: the first call that differs
    )
    note: str = ""  # why it was not shadowed (a kind the plugin does not bind)

    @property
    def changed(self) -> bool:
        return self.difference is not None

    def add(self, data: dict[str, Any]) -> None:
        """Count in one process's tally of this function."""
        self.qualname = data.get("qualname") or self.qualname
        self.calls += int(data.get("calls", 0))
        self.compared += int(data.get("compared", 0))
        self.equal += int(data.get("equal", 0))
        self.not_comparable.update({str(k): int(v) for k, v in data["not_comparable"].items()})
        self.difference = self.difference or data.get("first_difference")
        self.note = self.note or str(data.get("note") or "")

    def summary(self) -> str:
        """One line for the chunk's gate record: what was compared and what was not."""
        skipped = ", ".join(f"{cause} {n}" for cause, n in sorted(self.not_comparable.items()))
        line = f"{self.calls} calls, {self.compared} compared, {self.equal} equal"
        line += f"; not comparable: {skipped}" if skipped else ""
        return f"{line}; {self.note}" if self.note else line

    def detail(self) -> str:
        """The sentence a `behaviour-changed` rejection carries: the call and both outcomes."""
        d = self.difference or {}
        mutated = f", {d['mutated']}" if d.get("mutated") else ""
        return (
            f"{self.qualname}({d.get('args', '')}) {d.get('new')} but the original "
            f"{d.get('old')}{mutated} (called by {d.get('test') or 'the test run'})"
        )

    def evidence(self) -> str:
        """What a gate repair turn is shown: the observed call, as the two versions answered it."""
        return (
            "Shadow run: the original and your version were called with the same arguments "
            f"and differ.\n{self.detail()}"
        )


def read_outcomes(results: Path, ids: Sequence[str]) -> dict[str, ShadowOutcome]:
    """The outcomes of every id, summed over the result files (a process that wrote none adds nothing)."""
    found = {chunk_id: ShadowOutcome(chunk_id) for chunk_id in ids}
    for path in sorted(results.glob("shadow-*.json")):
        try:
            tallies = json.loads(path.read_text(encoding="utf-8"))["functions"]
        except (OSError, ValueError, KeyError):
            continue  # a process killed while writing: its calls are not counted
        for data in tallies:
            if data.get("id") in found:
                found[data["id"]].add(data)
    return found
