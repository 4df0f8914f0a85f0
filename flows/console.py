"""What a person sees while a run goes: a Rich progress bar on a terminal, a short line every few seconds
elsewhere (CI logs), and the completed fraction handed to a publisher (under Prefect, a progress artifact).

No Prefect here: a local run imports this module too.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from pipeline.config import RunConfig
from pipeline.run.progress import RunCounter, Snapshot
from pipeline.run.steps import Plan

PUBLISH_EVERY_S = 2.0
Publish = Callable[[float], None]  # the completed fraction, 0..1


def announce_start(config: RunConfig, recipe: str, engine: str, plan: Plan) -> None:
    """Say, before any work, which engine and model the run uses and how much it will look at."""
    if engine == "llm":
        how = f"model {config.model} at {config.base_url}"
    elif engine == "hybrid":
        how = f"the recipe's codemods first, then model {config.model} at {config.base_url}"
    elif config.engine == "codemod":
        how = "libcst codemods (offline)"
    else:
        how = f"libcst codemods (offline: {config.api_key_env} is not set)"
    print(
        f"codemill: recipe {recipe}, engine {engine}, {how}; {len(plan.files)} files, "
        f"{plan.chunk_count if plan.chunked else 'their'} chunks, {len(plan.skipped)} files left out",
        file=sys.stderr,
        flush=True,
    )


class ProgressDisplay:
    """Renders a RunCounter until closed; `interactive=None` decides from whether stderr is a terminal."""

    def __init__(
        self,
        counter: RunCounter,
        *,
        enabled: bool = True,
        interactive: bool | None = None,
        line_every_s: float = 5.0,
        publish: Publish | None = None,
    ) -> None:
        self.counter = counter
        self.enabled = enabled
        self.interactive = sys.stderr.isatty() if interactive is None else interactive
        self.line_every_s = line_every_s
        self._publish = publish
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._console = Console(stderr=True)
        self._bar: Progress | None = None
        self._task_id: TaskID | None = None
        self._last_line = ""

    def __enter__(self) -> ProgressDisplay:
        if self.enabled and self.interactive:
            self._bar = Progress(
                TextColumn("[bold]codemill"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                console=self._console,
                transient=False,
            )
            self._bar.start()
            self._task_id = self._bar.add_task("chunks", total=None, detail="")
        self._thread = threading.Thread(target=self._loop, name="codemill-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._render(self.counter.snapshot(), final=True)
        if self._bar is not None:
            self._bar.stop()

    def _loop(self) -> None:
        tick = 0.2 if self._bar is not None else self.line_every_s
        last_published = 0.0
        while not self._stop.wait(tick):
            snap = self.counter.snapshot()
            self._render(snap, final=False)
            now = time.monotonic()
            if now - last_published >= PUBLISH_EVERY_S:
                last_published = now
                self._published(snap)

    def _render(self, snap: Snapshot, *, final: bool) -> None:
        if final:
            self._published(snap, final=True)
        if not self.enabled:
            return
        if self._bar is not None and self._task_id is not None:
            detail = (
                f"[green]{snap.accepted} accepted[/] [red]{snap.rejected} rejected[/] "
                f"{snap.usage.tokens:,} tok {snap.cost()}"
                + ("" if snap.concurrency_limit is None else f" limit {snap.concurrency_limit}")
                + snap.trouble()
            )
            if snap.total or not snap.files:
                self._bar.update(
                    self._task_id, total=snap.total, completed=snap.done, detail=detail
                )
            else:  # chunks cut as the run goes: files are what is counted out of a known total
                detail = f"files, {snap.done} chunks: {detail}"
                self._bar.update(
                    self._task_id, total=snap.files, completed=snap.files_done, detail=detail
                )
        elif not final and snap.done and (line := snap.line()) != self._last_line:
            self._last_line = line  # off a terminal, a line only when something changed
            print(f"codemill: {line}", file=sys.stderr, flush=True)

    def _published(self, snap: Snapshot, *, final: bool = False) -> None:
        # A codemod run cuts its chunks in the workers: its fraction is of files until the end, when
        # the whole of it is published once the display closes.
        fraction = 1.0 if final and snap.done and not snap.total else snap.fraction()
        if self._publish is None or fraction is None:
            return
        try:
            self._publish(fraction)
        except (
            Exception
        ):  # a published progress is a convenience; the ledger is the record of the run
            self._publish = None


class TerminalView:
    """The View of a run started from the command line: the start line, then the progress display."""

    def __init__(self, show_progress: bool = True) -> None:
        self.show_progress = show_progress

    def started(self, config: RunConfig, recipe: str, engine: str, plan: Plan) -> None:
        announce_start(config, recipe, engine, plan)

    def watching(self, counter: RunCounter, publish: Publish | None) -> ProgressDisplay:
        return ProgressDisplay(counter, enabled=self.show_progress, publish=publish)
