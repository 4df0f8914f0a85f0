"""Recipe selectors: cheap checks (kind filter, regexes, named libcst matchers) picking the chunks to send.

Each named matcher sits behind a regex prefilter, so most chunks are never parsed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast, get_args

import libcst as cst
import libcst.matchers as m

from pipeline.source.chunking import Chunk, ChunkKind


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
_TYPING_NAMES = ("List", "Dict", "Set", "FrozenSet", "Tuple", "Type", "Optional", "Union")
_TYPING_ALIAS = m.Subscript(
    value=m.OneOf(*(m.Name(n) for n in _TYPING_NAMES))
    | m.Attribute(value=m.Name("typing"), attr=m.OneOf(*(m.Name(n) for n in _TYPING_NAMES)))
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


@dataclass(frozen=True)
class _Matcher:
    """A named libcst check behind a cheap regex that must hit first: most chunks never parse."""

    prefilter: re.Pattern[str]
    check: Callable[[cst.Module, Chunk], bool]
    uses_context: bool = False


MATCHERS: dict[str, _Matcher] = {
    "has_percent_format": _Matcher(
        re.compile(r"%"),
        _has(
            m.BinaryOperation(left=m.SimpleString() | m.ConcatenatedString(), operator=m.Modulo())
        ),
    ),
    "has_str_format": _Matcher(
        re.compile(r"\.format\b"),
        _has(m.Call(func=m.Attribute(value=m.SimpleString(), attr=m.Name("format")))),
    ),
    "legacy_typing": _Matcher(
        re.compile(r"\b(" + "|".join(_TYPING_NAMES) + r")\s*\["), _has(_TYPING_ALIAS)
    ),
    "legacy_super": _Matcher(
        re.compile(r"\bsuper\s*\(\s*\w"), _has(m.Call(func=m.Name("super"), args=[m.AtLeastN(n=1)]))
    ),
    "object_base": _Matcher(
        re.compile(r"\bobject\b"),
        _has(m.ClassDef(bases=[m.ZeroOrMore(), m.Arg(value=m.Name("object")), m.ZeroOrMore()])),
    ),
    "missing_return_annotation": _Matcher(
        re.compile(r"\bdef\b"), _has(m.FunctionDef(returns=None))
    ),
    "missing_param_annotation": _Matcher(re.compile(r"\bdef\b"), _missing_param_annotation),
    "missing_docstring": _Matcher(re.compile(r"\b(def|class)\b"), _defs_without_docstring),
    "complex_control_flow": _Matcher(
        re.compile(r"\b(if|for|while|try|with|match)\b"), _complex_control_flow
    ),
    "unittest_testcase": _Matcher(
        re.compile(r"\bTestCase\b|\bself\.(assert|fail)"), _unittest_testcase, uses_context=True
    ),
    "self_assert_calls": _Matcher(re.compile(r"\bself\.(assert|fail)"), _has(_SELF_ASSERT)),
}
KINDS: frozenset[str] = frozenset(get_args(ChunkKind))


@dataclass(frozen=True)
class Selectors:
    """Cheap checks deciding which chunks are sent: a kind filter, then any regex or matcher hit.

    With neither regexes nor matchers, every chunk of an allowed kind is a candidate.
    """

    kinds: frozenset[str] = KINDS
    regex: tuple[re.Pattern[str], ...] = ()
    matchers: tuple[str, ...] = ()

    def selects(self, chunk: Chunk) -> bool:
        """True when the chunk is worth sending to an engine."""
        if chunk.kind not in self.kinds:
            return False
        if not self.regex and not self.matchers:
            return True
        if any(p.search(chunk.text) for p in self.regex):
            return True
        module: cst.Module | None = None
        for name in self.matchers:
            matcher = MATCHERS[name]
            hay = chunk.text + ("\n" + chunk.context.class_header if matcher.uses_context else "")
            if not matcher.prefilter.search(hay):
                continue
            if module is None:
                try:
                    module = cst.parse_module(chunk.text)
                except cst.ParserSyntaxError:
                    return True  # cannot tell: let validation decide rather than drop it silently
            if matcher.check(module, chunk):
                return True
        return False
