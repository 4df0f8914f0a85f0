"""Turn a model reply into the code it proposes, or a reason why there is none: never guess.

The reply's think blocks are split off first (pipeline.judge.thinking). The answer must then hold exactly
one python code block (```python, ```py, or an unlabelled fence whose content parses; ~~~ fences
too), or be bare code that parses as a module. Several identical blocks count as one.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

import libcst as cst

from pipeline.judge.thinking import split_think
from pipeline.judge.verdicts import Reason
from pipeline.source.guard import UnsafeParse, guarded_parse

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*?)[ \t]*$")
_PYTHON_LABELS = frozenset({"python", "py", "python3", "py3"})
_TRIVIAL_VALUES = (cst.Name, cst.Attribute, cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString)


@dataclass(frozen=True)
class Extraction:
    """The extracted code (dedented, one trailing newline), or the reason there is none."""

    code: str | None
    reason: Reason | None
    detail: str
    reasoning: str


@dataclass(frozen=True)
class _Block:
    label: str | None  # lowercased first word of the info string; None when the fence had none
    text: str
    line: int  # 1-based line of the opening fence in the answer


def extract_code(content: str, *, finish_reason: str | None = "stop") -> Extraction:
    """Pick the one python code block of a reply (or bare code), else a reason and a sentence."""
    split = split_think(content.replace("\r\n", "\n"))
    reasoning = split.reasoning

    def reject(reason: Reason, detail: str) -> Extraction:
        return Extraction(None, reason, detail, reasoning)

    if finish_reason == "length":
        where = " while still reasoning" if split.unterminated else ""
        return reject(Reason.CUT_OFF, f"The reply was cut off by max_tokens{where}.")
    if split.unterminated:
        return reject(Reason.THINK_ONLY, "The think block was never closed, so there is no answer.")
    answer = split.answer
    if not answer.strip():
        if reasoning:
            return reject(Reason.THINK_ONLY, "The reply holds only reasoning and no answer.")
        return reject(Reason.EMPTY, "The reply is empty.")

    blocks, unclosed = _fenced_blocks(answer)
    if unclosed is not None:
        return reject(
            Reason.CUT_OFF, f"The code fence opened at answer line {unclosed} is never closed."
        )
    if not blocks:
        code = _normalise(answer)
        if _is_code(code):
            return Extraction(code, None, "", reasoning)
        return reject(Reason.NO_CODE, "The reply has no code block and is not bare Python code.")

    if not any(b.text.strip() for b in blocks):
        return reject(Reason.EMPTY, "The reply's code block is empty.")
    candidates = [
        b for b in blocks if b.label in _PYTHON_LABELS or (b.label is None and _is_code(b.text))
    ]
    if not candidates:
        return reject(
            Reason.NO_CODE, f"None of the reply's {len(blocks)} code block(s) is Python code."
        )
    distinct = list(dict.fromkeys(_normalise(b.text) for b in candidates if b.text.strip()))
    if not distinct:
        return reject(Reason.EMPTY, "The reply's python code block is empty.")
    if len(distinct) > 1:
        return reject(
            Reason.SEVERAL_BLOCKS, f"The reply has {len(distinct)} different python code blocks."
        )
    return Extraction(distinct[0], None, "", reasoning)


def _fenced_blocks(answer: str) -> tuple[list[_Block], int | None]:
    """Every fenced block of the answer, and the line of a fence left open (None if all closed)."""
    blocks: list[_Block] = []
    lines = answer.split("\n")
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence, indent = opening["fence"], opening["indent"]
        words = opening["info"].split()
        label = words[0].lower() if words else None
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            closing = _FENCE.match(lines[j])
            if (
                closing
                and not closing["info"]
                and closing["fence"][0] == fence[0]
                and len(closing["fence"]) >= len(fence)
            ):
                break
            body.append(lines[j].removeprefix(indent))
            j += 1
        else:
            return blocks, i + 1
        blocks.append(_Block(label, "\n".join(body), i + 1))
        i = j + 1
    return blocks, None


def _normalise(text: str) -> str:
    """Dedent, drop leading blank lines and end with exactly one newline."""
    text = re.sub(r"\A(?:[ \t]*\n)+", "", textwrap.dedent(text))
    return text.rstrip() + "\n"


def _is_code(text: str) -> bool:
    """True when the text parses as a module and is more than lone words or literals (prose can)."""
    try:
        module = guarded_parse(textwrap.dedent(text))
    except (cst.ParserSyntaxError, UnsafeParse):
        return False
    for statement in module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            return True
        for small in statement.body:
            if not (isinstance(small, cst.Expr) and isinstance(small.value, _TRIVIAL_VALUES)):
                return True
    return False
