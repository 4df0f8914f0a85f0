"""Gate repair turns: the failure a gate saw, trimmed to what explains it, and the turn's message."""

from __future__ import annotations

from pipeline.gates.repair import gate_message
from pipeline.gates.suite import failure_excerpt
from pipeline.judge.verdicts import Reason

PYTEST = """\
..F                                                                      [100%]
=================================== FAILURES ===================================
__________________________________ test_area ___________________________________

    def test_area():
>       assert area(2, 3) == 6
E       assert 7 == 6
E        +  where 7 = area(2, 3)

tests/test_shapes.py:5: AssertionError
__________________________________ test_other __________________________________

>       raise ValueError("elsewhere")
E       ValueError: elsewhere

pkg/other.py:9: ValueError
=========================== short test summary info ============================
FAILED tests/test_shapes.py::test_area - assert 7 == 6
FAILED tests/test_other.py::test_other - ValueError: elsewhere
2 failed, 1 passed in 0.03s
"""


def test_the_excerpt_keeps_the_failing_test_its_message_and_nothing_else() -> None:
    excerpt = failure_excerpt(PYTEST, "pkg/shapes.py")

    assert excerpt.splitlines()[0] == "failing test: tests/test_shapes.py::test_area"
    assert "E       assert 7 == 6" in excerpt and ">       assert area(2, 3) == 6" in excerpt
    assert "elsewhere" not in excerpt and "short test summary" not in excerpt


def test_without_a_pytest_report_the_last_lines_stand_in() -> None:
    output = "\n".join(f"line {i}" for i in range(40)) + "\nTraceback: boom\n"
    excerpt = failure_excerpt(output, "pkg/shapes.py")

    assert "Traceback: boom" in excerpt and "line 0\n" not in excerpt


def test_the_gate_message_names_the_failure_and_asks_for_the_chunk() -> None:
    message = gate_message(Reason.BREAKS_IMPORT, "NameError: name 'x' is not defined")

    assert message["role"] == "user"
    assert "fail to import" in message["content"] and "NameError" in message["content"]
    assert "exactly one ```python block" in message["content"]
