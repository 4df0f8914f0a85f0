"""split_think: every think-block variant of docs/provider.md; answers keep their indentation."""

from __future__ import annotations

import pytest

from pipeline.judge.thinking import split_think


@pytest.mark.parametrize(
    ("content", "reasoning", "answer", "unterminated"),
    [
        ("<think>\nplan\n</think>\n\nThe answer ...", "plan", "The answer ...", False),
        ("plan\n</think>\nanswer", "plan", "answer", False),  # opening tag missing
        ("<think>\nstill thinking", "still thinking", "", True),  # closing tag missing
        ("<think>a</think>x<think>b</think>y", "a\nb", "xy", False),  # several blocks
        ("<THINK>a</Think>ok", "a", "ok", False),  # tags in any case
        ("no reasoning at all", "", "no reasoning at all", False),
        ("", "", "", False),
    ],
)
def test_split_variants(content: str, reasoning: str, answer: str, unterminated: bool) -> None:
    split = split_think(content)
    assert (split.reasoning, split.answer, split.unterminated) == (reasoning, answer, unterminated)


def test_answer_keeps_first_line_indentation() -> None:
    # A bare indented code reply must stay evenly indented, or it no longer parses once dedented.
    split = split_think("<think>x</think>\n\n    a = 1\n    b = 2\n\n")
    assert split.answer == "    a = 1\n    b = 2"


def test_answer_drops_blank_lines_with_crlf() -> None:
    assert split_think("<think>x</think>\r\n\r\n  y = 1\r\n").answer == "  y = 1"
