"""The run's display as a daily user reads it: a codemod run shows no tokens or cost, a log gets a line
every few seconds even while nothing finishes, the elapsed time survives an 80-column terminal, and the
chunk count moves while the workers judge a large file's chunks, before its results come back."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from flows.console import ProgressDisplay, announce_start
from pipeline.config import RunConfig
from pipeline.engines.codemod_files import CodemodFileEngine
from pipeline.engines.proposal import Proposal
from pipeline.judge.policy import Policy
from pipeline.judge.verdicts import Verdict
from pipeline.model.completion import Usage
from pipeline.recipes.loading import load_recipe
from pipeline.run.parallel import ordered_map
from pipeline.run.progress import RunCounter, Snapshot, counted
from pipeline.run.steps import FilePlan, Plan
from pipeline.source.chunking import Chunk
from pipeline.source.files import SourceFile

PERCENT = replace(
    load_recipe("modernize"),
    codemods=(
        "libcst.codemod.commands.convert_percent_format_to_fstring.ConvertPercentFormatStringCommand",
    ),
)

CHUNK = Chunk("m.py", 0, 10, 1, 1, "function", "f", "def f(): pass\n")


def test_counts_read_as_english() -> None:
    assert [counted(n, "file") for n in (0, 1, 2, 1234)] == [
        "0 files",
        "1 file",
        "2 files",
        "1,234 files",
    ]


def test_a_codemod_run_shows_no_tokens_or_cost() -> None:
    snap = Snapshot(files=3, files_done=1, done=4, accepted=2, model=False)
    assert (
        snap.line() == "1/3 files, 4 chunks: 2 accepted, 0 rejected, 0 unchanged, 0 skipped/failed"
    )
    assert "$" in replace(snap, model=True).line()


def test_off_a_terminal_a_line_comes_every_tick_while_nothing_finishes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    counter = RunCounter()
    counter.start(0, files=1, model=False)
    with ProgressDisplay(counter, interactive=False, line_every_s=0.1):
        time.sleep(0.45)  # one large file in a worker: no result yet
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("codemill: ")]
    assert len(lines) >= 3
    assert lines[0].startswith("codemill: 0/1 files, 0 chunks: 0 accepted") and lines[0].endswith(
        " s"
    )
    assert "token" not in lines[0] and "$" not in lines[0]


def test_at_80_columns_the_elapsed_time_is_not_cut(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    counter = RunCounter()
    counter.start(1200)
    usage = Usage(prompt_tokens=1_234_567, completion_tokens=98_765, cost_usd=12.3456)
    counter.add(Proposal(CHUNK, Verdict.accepted(), usage=usage), 16)
    with ProgressDisplay(counter, interactive=True):
        time.sleep(0.3)
    err = capsys.readouterr().err
    last = [ln for ln in err.splitlines() if "codemill" in ln][-1]
    assert "1/1200" in last and "0:00:0" in last and "accepted" in last


def test_the_chunk_count_moves_while_workers_judge_a_file(tmp_path: object) -> None:
    counter = RunCounter()
    counter.start(0, files=2, model=False)
    engine = CodemodFileEngine(PERCENT, Policy(), budget=2000)
    engine.on_chunks = counter.ticker()
    big = "".join(f'def f{i}(x):\n    return "v{i} %s" % x\n\n\n' for i in range(30))
    files = [SourceFile(f"m{n}.py", big.encode(), big) for n in range(2)]
    outcomes = list(ordered_map(engine.refactor_source, files, jobs=2, crashed=engine.crashed))
    made = sum(len(outcome.proposals) for outcome in outcomes)
    assert made == 60
    snap = counter.snapshot()  # nothing recorded yet: the count comes from the workers' ticks
    assert snap.done == 0 and snap.judged == 60
    assert snap.counted() == "0/2 files, 60 chunks"


def test_the_start_line_says_what_a_codemod_run_will_look_at(
    capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    config = RunConfig(repo=tmp_path, engine="codemod")  # type: ignore[arg-type]
    source = SourceFile("a.py", b"x = 1\n", "x = 1\n")
    announce_start(
        config, "modernize", "codemod", Plan("abc", [FilePlan(source, ())], [], [], chunked=False)
    )
    assert capsys.readouterr().err == (
        "codemill: recipe modernize, engine codemod, libcst codemods (offline); 1 file\n"
    )
