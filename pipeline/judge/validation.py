"""The verdict for a proposed chunk: not truncated, parses, fits the target Python, compiles in its
real context, keeps the chunk's interface, adds no names, is not lazy, evaluates no broken `X | Y`.

Decorators: removing one from a definition is a SIGNATURE_CHANGED (it changes what callers get);
adding one is allowed. Changing `def` into `async def` (or back) is a signature change too.
"""

from __future__ import annotations
import __future__

import ast
import re
import sys
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from pipeline.judge.policy import Policy
from pipeline.judge.target_syntax import (
    BatchVisitor,
    FeatureFinder,
    Positions,
    UnionFinder,
    first_unsupported,
    newest_needed,
)
from pipeline.judge.verdicts import Reason, Verdict
from pipeline.source.chunking import Chunk

_LAZY_COMMENT = re.compile(
    r"rest of (?:the )?(?:code|file|module|class|function|method|implementation|body|logic)"
    r"|\.\.\.\s*(?:existing|rest|remaining|same|unchanged|omitted|other)"
    r"|(?:existing|remaining|other|previous) (?:code|methods|functions|implementation|logic)"
    r"|same as (?:before|above|original|previously|the original)"
    r"|todo:?\s*implement"
    r"|(?:code|implementation|body|logic) (?:omitted|elided|goes here)"
    r"|keep (?:as is|existing|the rest)"
    r"|^\W*\(?\s*unchanged\s*\)?\W*$"
    r"|\b(?:code|body|implementation|logic|methods?|functions?|rest|everything else)"
    r"\s+(?:remains?|is|are|stays?|left)?\s*unchanged\b",
    re.IGNORECASE,
)
_PARSER_PREFIX = re.compile(r"^parser error: error at \d+:\d+: ")  # chunk-relative, dropped
_At = Callable[[int], int]  # chunk line -> file line
_WRAPPERS = {"class": "class _:", "function": "def _():", "async_function": "async def _():"}
_KIND_NAMES = {
    "posonly": "positional-only",
    "normal": "positional-or-keyword",
    "star": "*args",
    "kwonly": "keyword-only",
    "starstar": "**kwargs",
}


@dataclass(frozen=True)
class _Param:
    name: str
    kind: str
    default: str | None
    annotation: str | None


@dataclass(frozen=True)
class _Function:
    line: int
    is_async: bool
    params: tuple[_Param, ...]
    returns: str | None
    decorators: tuple[str, ...]
    real_body: bool


@dataclass
class _Facts:
    """What validation needs to know about one parsed text (the original's facts are cached)."""

    public: dict[str, int] = field(default_factory=dict)  # qualname -> line
    bound: dict[str, int] = field(default_factory=dict)  # names at chunk or class level -> line
    imported: dict[str, int] = field(default_factory=dict)  # chunk-level import names -> line
    functions: dict[str, list[_Function]] = field(default_factory=dict)
    classes: dict[str, tuple[int, bool]] = field(default_factory=dict)  # line, has a real body
    comments: set[str] = field(default_factory=set)
    lazy_comments: list[tuple[int, str]] = field(default_factory=list)
    ellipses: dict[str, list[int]] = field(default_factory=dict)  # owner qualname -> lines
    nonlocals: set[str] = field(default_factory=set)


def validate(
    chunk: Chunk,
    proposed: str,
    *,
    policy: Policy,
    finish_reason: str | None = "stop",
    module_has_future_annotations: bool = False,
) -> Verdict:
    """Accept, call unchanged, or reject (with a reason and one sentence) a proposed chunk text."""
    if finish_reason == "length":
        return Verdict.rejected(Reason.TRUNCATED, "The answer was truncated by max_tokens.")
    if proposed.rstrip() == chunk.text.rstrip():
        return Verdict.unchanged()

    def at(line: int) -> int:
        return chunk.start_line - 1 + line

    if not proposed.strip():
        return Verdict.rejected(Reason.EMPTY, f"The proposal for `{chunk.name}` is empty.")
    try:
        module = cst.parse_module(proposed)
    except cst.ParserSyntaxError as e:
        msg = _PARSER_PREFIX.sub("", e.message).rstrip(".")
        return Verdict.rejected(Reason.SYNTAX, f"Syntax error at line {at(e.raw_line)}: {msg}.")
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    target = policy.target_python
    # One traversal for every fact of the proposal.
    finder, collector = FeatureFinder(module, positions), _Collector(module, positions)
    unions = UnionFinder(positions, target, module_has_future_annotations, chunk.enclosing)
    cst.visit_batched(module, [finder, collector, unions])
    features, facts = finder.features(), collector.facts
    too_new = first_unsupported(features, target)
    if too_new is not None:
        detail = (
            f"Line {at(too_new.line)} uses {too_new.what}, which needs Python "
            f"{_fmt(too_new.needs)} but the target is {_fmt(target)}."
        )
        return Verdict.rejected(Reason.TARGET_SYNTAX, detail)
    # compile() knows only the running interpreter's grammar: newer syntax is checked above only.
    if newest_needed(features) <= sys.version_info[:2]:
        error = _compile_error(
            proposed, chunk.enclosing, facts.nonlocals, module_has_future_annotations
        )
        if error is not None:
            line, msg = error
            return Verdict.rejected(Reason.COMPILE, f"Line {at(line)} does not compile: {msg}.")
    original = _original_facts(chunk.text)
    for check in (_removed, _signatures, _new_names, _lazy):
        verdict = check(original, facts, policy, at)
        if verdict is not None:
            return verdict
    union = unions.first()
    if union is not None:
        return Verdict.rejected(Reason.RUNTIME_ANNOTATION, f"Line {at(union.line)}: {union.why}.")
    return Verdict.accepted()


