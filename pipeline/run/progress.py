"""Running counts of a run (chunks done and their outcomes, tokens, cost, concurrency) for displays."""

from __future__ import annotations

import multiprocessing
import threading
from dataclasses import dataclass, field, replace

from pipeline.engines.proposal import Proposal
from pipeline.judge.verdicts import Status
from pipeline.model.attempts import Attempt
from pipeline.model.completion import Usage
from pipeline.model.prices import cost_text


def counted(n: int, noun: str) -> str:
    """`1 file`, `2 files`, `1,234 tokens`: a count and its noun, plural unless one."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class Snapshot:
    """The counts at one moment; displays render these and never touch the live counter."""

    total: int = 0
    done: int = 0
    accepted: int = 0
    rejected: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    usage: Usage = field(default_factory=Usage)
    concurrency_limit: int | None = None
    failed_attempts: int = 0  # HTTP attempts that ended in an error (most are retried)
    timeouts: int = 0
    last_error: str = ""  # the latest failed attempt's error, shown while the run goes on
    files: int = 0  # files to go through when their chunks are cut as they go (codemods): total 0
    files_done: int = 0
    judged: int = 0  # chunks judged in the workers, recorded or not yet: moves inside a large file
    model: bool = True  # a model run: tokens and cost are shown (a codemod run has neither)

    def counted(self) -> str:
        """`12/40 chunks`, or while the chunks are still being cut, `3/10 files, 12 chunks`."""
        if self.total or not self.files:
            return f"{self.done}/{self.total} chunks"
        return (
            f"{self.files_done}/{self.files} files, {counted(max(self.done, self.judged), 'chunk')}"
        )

    def fraction(self) -> float | None:
        """How much of the run is done, if that is known yet (chunks, else files)."""
        if self.total:
            return self.done / self.total
        return self.files_done / self.files if self.files else None

    def line(self) -> str:
        """One short line for logs and non-interactive terminals."""
        limit = "" if self.concurrency_limit is None else f", limit {self.concurrency_limit}"
        spent = f"; {counted(self.usage.tokens, 'token')}, {self.cost()}" if self.model else ""
        return (
            f"{self.counted()}: {self.accepted} accepted, {self.rejected} rejected, "
            f"{self.unchanged} unchanged, {self.skipped + self.failed} skipped/failed"
            f"{spent}{limit}{self.trouble()}"
        )

    def cost(self) -> str:
        """The cost so far, with the answers whose cost is unknown said so."""
        return cost_text(self.usage.cost_usd, self.usage.unpriced)

    def trouble(self) -> str:
        """ "; 3 failed attempts (2 timeouts), last: ..." when requests failed, else ""."""
        if not self.failed_attempts:
            return ""
        timeouts = f" ({self.timeouts} timeouts)" if self.timeouts else ""
        return f"; {self.failed_attempts} failed attempts{timeouts}, last: {self.last_error}"


class ChunkTicker:
    """Counts chunks judged, from any worker process (a shared integer, inherited by the forked or
    spawned workers): the display moves while a large file's chunks are judged, before its results
    come back. One locked add per chunk."""

    def __init__(self) -> None:
        self.judged = multiprocessing.Value("q", 0)

    def __call__(self, count: int) -> None:
        with self.judged.get_lock():
            self.judged.value += count

    @property
    def count(self) -> int:
        return int(self.judged.value)


@dataclass
class RunCounter:
    """Thread-safe counts updated as each proposal is recorded."""

    _snap: Snapshot = field(default_factory=Snapshot)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _paths: set[str] = field(default_factory=set, repr=False)  # files with a chunk or a skip seen
    _ticker: ChunkTicker | None = field(default=None, repr=False)

    def start(self, total: int, *, files: int = 0, model: bool = True) -> None:
        """`total` chunks; or, when chunks are cut as the run goes (total 0), `files` files. A codemod
        run (`model=False`) counts no tokens and no cost."""
        with self._lock:
            self._snap = replace(self._snap, total=total, files=files, model=model)

    def ticker(self) -> ChunkTicker:
        """What the workers tick as each chunk is judged (made once, before they start)."""
        if self._ticker is None:
            self._ticker = ChunkTicker()
        return self._ticker

    def file_left_out(self, path: str) -> None:
        """A file the engine left out (no trigger, no parse): done, with no chunk."""
        with self._lock:
            self._snap = replace(self._snap, files_done=self._file_done(path))

    def _file_done(self, path: str) -> int:
        self._paths.add(path)  # a file's chunks are recorded together: its first one finishes it
        return len(self._paths)

    def add(self, proposal: Proposal, concurrency_limit: int | None) -> None:
        status = proposal.verdict.status
        with self._lock:
            s = self._snap
            self._snap = replace(
                s,
                files_done=self._file_done(proposal.chunk.path),
                done=s.done + 1,
                accepted=s.accepted + (status is Status.ACCEPTED),
                rejected=s.rejected + (status is Status.REJECTED),
                unchanged=s.unchanged + (status is Status.UNCHANGED),
                skipped=s.skipped + (status is Status.SKIPPED),
                failed=s.failed + (status is Status.FAILED),
                usage=s.usage + proposal.usage,
                concurrency_limit=concurrency_limit,
            )

    def attempt(self, attempt: Attempt) -> None:
        """Hear of one HTTP attempt as it ends (the client's observer): failures show at once."""
        if attempt.ok:
            return
        with self._lock:
            s = self._snap
            self._snap = replace(
                s,
                failed_attempts=s.failed_attempts + 1,
                timeouts=s.timeouts + (attempt.outcome == "ModelTimeout"),
                last_error=attempt.error,
            )

    def snapshot(self) -> Snapshot:
        judged = 0 if self._ticker is None else self._ticker.count
        with self._lock:
            return replace(self._snap, judged=judged) if judged else self._snap
