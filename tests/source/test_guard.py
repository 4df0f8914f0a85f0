"""The parse guard: files that would crash or exhaust libcst are skipped with a reason, never parsed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.source.chunking import plan_file
from pipeline.source.files import SkippedFile, SkipReason, SourceFile
from pipeline.source.guard import UnsafeParse, guarded_parse, parse_refusal

DEEP_PARENS = "x = " + "(" * 2000 + "1" + ")" * 2000 + "\n"


def source(text: str) -> SourceFile:
    return SourceFile("deep.py", text.encode(), text)


def test_a_file_that_crashes_libcst_is_skipped_with_the_line() -> None:
    skipped = plan_file(source("import os\n" + DEEP_PARENS))
    assert isinstance(skipped, SkippedFile)
    assert skipped.reason is SkipReason.PARSE_ERROR
    assert "line 2: too many nested parentheses" in skipped.detail


def test_the_same_text_given_to_libcst_unguarded_kills_the_process() -> None:
    """The guard is there for a reason: without it the interpreter dies (SIGSEGV), not raises."""
    code = f"import libcst; libcst.parse_module({DEEP_PARENS!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert done.returncode != 0 and b"Traceback" not in done.stderr


@pytest.mark.parametrize(
    "text",
    ["x = " + "not " * 5000 + "y\n", "x = " + "-" * 50000 + "y\n", "x = " + "+".join("y" * 9000)],
    ids=["not-chain", "unary-chain", "binary-chain"],
)
def test_nesting_python_refuses_is_refused(text: str) -> None:
    assert parse_refusal(text) is not None
    with pytest.raises(UnsafeParse):
        guarded_parse(text)


def test_ordinary_and_newer_syntax_pass_the_guard() -> None:
    assert parse_refusal("def f(x):\n    return (((x)))\n") is None
    assert parse_refusal("type X = int\n") is None  # newer grammar: libcst and target-syntax decide
    assert parse_refusal("x = (\n") is None  # a plain syntax error is libcst's to report
    assert guarded_parse("x = 1\n").code == "x = 1\n"
