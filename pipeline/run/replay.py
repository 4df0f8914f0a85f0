"""A finished run's changes rebuilt from its ledger: no model call, so a reviewed dry run can become a branch.

Each accepted row records its chunk's byte span in the base file, its layout and the digest of the text the
run judged. The base file is read from the run's base commit, each chunk is rebuilt from the bytes of its
span (no file is cut again, so a replay cannot disagree with how the run cut it, whichever engine cut it)
and checked against that digest, its text is proven again under the run's recorded policy, and spliced in
exactly as the run did.

The ledger is data, not trust: the proof is the engines' own per-chunk entry (`judge_answer`), the checks
that need no model and no tests (parse, target syntax, compile in context, interface kept, names, the
recipe's scope). An edited `new_text` (a syntax error, an added import or call) fails it whatever the
ledger's digests say; those digests (`pipeline.records.ledger`) only catch damage and casual edits.

Refused with one sentence, never guessed: a ledger not as its run wrote it, a missing base commit, a text
that fails its proof. A chunk that cannot be rebuilt is codemill's fault: the message says so and points
to the run's own changes.patch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from pipeline import repository
from pipeline.errors import UsageError
from pipeline.judge.names import ModuleNames, module_names
from pipeline.judge.policy import Policy
from pipeline.judge.validation import judge_answer
from pipeline.judge.verdicts import Status
from pipeline.records.ledger import ChunkSpan, Ledger, LedgerError, LedgerRow, text_digest
from pipeline.run.parallel import available_cores, ordered_map
from pipeline.source.chunking import Chunk, ChunkKind, ScopeKind
from pipeline.source.files import SourceError, SourceFile, list_sources
from pipeline.source.layout import dedent, lf
from pipeline.source.splicing import splice

LEDGER_NAME = "ledger.jsonl"
_NO_SIZE_LIMIT = 1 << 62
PARALLEL_FROM = 64  # accepted rows from which files are proven on every core (forked workers)


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


def read_intact(run_dir: Path) -> Ledger:
    """The ledger of the run in `run_dir`, refused unless every record is as the run wrote it."""
    ledger = read_ledger(run_dir)
    if ledger.damage is not None:
        raise ReplayError(
            f"{run_dir / LEDGER_NAME} is not as its run wrote it ({ledger.damage}); "
            "codemill replays only a ledger it wrote, so nothing was replayed"
        )
    return ledger


def accepted_rows(ledger: Ledger) -> dict[str, list[LedgerRow]]:
    """Accepted rows with a replacement text, by path."""
    rows: dict[str, list[LedgerRow]] = {}
    for row in ledger.rows:
        if row.status is Status.ACCEPTED and row.new_text is not None:
            rows.setdefault(row.path, []).append(row)
    return rows


def _fault(path: str, row: LedgerRow, why: str, patch: str) -> ReplayError:
    """A chunk the replay cannot rebuild: codemill's fault, never the user's; the run's patch still holds."""
    return ReplayError(
        f"{path}: chunk {row.chunk or '(statements)'} (lines {row.start_line}-{row.end_line}) "
        f"cannot be replayed ({why}); this is a codemill bug, not a change of yours: "
        f"apply the run's own patch with `git apply {patch}` instead"
    )


def _texts(raw: str, span: ChunkSpan) -> Iterator[str | None]:
    """The texts a chunk's base bytes can have been cut into, likeliest first: dedented with "\\n"
    newlines (the rule), as they are (a top-level chunk whose newlines mix), from after a BOM character
    (a span the codemod engine took in from the file head). None where the dedent is lossy."""
    yield dedent(lf(raw), span.indent)
    yield raw
    if raw.startswith("\ufeff"):
        yield dedent(lf(raw.lstrip("\ufeff")), span.indent)


def rebuilt(source: SourceFile, row: LedgerRow, patch: str) -> Chunk:
    """The chunk the run judged for `row`, rebuilt from the bytes of its span at the base commit."""
    span = row.span
    if span is None:
        raise _fault(source.path, row, "its row records no byte span", patch)
    if not 0 <= span.start_byte <= span.end_byte <= len(source.data):
        raise _fault(source.path, row, "its byte span lies outside the file", patch)
    try:
        raw = source.data[span.start_byte : span.end_byte].decode(span.encoding)
    except (UnicodeDecodeError, LookupError):
        raise _fault(
            source.path, row, f"its bytes do not decode as {span.encoding}", patch
        ) from None
    text = next(
        (t for t in _texts(raw, span) if t is not None and text_digest(t) == span.text_sha256), None
    )
    if text is None:
        raise _fault(source.path, row, "its bytes are not the text the run judged", patch)
    return Chunk(
        path=source.path,
        start_byte=span.start_byte,
        end_byte=span.end_byte,
        start_line=row.start_line,
        end_line=row.end_line,
        kind=cast(ChunkKind, row.kind),
        name=row.chunk,
        text=text,
        indent=span.indent,
        enclosing=cast(tuple[ScopeKind, ...], span.enclosing),
        newline=span.newline,
        encoding=span.encoding,
    )


Pairs = list[tuple[Chunk, LedgerRow]]


def _spliced(source: SourceFile, pairs: Pairs) -> bytes:
    try:
        return splice(source.data, [(chunk, row.new_text or "") for chunk, row in pairs])
    except ValueError as exc:
        raise ReplayError(str(exc)) from None


