"""A looping answer is found (a line, an n-gram, a counter pattern repeated), and no real code is taken for
one: at least 300 stdlib chunks, sent back as answers whole or streamed in small pieces, none stopped."""

from __future__ import annotations

import sysconfig
from pathlib import Path

from pipeline.engines.model_engine import judge_reply
from pipeline.judge.looping import MIN_CHARS, LoopWatch, looping, normalized
from pipeline.judge.policy import Allowances, Policy
from pipeline.judge.verdicts import Reason
from pipeline.source.chunking import Chunk, cut_module
from pipeline.source.files import SkippedFile, _decode

STDLIB = Path(sysconfig.get_paths()["stdlib"])
# Files with long tables and counters (has_key's KEY_F0..F63, aliases' cpNNNN), then a spread of the rest.
TABLES = ["curses/has_key.py", "encodings/aliases.py", "html/entities.py", "sre_constants.py"]
CHUNK = Chunk("m.py", 0, 0, 1, 2, "function", "f", "def f(dt1=None):\n    return dt1\n")


def stdlib_chunks(at_least: int = 300) -> list[Chunk]:
    """Chunks of the table files and every 15th stdlib module, until there are `at_least`."""
    spread = sorted(p for p in STDLIB.glob("*.py"))[::15]
    found: list[Chunk] = []
    for path in [STDLIB / t for t in TABLES] + spread:
        source = _decode(str(path), path.read_bytes()) if path.is_file() else None
        if source is None or isinstance(source, SkippedFile):
            continue
        found += cut_module(source.path, source.text, encoding=source.encoding).chunks
        if len(found) >= at_least:
            break
    return found


def streamed(answer: str, reference: str, piece: int = 7) -> str | None:
    """What the stream reader would find, fed `answer` a few characters at a time."""
    watch = LoopWatch(reference)
    for start in range(0, len(answer), piece):
        if watch.feed(answer[start : start + piece]):
            return watch.reason
    return None


def test_no_stdlib_chunk_sent_back_as_an_answer_is_taken_for_a_loop() -> None:
    chunks = stdlib_chunks()
    assert len(chunks) >= 300

    whole = [c.name for c in chunks if looping(answer(c.text), normalized(c.text))]
    stream = [c.name for c in chunks if streamed(answer(c.text), c.text)]

    assert (whole, stream) == ([], [])


def test_a_table_the_chunk_holds_is_not_a_loop_but_running_on_past_it_is() -> None:
    table = "".join(f"    KEY_F{n}: 'kf{n}',\n" for n in range(60))
    chunk = f"keys = {{\n{table}}}\n"
    assert looping(answer(chunk), normalized(chunk)) is None
    assert looping(table) is not None  # were the chunk not holding it, it would be one
    longer = f"keys = {{\n{table}{table}{table}"
    assert looping(longer, normalized(chunk)) is not None


def test_a_repeated_line_an_ngram_and_a_counter_are_loops() -> None:
    lines = "```python\ndef f():\n" + "    return None\n" * 60
    counter = "```python\ndef f(" + "".join(f"dt{n}=None, " for n in range(1, 80))
    words = "Let me think. " * 60
    for text in (lines, counter, words):
        found = looping(text, normalized(CHUNK.text))
        assert found is not None and "repeats itself" in found, text[:40]
    assert looping(counter[: MIN_CHARS // 2]) is None  # too short to tell


def test_a_streamed_loop_is_found_within_a_few_hundred_characters_of_repeating() -> None:
    text = "```python\ndef f(" + "".join(f"dt{n}=None, " for n in range(1, 2000))
    watch = LoopWatch(CHUNK.text)
    read = 0
    while watch.reason is None:
        watch.feed(text[read : read + 5])
        read += 5
    assert read <= MIN_CHARS + 2 * 128


def test_a_looping_answer_is_rejected_degenerate_before_it_is_judged() -> None:
    policy = Policy(Allowances(), (3, 11))
    reply = (
        "```python\ndef f(" + "".join(f"dt{n}=None, " for n in range(1, 200)) + "):\n    pass\n```"
    )
    # ... but the loop is not at its end: only a tail that loops is one.
    assert judge_reply(CHUNK, reply, "stop", policy, False, None)[1].reason is not Reason.DEGENERATE
    cut = reply[: reply.index("):")]
    code, verdict = judge_reply(CHUNK, cut, "length", policy, False, None)
    assert (code, verdict.reason) == (None, Reason.DEGENERATE)
    assert "repeats itself" in verdict.detail


def answer(code: str) -> str:
    """`code` as a model sends it back."""
    return f"<think>\nRewriting.\n</think>\n\n```python\n{code}```\n"
