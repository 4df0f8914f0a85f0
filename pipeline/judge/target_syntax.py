"""Which Python some code needs: syntax features by version (down to 3.0), and `X | Y` evaluated at runtime.

libcst parses every Python version, so these checks are explicit visitors: they never depend on the
interpreter codemill runs on. Lines are 1-based lines of the parsed text. Not covered, because libcst's
parser (the running Python's grammar) refuses them first: `async`/`await` as names (keywords since 3.7),
Python 2's print statement and backticks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import libcst as cst

Version = tuple[int, int]
Lines = Mapping[cst.CSTNode, int]  # node -> its start line (StartLineProvider)

_BUILTIN_TYPES = frozenset(
    {"int", "str", "float", "bytes", "bool", "complex", "list", "dict", "set", "frozenset"}
    | {"tuple", "type", "object", "bytearray", "memoryview", "range", "slice"}
)


@dataclass(frozen=True, order=True)
class Feature:
    """A syntax feature found at a line, and the first Python version that has it."""

    line: int
    needs: Version
    what: str


@dataclass(frozen=True)
class RuntimeUnion:
    """An `X | Y` evaluated at runtime where it fails (a string operand, or before 3.10)."""

    line: int
    why: str


def syntax_features(module: cst.Module, lines: Lines) -> list[Feature]:
    """Every version-dependent syntax feature of the module, in line order."""
    finder = FeatureFinder(module, lines)
    cst.visit_batched(module, [finder])
    return finder.features()


def first_unsupported(features: list[Feature], target: Version) -> Feature | None:
    """The first feature (by line) that the target Python does not have."""
    return next((f for f in features if f.needs > target), None)


def newest_needed(features: list[Feature]) -> Version:
    """The oldest Python that has every feature found ((3, 0) when none)."""
    return max((f.needs for f in features), default=(3, 0))


def find_runtime_union(
    module: cst.Module,
    lines: Lines,
    *,
    target: Version,
    future_annotations: bool,
    enclosing: tuple[str, ...] = (),
) -> RuntimeUnion | None:
    """The first `X | Y` that fails when evaluated on the target, or None.

    An annotation is safe when it is never evaluated: with `from __future__ import annotations`, on
    3.14+ (deferred annotations), or on a local variable inside a function.
    """
    finder = UnionFinder(lines, target, future_annotations, enclosing)
    cst.visit_batched(module, [finder])
    return finder.first()


class BatchVisitor(cst.BatchableCSTVisitor):
    """A batchable visitor that finds its visit_/leave_ methods once per class, not per instance.

    libcst's own get_visitors() runs inspect.getmembers on every instance: a quarter of the time
    of validating a 40-line chunk.
    """

    def get_visitors(self) -> Mapping[str, Callable[[cst.CSTNode], None]]:
        return {name: getattr(self, name) for name in _visitor_names(type(self))}


@cache
def _visitor_names(cls: type) -> tuple[str, ...]:
    return tuple(
        name
        for name in dir(cls)
        if name.startswith(("visit_", "leave_"))
        and not getattr(getattr(cls, name), "_is_no_op", False)
    )


def _v(major: int, minor: int) -> Version:
    return (major, minor)


def _is_dotted(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.Name):
        return True
    return isinstance(node, cst.Attribute) and _is_dotted(node.value)


def _unparenthesized_starred_tuple(node: cst.BaseExpression | None) -> bool:
    return (
        isinstance(node, cst.Tuple)
        and not node.lpar
        and any(isinstance(e, cst.StarredElement) for e in node.elements)
    )


def _quote(start: str) -> str:
    """The quote sequence of a string prefix such as `rf'''`."""
    return start.lstrip("fFrRbBuUtT")


class FeatureFinder(BatchVisitor):
    """Collects version-dependent syntax, one Feature per occurrence (batchable)."""

    def __init__(self, module: cst.Module, lines: Lines) -> None:
        super().__init__()
        self.module = module
        self.lines = lines
        self.found: list[Feature] = []
        self.quotes: list[str] = []  # quote of each enclosing f-string, innermost last
        self.in_fstring_expr = 0
        self.functions: list[bool] = []  # whether each enclosing def is async, innermost last
        self.targets: set[int] = set()  # ids of the tuples and lists that are assignment targets
        self.blocks: list[str] = []  # enclosing loops, finally clauses and defs, innermost last

    def features(self) -> list[Feature]:
        """Every feature found, in line order."""
        return sorted(self.found)

    def add(self, node: cst.CSTNode, needs: Version, what: str) -> None:
        self.found.append(Feature(self.lines[node], needs, what))

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self.add(node, _v(3, 8), "an assignment expression (:=)")

    def visit_Index(self, node: cst.Index) -> None:
        if node.star:
            self.add(node, _v(3, 11), "a starred expression in a subscript (PEP 646)")
        if isinstance(node.value, cst.NamedExpr) and not node.value.lpar:
            self.add(node, _v(3, 10), "an unparenthesized assignment expression in a subscript")

    def visit_Parameters(self, node: cst.Parameters) -> None:
        if node.posonly_params or isinstance(node.posonly_ind, cst.ParamSlash):
            self.add(node, _v(3, 8), "positional-only parameters (/)")

    def visit_Param(self, node: cst.Param) -> None:
        if node.annotation is not None and isinstance(
            node.annotation.annotation, cst.StarredElement
        ):
            self.add(node, _v(3, 11), "a starred annotation such as *args: *Ts (PEP 646)")

    def visit_Return(self, node: cst.Return) -> None:
        if _unparenthesized_starred_tuple(node.value):
            self.add(node, _v(3, 8), "an unparenthesized starred tuple after return")

    def visit_Yield(self, node: cst.Yield) -> None:
        if isinstance(node.value, cst.From):
            self.add(node, _v(3, 3), "yield from")
        elif _unparenthesized_starred_tuple(node.value):
            self.add(node, _v(3, 8), "an unparenthesized starred tuple after yield")
        if self.functions and self.functions[-1]:
            self.add(node, _v(3, 6), "yield inside async def (an async generator)")

    def visit_Decorator(self, node: cst.Decorator) -> None:
        expr = node.decorator
        simple = _is_dotted(expr) or (isinstance(expr, cst.Call) and _is_dotted(expr.func))
        if not simple:
            self.add(node, _v(3, 9), "a decorator that is not a dotted name or call (PEP 614)")

    def visit_With(self, node: cst.With) -> None:
        if isinstance(node.lpar, cst.LeftParen) and any(i.asname for i in node.items):
            self.add(node, _v(3, 9), "parenthesized context managers")
        if node.asynchronous is not None:
            self.add(node, _v(3, 5), "async with")

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions.append(node.asynchronous is not None)
        self.blocks.append("def")
        if node.asynchronous is not None:
            self.add(node, _v(3, 5), "async def")

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.functions.pop()
        self.blocks.pop()

    def visit_While(self, node: cst.While) -> None:
        self.blocks.append("loop")

    def leave_While(self, original_node: cst.While) -> None:
        self.blocks.pop()

    def leave_For(self, original_node: cst.For) -> None:
        self.blocks.pop()

    def visit_Finally(self, node: cst.Finally) -> None:
        self.blocks.append("finally")

    def leave_Finally(self, original_node: cst.Finally) -> None:
        self.blocks.pop()

    def visit_Continue(self, node: cst.Continue) -> None:
        if self.blocks and self.blocks[-1] == "finally" and "loop" in self.blocks:
            self.add(node, _v(3, 8), "continue inside a finally clause")

    def visit_Await(self, node: cst.Await) -> None:
        self.add(node, _v(3, 5), "await")

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._mark_target(node.target)
        if node.asynchronous is not None:
            self.add(node, _v(3, 6), "an async comprehension")

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self.add(node, _v(3, 6), "a variable annotation (PEP 526)")

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self._mark_target(node.target)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._mark_target(node.asname.name)

    def _mark_target(self, node: cst.BaseExpression) -> None:
        """Remember a target's tuples and lists: `a, *b = x` is Python 3.0, not 3.5's unpacking."""
        if isinstance(node, cst.Tuple | cst.List):
            self.targets.add(id(node))
            for element in node.elements:
                self._mark_target(element.value)

    def visit_List(self, node: cst.List) -> None:
        self._check_display(node, node.elements)

    def visit_Tuple(self, node: cst.Tuple) -> None:
        self._check_display(node, node.elements)

    def visit_Set(self, node: cst.Set) -> None:
        self._check_display(node, node.elements)

    def _check_display(self, node: cst.CSTNode, elements: Sequence[cst.BaseElement]) -> None:
        if id(node) not in self.targets and any(
            isinstance(e, cst.StarredElement) for e in elements
        ):
            self.add(node, _v(3, 5), "* unpacking in a display (PEP 448)")

    def visit_StarredDictElement(self, node: cst.StarredDictElement) -> None:
        self.add(node, _v(3, 5), "** unpacking in a dict display (PEP 448)")

    def visit_Call(self, node: cst.Call) -> None:
        star = double = False
        for arg in node.args:
            positional = arg.star == "" and arg.keyword is None
            if (
                (arg.star == "*" and (star or double))
                or (arg.star == "**" and double)
                or (positional and star)
            ):
                self.add(node, _v(3, 5), "several unpackings in a call (PEP 448)")
                return
            star, double = star or arg.star == "*", double or arg.star == "**"

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if isinstance(node.operator, cst.MatrixMultiply):
            self.add(node, _v(3, 5), "the @ operator")

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.operator, cst.MatrixMultiplyAssign):
            self.add(node, _v(3, 5), "the @= operator")

    def visit_Integer(self, node: cst.Integer) -> None:
        self._check_number(node, node.value)

    def visit_Float(self, node: cst.Float) -> None:
        self._check_number(node, node.value)

    def visit_Imaginary(self, node: cst.Imaginary) -> None:
        self._check_number(node, node.value)

    def _check_number(self, node: cst.CSTNode, value: str) -> None:
        if "_" in value:
            self.add(node, _v(3, 6), "underscores in a number (PEP 515)")

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        if "u" in node.prefix.lower():
            self.add(node, _v(3, 3), "the u'' string prefix")

    def visit_For(self, node: cst.For) -> None:
        self._mark_target(node.target)
        self.blocks.append("loop")
        if _unparenthesized_starred_tuple(node.iter):
            self.add(node, _v(3, 9), "an unparenthesized starred tuple after for ... in")
        if node.asynchronous is not None:
            self.add(node, _v(3, 5), "async for")

    def visit_Match(self, node: cst.Match) -> None:
        self.add(node, _v(3, 10), "a match statement")

    def visit_TryStar(self, node: cst.TryStar) -> None:
        self.add(node, _v(3, 11), "except* (exception groups)")

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        self._check_handler(node, node.type, node.name)

    def visit_ExceptStarHandler(self, node: cst.ExceptStarHandler) -> None:
        self._check_handler(node, node.type, node.name)

    def _check_handler(
        self, node: cst.CSTNode, kind: cst.BaseExpression | None, name: cst.AsName | None
    ) -> None:
        if isinstance(kind, cst.Tuple) and not kind.lpar and name is None:
            self.add(node, _v(3, 14), "except with several types and no parentheses (PEP 758)")

    def visit_TypeAlias(self, node: cst.TypeAlias) -> None:
        self.add(node, _v(3, 12), "a type statement (PEP 695)")

    def visit_TypeParameters(self, node: cst.TypeParameters) -> None:
        self.add(node, _v(3, 12), "type parameters such as def f[T]() (PEP 695)")

    def visit_TypeParam(self, node: cst.TypeParam) -> None:
        if node.default is not None:
            self.add(node, _v(3, 13), "a type parameter default (PEP 696)")

    def visit_TemplatedString(self, node: cst.TemplatedString) -> None:
        self.add(node, _v(3, 14), "a template string t'...' (PEP 750)")

    def visit_FormattedString(self, node: cst.FormattedString) -> None:
        self.add(node, _v(3, 6), "an f-string")
        self.quotes.append(_quote(node.start))

    def leave_FormattedString(self, original_node: cst.FormattedString) -> None:
        self.quotes.pop()

    def visit_FormattedStringExpression(self, node: cst.FormattedStringExpression) -> None:
        self.in_fstring_expr += 1
        if node.equal is not None:
            self.add(node, _v(3, 8), "the f-string = specifier")
        quote = self.quotes[-1]
        # The replacement field without its format spec: before 3.12 the spec may hold backslashes.
        text = self.module.code_for_node(node.with_changes(format_spec=None))
        if quote in text:
            self.add(
                node, _v(3, 12), f"the f-string quote {quote} reused inside a replacement field"
            )
        if "\\" in text:
            self.add(node, _v(3, 12), "a backslash inside an f-string replacement field")
        if len(quote) == 1 and "\n" in text:
            self.add(node, _v(3, 12), "a line break inside a single-quoted f-string field")

    def leave_FormattedStringExpression(self, original_node: cst.FormattedStringExpression) -> None:
        self.in_fstring_expr -= 1

    def visit_Comment(self, node: cst.Comment) -> None:
        if self.in_fstring_expr:
            self.add(node, _v(3, 12), "a comment inside an f-string replacement field")


class UnionFinder(BatchVisitor):
    """Finds `X | Y` type unions evaluated at runtime that fail there (batchable)."""

    def __init__(
        self,
        lines: Lines,
        target: Version,
        future_annotations: bool,
        enclosing: tuple[str, ...],
    ) -> None:
        super().__init__()
        self.lines = lines
        self.target = target
        self.lazy_annotations = future_annotations or target >= (3, 14)
        self.scopes: list[str] = list(enclosing)
        self.annotation_depth = 0
        self.local_annotation_depth = 0
        self.found: list[RuntimeUnion] = []

    def first(self) -> RuntimeUnion | None:
        """The first failing union in source order, or None."""
        return self.found[0] if self.found else None

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scopes.append("function")

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.scopes.pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.scopes.append("class")

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.scopes.pop()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.scopes.append("function")

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        self.scopes.pop()

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        # A local variable's annotation is never evaluated.
        if self.scopes and self.scopes[-1] != "class":
            self.local_annotation_depth += 1

    def leave_AnnAssign(self, original_node: cst.AnnAssign) -> None:
        if self.scopes and self.scopes[-1] != "class":
            self.local_annotation_depth -= 1

    def visit_Annotation(self, node: cst.Annotation) -> None:
        self.annotation_depth += 1

    def leave_Annotation(self, original_node: cst.Annotation) -> None:
        self.annotation_depth -= 1

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if not isinstance(node.operator, cst.BitOr):
            return
        if self.annotation_depth and (self.lazy_annotations or self.local_annotation_depth):
            return
        operands = _union_operands(node)
        where = "an annotation" if self.annotation_depth else "a runtime position"
        line = self.lines[node]
        if any(isinstance(o, cst.SimpleString | cst.ConcatenatedString) for o in operands):
            why = f"a string operand of | in {where} raises TypeError when evaluated"
            self.found.append(RuntimeUnion(line, why))
        elif self.target < (3, 10) and _looks_like_types(operands):
            why = f"X | Y on types in {where} needs Python 3.10, the target is {_fmt(self.target)}"
            self.found.append(RuntimeUnion(line, why))


def _fmt(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def _union_operands(node: cst.BaseExpression) -> list[cst.BaseExpression]:
    """The leaves of a chain such as `A | B | None`."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
        return [*_union_operands(node.left), *_union_operands(node.right)]
    return [node]


def _looks_like_types(operands: list[cst.BaseExpression]) -> bool:
    """True when a union is about types: None or a builtin type in it, or only classes/generics."""

    def last_name(o: cst.BaseExpression) -> str | None:
        if isinstance(o, cst.Name):
            return o.value
        return o.attr.value if isinstance(o, cst.Attribute) else None

    def is_type_name(o: cst.BaseExpression) -> bool:
        name = last_name(o)
        return name is not None and name[0].isupper() and not name.isupper()

    for o in operands:
        if last_name(o) in _BUILTIN_TYPES or (isinstance(o, cst.Name) and o.value == "None"):
            return True
    return all(is_type_name(o) or isinstance(o, cst.Subscript) for o in operands)
