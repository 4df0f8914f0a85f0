"""Split a MiniMax-style reply into its reasoning (`<think>` blocks) and its answer.

MiniMax-M2.1 puts its reasoning inside `content`, wrapped in `<think>...</think>`, before the
answer. Variants seen by other clients and handled here: several blocks, the opening tag missing
(everything before an orphan `</think>` is reasoning), and the closing tag missing (an unterminated
block: there is no answer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPEN = "<think>"
_CLOSE = "</think>"
_TAG = re.compile(r"</?think>", re.IGNORECASE)


@dataclass(frozen=True)
class ThinkSplit:
    """The reasoning, the answer, and whether a think block was left open (no answer)."""

    reasoning: str
    answer: str
    unterminated: bool


def _trim_answer(text: str) -> str:
    """Drop blank lines around the answer, keeping the first line's indent (bare code needs it)."""
    return re.sub(r"\A(?:[ \t]*\r?\n)+", "", text).rstrip()


def split_think(content: str) -> ThinkSplit:
    """Separate every think block from the answer; tags are matched case-insensitively."""
    reasoning: list[str] = []
    answer: list[str] = []
    pos = 0
    depth_open = False
    first = _TAG.search(content)
    if first is not None and first.group(0).lower() == _CLOSE:
        # Opening tag missing: everything before the orphan close tag is reasoning.
        reasoning.append(content[: first.start()])
        pos = first.end()
    for match in _TAG.finditer(content, pos):
        tag = match.group(0).lower()
        if tag == _OPEN and not depth_open:
            answer.append(content[pos : match.start()])
            pos = match.end()
            depth_open = True
        elif tag == _CLOSE and depth_open:
            reasoning.append(content[pos : match.start()])
            pos = match.end()
            depth_open = False
        # A stray tag of the wrong kind (a second <think> inside a block, an orphan </think> later
        # on) is left in place as text of the part it appears in.
    rest = content[pos:]
    if depth_open:
        reasoning.append(rest)
    else:
        answer.append(rest)
    return ThinkSplit(
        reasoning="\n".join(part.strip() for part in reasoning if part.strip()),
        answer=_trim_answer("".join(answer)),
        unterminated=depth_open,
    )
