"""Find the char spans of a module's statements from its line structure, with a codegen fallback.

Spans come from the line structure, proven without generating code for statement bodies (see
`StatementSpans.level`): the statements of a level (the module, a split class's body) tile its lines,
and each one's first line is `len(leading_lines)` lines (plus its decorators) above its anchor line
(the line of its first token, at the level's indent). A cheap scan lists the candidate lines: every
line at the level's indent that could begin a statement, a superset of the anchors. A run of
statements between two proven lines that holds exactly as many candidates as statements owns one
each, in order. A statement holding more (a docstring or string with text at the level's indent) is
generated alone and found, once, in the text. When that does not prove every line, one pass of
libcst's code generator records the spans (`_SpanState`), as does a file with form feeds. libcst's
metadata providers record every node and cost 6x-12x a codegen pass (bench/RESULTS.md).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

import libcst as cst
from libcst._nodes.internal import CodegenState

from pipeline.errors import CodemillError
from pipeline.source.layout import NEWLINE, lf


class ChunkingError(CodemillError):
    """libcst parsed the module but could not regenerate it (nesting deeper than the recursion limit)."""


class _SpanState(CodegenState):
    """Codegen state recording the start/end offsets of watched nodes only (cheap: no per-token work)."""

    def __init__(self, module: cst.Module, watched: set[int]) -> None:
        super().__init__(
            default_indent=module.default_indent, default_newline=module.default_newline
        )
        self.watched = watched
        self.spans: dict[int, list[int]] = {}
        self._counted = 0
        self._offset = 0

    def _here(self) -> int:
        fresh = self.tokens[self._counted :]
        self._offset += sum(map(len, fresh))
        self._counted += len(fresh)
        return self._offset

    def before_codegen(self, node: cst.CSTNode) -> None:
        if id(node) in self.watched:
            self.spans[id(node)] = [self._here(), 0]

    def after_codegen(self, node: cst.CSTNode) -> None:
        if id(node) in self.watched:
            self.spans[id(node)][1] = self._here()


_ANCHOR_AHEAD = r"(?=[^\s#@)\]}])(?!(?:else|elif|except|finally)\b)"
_ANCHOR_HEAD = re.compile(_ANCHOR_AHEAD)


@functools.cache
def _anchor_pattern(indent: str) -> re.Pattern[str]:
    """A newline, then `indent`, then a character that may begin a statement (not a clause)."""
    return re.compile("\n" + re.escape(indent) + _ANCHOR_AHEAD)


def _line_bounds(text: str) -> list[int]:
    """Start offset of each line of `text`, then its length when the last line is open."""
    starts = [0, *(m.end() for m in NEWLINE.finditer(text))]
    return [*starts, len(text)] if text and not text.endswith(("\n", "\r")) else starts


def _newlines(code: str) -> int:
    """Line breaks in `code` ("\r\n", "\r" or "\n")."""
    return code.count("\n") + code.count("\r") - code.count("\r\n")


class _Stop(Exception):
    """Raised by `_PrefixState` when code generation reaches the node it stops at."""


class _PrefixState(CodegenState):
    """Codegen state that stops before one node: the code of a statement up to it."""

    def __init__(self, module: cst.Module, stop: cst.CSTNode) -> None:
        super().__init__(
            default_indent=module.default_indent, default_newline=module.default_newline
        )
        self.stop = stop

    def before_codegen(self, node: cst.CSTNode) -> None:
        if node is self.stop:
            raise _Stop


def _code_until(module: cst.Module, node: cst.CSTNode, stop: cst.CSTNode) -> str:
    """The code `node` generates before reaching `stop` (indentation left out)."""
    state = _PrefixState(module, stop)
    with contextlib.suppress(_Stop):
        node._codegen(state)
    return "".join(state.tokens)


_KEYWORDS: dict[type[cst.CSTNode], str] = {
    cst.Import: "import",
    cst.ImportFrom: "from",
    cst.Return: "return",
    cst.Pass: "pass",
    cst.Break: "break",
    cst.Continue: "continue",
    cst.Raise: "raise",
    cst.Assert: "assert",
    cst.Del: "del",
    cst.Global: "global",
    cst.Nonlocal: "nonlocal",
    cst.ClassDef: "class",
    cst.If: "if",
    cst.While: "while",
    cst.Try: "try",
    cst.TryStar: "try",
    cst.Match: "match",
}


def _first_token(node: cst.BaseStatement) -> str | None:
    """The text a statement's anchor line begins with, when cheap to know (None: unknown).

    Only guides the guess of which candidate line is which statement's anchor; never trusted.
    """
    if isinstance(node, cst.FunctionDef | cst.For | cst.With):
        if node.asynchronous is not None:
            return "async"
        return (
            "def"
            if isinstance(node, cst.FunctionDef)
            else "for"
            if isinstance(node, cst.For)
            else "with"
        )
    small: cst.CSTNode = node.body[0] if isinstance(node, cst.SimpleStatementLine) else node
    keyword = _KEYWORDS.get(type(small))
    if keyword is not None:
        return keyword
    if isinstance(small, cst.Expr):
        expr: cst.CSTNode = small.value
    elif isinstance(small, cst.Assign):
        expr = small.targets[0].target
    elif isinstance(small, cst.AnnAssign | cst.AugAssign):
        expr = small.target
    else:
        return None
    while True:
        if getattr(expr, "lpar", None):
            return "("
        if isinstance(expr, cst.Name):
            return expr.value
        if isinstance(expr, cst.SimpleString):
            return expr.value[: len(expr.prefix) + 1]
        if isinstance(expr, cst.FormattedString):
            return expr.start
        if isinstance(expr, cst.Attribute | cst.Subscript):
            expr = expr.value
        elif isinstance(expr, cst.Call):
            expr = expr.func
        elif isinstance(
            expr,
            cst.ConcatenatedString | cst.BinaryOperation | cst.Comparison | cst.BooleanOperation,
        ):
            expr = expr.left
        elif isinstance(expr, cst.Tuple) and expr.elements:
            expr = expr.elements[0].value
        elif isinstance(expr, cst.List | cst.ListComp):
            return "["
        elif isinstance(expr, cst.Dict | cst.Set | cst.DictComp | cst.SetComp):
            return "{"
        else:
            return None


class StatementSpans:
    """The char spans of one parsed module's top-level statements and, on demand, a class's members."""

    def __init__(self, text: str, module: cst.Module) -> None:
        self.text, self.module = text, module
        self.line_starts = _line_bounds(text)  # line i is [line_starts[i], line_starts[i + 1])
        self.open_end = bool(text) and not text.endswith(("\n", "\r"))  # no final newline
        self.flat = lf(text)  # same lines, "\n" only: what the candidate scans read
        self.flat_bounds = self.line_starts if self.flat is text else _line_bounds(self.flat)
        self.spans: dict[int, list[int]] = {}
        self.lines: dict[int, tuple[int, int]] = {}  # id(statement) -> [first line, end line)
        self.located: dict[int, tuple[int, int] | None] = {}  # id(statement) -> `locate`
        size = len(self.line_starts) - 1
        first, end = len(module.header), size - len(module.footer)
        if "\f" in text or not self.place(module.body, first, end, ""):
            self._record_spans()

    def place(self, body: Sequence[cst.BaseStatement], first: int, end: int, indent: str) -> bool:
        """Record the spans of a level's statements from their proven start lines (see `level`)."""
        if not body:
            return True
        starts = self.level(body, first, end, indent)
        if starts is None:
            return False
        for node, a, b in zip(body, starts, starts[1:], strict=False):
            self.lines[id(node)] = (a, b)
            self.spans[id(node)] = [self.line_starts[a], self.line_starts[b]]
        return True

    def level(
        self, body: Sequence[cst.BaseStatement], first: int, end: int, indent: str
    ) -> list[int] | None:
        """The start line of each statement of a level, then its end line; None when not proven.

        A guess says which candidate line is each statement's anchor (first by the token each
        begins with, then also skipping lines that look inside a triple-quoted string); `prove`
        either proves the guess exact or rejects it.
        """
        cands = self.candidates(first, end, indent)
        tokens = [_first_token(node) for node in body]
        for strings in (False, True):
            anchors: list[int] = []  # indices into cands
            at = 0
            for token in tokens:
                while at < len(cands) and not (
                    self.begins(cands[at], indent, token)
                    and (
                        not strings
                        or not anchors
                        or self.outside_strings(cands[anchors[-1]], cands[at])
                    )
                ):
                    at += 1
                anchors.append(at)
                at += 1
            if at <= len(cands) and anchors[0] == 0:
                starts = self.prove(body, first, end, indent, cands, anchors, tokens)
                if starts is not None:
                    return starts
        return None

    def prove(
        self,
        body: Sequence[cst.BaseStatement],
        first: int,
        end: int,
        indent: str,
        cands: list[int],
        anchors: list[int],
        tokens: list[str | None],
    ) -> list[int] | None:
        """The start lines (then the end line) the guessed anchors give, when proven exact.

        Proof: every statement's anchor is a candidate (a block's statements begin with its
        literal indent, as libcst's code generator also assumes), so a run of k statements between
        two proven lines holding k candidates owns exactly one each, and each starts `_above` lines
        above its own. A statement guessed to hold more is generated alone and must occur exactly
        once in the level's text, which proves both its lines.
        """
        count = len(body)
        known = {0: first, count: end}
        generated = set()
        for k, (a, b) in enumerate(zip(anchors, [*anchors[1:], len(cands)], strict=True)):
            if b - a > 1:
                where = self.locate(body[k], indent, first, end)
                if where is None:
                    return None
                for index, line in zip((k, k + 1), where, strict=True):
                    if known.setdefault(index, line) != line:
                        return None
                generated.add(k)
        starts = [0] * count + [end]
        for a, b in itertools.pairwise(sorted(known)):
            lo, hi = known[a], known[b]
            if lo >= hi:
                return None
            starts[a] = lo
            if a in generated:
                continue
            i, j = bisect_left(cands, lo), bisect_left(cands, hi)
            if j - i != b - a:
                return None
            previous = lo - 1
            for k, line in zip(range(a, b), cands[i:j], strict=True):
                start = line - self._above(body[k])
                if (start != lo if k == a else start <= previous) or not self.begins(
                    line, indent, tokens[k]
                ):
                    return None
                starts[k], previous = start, line
        return starts

    def candidates(self, first: int, end: int, indent: str) -> list[int]:
        """Lines in [first, end) at `indent` that may begin a statement: a superset of the anchors."""
        bounds, flat = self.flat_bounds, self.flat
        lines = []
        if first == 0 and _ANCHOR_HEAD.match(flat) and not indent:
            lines.append(0)
        pattern = _anchor_pattern(indent)
        for m in pattern.finditer(flat, max(bounds[first] - 1, 0), bounds[end]):
            lines.append(bisect_left(bounds, m.start() + 1))
        return lines

    def begins(self, line: int, indent: str, token: str | None) -> bool:
        """Whether `line` begins, after `indent`, with `token` (any token when None)."""
        if token is None:
            return True
        pos = self.flat_bounds[line] + len(indent)
        if not self.flat.startswith(token, pos):
            return False
        after = self.flat[pos + len(token) : pos + len(token) + 1]
        if not (token[-1].isidentifier() or token[-1].isdigit()):
            return True
        return not after or not ("a" + after).isidentifier()

    def outside_strings(self, line: int, later: int) -> bool:
        """A guess: whether `later` is outside any triple-quoted string opened since `line`."""
        segment = self.flat[self.flat_bounds[line] : self.flat_bounds[later]]
        return segment.count('"""') % 2 == 0 and segment.count("'''") % 2 == 0

    def _above(self, node: cst.BaseStatement) -> int:
        """Lines of a statement above its anchor: its leading lines, decorators and lines after."""
        lines: Sequence[cst.EmptyLine] = getattr(node, "leading_lines", ())
        if isinstance(node, cst.FunctionDef | cst.ClassDef) and node.decorators:
            decorators = sum(_newlines(self.module.code_for_node(d)) for d in node.decorators)
            return len(lines) + decorators + len(node.lines_after_decorators)
        return len(lines)

    def locate(
        self, node: cst.BaseStatement, indent: str, first: int, end: int
    ) -> tuple[int, int] | None:
        """First and end lines of a statement generated alone, when found exactly once in the level."""
        key = id(node)
        if key not in self.located:
            self.located[key] = self._locate(node, indent, first, end)
        return self.located[key]

    def _locate(
        self, node: cst.BaseStatement, indent: str, first: int, end: int
    ) -> tuple[int, int] | None:
        state = CodegenState(
            default_indent=self.module.default_indent,
            default_newline=self.module.default_newline,
        )
        if indent:
            state.increase_indent(indent)
        try:
            node._codegen(state)
        except RecursionError:
            return None
        code = "".join(state.tokens)
        lo, hi = self.line_starts[first], self.line_starts[end]
        pos = self.text.find(code, lo, hi)
        if pos < 0 and hi == len(self.text) and self.open_end:
            code = code.removesuffix("\n").removesuffix("\r")  # the file's last line is open
            pos = self.text.find(code, lo, hi)
            if pos < 0 or pos + len(code) != hi:
                return None
        if pos < 0 or self.text.find(code, pos + 1, hi) >= 0:
            return None
        line = bisect_left(self.line_starts, pos)
        if self.line_starts[line] != pos:
            return None
        return line, bisect_left(self.line_starts, pos + len(code))

    def class_lines(self, node: cst.ClassDef, block: cst.IndentedBlock, indent: str) -> bool:
        """Record the spans of a split class's members (proven, or from the codegen fallback)."""
        if not block.body or id(block.body[0]) in self.spans:
            return True
        start, stop = self.lines[id(node)]
        first = start + _newlines(_code_until(self.module, node, block)) + 1
        if self.place(block.body, first, stop - len(block.footer), indent):
            return True
        try:
            self._record_spans()
        except ChunkingError:  # the module's top-level spans are proven: keep this class whole
            return False
        return True

    def _record_spans(self) -> None:
        """The fallback: one codegen pass recording the spans of every statement that may be cut."""
        watched = {id(s) for s in self.module.body}
        for stmt in self.module.body:
            if isinstance(stmt, cst.ClassDef) and isinstance(stmt.body, cst.IndentedBlock):
                watched.update(id(s) for s in stmt.body.body)
        state = _SpanState(self.module, watched)
        try:
            self.module._codegen(state)
        except RecursionError as exc:
            raise ChunkingError(
                "libcst cannot regenerate this module: nesting deeper than the recursion limit"
            ) from exc
        code = "".join(state.tokens)
        if code != self.text:
            at = next(
                (i for i, (a, b) in enumerate(zip(code, self.text, strict=False)) if a != b),
                len(code),
            )
            raise ChunkingError(
                f"line {self.line_of(at)}: libcst does not regenerate this module byte for byte, "
                "so its spans cannot be trusted"
            )
        size = len(self.text)
        for key, span in state.spans.items():  # a file without a final newline: its last is popped
            span[0], span[1] = min(span[0], size), min(span[1], size)
            self.lines[key] = (self.line_of(span[0]) - 1, bisect_left(self.line_starts, span[1]))
        self.spans = state.spans

    def line_of(self, offset: int) -> int:
        """1-based line number of the char at `offset`."""
        return bisect_right(self.line_starts, offset)
