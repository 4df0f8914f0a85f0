"""The libcst checks behind the recipes' named matchers: imported only when a chunk passes a prefilter.

`pipeline.recipes.selectors` names each matcher with its cheap regex; listing or loading recipes
never imports libcst, and a run pays for it only when some chunk's text could match.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import cast

import libcst as cst
import libcst.matchers as m

from pipeline.recipes.selectors import TYPING_NAMES
from pipeline.source.chunking import Chunk

Check = Callable[[cst.Module, Chunk], bool]


def _defs_without_docstring(module: cst.Module, chunk: Chunk) -> bool:
    """A public function or class in the chunk has no docstring."""
    for node in m.findall(module, m.FunctionDef() | m.ClassDef()):
        node = cast(cst.FunctionDef | cst.ClassDef, node)
        if not node.name.value.startswith("_") and node.get_docstring() is None:
            return True
    return False


def _missing_param_annotation(module: cst.Module, chunk: Chunk) -> bool:
    """A parameter other than a leading self/cls has no annotation."""
    for node in m.findall(module, m.FunctionDef()):
        params = cast(cst.FunctionDef, node).params
        every = [*params.posonly_params, *params.params, *params.kwonly_params]
        every += [p for p in (params.star_arg, params.star_kwarg) if isinstance(p, cst.Param)]
        for index, param in enumerate(every):
            if index == 0 and param.name.value in ("self", "cls"):
                continue
            if param.annotation is None:
                return True
    return False


class _Nesting(cst.CSTVisitor):
    """Deepest nesting of compound statements inside a function."""

    _BLOCKS = (cst.If, cst.For, cst.While, cst.Try, cst.With, cst.Match)

    def __init__(self) -> None:
        self.depth = 0
        self.deepest = 0

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, self._BLOCKS):
            self.depth += 1
            self.deepest = max(self.deepest, self.depth)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if isinstance(original_node, self._BLOCKS):
            self.depth -= 1


def _complex_control_flow(module: cst.Module, chunk: Chunk) -> bool:
    """Compound statements nested three deep or more (the shape `simplify` is for)."""
    visitor = _Nesting()
    module.visit(visitor)
    return visitor.deepest >= 3


_TESTCASE_BASE = m.Arg(value=m.Name("TestCase") | m.Attribute(attr=m.Name("TestCase")))
_SELF_ASSERT = m.Call(
    func=m.Attribute(value=m.Name("self"), attr=m.Name(m.MatchRegex(r"assert|fail")))
)
_TYPING_ALIAS = m.Subscript(
    value=m.OneOf(*(m.Name(n) for n in TYPING_NAMES))
    | m.Attribute(value=m.Name("typing"), attr=m.OneOf(*(m.Name(n) for n in TYPING_NAMES)))
)


def _has(pattern: m.BaseMatcherNode) -> Callable[[cst.Module, Chunk], bool]:
    """A check that holds when `pattern` matches anywhere in the chunk."""

    def check(module: cst.Module, chunk: Chunk) -> bool:
        return bool(m.findall(module, pattern))

    return check


def _unittest_testcase(module: cst.Module, chunk: Chunk) -> bool:
    """A TestCase class, or a method of one (its class header is in the chunk's context)."""
    if re.search(r"\bTestCase\b", chunk.context.class_header):
        return True
    return bool(
        m.findall(module, m.ClassDef(bases=[m.ZeroOrMore(), _TESTCASE_BASE, m.ZeroOrMore()]))
    )


CHECKS: dict[str, Check] = {
    "has_percent_format": _has(
        m.BinaryOperation(left=m.SimpleString() | m.ConcatenatedString(), operator=m.Modulo())
    ),
    "has_str_format": _has(m.Call(func=m.Attribute(value=m.SimpleString(), attr=m.Name("format")))),
    "legacy_typing": _has(_TYPING_ALIAS),
    "legacy_super": _has(m.Call(func=m.Name("super"), args=[m.AtLeastN(n=1)])),
    "object_base": _has(
        m.ClassDef(bases=[m.ZeroOrMore(), m.Arg(value=m.Name("object")), m.ZeroOrMore()])
    ),
    "missing_return_annotation": _has(m.FunctionDef(returns=None)),
    "missing_param_annotation": _missing_param_annotation,
    "missing_docstring": _defs_without_docstring,
    "complex_control_flow": _complex_control_flow,
    "unittest_testcase": _unittest_testcase,
    "self_assert_calls": _has(_SELF_ASSERT),
}


def any_match(names: Iterable[str], chunk: Chunk) -> bool:
    """Whether any named check holds for the chunk, parsed once; True when it does not parse.

    A chunk that does not parse cannot be told apart, so validation decides rather than drop it.
    """
    try:
        module = cst.parse_module(chunk.text)
    except cst.ParserSyntaxError:
        return True
    return any(CHECKS[name](module, chunk) for name in names)
