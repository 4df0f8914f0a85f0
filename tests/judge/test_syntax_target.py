"""Target-Python checks: each feature's version, cross-checked against the running interpreter."""

from __future__ import annotations

import sys

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper

from pipeline.judge.policy import Policy
from pipeline.judge.target_syntax import (
    Feature,
    RuntimeUnion,
    find_runtime_union,
    first_unsupported,
    newest_needed,
    syntax_features,
)
from pipeline.judge.validation import judge_answer
from pipeline.judge.verdicts import Reason
from pipeline.source.chunking import chunk_module
from pipeline.source.codegen import StartLineProvider


def features(source: str) -> list[Feature]:
    module = cst.parse_module(source)
    return syntax_features(
        module, MetadataWrapper(module, unsafe_skip_copy=True).resolve(StartLineProvider)
    )


def union(
    source: str, target: tuple[int, int], *, future: bool = False, enclosing: tuple[str, ...] = ()
) -> RuntimeUnion | None:
    module = cst.parse_module(source)
    lines = MetadataWrapper(module, unsafe_skip_copy=True).resolve(StartLineProvider)
    return find_runtime_union(
        module, lines, target=target, future_annotations=future, enclosing=enclosing
    )


# (source that compiles on any Python having the feature, version it needs, word in the description)
FEATURES: list[tuple[str, tuple[int, int], str]] = [
    ('f"{x["a"]}"\n', (3, 12), "quote"),
    ("f'{f'{x}'}'\n", (3, 12), "quote"),
    ('f"""{f"""{x}"""}"""\n', (3, 12), "quote"),
    ("f'{'\\n'.join(x)}'\n", (3, 12), "backslash"),
    ("f'{x # comment\n}'\n", (3, 12), "comment"),
    ("f'{x\n}'\n", (3, 12), "line break"),
    ("match x:\n    case 1:\n        pass\n", (3, 10), "match"),
    ("try:\n    pass\nexcept* ValueError:\n    pass\n", (3, 11), "except*"),
    ("type Pair = tuple[int, int]\n", (3, 12), "type statement"),
    ("def first[T](xs: list[T]) -> T:\n    return xs[0]\n", (3, 12), "type parameters"),
    ("class Box[T]:\n    pass\n", (3, 12), "type parameters"),
    ("def f[T = int]():\n    pass\n", (3, 13), "default"),
    ("with (open(a) as f, open(b) as g):\n    pass\n", (3, 9), "parenthesized context managers"),
    ("if (n := 10) > 5:\n    pass\n", (3, 8), ":="),
    ("def f(a, /, b):\n    pass\n", (3, 8), "positional-only"),
    ("def f(*args: *Ts):\n    pass\n", (3, 11), "*Ts"),
    ("x = a[*b]\n", (3, 11), "subscript"),
    ("x = a[y := 1]\n", (3, 10), "subscript"),
    ("try:\n    pass\nexcept ValueError, TypeError:\n    pass\n", (3, 14), "PEP 758"),
    ("x = t'{y}'\n", (3, 14), "template"),
    ("@buttons[0].clicked.connect\ndef f():\n    pass\n", (3, 9), "PEP 614"),
    ("def f():\n    return 1, *rest\n", (3, 8), "return"),
    ("def f():\n    yield 1, *rest\n", (3, 8), "yield"),
    ("for x in *a, *b:\n    pass\n", (3, 9), "for"),
    ("print(f'{x=}')\n", (3, 8), "="),
    # down to 3.0: what a project that still runs on 3.5 or 3.3 must not receive
    ("x = f'{y}'\n", (3, 6), "f-string"),
    ("x = 1_000\n", (3, 6), "underscores"),
    ("x = 1_0.5j\n", (3, 6), "underscores"),
    ("x: int = 1\n", (3, 6), "variable annotation"),
    ("async def f():\n    yield 1\n", (3, 6), "async generator"),
    ("async def f():\n    return [x async for x in y]\n", (3, 6), "async comprehension"),
    ("async def f():\n    await g()\n", (3, 5), "await"),
    ("async def f():\n    pass\n", (3, 5), "async def"),
    ("async def f():\n    async for x in y:\n        pass\n", (3, 5), "async for"),
    ("async def f():\n    async with x:\n        pass\n", (3, 5), "async with"),
    ("x = [*a, *b]\n", (3, 5), "display"),
    ("x = {*a}\n", (3, 5), "display"),
    ("x = *a, b\n", (3, 5), "display"),
    ("def f():\n    return (1, *rest)\n", (3, 5), "display"),  # PEP 448, not 3.8's bare form
    ("x = {**a, 'b': 1}\n", (3, 5), "dict display"),
    ("f(*a, *b)\n", (3, 5), "call"),
    ("f(**a, **b)\n", (3, 5), "call"),
    ("f(*a, b)\n", (3, 5), "call"),
    ("x = a @ b\n", (3, 5), "@ operator"),
    ("x @= b\n", (3, 5), "@= operator"),
    ("def f():\n    yield from g()\n", (3, 3), "yield from"),
    ("for x in y:\n    try:\n        pass\n    finally:\n        continue\n", (3, 8), "finally"),
    (
        "while x:\n    try:\n        pass\n    finally:\n        if x:\n            continue\n",
        (3, 8),
        "finally",
    ),
    ("x = u'text'\n", (3, 3), "u''"),
]

