"""How a run's steps are executed: a `Runner` runs each step under its name; a `View` shows the run.

The run (`pipeline.run.execute`) decides what happens and calls each step as a plain function; the runner
only says *how* it runs: `LocalRunner` calls it in this process (no orchestrator, no server, no Prefect
import), the Prefect runner (`flows.refactor.PrefectRunner`) runs it as a task of that name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Protocol, TypeVar

from pipeline.config import RunConfig
from pipeline.run.progress import RunCounter

if TYPE_CHECKING:
    from pipeline.records.ledger import Ledger
    from pipeline.report.directory import ReportPaths
    from pipeline.run.steps import Plan

T = TypeVar("T")


class Runner(Protocol):
    """Runs each step of a run under its name and gives back what the step returns."""

    name: str  # the orchestrator, as the run's first line names it

    def step(self, name: str, work: Callable[[], T]) -> T:
        """Run one synchronous step (plan, refactor-codemod, assemble, gate, commit, report)."""
        ...

    async def shard(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run one shard of the model's work: its chunks as coroutines on the run's loop."""
        ...

    def progress_sink(self) -> Callable[[float], None] | None:
        """Where the run's completed fraction is published as it moves (None: nowhere)."""
        ...

    def reported(self, paths: ReportPaths, ledger: Ledger) -> None:
        """The report is written: publish what the orchestrator shows of it (nothing, locally)."""
        ...


class LocalRunner:
    """Every step called directly in this process: no orchestrator at all."""

    name = "local"

    def step(self, name: str, work: Callable[[], T]) -> T:
        return work()

    async def shard(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        await work()

    def progress_sink(self) -> Callable[[float], None] | None:
        return None

    def reported(self, paths: ReportPaths, ledger: Ledger) -> None:
        return None


class View(Protocol):
    """What the person running codemill sees: the start line and a live display of the counts."""

    def started(self, config: RunConfig, recipe: str, engine: str, plan: Plan) -> None: ...

    def watching(
        self, counter: RunCounter, publish: Callable[[float], None] | None
    ) -> AbstractContextManager[object]: ...


class QuietView:
    """A View that shows nothing (library use, tests)."""

    def started(self, config: RunConfig, recipe: str, engine: str, plan: Plan) -> None:
        return None

    def watching(
        self, counter: RunCounter, publish: Callable[[float], None] | None
    ) -> AbstractContextManager[object]:
        return nullcontext()
