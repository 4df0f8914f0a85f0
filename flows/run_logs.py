"""codemill's own lines in an orchestrator's run log: the start line, a progress line every few seconds
while the counts move, and the end lines; each with URL credentials and the model key masked.

A View around the terminal's: the person at the terminal sees what they always did, and the flow run's
Logs tab (Prefect's run logger is the `logger` given) reads the same story. No Prefect import here.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Protocol

from flows.prefect_view import start_line
from pipeline.config import RunConfig
from pipeline.redact import redact_text
from pipeline.run.progress import RunCounter
from pipeline.run.runner import View
from pipeline.run.steps import Plan

LOG_EVERY_S = 5.0


class LineLogger(Protocol):
    """What is needed of a logger (a `logging.Logger`, or Prefect's run logger adapter)."""

    def info(self, msg: str, /) -> None: ...


class LoggedView:
    """The inner view, and the run's start, progress and end lines sent to `logger` as well."""

    def __init__(
        self,
        inner: View,
        logger: LineLogger | logging.Logger,
        secrets: Iterable[str | None] = (),
        every_s: float = LOG_EVERY_S,
    ) -> None:
        self.inner = inner
        self.logger = logger
        self.secrets = [s for s in secrets if s]
        self.every_s = every_s

    def log(self, line: str) -> None:
        """One line to the run's log, secrets masked; a log that fails never stops the run."""
        with contextlib.suppress(Exception):
            self.logger.info(redact_text(line, self.secrets))

    def started(self, config: RunConfig, recipe: str, engine: str, plan: Plan) -> None:
        self.inner.started(config, recipe, engine, plan)
        chunks = plan.chunk_count if plan.chunked else None
        self.log(start_line(config, engine, len(plan.files), chunks, len(plan.skipped)))

    def watching(
        self, counter: RunCounter, publish: Callable[[float], None] | None
    ) -> AbstractContextManager[object]:
        return self._watching(counter, publish)

    @contextlib.contextmanager
    def _watching(
        self, counter: RunCounter, publish: Callable[[float], None] | None
    ) -> Iterator[object]:
        stop = threading.Event()
        last = [""]

        def line() -> None:
            snap = counter.snapshot()
            if snap.done and (text := snap.line()) != last[0]:
                last[0] = text
                self.log(f"codemill: {text}")

        def loop() -> None:
            while not stop.wait(self.every_s):
                line()

        run_in_context = contextvars.copy_context().run  # the flow run's logger settings
        thread = threading.Thread(
            target=run_in_context, args=(loop,), name="codemill-run-log", daemon=True
        )
        with self.inner.watching(counter, publish) as shown:
            thread.start()
            try:
                yield shown
            finally:
                stop.set()
                thread.join()
                line()  # the counts as the step ended
