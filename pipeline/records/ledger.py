"""The run's record: one row per chunk (and per skipped file), streamed to ledger.jsonl; totals.

ledger.jsonl holds one JSON object per line, each with a "record" field:
  {"record": "run", run_id, recipe, engine, model, base_commit, policy, started}  first line, at start
  {"record": "row", ...every LedgerRow field...}                         a chunk or a skipped file
  {"record": "end", finished, stop_reason, outcome}                      last line, by finish()
A crashed run has no "end" line (maybe a half-written last line, which reading drops); every line
written before the crash is kept. There is no field for an API key, on purpose.

Integrity: every record also carries "sha256", chained over the records before it (`records.chain`);
`Ledger.read` sets `damage` when a record does not match.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Self

from pipeline.engines.proposal import has_future_annotations
from pipeline.errors import UsageError
from pipeline.evidence.levels import Evidence, counts
from pipeline.judge.policy import Allowances, Policy
from pipeline.judge.verdicts import Reason, Status, Verdict
from pipeline.model.attempts import Attempt
from pipeline.model.completion import Usage
from pipeline.model.forecast import TokenForecast
from pipeline.paths import create_private, write_atomic
from pipeline.records.chain import Chain
from pipeline.source.chunking import Chunk

FILE_KIND = "file"  # the kind of a row that stands for a whole skipped file


class LedgerError(UsageError):
    """A ledger file that cannot be read or written as asked."""


@dataclass(frozen=True)
class ChunkSpan:
    """Where a chunk lies in its file at the base commit, and its layout: what replays it without
    cutting the file again. `text_sha256` is the digest of the chunk's text as the run cut it from
    those bytes, so a replay proves it rebuilt the very chunk the run judged."""

    start_byte: int
    end_byte: int
    indent: str
    newline: str
    encoding: str
    enclosing: tuple[str, ...]
    text_sha256: str
    future_annotations: bool  # the module has `from __future__ import annotations`

    @classmethod
    def of(cls, chunk: Chunk) -> ChunkSpan:
        """The span of `chunk` as it goes into its ledger row."""
        return cls(
            chunk.start_byte,
            chunk.end_byte,
            chunk.indent,
            chunk.newline,
            chunk.encoding,
            tuple(chunk.enclosing),
            text_digest(chunk.text),
            has_future_annotations(chunk),
        )


def text_digest(text: str) -> str:
    """The sha256 of a chunk's text (any lone surrogate digested too, never an error)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class LedgerRow:
    """What happened to one chunk (or one skipped file) of a run."""

    run_id: str
    path: str
    chunk: str  # qualified name, e.g. "Parser.parse"; "" for a whole-file row
    kind: str  # a ChunkKind, or FILE_KIND for a skipped file
    start_line: int
    end_line: int
    digest: str
    status: Status
    reason: Reason | str | None = None
    detail: str = ""
    engine: str = "llm"  # "llm" | "codemod" | "codemod+llm" (a hybrid run: what made this change)
    model: str | None = None
    usage: Usage = field(default_factory=Usage)  # flat in the JSON row, `cache_hit` beside it
    concurrency_limit: int | None = None
    gates: dict[str, str] = field(default_factory=dict)  # gate name -> decision
    new_text: str | None = None  # the accepted replacement, dedented
    shadow_calls: int | None = None  # calls the gate's shadow run compared (None: not shadowed)
    shadow_equal: int | None = None  # of those, equal to the original's outcome
    requests: list[Attempt] = field(default_factory=list)  # every HTTP attempt: latency, outcome
    forecast: TokenForecast | None = None  # the tokens forecast for the first request
    turns: list[dict[str, object]] = field(default_factory=list)  # every model turn, its cost
    span: ChunkSpan | None = None  # None for a whole-file row
    rule: str = ""  # the deterministic rewrites behind the change, comma-separated (`ruff:UP031`)
    evidence: Evidence | None = (
        None  # what proved an accepted chunk (pipeline.evidence), once gated
    )

    @property
    def chunk_id(self) -> str:
        """The chunk's id in its run, `PATH::NAME@LINE` (the gates' and `amend`'s key): what a reviewer's
        selection names, the same in report.html and `codemill apply --select`."""
        return f"{self.path}::{self.chunk}@{self.start_line}"

    @classmethod
    def for_chunk(cls, run_id: str, chunk: Chunk, verdict: Verdict, **fields: Any) -> LedgerRow:
        """A row for a chunk and its verdict; usage, timing and engine fields come as keywords."""
        return cls(
            run_id=run_id,
            path=chunk.path,
            chunk=chunk.name,
            kind=chunk.kind,
            start_line=chunk.start_line,
            end_line=chunk.end_line,
            digest=chunk.digest,
            status=verdict.status,
            reason=verdict.reason,
            detail=verdict.detail,
            span=ChunkSpan.of(chunk),
            **fields,
        )

    @classmethod
    def for_skipped_file(
        cls, run_id: str, path: str, reason: Reason | str, detail: str
    ) -> LedgerRow:
        """A row for a file never chunked (does not parse, not UTF-8, generated, too big...)."""
        return cls(run_id, path, "", FILE_KIND, 0, 0, "", Status.SKIPPED, reason, detail)

    def to_json(self) -> dict[str, Any]:
        """The row as a JSON-ready dict: enums as their string values, the usage fields flat."""
        data = dataclasses.asdict(self)
        data["status"] = str(self.status)
        data["reason"] = None if self.reason is None else str(self.reason)
        usage = data.pop("usage")
        at = list(data).index("concurrency_limit")
        items = list(data.items())
        flat = [*usage.items(), ("cache_hit", self.usage.from_cache)]
        return dict(items[:at] + flat + items[at:])

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LedgerRow:
        """Rebuild a row; unknown reason codes stay plain strings, unknown keys are an error.

        A ledger written before rows counted `cache_hits` has only the `cache_hit` flag: every
        attempt of a flagged row came from the cache.
        """
        data = dict(data)
        data["status"] = Status(data["status"])
        reason = data.get("reason")
        if reason is not None and reason in Reason._value2member_map_:
            data["reason"] = Reason(reason)
        if data.pop("cache_hit", False) and "cache_hits" not in data:
            data["cache_hits"] = data.get("attempts", 0)
        data["requests"] = [Attempt(**a) for a in data.get("requests") or []]
        if data.get("forecast") is not None:
            data["forecast"] = TokenForecast(**data["forecast"])
        if data.get("evidence") is not None:
            data["evidence"] = Evidence.from_json(data["evidence"])
        if data.get("span") is not None:
            data["span"] = ChunkSpan(
                **{**data["span"], "enclosing": tuple(data["span"]["enclosing"])}
            )
        usage = Usage.from_json(data)
        for name in usage.to_json():
            data.pop(name, None)
        return cls(**data, usage=usage)


