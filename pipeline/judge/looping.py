"""A looping answer: its tail repeats one piece of text (a line, an n-gram) many times in a row.

Small models often repeat one line, or a pattern such as `dt1=None, dt2=None, ...`, until `max_tokens`.
The check reads the tail with every digit run counted as one digit (counters then repeat too) and asks
whether its last `MIN_CHARS` characters, or `MIN_REPEATS` periods when longer, repeat with one period of
at most `MAX_PERIOD` characters. Real code has such runs too (a table of `KEY_F1: 'kf1'`, `a1 = a2 =
...`): a run no longer than one the chunk itself holds is the chunk's, not a loop. The stream reader runs
it as an answer grows (pipeline.model.sse) and stops the stream; the judge runs it on a whole answer
before anything else. No stdlib chunk sent back as an answer trips it (tests/judge/test_looping.py,
bench/RESULTS.md issue 24).
"""

from __future__ import annotations

import re

MAX_PERIOD = 256  # characters in the repeated piece: a few lines of code at most
MIN_REPEATS = 8  # periods in a row
MIN_CHARS = 600  # characters of repetition, at least: about 200-400 tokens
CHECK_EVERY = 128  # characters a stream grows by between two checks
TAIL = MAX_PERIOD * (MIN_REPEATS + 1)  # the most the check ever reads (longer digit runs aside)
_DIGITS = re.compile(r"[0-9]+")


def normalized(text: str) -> str:
    """`text` with every digit run as one `0`: `dt1=None, dt2=None` repeats `dt0=None, `."""
    return _DIGITS.sub("0", text)


def looping(text: str, reference: str = "") -> str | None:
    """Why the end of `text` is a loop (one sentence), or None when it is not; `reference` is the
    chunk asked about, `normalized`: a run it holds as long is not a loop."""
    tail = normalized(text[-TAIL * 2 :])
    for period in range(1, MAX_PERIOD + 1):
        span = max(MIN_CHARS, period * MIN_REPEATS)
        if span + period > len(tail):
            break
        if tail[-span:] == tail[-span - period : -period]:
            run = _run(tail, period)
            if tail[-run:] in reference:
                continue
            piece = tail[-period:].strip() or repr(tail[-period:])
            return (
                f"the answer repeats itself: its last {run:,} characters are one "
                f"{period}-character piece over and over ({piece[:60]!r})"
            )
    return None


def _run(tail: str, period: int) -> int:
    """How many characters at the end of `tail` repeat with `period`."""
    start = len(tail) - period
    while start > 0 and tail[start - 1] == tail[start - 1 + period]:
        start -= 1
    return len(tail) - start


class LoopWatch:
    """Checks a growing text for a loop every `CHECK_EVERY` characters, reading only its tail."""

    def __init__(self, reference: str = "") -> None:
        self._reference = normalized(reference)  # the chunk asked about
        self._tail = ""
        self._unchecked = 0
        self.reason: str | None = None  # set once a loop is found

    def feed(self, text: str) -> str | None:
        """Add `text`; the loop's reason once the tail loops (then and after), else None."""
        if self.reason is None and text:
            self._tail = (self._tail + text)[-TAIL * 2 :]
            self._unchecked += len(text)
            if self._unchecked >= CHECK_EVERY:
                self._unchecked = 0
                self.reason = looping(self._tail, self._reference)
        return self.reason