# Valid on every Python 3 codemill could target: no feature above 3.0 may be reported.
OLD_SYNTAX = [
    "with (a, b):\n    pass\n",  # a tuple as the context manager: old syntax
    "try:\n    pass\nexcept (ValueError, TypeError) as e:\n    pass\n",
    "@decorator.attr(arg)\ndef f():\n    pass\n",
    "x = a | b\n",
    "a, *b = x\n",  # extended unpacking in a target is 3.0
    "for x in y:\n    try:\n        pass\n    finally:\n        for z in x:\n            continue\n",
    "for a, *b in x:\n    pass\n",
    "[a, (b, *c)] = x\n",
    "f(*a, b=1, **c)\n",
    "def f(*, a):\n    nonlocal_ok = 1\n",  # keyword-only parameters are 3.0
    "def f():\n    x = 1\n    def g():\n        nonlocal x\n",
    "x = b'bytes' + r'raw'\n",
    "def f():\n    yield 1\n",
    "x = a * b\n",
]

# Valid on 3.6 (f-strings): nothing newer than the f-string itself may be reported.
FSTRINGS_36 = [
    "f'{x!r:#x}'\n",
    "f'{x:\\n}'\n",  # a backslash in the format spec was always allowed
    "f'{\"#\"}'\n",  # a '#' inside a string literal is no comment
    'f"""{x["a"]}"""\n',  # another quote kind inside a triple-quoted f-string
    "f'{ {1: 2}[1] }'\n",
]


@pytest.mark.parametrize(("source", "needs", "word"), FEATURES, ids=[f[0][:30] for f in FEATURES])
def test_feature_versions(source: str, needs: tuple[int, int], word: str) -> None:
    found = features(source)
    assert newest_needed(found) == needs
    assert any(word in f.what and f.needs == needs for f in found), found


@pytest.mark.parametrize("source", OLD_SYNTAX)
def test_old_syntax_needs_nothing_new(source: str) -> None:
    assert features(source) == []


@pytest.mark.parametrize("source", FSTRINGS_36)
def test_old_fstrings_need_36_only(source: str) -> None:
    assert newest_needed(features(source)) == (3, 6)


@pytest.mark.parametrize("source", [f[0] for f in FEATURES] + OLD_SYNTAX + FSTRINGS_36)
def test_agrees_with_the_running_interpreter(source: str) -> None:
    """The detector and this interpreter's own compile() must agree on what it can run."""
    supported = newest_needed(features(source)) <= sys.version_info[:2]
    try:
        compile(source, "<test>", "exec", dont_inherit=True)
        compiles = True
    except SyntaxError:
        compiles = False
    assert compiles == supported