@dataclass
class RunMeta:
    """Who ran what on which commit, and how the run ended."""

    run_id: str
    recipe: str
    engine: str
    model: str | None
    base_commit: str | None
    budget: int | None = None  # the chunk token budget the run cut its files with
    policy: Policy | None = None  # what the run's verdicts were decided under: `apply` proves again
    target_python_from: str | None = None  # where the policy's target Python came from, in words
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    finished: str | None = None
    stop_reason: str | None = None  # e.g. "max-cost reached", or the fatal error's sentence
    outcome: str | None = None  # "done", "stopped" (early, by a limit or an error) or "interrupted"
    gates: dict[str, str] = field(
        default_factory=dict
    )  # gate name -> what it did (runs, time, drops)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunMeta:
        """The run record read back (its policy rebuilt from JSON)."""
        policy = data.pop("policy", None)
        if policy is not None:
            allowances = Allowances(**policy["allowances"])
            policy = Policy(allowances, tuple(policy["target_python"]))
        return cls(**data, policy=policy)


@dataclass(frozen=True)
class Totals:
    """Counts and sums over a ledger's rows; `cached_rows` counts rows the cache answered entirely."""

    rows: int
    files: int
    by_status: dict[str, int]
    by_reason: dict[str, int]
    usage: Usage
    cached_rows: int
    forecast: TokenForecast = field(
        default_factory=TokenForecast
    )  # forecast of the rows answered in one fresh request
    forecast_actual: TokenForecast = field(
        default_factory=TokenForecast
    )  # what those same rows took
    evidence: dict[str, int] = field(default_factory=dict)  # accepted rows by evidence level