def _fmt(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


@lru_cache(maxsize=4096)
def _original_facts(text: str) -> _Facts:
    """Facts of an original chunk text, parsed once per distinct text (repairs reuse it)."""
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError as e:
        raise ValueError(f"The original chunk does not parse (line {e.raw_line}).") from e
    return _collect(
        module, MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    )


def _compile_error(
    text: str, enclosing: tuple[str, ...], nonlocals: set[str], future_annotations: bool
) -> tuple[int, str] | None:
    """Compile the text inside its enclosing scopes; the first error's chunk line and message."""
    unit = "\t" if re.search(r"^\t", text, re.MULTILINE) else "    "
    header: list[str] = []
    if nonlocals and any(kind != "class" for kind in enclosing):
        # The real enclosing function may bind what `nonlocal` names; stand in for it.
        header += ["def _outer():", unit + " = ".join([*sorted(nonlocals), "None"])]
    base = len(header) // 2
    for depth, kind in enumerate(enclosing, start=base):
        header.append(unit * depth + _WRAPPERS[kind])
    prefix = unit * (base + len(enclosing))
    lines = text.splitlines(keepends=True)
    body = "".join(prefix + line if line.strip() else line for line in lines)
    source = "".join(h + "\n" for h in header) + body
    flags = __future__.annotations.compiler_flag if future_annotations else 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(source, "<chunk>", "exec", flags=flags, dont_inherit=True)
    except SyntaxError as e:
        return max((e.lineno or 1) - len(header), 1), (e.msg or "invalid syntax").rstrip(".")
    except (ValueError, OverflowError, RecursionError, MemoryError) as e:
        return 1, f"{type(e).__name__}: {e}".rstrip(".")
    return None


def _shown(code: str | None) -> str:
    return "no default" if code is None else f"`{code}`"


def _is_public(qualname: str) -> bool:
    name = qualname.rsplit(".", 1)[-1]
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


@lru_cache(maxsize=8192)
def _norm(code: str | None) -> str | None:
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


class _Collector(BatchVisitor):
    """One pass over a parsed text that fills its _Facts."""

    def __init__(self, module: cst.Module, positions: Positions) -> None:
        super().__init__()
        self.module = module
        self.positions = positions
        self.facts = _Facts()
        self.scopes: list[tuple[str, str]] = []  # (kind, qualname), outermost first

    def line(self, node: cst.CSTNode) -> int:
        return self.positions[node].start.line

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
        if _is_public(qualname):
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

    def function(self, node: cst.FunctionDef) -> _Function:
        p = node.params
        groups: list[tuple[str, list[cst.Param]]] = [
            ("posonly", list(p.posonly_params)),
            ("normal", list(p.params)),
            ("star", [p.star_arg] if isinstance(p.star_arg, cst.Param) else []),
            ("kwonly", list(p.kwonly_params)),
            ("starstar", [p.star_kwarg] if p.star_kwarg is not None else []),
        ]
        params = tuple(
            _Param(
                param.name.value,
                kind,
                self.code(param.default),
                self.code(param.annotation.annotation if param.annotation else None),
            )
            for kind, members in groups
            for param in members
        )
        return _Function(
            line=self.line(node.name),
            is_async=node.asynchronous is not None,
            params=params,
            returns=self.code(node.returns.annotation if node.returns else None),
            decorators=tuple(_norm(self.code(d.decorator)) or "" for d in node.decorators),
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
        if _LAZY_COMMENT.search(text):
            self.facts.lazy_comments.append((self.line(node), node.value))

    def visit_Expr(self, node: cst.Expr) -> None:
        if isinstance(node.value, cst.Ellipsis):
            owner = self.scopes[-1][1] if self.scopes else "<chunk>"
            self.facts.ellipses.setdefault(owner, []).append(self.line(node))


def _collect(module: cst.Module, positions: Positions) -> _Facts:
    collector = _Collector(module, positions)
    cst.visit_batched(module, [collector])
    return collector.facts


def _removed(old: _Facts, new: _Facts, policy: Policy, at: _At) -> Verdict | None:
    for qualname, line in old.public.items():
        if qualname not in new.bound:
            kind = "class" if qualname in old.classes else "name"
            kind = "function" if qualname in old.functions else kind
            detail = f"Public {kind} `{qualname}` (line {at(line)}) was removed."
            return Verdict.rejected(Reason.DEFINITION_REMOVED, detail)
    return None


def _signatures(old: _Facts, new: _Facts, policy: Policy, at: _At) -> Verdict | None:
    for qualname, befores in old.functions.items():
        afters = new.functions.get(qualname)
        if afters is None:
            continue
        if len(befores) != len(afters):
            detail = (
                f"`{qualname}` was defined {len(befores)} time(s) (overloads or accessors) "
                f"and is now defined {len(afters)} time(s)."
            )
            return Verdict.rejected(Reason.SIGNATURE_CHANGED, detail)
        for before, after in zip(befores, afters, strict=True):
            change = _signature_change(qualname, before, after, policy)
            if change is not None:
                detail = f"Line {at(after.line)}: {change}."
                return Verdict.rejected(Reason.SIGNATURE_CHANGED, detail)
    return None


def _signature_change(qualname: str, old: _Function, new: _Function, policy: Policy) -> str | None:
    """The first interface change of one function the policy forbids, as a clause, or None."""
    missing = Counter(old.decorators) - Counter(new.decorators)
    if missing:
        return f"a decorator of `{qualname}` was removed"
    allow = policy.allowances
    if not allow.signatures:
        if old.is_async != new.is_async:
            return f"`{qualname}` changed between def and async def"
        old_names = [p.name for p in old.params]
        new_names = [p.name for p in new.params]
        for name in old_names:
            if name not in new_names:
                return f"parameter `{name}` of `{qualname}` was removed or renamed"
        for name in new_names:
            if name not in old_names:
                return f"parameter `{name}` was added to `{qualname}`"
        for before, after in zip(old.params, new.params, strict=True):
            if before.name != after.name:
                return f"the parameters of `{qualname}` were reordered at `{before.name}`"
            if before.kind != after.kind:
                kinds = f"{_KIND_NAMES[before.kind]} to {_KIND_NAMES[after.kind]}"
                return f"parameter `{before.name}` of `{qualname}` changed from {kinds}"
            if _norm(before.default) != _norm(after.default):
                change = f"from {_shown(before.default)} to {_shown(after.default)}"
                return f"the default of parameter `{before.name}` of `{qualname}` changed {change}"
    if not allow.annotations:
        news = {p.name: p for p in new.params}
        for before in old.params:
            counterpart = news.get(before.name)
            if counterpart is not None and _norm(before.annotation) != _norm(
                counterpart.annotation
            ):
                return f"the annotation of parameter `{before.name}` of `{qualname}` changed"
        if _norm(old.returns) != _norm(new.returns):
            return f"the return annotation of `{qualname}` changed"
    return None


def _new_names(old: _Facts, new: _Facts, policy: Policy, at: _At) -> Verdict | None:
    if not policy.allowances.new_definitions:
        for qualname, line in new.bound.items():
            if qualname not in old.bound:
                detail = f"Line {at(line)} adds the new name `{qualname}`."
                return Verdict.rejected(Reason.NEW_NAME, detail)
    if not policy.allowances.imports:
        for name, line in new.imported.items():
            if name not in old.imported:
                detail = f"Line {at(line)} adds the import `{name}`."
                return Verdict.rejected(Reason.NEW_NAME, detail)
    return None


def _lazy(old: _Facts, new: _Facts, policy: Policy, at: _At) -> Verdict | None:
    for line, comment in new.lazy_comments:
        if comment.lstrip("#").strip() not in old.comments:
            detail = f"Line {at(line)} elides code with the comment `{comment.strip()}`."
            return Verdict.rejected(Reason.LAZY, detail)
    for qualname, befores in old.functions.items():
        for before, after in zip(befores, new.functions.get(qualname, []), strict=False):
            if before.real_body and not after.real_body:
                detail = f"Line {at(after.line)}: the body of `{qualname}` was replaced by a stub."
                return Verdict.rejected(Reason.LAZY, detail)
    for qualname, (_, real) in old.classes.items():
        after_class = new.classes.get(qualname)
        if real and after_class is not None and not after_class[1]:
            detail = (
                f"Line {at(after_class[0])}: the body of class `{qualname}` was replaced by a stub."
            )
            return Verdict.rejected(Reason.LAZY, detail)
    for owner, lines in new.ellipses.items():
        if len(lines) > len(old.ellipses.get(owner, [])):
            detail = f"Line {at(lines[0])} elides code with `...`."
            return Verdict.rejected(Reason.LAZY, detail)
    return None
