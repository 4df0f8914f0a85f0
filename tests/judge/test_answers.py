"""Each hole of the per-chunk proof closed, checked directly on `judge_answer` (milliseconds each)."""

from __future__ import annotations

import pytest

from pipeline.judge.names import module_names
from pipeline.judge.policy import Allowances, Policy
from pipeline.judge.validation import judge_answer
from pipeline.judge.verdicts import Reason, Status
from pipeline.source.chunking import Chunk, chunk_module
from pipeline.source.splicing import splice

MODULE = '''"""A module."""

import os
from typing import List

try:
    import json
except ImportError:
    json = None

LIMIT = 3


class Box:
    """A box."""

    size = 2
    double = size * 2

    def grow(self, by):
        return self.size + by + LIMIT

    def _format_usage(self):
        return "box"


def helper(items):
    total = 0
    for item in items:
        total += item
    return total


def later():
    return DEFINED_LATER


DEFINED_LATER = os.sep
'''
STRICT = Policy()
NONLOCAL = "def helper(items):\n    def inner():\n        nonlocal items\n        return items\n"
NONLOCAL += "    return inner()\n"
COMMENTED = "def helper(items):\n    total = 0\n    for item in items:\n        total += item\n"
COMMENTED += "    return total  # done\n"


def chunks(text: str = MODULE) -> dict[str, Chunk]:
    return {c.name: c for c in chunk_module("pkg/mod.py", text, budget=40)}


def judge(name: str, answer: str, policy: Policy = STRICT, text: str = MODULE):  # type: ignore[no-untyped-def]
    return judge_answer(chunks(text)[name], answer, policy=policy, names=module_names(text))


def test_a_private_method_answered_with_pass_is_a_removed_definition() -> None:
    verdict = judge("Box._format_usage", "pass\n").verdict
    assert verdict.reason is Reason.DEFINITION_REMOVED
    assert "`_format_usage`" in verdict.detail and "line 23" in verdict.detail


@pytest.mark.parametrize(
    ("name", "answer", "missing"),
    [
        ("helper", "def helper(items):\n    return frobnicate(items)\n", "frobnicate"),
        (
            "Box.grow",
            "def grow(self, by):\n    return size + by\n",
            "size",
        ),  # methods see no class names
        ("helper", "def helper(items):\n    return [x for x in items if y]\n", "y"),
        ("helper", "def helper(items):\n    del items\n    return itemz\n", "itemz"),
    ],
    ids=["unbound-call", "class-attribute-from-a-method", "comprehension", "typo-after-del"],
)
def test_a_name_nothing_binds_is_undefined(name: str, answer: str, missing: str) -> None:
    verdict = judge(name, answer).verdict
    assert verdict.reason is Reason.UNDEFINED_NAME, verdict
    assert f"`{missing}`" in verdict.detail


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        ("helper", "def helper(items):\n    return sum(items) + LIMIT + len(os.sep)\n"),
        ("helper", "def helper(items):\n    return json and DEFINED_LATER and later()\n"),
        ("helper", "def helper(items):\n    return [i for i in items if i] or __file__\n"),
        (
            "helper",
            NONLOCAL,
        ),
        (
            "helper",
            COMMENTED,
        ),
        (
            "Box.grow",
            "def grow(self, by):\n    return super().__init__ or self.size + by + LIMIT\n",
        ),
    ],
    ids=[
        "module-and-import",
        "conditional-import-and-later-name",
        "comprehension-and-dunder",
        "nonlocal",
        "comment",
        "super",
    ],
)
def test_names_python_binds_are_accepted(name: str, answer: str) -> None:
    policy = Policy(Allowances(new_definitions=True))
    assert judge(name, answer, policy).verdict.status is Status.ACCEPTED


def test_class_level_code_may_read_the_class_s_own_names() -> None:
    body = chunks()
    statements = next(n for n in body if n.startswith("Box.<statements"))
    original = body[statements].text
    answer = original.replace("size * 2", "size + size")
    assert judge(statements, answer).verdict.status is Status.ACCEPTED
    bad = original.replace("size * 2", "width * 2")
    assert judge(statements, bad).verdict.reason is Reason.UNDEFINED_NAME


def test_a_star_import_makes_names_unknown_and_says_so() -> None:
    text = "from os.path import *\n\n\ndef f(p):\n    return join(p)\n"
    verdict = judge("f", "def f(p):\n    return joinx(p)\n", text=text).verdict
    assert verdict.status is Status.ACCEPTED and "star import" in verdict.detail