class Ledger:
    """Thread-safe list of rows; with stream_to, each row is appended to the file as it arrives."""

    def __init__(self, meta: RunMeta, stream_to: Path | None = None) -> None:
        self.meta = meta
        self._rows: list[LedgerRow] = []
        self._lock = threading.Lock()
        self._stream: IO[str] | None = None
        self._stream_path = stream_to
        self._chain = Chain()
        self.damage: str | None = None  # read back: why the file is not as the run wrote it
        self.origin: Path | None = None  # read back: the file it was read from
        self._amended = (
            False  # a row changed after it was streamed: the file is rewritten at the end
        )
        if stream_to is not None:
            try:
                self._stream = create_private(stream_to)
            except FileExistsError:
                msg = f"ledger {stream_to} already exists; a run never appends to another's"
                raise LedgerError(msg) from None
            self._stream.write(self._chain.line("run", self._start_fields()))
            self._stream.flush()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start_fields(self) -> dict[str, Any]:
        data = dataclasses.asdict(self.meta)
        del data["finished"], data["stop_reason"], data["outcome"], data["gates"]
        return data

    def _end_fields(self) -> dict[str, Any]:
        return {
            "finished": self.meta.finished,
            "stop_reason": self.meta.stop_reason,
            "outcome": self.meta.outcome,
            "gates": self.meta.gates,
        }

    def append(self, row: LedgerRow) -> None:
        """Record one row (and stream it, flushed, so a crash keeps it)."""
        data = row.to_json()
        with self._lock:
            if self._stream_path is not None and self._stream is None:
                msg = f"ledger {self._stream_path} is closed; row for {row.path} not recorded"
                raise LedgerError(msg)
            self._rows.append(row)
            if self._stream is not None:
                self._stream.write(self._chain.line("row", data))
                self._stream.flush()

    def amend(self, row: LedgerRow) -> None:
        """Replace the recorded row of the same chunk (path, name, first line) after a later decision.

        Rows stream as chunks finish, so a crash keeps them; a gate that overturns a verdict amends the
        row in memory and `write` then rewrites the whole file atomically.
        """
        key = (row.path, row.chunk, row.start_line)
        with self._lock:
            for index, old in enumerate(self._rows):
                if (old.path, old.chunk, old.start_line) == key:
                    self._rows[index] = row
                    self._amended = True
                    return
        raise LedgerError(f"no ledger row for {row.path}::{row.chunk} at line {row.start_line}")

    def finish(self, stop_reason: str | None = None, outcome: str | None = None) -> None:
        """Mark the run finished (with why it stopped early, if it did) and close the stream."""
        with self._lock:
            self.meta.finished = datetime.now(UTC).isoformat(timespec="seconds")
            self.meta.stop_reason = stop_reason
            self.meta.outcome = outcome or ("stopped" if stop_reason else "done")
        self.close()

    def close(self) -> None:
        """Write the end line if finished, fsync and close the stream; idempotent."""
        with self._lock:
            if self._stream is None:
                return
            if self.meta.finished is not None:
                self._stream.write(self._chain.line("end", self._end_fields()))
            self._stream.flush()
            os.fsync(self._stream.fileno())
            self._stream.close()
            self._stream = None

    @property
    def rows(self) -> list[LedgerRow]:
        """A snapshot of the rows, in arrival order."""
        with self._lock:
            return list(self._rows)

    def rows_for(self, path: str) -> list[LedgerRow]:
        """The rows of one file, in line order."""
        return sorted((r for r in self.rows if r.path == path), key=lambda r: r.start_line)

    def totals(self) -> Totals:
        """Counts by status and reason, token and cost sums, cache hits."""
        rows = self.rows
        by_status = Counter(str(r.status) for r in rows)
        by_reason = Counter(str(r.reason) for r in rows if r.reason is not None)
        return Totals(
            rows=len(rows),
            files=len({r.path for r in rows}),
            by_status={str(s): by_status[str(s)] for s in Status if by_status[str(s)]},
            by_reason=dict(sorted(by_reason.items())),
            usage=sum((r.usage for r in rows), Usage()),
            cached_rows=sum(1 for r in rows if r.usage.from_cache),
            evidence=counts(
                [r.evidence.level for r in rows if r.status is Status.ACCEPTED and r.evidence]
            ),
            **_forecast_sums(rows),
        )

    def dumps(self) -> str:
        """The whole ledger in the ledger.jsonl format."""
        chain = Chain()
        lines = [chain.line("run", self._start_fields())]
        lines += [chain.line("row", r.to_json()) for r in self.rows]
        if self.meta.finished is not None:
            lines.append(chain.line("end", self._end_fields()))
        return "".join(lines)

    def write(self, path: Path) -> None:
        """Write ledger.jsonl atomically; only a flush when the ledger already streams there."""
        if self._stream_path is not None and path.resolve() == self._stream_path.resolve():
            self.close()
            if not self._amended:
                return
        write_atomic(path, self.dumps().encode("utf-8"))

    @classmethod
    def read(cls, path: Path) -> Ledger:
        """Load a ledger.jsonl; a torn last line (crash mid-write) is dropped, others are errors."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise LedgerError(f"cannot read ledger {path}: {exc}") from exc
        lines = text.split("\n")
        if lines and lines[-1] and not _parses(lines[-1]):
            lines.pop()  # torn final write
        ledger = cls._from_lines(path, (ln for ln in lines if ln))
        ledger.origin = path
        return ledger

    @classmethod
    def _from_lines(cls, path: Path, lines: Iterable[str]) -> Ledger:
        ledger: Ledger | None = None
        chain, damage = Chain(), None
        for number, line in enumerate(lines, start=1):
            try:
                data = json.loads(line)
                why = chain.check(data)
                if why is not None and damage is None:
                    damage = f"line {number} {why}"
                record = data.pop("record")
                if ledger is None:
                    if record != "run":
                        raise ValueError("the first line is not a run record")
                    ledger = cls(RunMeta.from_json(data))
                else:
                    ledger._read_record(record, data)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise LedgerError(f"ledger {path} line {number} is not valid: {exc}") from exc
        if ledger is None:
            raise LedgerError(f"ledger {path} is empty")
        ledger.damage = damage
        return ledger

    def _read_record(self, record: str, data: dict[str, Any]) -> None:
        """Take in one record after the run record: a row, or the end."""
        if record == "row":
            self._rows.append(LedgerRow.from_json(data))
        elif record == "end":
            self.meta.finished = data["finished"]
            self.meta.stop_reason = data["stop_reason"]
            self.meta.outcome = data.get("outcome")
            self.meta.gates = data.get("gates", {})
        else:
            raise ValueError(f"unknown record {record!r}")


def _forecast_sums(rows: list[LedgerRow]) -> dict[str, TokenForecast]:
    """Forecast against actual tokens, over the rows a single request's forecast describes: one
    answer, freshly paid for, with its counts reported."""
    sent = [r for r in rows if r.forecast and r.usage.attempts == 1 and not r.usage.cache_hits]
    sent = [r for r in sent if not r.usage.unreported]
    forecast = sum((r.forecast or TokenForecast() for r in sent), TokenForecast())
    actual = sum(
        (TokenForecast(r.usage.prompt_tokens, r.usage.completion_tokens) for r in sent),
        TokenForecast(),
    )
    return {"forecast": forecast, "forecast_actual": actual}


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True
