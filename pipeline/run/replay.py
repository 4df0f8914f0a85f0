"""A finished run's changes rebuilt from its ledger: no model call, so a reviewed dry run can become a branch.

Each accepted row holds its chunk's path, name, lines, digest and new text. The base file is read from the
run's base commit, cut again with the same budget, and every row is matched to the chunk with the same
digest and first line; its text is spliced in exactly as the run did. A missing base commit or a row that
matches no chunk is refused with one sentence: the replay never guesses.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from pipeline import repository
from pipeline.errors import UsageError
from pipeline.judge.verdicts import Status
from pipeline.run.ledger import Ledger, LedgerError, LedgerRow
from pipeline.source.chunking import Chunk, plan_file
from pipeline.source.files import SkippedFile, SourceError, list_sources
from pipeline.source.splicing import splice

LEDGER_NAME = "ledger.jsonl"
_NO_SIZE_LIMIT = 1 << 62


class ReplayError(UsageError):
    """A run that cannot be replayed as recorded; the message says which part and why."""


Changes = dict[str, tuple[bytes, bytes]]


@dataclass(frozen=True)
class Replay:
    """A run read back: its ledger and its changes (path -> (bytes at base, bytes after))."""

    ledger: Ledger
    base_commit: str
    changes: Changes


def read_ledger(run_dir: Path) -> Ledger:
    """The ledger of the run stored in `run_dir`."""
    path = run_dir / LEDGER_NAME
    if not path.is_file():
        raise ReplayError(f"{run_dir} is not a codemill run directory: it has no {LEDGER_NAME}")
    try:
        return Ledger.read(path)
    except LedgerError as exc:
        raise ReplayError(str(exc)) from None


def accepted_rows(ledger: Ledger) -> dict[str, list[LedgerRow]]:
    """Accepted rows with a replacement text, by path."""
    rows: dict[str, list[LedgerRow]] = {}
    for row in ledger.rows:
        if row.status is Status.ACCEPTED and row.new_text is not None:
            rows.setdefault(row.path, []).append(row)
    return rows


def _spanning(data: bytes, chunks: list[Chunk], row: LedgerRow) -> Chunk | None:
    """The merged `statements` chunk the codemod engine makes when a change spans neighbours."""
    run = [c for c in chunks if row.start_line <= c.start_line and c.end_line <= row.end_line]
    if len(run) < 2 or run[0].start_line != row.start_line or run[-1].end_line != row.end_line:
        return None
    first, last = run[0], run[-1]
    raw = data[first.start_byte : last.end_byte].decode(first.encoding, "surrogateescape")
    lines = raw.splitlines(keepends=True)
    text = "".join(ln[len(first.indent) :] if ln.startswith(first.indent) else ln for ln in lines)
    return replace(
        first, kind="statements", end_byte=last.end_byte, end_line=last.end_line, text=text
    )


def _match(
    path: str, data: bytes, chunks: list[Chunk], rows: list[LedgerRow]
) -> list[tuple[Chunk, LedgerRow]]:
    """Pair every row with its chunk by (digest, first line); ReplayError for a row with none."""
    by_key = {(c.digest, c.start_line): c for c in chunks}
    pairs = []
    for row in rows:
        chunk = by_key.get((row.digest, row.start_line)) or _spanning(data, chunks, row)
        if chunk is None or chunk.digest != row.digest:
            raise ReplayError(
                f"{path}: chunk {row.chunk or '(statements)'} (lines {row.start_line}-{row.end_line}) "
                "no longer matches the base file; run codemill again instead"
            )
        pairs.append((chunk, row))
    return pairs


@dataclass(frozen=True)
class Matched:
    """A run's accepted rows, each paired with its chunk of the base file: what a gate needs to judge them."""

    base_commit: str
    files: dict[str, tuple[bytes, list[tuple[Chunk, LedgerRow]]]]  # path -> (bytes at base, pairs)

    def changes(self) -> Changes:
        """Every row's text spliced into its file: path -> (bytes at base, bytes after), changed only."""
        changes: Changes = {}
        for path, (data, pairs) in sorted(self.files.items()):
            try:
                after = splice(data, [(chunk, row.new_text or "") for chunk, row in pairs])
            except ValueError as exc:
                raise ReplayError(str(exc)) from None
            if after != data:
                changes[path] = (data, after)
        return changes


def replay(repo_root: Path, ledger: Ledger, budget: int) -> Replay:
    """Rebuild the run's changes on its base commit in the repository at `repo_root`."""
    matched = match_rows(repo_root, ledger, budget)
    return Replay(ledger, matched.base_commit, matched.changes())


def match_rows(repo_root: Path, ledger: Ledger, budget: int) -> Matched:
    """The run's accepted rows matched to the chunks of their files at its base commit."""
    base = ledger.meta.base_commit
    if not base:
        raise ReplayError(
            f"run {ledger.meta.run_id} recorded no base commit; it cannot be replayed"
        )
    try:
        repo = repository.open_repository(repo_root)
        base_sha = repository.resolve_base(repo, base)
    except repository.UnknownBaseError:
        raise ReplayError(
            f"the run's base commit {base[:12]} is not in the repository at {repo_root}; "
            "was its history rewritten, or is this another repository?"
        ) from None
    except repository.GitOpsError as exc:
        raise ReplayError(str(exc)) from None
    wanted = accepted_rows(ledger)
    if not wanted:
        return Matched(base_sha, {})
    root = Path(str(repo.working_tree_dir))
    try:
        sources = list_sources(
            root, [str(root)], base=base_sha, max_bytes=_NO_SIZE_LIMIT, only=set(wanted)
        )
    except SourceError as exc:
        raise ReplayError(str(exc)) from None
    found = {s.path: s for s in sources.files}
    files = {}
    for path in sorted(wanted):
        source = found.get(path)
        if source is None:
            raise ReplayError(
                f"{path} is not a readable Python file at the base commit {base_sha[:12]}"
            )
        planned = plan_file(source, budget)
        if isinstance(planned, SkippedFile):
            raise ReplayError(f"{path} no longer parses at the base commit: {planned.detail}")
        files[path] = (source.data, _match(path, source.data, planned, wanted[path]))
    return Matched(base_sha, files)