TABS = "def f(x):\n\tif x:\n\t\treturn '''a\n\tb'''\n\treturn 2\n"


def test_an_answer_in_another_indentation_is_put_back_in_the_file_s() -> None:
    text = "def f(x):\n    if x:\n        return 1\n    return 2\n"
    judged = judge("f", "def f(x):\n\tif x:\n\t\treturn 10\n\treturn 2\n", text=text)
    assert judged.verdict.status is Status.ACCEPTED
    assert judged.text == "def f(x):\n    if x:\n        return 10\n    return 2\n"
    two = judge("f", "def f(x):\n  if x:\n    return 10\n  return 2\n", text=text)
    assert two.text == judged.text
    same = judge("f", "def f(x):\n\tif x:\n\t\treturn 1\n\treturn 2\n", text=text)
    assert same.verdict.status is Status.UNCHANGED


def test_a_multi_line_string_is_never_re_indented() -> None:
    text = "def f(x):\n    if x:\n        return '''a\n    b'''\n    return 2\n"
    judged = judge("f", TABS.replace("2", "3"), text=text)
    assert judged.verdict.reason is Reason.INDENTATION_CHANGED
    assert "line 4" in judged.verdict.detail.lower()


def test_line_endings_and_trailing_whitespace_alone_are_unchanged() -> None:
    text = "x = 1\r\ny = 2\nz = 3\r\n"
    chunk = chunks(text)["<statements 1-3>"]
    for answer in ("x = 1\ny = 2\nz = 3\n", "x = 1  \r\ny = 2\r\nz = 3\n\n"):
        assert judge_answer(chunk, answer, policy=STRICT).verdict.status is Status.UNCHANGED


def test_a_mixed_newline_chunk_keeps_its_endings_line_by_line() -> None:
    text = "x = 1\r\ny = 2\nz = 3\r\n"
    chunk = chunks(text)["<statements 1-3>"]
    judged = judge_answer(chunk, "x = 1\ny = 20\nz = 3\n", policy=STRICT)
    assert judged.verdict.status is Status.ACCEPTED
    assert splice(text.encode(), [(chunk, judged.text)]) == b"x = 1\r\ny = 20\nz = 3\r\n"
    judged = judge_answer(
        chunk, "x = 1\ny = 2\nz = 3\nw = 4\n", policy=Policy(Allowances(new_definitions=True))
    )
    assert splice(text.encode(), [(chunk, judged.text)]) == b"x = 1\r\ny = 2\r\nz = 3\r\nw = 4\r\n"


def test_the_coding_line_survives_an_answer_that_drops_it() -> None:
    text = "# -*- coding: latin-1 -*-\nx = 1\n"
    [chunk] = chunks(text).values()  # the coding line is in the module header, never in a chunk
    judged = judge_answer(chunk, "x = 2\n", policy=STRICT)
    assert judged.verdict.status is Status.ACCEPTED
    data = text.encode("latin-1")
    assert splice(data, [(chunk, judged.text)]) == b"# -*- coding: latin-1 -*-\nx = 2\n"


def test_target_syntax_comes_before_any_interface_check() -> None:
    verdict = judge("helper", "type X = int\n", policy=Policy(target_python=(3, 11))).verdict
    assert verdict.reason is Reason.TARGET_SYNTAX


def test_an_answer_that_would_crash_the_parser_is_a_syntax_rejection() -> None:
    answer = "def helper(items):\n    return " + "(" * 2000 + "1" + ")" * 2000 + "\n"
    assert judge("helper", answer).verdict.reason is Reason.SYNTAX


DOC = Policy(Allowances(scope="docstrings"))
HINTS = Policy(Allowances(annotations=True, scope="annotations"))
MODERN = Policy(Allowances(annotations=True, scope="modernize"))
SIMPLE = Policy(Allowances(scope="code"))
ASSERTS = Policy(Allowances(scope="assertions"))
HELPER = chunks()["helper"].text


def test_docstrings_scope_accepts_a_docstring_and_rejects_code_edits() -> None:
    documented = HELPER.replace("):\n", '):\n    """Add up the items."""\n', 1)
    assert judge("helper", documented, DOC).verdict.status is Status.ACCEPTED
    edited = documented.replace(
        "    return total", "    if not items:\n        return 0\n    return total"
    )
    verdict = judge("helper", edited, DOC).verdict
    assert verdict.reason is Reason.OUT_OF_SCOPE and "docstrings" in verdict.detail


