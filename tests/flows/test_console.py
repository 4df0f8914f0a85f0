"""What a person sees while a run goes: a Rich bar on a terminal, a short line every few seconds elsewhere."""

from __future__ import annotations

import time

import pytest

from flows.console import ProgressDisplay
from pipeline.engines.proposal import Proposal
from pipeline.judge.verdicts import Reason, Verdict
from pipeline.model.completion import Usage
from pipeline.run.progress import RunCounter
from pipeline.source.chunking import Chunk

CHUNK = Chunk("m.py", 0, 10, 1, 1, "function", "f", "def f(): pass\n")


def feed(counter: RunCounter, verdicts: list[Verdict], pause: float) -> None:
    for verdict in verdicts:
        counter.add(
            Proposal(CHUNK, verdict, usage=Usage(prompt_tokens=100, completion_tokens=20)), 8
        )
        time.sleep(pause)


def test_non_interactive_progress_prints_a_line_every_few_seconds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    counter = RunCounter()
    counter.start(4)
    verdicts = [Verdict.accepted()] * 3 + [Verdict.rejected(Reason.LAZY, "elided")]
    with ProgressDisplay(counter, interactive=False, line_every_s=0.1):
        feed(counter, verdicts, 0.15)
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("codemill: ")]
    assert 3 <= len(lines) <= 8  # one per tick, not one per chunk or per redraw
    assert lines[-1].startswith("codemill: 4/4 chunks: 3 accepted, 1 rejected")
    assert "480 tokens" in lines[-1] and "limit 8" in lines[-1]


def test_terminal_progress_is_a_rich_bar_with_counts(capsys: pytest.CaptureFixture[str]) -> None:
    counter = RunCounter()
    counter.start(2)
    with ProgressDisplay(counter, interactive=True):
        feed(counter, [Verdict.accepted(), Verdict.unchanged()], 0.05)
    err = capsys.readouterr().err
    assert "2/2" in err and "1 accepted" in err and "limit 8" in err
    assert "codemill: 2/2 chunks" not in err  # the bar, not the log lines


def test_disabled_progress_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    counter = RunCounter()
    counter.start(1)
    with ProgressDisplay(counter, enabled=False, interactive=False, line_every_s=0.01):
        feed(counter, [Verdict.accepted()], 0.05)
    assert capsys.readouterr().err == ""


def test_a_codemod_run_counts_files_out_of_their_total_and_publishes_that_fraction(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the whole bar on one line
    counter = RunCounter()
    counter.start(0, files=4)  # chunks are cut in the workers: only the files are known up front
    published: list[float] = []
    with ProgressDisplay(counter, interactive=True, publish=published.append):
        feed(counter, [Verdict.accepted(), Verdict.unchanged()], 0.05)  # both chunks of m.py
        counter.file_left_out("n.py")
    err = capsys.readouterr().err
    assert "2/4" in err and "files, 2 chunks" in err
    assert "/0" not in err  # never "N/0 chunks"
    assert published[-1] == 1.0  # the final publish: the whole run
    assert all(0.0 <= f <= 1.0 for f in published)