def test_first_unsupported_picks_the_earliest_line() -> None:
    found = features("x = (y := 1)\nmatch x:\n    case 1:\n        pass\ntype T = int\n")
    assert first_unsupported(found, (3, 9)) == Feature(2, (3, 10), "a match statement")
    assert first_unsupported(found, (3, 7)) == Feature(1, (3, 8), "an assignment expression (:=)")
    assert first_unsupported(found, (3, 12)) is None


def test_feature_line_numbers() -> None:
    found = features('a = 1\n\nname = f"{user["name"]}"\n')
    assert {f.line for f in found} == {3}


# (source, target, future import, enclosing, expected line or None)
UNIONS: list[tuple[str, tuple[int, int], bool, tuple[str, ...], int | None]] = [
    ('x = cast("Fwd" | None, y)\n', (3, 12), True, (), 1),  # runtime: future import does not help
    ('def f(a: "Fwd" | None): pass\n', (3, 12), True, (), None),  # pure annotation, deferred
    ('def f(a: "Fwd" | None): pass\n', (3, 12), False, (), 1),  # evaluated at def time
    ('def f(a: "Fwd" | None): pass\n', (3, 14), False, (), None),  # 3.14 defers annotations
    ('def f() -> int | "Fwd": pass\n', (3, 11), False, (), 1),
    ("def f(a: int | None): pass\n", (3, 9), False, (), 1),
    ("def f(a: int | None): pass\n", (3, 9), True, (), None),
    ("def f(a: int | None): pass\n", (3, 10), False, (), None),
    ("def f(a=int | None): pass\n", (3, 9), True, (), 1),  # a default is runtime
    ("Alias: TypeAlias = int | None\n", (3, 9), True, (), 1),  # the value is runtime
    ("class C(Base | Mixin): pass\n", (3, 9), True, (), 1),  # a base class is runtime
    ("ok = isinstance(x, int | str)\n", (3, 9), True, (), 1),
    ("ok = isinstance(x, int | str)\n", (3, 10), False, (), None),
    ("class C:\n    attr: int | None = None\n", (3, 9), False, (), 2),  # class annotations run
    ("def f():\n    local: int | None = None\n", (3, 9), False, (), None),  # locals never do
    ("local: int | None = None\n", (3, 9), False, ("function",), None),  # statements in a body
    ("local: int | None = None\n", (3, 9), False, (), 1),  # module level runs
    ("mask = READ | WRITE | flags\n", (3, 9), False, (), None),  # bitwise or on values
    ("x = a | b\n", (3, 9), False, (), None),
    ("x = Optional[int] | List[str]\n", (3, 9), False, (), 1),
    ("\nx = 1\ny = cast(str | None, z)\n", (3, 9), False, (), 3),
]


@pytest.mark.parametrize(("source", "target", "future", "enclosing", "line"), UNIONS)
def test_runtime_unions(
    source: str, target: tuple[int, int], future: bool, enclosing: tuple[str, ...], line: int | None
) -> None:
    found = union(source, target, future=future, enclosing=enclosing)
    assert (found.line if found else None) == line


# Not covered by the feature visitor because the judge's parse (libcst, this Python's grammar) refuses them
# first: `async`/`await` as names (keywords since 3.7), Python 2's print statement and backticks.
@pytest.mark.parametrize(
    "answer",
    [
        "def f(x):\n    async = x\n    return async\n",
        "def f(x):\n    print x\n    return x\n",
        "def f(x):\n    return `x`\n",
    ],
)
def test_what_the_parser_refuses_first_is_a_syntax_rejection(answer: str) -> None:
    (chunk,) = chunk_module("m.py", "def f(x):\n    return x\n")
    verdict = judge_answer(chunk, answer, policy=Policy(target_python=(3, 5))).verdict
    assert verdict.reason is Reason.SYNTAX, verdict