def test_docstrings_scope_still_finds_an_undefined_name_beside_a_docstring() -> None:
    """Only an answer proven to differ in docstrings alone skips the name analysis."""
    documented = HELPER.replace("):\n", '):\n    """Add up the items."""\n', 1)
    reads = documented.replace("    return total", "    return total + frobnicate(items)")
    verdict = judge("helper", reads, DOC).verdict
    assert verdict.reason is Reason.UNDEFINED_NAME and "`frobnicate`" in verdict.detail


def test_annotations_scope_needs_an_annotation_and_nothing_else() -> None:
    hinted = HELPER.replace("(items):", "(items: list[int]) -> int:")
    assert judge("helper", hinted, HINTS).verdict.status is Status.ACCEPTED
    rewritten = HELPER.replace("total += item", "total = total + item")
    assert judge("helper", rewritten, HINTS).verdict.reason is Reason.OUT_OF_SCOPE
    both = hinted.replace("total += item", "total = total + item")
    assert judge("helper", both, HINTS).verdict.reason is Reason.OUT_OF_SCOPE


def test_annotations_scope_rejects_an_answer_that_adds_no_annotation() -> None:
    """The same tree written differently is no change of code, and no annotation either."""
    reworded = HELPER.replace("    return total", "    return (total)")
    verdict = judge("helper", reworded, HINTS).verdict
    assert verdict.reason is Reason.OUT_OF_SCOPE and "adds no annotation" in verdict.detail


def test_modernize_scope_allows_its_rewrites_only() -> None:
    text = "from typing import List, Optional\n\n\n"
    text += 'def f(a: List[int], b: Optional[str]):\n    return "%s-%s" % (a, b)\n'
    good = 'def f(a: list[int], b: str | None):\n    return f"{a}-{b}"\n'
    assert judge("f", good, MODERN, text=text).verdict.status is Status.ACCEPTED
    bad = 'def f(a: list[int], b: str | None):\n    return f"{a}-{b}".upper()\n'
    assert judge("f", bad, MODERN, text=text).verdict.reason is Reason.OUT_OF_SCOPE
    klass = "class A(object):\n    def m(self):\n        return super(A, self).m()\n"
    assert (
        judge(
            "A", "class A:\n    def m(self):\n        return super().m()\n", MODERN, text=klass
        ).verdict.status
        is Status.ACCEPTED
    )


def test_modernize_scope_lets_typing_imports_go_under_type_checking() -> None:
    """The unused name after `Union[...]` became `|` may leave a typing import in an `if`; any
    other import there stays in force."""
    text = "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    import os\n"
    text += "    from typing import Any, Union\n\n    Pair = Union[int, str]\n"
    name = next(n for n in chunks(text) if n.startswith("<statements"))
    good = "if TYPE_CHECKING:\n    import os\n    from typing import Any\n\n    Pair = int | str\n"
    assert judge(name, good, MODERN, text=text).verdict.status is Status.ACCEPTED
    bad = good.replace("    import os\n", "")
    assert judge(name, bad, MODERN, text=text).verdict.reason is Reason.OUT_OF_SCOPE


def test_code_scope_keeps_docstrings() -> None:
    text = 'def f(x):\n    """Twice x."""\n    if x:\n        if x > 1:\n'
    text += "            return x * 2\n    return 0\n"
    simpler = 'def f(x):\n    """Twice x."""\n    return x * 2 if x and x > 1 else 0\n'
    assert judge("f", simpler, SIMPLE, text=text).verdict.status is Status.ACCEPTED
    redoc = simpler.replace("Twice x.", "Double.")
    assert judge("f", redoc, SIMPLE, text=text).verdict.reason is Reason.OUT_OF_SCOPE


def test_assertions_scope_allows_assert_rewrites_only() -> None:
    text = "class T:\n    def test_a(self):\n        self.assertEqual(f(1), 2)\n        x = 1\n"
    chunk = chunks(text)
    name = next(n for n in chunk if n.endswith("test_a") or n == "T")
    target = chunk[name].text
    answer = target.replace("self.assertEqual(f(1), 2)", "assert f(1) == 2")
    assert judge(name, answer, ASSERTS, text=text).verdict.status is Status.ACCEPTED
    bad = answer.replace("x = 1", "x = 2")
    assert judge(name, bad, ASSERTS, text=text).verdict.reason is Reason.OUT_OF_SCOPE
