"""What validation knows about one parsed chunk text: its definitions, signatures, names, comments.

One libcst pass (`Collector`, batched with the target-syntax finders) fills a `Facts`; the original
chunk's facts are cached per distinct text, so repair turns and re-judging reuse them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import lru_cache

import libcst as cst
from libcst.metadata import MetadataWrapper

from pipeline.judge.lazy import LAZY_COMMENT
from pipeline.judge.target_syntax import BatchVisitor, Lines
from pipeline.source.codegen import StartLineProvider


@dataclass(frozen=True)
class Param:
    name: str
    kind: str
    default: str | None
    annotation: str | None


@dataclass(frozen=True)
class Function:
    line: int
    is_async: bool
    params: tuple[Param, ...]
    returns: str | None
    decorators: tuple[str, ...]
    real_body: bool


@dataclass
class Facts:
    """What validation needs to know about one parsed text (the original's facts are cached)."""

    public: dict[str, int] = field(default_factory=dict)  # qualname -> line
    bound: dict[str, int] = field(default_factory=dict)  # names at chunk or class level -> line
    imported: dict[str, int] = field(default_factory=dict)  # chunk-level import names -> line
    functions: dict[str, list[Function]] = field(default_factory=dict)
    classes: dict[str, tuple[int, bool]] = field(default_factory=dict)  # line, has a real body
    comments: set[str] = field(default_factory=set)
    lazy_comments: list[tuple[int, str]] = field(default_factory=list)
    ellipses: dict[str, list[int]] = field(default_factory=dict)  # owner qualname -> lines
    nonlocals: set[str] = field(default_factory=set)


@lru_cache(maxsize=4096)
def original_facts(text: str) -> Facts:
    """Facts of an original chunk text, parsed once per distinct text (repairs reuse it)."""
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError as e:
        raise ValueError(f"The original chunk does not parse (line {e.raw_line}).") from e
    return collect(
        module, MetadataWrapper(module, unsafe_skip_copy=True).resolve(StartLineProvider)
    )


def is_public(qualname: str) -> bool:
    """A name callers outside the module may use: no leading underscore, or a dunder."""
    name = qualname.rsplit(".", 1)[-1]
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


@lru_cache(maxsize=8192)
def norm(code: str | None) -> str | None:
    """An expression's text normalised for comparison (spacing and parentheses ignored)."""
    if code is None:
        return None
    try:
        return ast.dump(ast.parse(code.strip(), mode="eval"))
    except SyntaxError:
        return " ".join(code.split())


def _real_body(body: cst.BaseSuite) -> bool:
    """True unless the body is only a docstring, `pass` or `...`."""
    statements = body.body if isinstance(body, cst.IndentedBlock) else [body]
    for statement in statements:
        smalls = statement.body if isinstance(statement, cst.SimpleStatementLine) else None
        if isinstance(statement, cst.SimpleStatementSuite):
            smalls = statement.body
        if smalls is None:
            return True
        for small in smalls:
            trivial = isinstance(small, cst.Pass) or (
                isinstance(small, cst.Expr)
                and isinstance(
                    small.value, cst.Ellipsis | cst.SimpleString | cst.ConcatenatedString
                )
            )
            if not trivial:
                return True
    return False


def _target_names(node: cst.BaseExpression) -> list[cst.Name]:
    if isinstance(node, cst.Name):
        return [node]
    if isinstance(node, cst.Tuple | cst.List):
        return [n for e in node.elements for n in _target_names(e.value)]
    if isinstance(node, cst.StarredElement):
        return _target_names(node.value)
    return []


class Collector(BatchVisitor):
    """One pass over a parsed text that fills its Facts."""

    def __init__(self, module: cst.Module, lines: Lines) -> None:
        super().__init__()
        self.module = module
        self.lines = lines
        self.facts = Facts()
        self.scopes: list[tuple[str, str]] = []  # (kind, qualname), outermost first

    def line(self, node: cst.CSTNode) -> int:
        return self.lines[node]

    def code(self, node: cst.CSTNode | None) -> str | None:
        return None if node is None else " ".join(self.module.code_for_node(node).split())

    def binding_level(self) -> bool:
        """True at chunk level or directly in (nested) classes: where names are interface."""
        return all(kind == "class" for kind, _ in self.scopes)

    def qual(self, name: str) -> str:
        return f"{self.scopes[-1][1]}.{name}" if self.scopes else name

    def bind(self, name: cst.Name) -> None:
        qualname, line = self.qual(name.value), self.line(name)
        self.facts.bound.setdefault(qualname, line)
        if is_public(qualname):
            self.facts.public.setdefault(qualname, line)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if self.binding_level():
            self.bind(node.name)
            self.facts.functions.setdefault(self.qual(node.name.value), []).append(
                self.function(node)
            )
        self.scopes.append(("function", self.qual(node.name.value)))

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.scopes.pop()

    def function(self, node: cst.FunctionDef) -> Function:
        p = node.params
        groups: list[tuple[str, list[cst.Param]]] = [
            ("posonly", list(p.posonly_params)),
            ("normal", list(p.params)),
            ("star", [p.star_arg] if isinstance(p.star_arg, cst.Param) else []),
            ("kwonly", list(p.kwonly_params)),
            ("starstar", [p.star_kwarg] if p.star_kwarg is not None else []),
        ]
        params = tuple(
            Param(
                param.name.value,
                kind,
                self.code(param.default),
                self.code(param.annotation.annotation if param.annotation else None),
            )
            for kind, members in groups
            for param in members
        )
        return Function(
            line=self.line(node.name),
            is_async=node.asynchronous is not None,
            params=params,
            returns=self.code(node.returns.annotation if node.returns else None),
            decorators=tuple(norm(self.code(d.decorator)) or "" for d in node.decorators),
            real_body=_real_body(node.body),
        )

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if self.binding_level():
            self.bind(node.name)
            qualname = self.qual(node.name.value)
            self.facts.classes[qualname] = (self.line(node.name), _real_body(node.body))
        self.scopes.append(("class", self.qual(node.name.value)))

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.scopes.pop()

    def visit_Assign(self, node: cst.Assign) -> None:
        if self.binding_level():
            for target in node.targets:
                for name in _target_names(target.target):
                    self.bind(name)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if self.binding_level() and isinstance(node.target, cst.Name):
            self.bind(node.target)

    def visit_Import(self, node: cst.Import) -> None:
        if not self.scopes:
            for alias in node.names:
                name = alias.evaluated_alias or alias.evaluated_name.split(".")[0]
                self.facts.imported.setdefault(name, self.line(node))

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if not self.scopes:
            names = (
                ["*"]
                if isinstance(node.names, cst.ImportStar)
                else [a.evaluated_alias or a.evaluated_name for a in node.names]
            )
            for name in names:
                self.facts.imported.setdefault(name, self.line(node))

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self.facts.nonlocals.update(n.name.value for n in node.names)

    def visit_Comment(self, node: cst.Comment) -> None:
        text = node.value.lstrip("#").strip()
        self.facts.comments.add(text)
        if LAZY_COMMENT.search(text):
            self.facts.lazy_comments.append((self.line(node), node.value))

    def visit_Expr(self, node: cst.Expr) -> None:
        if isinstance(node.value, cst.Ellipsis):
            owner = self.scopes[-1][1] if self.scopes else "<chunk>"
            self.facts.ellipses.setdefault(owner, []).append(self.line(node))


def collect(module: cst.Module, lines: Lines) -> Facts:
    collector = Collector(module, lines)
    cst.visit_batched(module, [collector])
    return collector.facts
