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
from rich.table import Column

from pipeline.config import RunConfig
from pipeline.run.progress import RunCounter, Snapshot, counted
from pipeline.run.steps import Plan

PUBLISH_EVERY_S = 2.0
Publish = Callable[[float], None]  # the completed fraction, 0..1


def announce_start(config: RunConfig, recipe: str, engine: str, plan: Plan) -> None:
    """Say, before any work, which engine and model the run uses and how much it will look at."""
    if engine == "llm":
        how = f"model {config.model} at {config.base_url}"
        size = f"{counted(len(plan.files), 'file')}, {counted(plan.chunk_count, 'chunk')}"
    elif engine == "hybrid":
        how = f"the recipe's codemods first, then model {config.model} at {config.base_url}"
        size = counted(len(plan.files), "file")
    else:
        offline = (
            "offline" if config.engine == "codemod" else f"offline: {config.api_key_env} is not set"
        )
        how = f"libcst codemods ({offline})"
        size = counted(len(plan.files), "file")
    left_out = f", {len(plan.skipped)} left out" if plan.skipped else ""
    print(
        f"codemill: recipe {recipe}, engine {engine}, {how}; {size}{left_out}",
        file=sys.stderr,
        flush=True,
    )
    if config.test_found:
        print(
            f"codemill: test gate: {config.test_cmd} (found {config.test_found})", file=sys.stderr
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
        self._started = time.monotonic()

    def __enter__(self) -> ProgressDisplay:
        if self.enabled and self.interactive:
            counts = Column(no_wrap=True, min_width=11)  # keep their width: the detail gives way
            self._bar = Progress(
                TextColumn("[bold]codemill"),
                BarColumn(bar_width=20),
                MofNCompleteColumn(table_column=counts),
                TimeElapsedColumn(table_column=Column(no_wrap=True, min_width=7)),
                TextColumn("{task.fields[detail]}", table_column=Column(no_wrap=True, ratio=1)),
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
            total, completed, detail = bar_fields(snap)
            self._bar.update(self._task_id, total=total, completed=completed, detail=detail)
        elif not final:  # off a terminal: a line each tick, so a log shows the run is alive
            elapsed = int(time.monotonic() - self._started)
            print(f"codemill: {snap.line()}; {elapsed} s", file=sys.stderr, flush=True)

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


def bar_fields(snap: Snapshot) -> tuple[int, int, str]:
    """The bar's total, completed and detail: chunks, or files while the chunks are cut as the run
    goes (codemods: the detail's chunk count moves inside a large file). Tokens and cost for a model
    run only."""
    spent = f" {snap.usage.tokens:,} tok {snap.cost()}" if snap.model else ""
    detail = (
        f"[green]{snap.accepted} accepted[/] [red]{snap.rejected} rejected[/]{spent}"
        + ("" if snap.concurrency_limit is None else f" limit {snap.concurrency_limit}")
        + snap.trouble()
    )
    if snap.total or not snap.files:
        return snap.total, snap.done, detail
    chunks = counted(max(snap.done, snap.judged), "chunk")
    return snap.files, snap.files_done, f"files, {chunks}: {detail}"


class TerminalView:
    """The View of a run started from the command line: the start line, then the progress display."""

    def __init__(self, show_progress: bool = True) -> None:
        self.show_progress = show_progress

    def started(self, config: RunConfig, recipe: str, engine: str, plan: Plan) -> None:
        announce_start(config, recipe, engine, plan)

    def watching(self, counter: RunCounter, publish: Publish | None) -> ProgressDisplay:
        return ProgressDisplay(counter, enabled=self.show_progress, publish=publish)


# first match wins: the file headers before the lines they would pass for
_PATCH_COLOURS: tuple[tuple[str, str], ...] = (
    ("diff ", "\x1b[1m"),
    ("+++", "\x1b[1m"),
    ("---", "\x1b[1m"),
    ("@@", "\x1b[36m"),
    ("+", "\x1b[32m"),
    ("-", "\x1b[31m"),
)


def coloured_patch(text: str) -> str:
    """A unified diff coloured as git colours it: headers bold, hunks cyan, removals red, additions
    green (ANSI codes: only for a terminal)."""
    out = []
    for line in text.splitlines(keepends=True):
        colour = next((c for start, c in _PATCH_COLOURS if line.startswith(start)), "")
        body = line.rstrip("\n")
        out.append(f"{colour}{body}\x1b[0m{line[len(body) :]}" if colour else line)
    return "".join(out)
