"""A reviewer's choice among a run's accepted chunks, and the change set it leaves, proven again as one set.

A selection comes from report.html's "Download selection" (a small JSON file, format in docs/operations.md)
and from `--exclude PATH|CHUNK` on the command line. Every name in it must be an accepted chunk, a file or a
directory of that very run: a typo or another run's file is refused in one sentence and nothing lands.
`selected_changes` is the one entry `apply` and `publish` share: the kept chunks replayed (each proven again)
and then gated together, because chunks that each passed may fail as a set, and a set that fails is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from pipeline.config import RunConfig
from pipeline.errors import UsageError
from pipeline.judge.verdicts import Status
from pipeline.records.ledger import Ledger, LedgerRow
from pipeline.run.regate import gate_recorded
from pipeline.run.replay import Changes, accepted_rows

FORMAT = "codemill-selection/1"


class SelectionError(UsageError):
    """A selection that does not fit its run; nothing was applied."""


@dataclass(frozen=True)
class Selection:
    """Which accepted chunks of a run land: `kept` (None: all) minus anything `left_out` names."""

    run_id: str | None  # the run the file was made for; None for --exclude alone
    kept: frozenset[str] | None = None  # chunk ids
    left_out: frozenset[str] = frozenset()  # chunk ids, file paths or directories
    source: str = "--exclude"  # where it came from, for messages

    @classmethod
    def read(cls, path: Path) -> Selection:
        """The selection in a file report.html wrote (or a person did)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            raise SelectionError(f"cannot read the selection {path}: {why}") from None
        return cls.from_json(data, str(path))

    @classmethod
    def from_json(cls, data: Any, source: str) -> Selection:
        """A selection from its JSON value; one sentence when it is not one."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise SelectionError(f'{source} is not a codemill selection ("format": "{FORMAT}")')
        run_id, kept, left_out = data.get("run_id"), data.get("kept"), data.get("left_out", [])
        if (
            not isinstance(run_id, str)
            or not _names(left_out)
            or not (kept is None or _names(kept))
        ):
            raise SelectionError(
                f'{source} needs "run_id" (a string) and "kept" or "left_out" (lists of chunk ids)'
            )
        both = sorted(set(kept or ()) & set(left_out))
        if both:
            raise SelectionError(f"{source} both keeps and leaves out {both[0]}")
        return cls(run_id, None if kept is None else frozenset(kept), frozenset(left_out), source)

    def excluding(self, names: Iterable[str]) -> Selection:
        """This selection with more chunks, files or directories left out (--exclude)."""
        return replace(self, left_out=self.left_out | frozenset(names))


def _names(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def _covers(name: str, row: LedgerRow) -> bool:
    """True when `name` (a chunk id, a file path or a directory) names the row's chunk."""
    if name in (row.chunk_id, row.path):
        return True
    folder = name.rstrip("/")
    return bool(folder) and folder in (str(p) for p in PurePosixPath(row.path).parents)


def _refuse(selection: Selection, name: str, what: str, run: str) -> SelectionError:
    return SelectionError(
        f"{selection.source} names {name!r}, which is no {what} of run {run} (chunk ids look "
        "like pkg/mod.py::func@12, as report.html shows them); nothing was applied"
    )


def chosen(ledger: Ledger, selection: Selection) -> tuple[list[LedgerRow], list[LedgerRow]]:
    """The run's accepted rows split into (kept, left out) by the selection, after checking that every
    name in it belongs to this run (leaving out a chunk or file with nothing accepted changes nothing)."""
    run = ledger.meta.run_id
    if selection.run_id is not None and selection.run_id != run:
        raise SelectionError(
            f"{selection.source} was made for run {selection.run_id}, not run {run}; "
            "nothing was applied"
        )
    rows = [row for file_rows in accepted_rows(ledger).values() for row in file_rows]
    for name in sorted(selection.left_out):
        if not any(_covers(name, row) for row in ledger.rows):
            raise _refuse(selection, name, "chunk, file or directory", run)
    stray = sorted((selection.kept or frozenset()) - {row.chunk_id for row in rows})
    if stray:
        raise _refuse(selection, stray[0], "accepted chunk", run)
    kept: list[LedgerRow] = []
    left: list[LedgerRow] = []
    for row in rows:
        out = any(_covers(name, row) for name in selection.left_out)
        wanted = selection.kept is None or row.chunk_id in selection.kept
        (kept if wanted and not out else left).append(row)
    return kept, left


def branch_suffix(kept: Iterable[LedgerRow]) -> str:
    """What a selection's branch adds to the run's branch name: the same selection, the same name."""
    digest = hashlib.sha256("\n".join(sorted(r.chunk_id for r in kept)).encode()).hexdigest()
    return f"-selected-{digest[:8]}"


@dataclass(frozen=True)
class SelectedChanges:
    """What a selection lands: the kept rows, those left out, and the files they make, gated as one set."""

    ledger: Ledger  # the run's rows with the left-out ones taken out, gate decisions added
    base_commit: str
    kept: list[LedgerRow]
    left_out: list[LedgerRow]
    changes: Changes  # path -> (bytes at base, bytes after)


def _without(ledger: Ledger, left_out: list[LedgerRow]) -> Ledger:
    """A copy of the ledger (never written) in which the left-out rows are no longer accepted."""
    out = {row.chunk_id for row in left_out}
    copy = Ledger(replace(ledger.meta, gates={}))
    copy.origin = ledger.origin
    for row in ledger.rows:
        if row.chunk_id in out:
            detail = "left out by the reviewer's selection"
            row = replace(row, status=Status.UNCHANGED, new_text=None, detail=detail)
        copy.append(row)
    return copy


def selected_changes(
    root: Path, ledger: Ledger, selection: Selection, config: RunConfig
) -> SelectedChanges:
    """The kept chunks replayed on the run's base commit, each proven again, then gated together (the
    import check and the test command `config` names); refused when the set fails a gate."""
    kept, left_out = chosen(ledger, selection)
    narrowed = _without(ledger, left_out)
    changes = gate_recorded(root, narrowed, config) if kept else {}
    ids = {row.chunk_id for row in kept}
    dropped = [r for r in narrowed.rows if r.chunk_id in ids and r.status is not Status.ACCEPTED]
    if dropped:
        row = dropped[0]
        raise SelectionError(
            f"the selection fails its gates as one set: chunk {row.chunk_id}: "
            f"{row.detail or row.reason}; keep more, or leave it out too (--exclude "
            f"{row.chunk_id!r}); nothing was applied"
        )
    base = ledger.meta.base_commit or ""
    return SelectedChanges(narrowed, base, kept, left_out, changes)