@dataclass(frozen=True)
class Matched:
    """A run's accepted rows, each paired with its chunk of the base file: what a gate needs to judge them."""

    base_commit: str
    files: dict[str, tuple[bytes, Pairs]]  # path -> (bytes at base, pairs)
    after: dict[str, bytes]  # path -> bytes with every row spliced in

    def changes(self) -> Changes:
        """Every row's text spliced into its file: path -> (bytes at base, bytes after), changed only."""
        return {
            path: (data, self.after[path])
            for path, (data, _) in sorted(self.files.items())
            if self.after[path] != data
        }


def replay(repo_root: Path, ledger: Ledger) -> Replay:
    """Rebuild the run's changes on its base commit in the repository at `repo_root`."""
    matched = match_rows(repo_root, ledger)
    return Replay(ledger, matched.base_commit, matched.changes())


def disproof(chunk: Chunk, row: LedgerRow, policy: Policy, names: ModuleNames | None) -> str | None:
    """Why the row's accepted text fails the per-chunk proof on `chunk`; None when it passes again."""
    future = row.span is not None and row.span.future_annotations
    judged = judge_answer(
        chunk,
        row.new_text or "",
        policy=policy,
        module_has_future_annotations=future,
        names=names,
    )
    verdict = judged.verdict
    if verdict.status is Status.ACCEPTED:
        return None
    return verdict.detail or f"it is {verdict.reason or verdict.status}"


def _names(source: SourceFile, engine: str) -> ModuleNames | None:
    """The module names a chunk's proof reads: the base module's, as the model engine gave them. The
    codemod engine read the whole module its codemods made, which a rejected chunk's share is missing
    from in the ledger, so its chunks are proven without the undefined-name check (as `names=None`
    does everywhere); every other check holds. A hybrid run's rows name their own engine: a row its
    codemods made (`codemod`, `codemod+llm`) is proven as the codemod engine's (`_names_apply`)."""
    return module_names(source.text) if engine != "codemod" else None


def _names_apply(row: LedgerRow) -> bool:
    """Whether a row's proof reads the base module's names (not for a change the codemods made)."""
    return not row.engine.startswith("codemod")


@dataclass(frozen=True)
class _FileProof:
    """One file's share of a replay, as sent to a worker process: its base, its rows, how to judge."""

    source: SourceFile
    rows: tuple[LedgerRow, ...]
    policy: Policy
    engine: str
    patch: str  # where the run's changes.patch is, for a message that blames codemill


def _proven(job: _FileProof) -> tuple[Pairs, bytes] | str:
    """The file's rows paired with their rebuilt chunks, each proven again, and the file they make;
    or the one sentence why not (a string: it crosses back from a worker process)."""
    source = job.source
    try:
        pairs = [(rebuilt(source, row, job.patch), row) for row in job.rows]
        names = _names(source, job.engine)
        for chunk, row in pairs:
            why = disproof(chunk, row, job.policy, names if _names_apply(row) else None)
            if why is not None:
                return (
                    f"{source.path}: the accepted text of chunk {row.chunk} (lines {row.start_line}-"
                    f"{row.end_line}) fails its proof again, so the ledger was changed after the run "
                    f"and nothing was replayed: {why}"
                )
        return pairs, _spliced(source, pairs)
    except ReplayError as exc:
        return str(exc)


def _died(job: _FileProof) -> str:
    return f"{job.source.path}: the worker process proving its chunks died; nothing was replayed"


def _base(repo_root: Path, ledger: Ledger) -> tuple[Path, str]:
    """The repository's root and the run's base commit resolved in it."""
    base = ledger.meta.base_commit
    if not base:
        raise ReplayError(
            f"run {ledger.meta.run_id} recorded no base commit; it cannot be replayed"
        )
    try:
        repo = repository.open_repository(repo_root)
        return Path(str(repo.working_tree_dir)), repository.resolve_base(repo, base)
    except repository.UnknownBaseError:
        raise ReplayError(
            f"the run's base commit {base[:12]} is not in the repository at {repo_root}; "
            "was its history rewritten, or is this another repository?"
        ) from None
    except repository.GitOpsError as exc:
        raise ReplayError(str(exc)) from None


def match_rows(repo_root: Path, ledger: Ledger) -> Matched:
    """The run's accepted rows matched to their chunks of the base file, each proven again."""
    root, base_sha = _base(repo_root, ledger)
    wanted = accepted_rows(ledger)
    if not wanted:
        return Matched(base_sha, {}, {})
    patch = str(ledger.origin.parent / "changes.patch") if ledger.origin else "changes.patch"
    try:
        sources = list_sources(
            root, [str(root)], base=base_sha, max_bytes=_NO_SIZE_LIMIT, only=set(wanted)
        )
    except SourceError as exc:
        raise ReplayError(str(exc)) from None
    found = {s.path: s for s in sources.files}
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise ReplayError(
            f"{missing[0]} is not a readable Python file at the base commit {base_sha[:12]}"
        )
    meta = ledger.meta
    if meta.policy is None:
        path = min(wanted)
        why = "the run recorded no policy to prove it under"
        raise _fault(path, wanted[path][0], why, patch)
    jobs = [
        _FileProof(found[path], tuple(wanted[path]), meta.policy, meta.engine, patch)
        for path in sorted(wanted)
    ]
    workers = available_cores() if sum(map(len, wanted.values())) >= PARALLEL_FROM else 1
    files, after = {}, {}
    for job, proven in zip(
        jobs, ordered_map(_proven, jobs, jobs=workers, crashed=_died), strict=True
    ):
        if isinstance(proven, str):
            raise ReplayError(proven)
        files[job.source.path], after[job.source.path] = (job.source.data, proven[0]), proven[1]
    return Matched(base_sha, files, after)
