"""extract_code on real MiniMax-M2.1 reply shapes: think variants, fences, prose, CRLF, cut-offs."""

from __future__ import annotations

import json

import pytest

from pipeline.judge.replies import extract_code
from pipeline.judge.verdicts import Reason

CODE = "def add(a, b):\n    return a + b\n"
OTHER = "def sub(a, b):\n    return a - b\n"
THINK = "<think>\nThe user wants a type-annotated add. Keep the name.\n</think>\n\n"

# (id, content, finish_reason, expected code, expected reason)
ROWS: list[tuple[str, str, str | None, str | None, Reason | None]] = [
    ("python fence after think", THINK + f"```python\n{CODE}```", "stop", CODE, None),
    ("py fence", f"```py\n{CODE}```\n", "stop", CODE, None),
    ("python3 fence, no think", f"```python3\n{CODE}```", "stop", CODE, None),
    ("unlabelled fence that parses", f"```\n{CODE}```", "stop", CODE, None),
    ("tilde fence", f"~~~python\n{CODE}~~~", "stop", CODE, None),
    ("fence lines with trailing spaces", f"```python   \n{CODE}```  \n", "stop", CODE, None),
    ("longer closing fence", f"````python\n{CODE}`````", "stop", CODE, None),
    (
        "prose around the code",
        THINK + f"Here is the refactored function:\n\n```python\n{CODE}```\n\nIt keeps the API.",
        "stop",
        CODE,
        None,
    ),
    ("crlf reply", (THINK + f"```python\n{CODE}```\n").replace("\n", "\r\n"), "stop", CODE, None),
    (
        "open think tag missing",
        f"reasoning here\n</think>\n```python\n{CODE}```",
        "stop",
        CODE,
        None,
    ),
    (
        "several think blocks",
        f"<think>a</think>\n<think>b</think>\n```python\n{CODE}```",
        "stop",
        CODE,
        None,
    ),
    (
        "two identical blocks are one",
        f"```python\n{CODE}```\nAgain:\n```python\n{CODE}```",
        "stop",
        CODE,
        None,
    ),
    (
        "indented fence in a list",
        "1. The code:\n   ```python\n   x = 1\n   ```\n",
        "stop",
        "x = 1\n",
        None,
    ),
    (
        "indented block is dedented",
        "```python\n    x = 1\n    y = 2\n```",
        "stop",
        "x = 1\ny = 2\n",
        None,
    ),
    ("bare code reply", THINK + CODE, "stop", CODE, None),
    ("bare indented code reply", THINK + "    x = 1\n    y = 2\n", "stop", "x = 1\ny = 2\n", None),
    (
        "python block beside a bash block",
        f"```bash\npip install x\n```\n```python\n{CODE}```",
        "stop",
        CODE,
        None,
    ),
    (
        "unlabelled output beside python",
        f"```python\n{CODE}```\nOutput:\n```\n3\n```",
        "stop",
        CODE,
        None,
    ),
    (
        "prose only",
        THINK + "The function is already idiomatic; no change needed.",
        "stop",
        None,
        Reason.NO_CODE,
    ),
    ("single word is prose", "Unchanged", "stop", None, Reason.NO_CODE),
    ("only a bash block", "```bash\nls -la\n```", "stop", None, Reason.NO_CODE),
    ("unlabelled prose block", "```\nThis is not code at all.\n```", "stop", None, Reason.NO_CODE),
    (
        "two different blocks",
        f"```python\n{CODE}```\n```python\n{OTHER}```",
        "stop",
        None,
        Reason.SEVERAL_BLOCKS,
    ),
    (
        "python and parsing unlabelled",
        f"```python\n{CODE}```\n```\n{OTHER}```",
        "stop",
        None,
        Reason.SEVERAL_BLOCKS,
    ),
    ("empty content", "", "stop", None, Reason.EMPTY),
    ("whitespace content", "  \n\n", "stop", None, Reason.EMPTY),
    ("empty python block", THINK + "```python\n```", "stop", None, Reason.EMPTY),
    ("blank python block", "```python\n   \n\n```", "stop", None, Reason.EMPTY),
    ("reasoning only", "<think>\nI should rename x.\n</think>\n", "stop", None, Reason.THINK_ONLY),
    ("unterminated think", "<think>\nLet me look at the loop...", "stop", None, Reason.THINK_ONLY),
    (
        "finish_reason length mid-code",
        THINK + "```python\ndef add(a, b):\n",
        "length",
        None,
        Reason.CUT_OFF,
    ),
    ("finish_reason length in think", "<think>\nStill reasoning", "length", None, Reason.CUT_OFF),
    ("length even with complete code", f"```python\n{CODE}```", "length", None, Reason.CUT_OFF),
    (
        "unclosed fence",
        THINK + "```python\ndef add(a, b):\n    return a + b\n",
        "stop",
        None,
        Reason.CUT_OFF,
    ),
    (
        "python block with a syntax error is taken",
        "```python\ndef f(:\n```",
        "stop",
        "def f(:\n",
        None,
    ),
    ("finish_reason None is not a cut-off", f"```python\n{CODE}```", None, CODE, None),
]


@pytest.mark.parametrize(
    ("content", "finish_reason", "code", "reason"),
    [row[1:] for row in ROWS],
    ids=[row[0] for row in ROWS],
)
def test_extract_code_table(
    content: str, finish_reason: str | None, code: str | None, reason: Reason | None
) -> None:
    result = extract_code(content, finish_reason=finish_reason)
    assert (result.code, result.reason) == (code, reason)
    if reason is None:
        assert result.detail == ""
    else:
        # One human sentence.
        assert result.detail.endswith(".") and result.detail.count(". ") == 0


def test_model_api_response_example() -> None:
    """The response shape of docs/provider.md, with a code answer in the message content."""
    body = {
        "id": "x",
        "object": "chat.completion",
        "model": "MiniMax-M2.1",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": "<think>\nRename the loop variable.\n</think>\n\n"
                    "The answer:\n```python\nfor item in items:\n    print(item)\n```",
                    "name": "MiniMax AI",
                    "audio_content": "",
                },
            }
        ],
    }
    choice = json.loads(json.dumps(body))["choices"][0]
    result = extract_code(choice["message"]["content"], finish_reason=choice["finish_reason"])
    assert result.code == "for item in items:\n    print(item)\n"
    assert result.reasoning == "Rename the loop variable."


def test_reasoning_kept_on_rejection() -> None:
    result = extract_code("<think>plan</think>no code here, sorry.")
    assert result.reason is Reason.NO_CODE
    assert result.reasoning == "plan"


def test_code_keeps_inner_blank_lines_and_ends_with_one_newline() -> None:
    result = extract_code("```python\n\n\nclass A:\n\n    x = 1\n\n\n\n```")
    assert result.code == "class A:\n\n    x = 1\n"
