"""Cut a module into chunks with libcst and splice replacement texts back byte-exactly.

Indentation convention (used everywhere): a chunk's `text` goes out dedented (its first line at column 0)
and a replacement comes back dedented; `splice` re-indents it with the chunk's `indent`.

Dedent/re-indent rules, inverse of each other: a line that begins inside a string literal (the tail of
a triple-quoted or backslash-continued string, found with the tokenizer) and a whitespace-only line are
never touched; every other line loses (or gets back) exactly `indent`. A chunk with a line that cannot
lose its indent (a bracket or backslash continuation line less indented than the block) is not split
out: its class goes whole, as one top-level chunk, which needs no dedent (see `_Cutter._dedents`).

Newlines: a chunk's `text` and its replacement use "\\n"; `splice` writes the chunk's own newline
(`Chunk.newline`: "\\r\\n" in a CRLF file). A class member whose newlines are mixed keeps its class
whole, like a lossy dedent; a top-level chunk with mixed newlines has `newline == ""`: its text keeps
the file's own newlines and its replacement is written as given.

Encoding: spans index the original file bytes (BOM included) and `splice` encodes with
`Chunk.encoding`. A chunk ends with a newline exactly when its original region did (only the last
chunk of a file without a final newline does not); `splice` keeps it that way.

Spans come from the line structure, proven without generating code for statement bodies (see
`_Cutter.level`): the statements of a level (the module, a split class's body) tile its lines, and
each one's first line is `len(leading_lines)` lines (plus its decorators) above its anchor line (the
line of its first token, at the level's indent). A cheap scan lists the candidate lines: every line at
the level's indent that could begin a statement, a superset of the anchors. A run of statements
between two proven lines that holds exactly as many candidates as statements owns one each, in
order. A statement holding more (a docstring or string with text at the level's indent) is generated
alone and found, once, in the text. When that does not prove every line, one pass of libcst's code
generator records the spans (`_SpanState`), as does a file with form feeds. libcst's metadata
providers record every node and cost 6x-12x a codegen pass (bench/RESULTS.md).
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import io
import itertools
import re
import tokenize
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import libcst as cst
from libcst._nodes.internal import CodegenState

from pipeline.sources import SkippedFile, SkipReason, SourceFile

ChunkKind = Literal["function", "class", "method", "statements"]
ScopeKind = Literal["class", "function", "async_function"]

DEFAULT_BUDGET = 2000
_NEWLINE = re.compile(r"\r\n?|\n")
_BLANK = " \t\f"
_FSTRING_START: int = getattr(tokenize, "FSTRING_START", -1)
_FSTRING_END: int = getattr(tokenize, "FSTRING_END", -1)


@dataclass(frozen=True)
class ChunkContext:
    """Read-only context sent with a chunk: never changed by the model, only shown to it."""

    imports: str = ""
    class_header: str = ""
    sibling_signatures: tuple[str, ...] = ()


@dataclass(frozen=True)
class Chunk:
    """One unit of a module sent to an engine; spans index the file's original bytes."""

    path: str
    start_byte: int
    end_byte: int
    start_line: int
    end_line: int
    kind: ChunkKind
    name: str
    text: str
    indent: str = ""
    context: ChunkContext = field(default_factory=ChunkContext)
    oversized: bool = False
    enclosing: tuple[ScopeKind, ...] = ()  # outermost first; () for a top-level chunk
    newline: str = "\n"  # the region's newline; "" when mixed: text keeps the file's own newlines
    encoding: str = "utf-8"  # the file's encoding; splice encodes the replacement with it

    @property
    def digest(self) -> str:
        """Content hash of the chunk text and its context; the cache and the ledger key on it."""
        h = hashlib.sha256()
        parts = (self.text, self.context.imports, self.context.class_header)
        for part in (*parts, *self.context.sibling_signatures):
            h.update(part.encode("utf-8"))
            h.update(b"\0")
        return h.hexdigest()


@dataclass(frozen=True)
class Gap:
    """A byte span never sent to a model (header, blank lines, a split class's header), and why."""

    start_byte: int
    end_byte: int
    what: str


@dataclass(frozen=True)
class ModulePlan:
    """A module cut up: its chunks and the gaps between them, in file order."""

    chunks: tuple[Chunk, ...]
    gaps: tuple[Gap, ...]


class ChunkingError(ValueError):
    """libcst parsed the module but could not regenerate it (nesting deeper than the recursion limit)."""


def estimate_tokens(text: str) -> int:
    """Model tokens for `text`: UTF-8 bytes / 4, rounded up.

    BPE tokenizers average about 4 bytes of source code per token; the estimate is cheap, monotonic,
    needs no tokenizer download, and only decides where chunks are cut.
    """
    return -(-len(text.encode("utf-8")) // 4)


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
    starts = [0, *(m.end() for m in _NEWLINE.finditer(text))]
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


@dataclass
class _Member:
    """One statement of a level (module or class body) with its char span and where its unit starts."""

    node: cst.BaseStatement
    start: int
    end: int
    unit_start: int  # after detached blank lines/comments of leading_lines


@dataclass
class _Piece:
    """A chunk or a gap in char offsets, turned into a Chunk/Gap once byte offsets are known."""

    start: int
    end: int
    kind: ChunkKind | None = None  # None: a gap
    name: str = ""
    indent: str = ""
    enclosing: tuple[ScopeKind, ...] = ()
    class_header: str = ""
    siblings: tuple[str, ...] = ()
    oversized: bool = False
    text: str = ""
    newline: str = "\n"


def _interior_lines(text: str) -> frozenset[int]:
    """0-based indices of the lines of `text` ("\\n" newlines) that begin inside a string literal."""
    if '"""' not in text and "'''" not in text and "\\\n" not in text:
        return frozenset()
    rows: set[int] = set()
    fstarts: list[int] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.STRING:
                rows.update(range(tok.start[0], tok.end[0]))
            elif tok.type == _FSTRING_START:
                fstarts.append(tok.start[0])
            elif tok.type == _FSTRING_END and fstarts:
                rows.update(range(fstarts.pop(), tok.end[0]))
    except (tokenize.TokenError, SyntaxError) as exc:
        raise ValueError(f"cannot tokenize the text to find its strings: {exc}") from exc
    return frozenset(rows)


def dedent(text: str, indent: str) -> str | None:
    """`text` without `indent` on each line (strings and blank lines untouched); None when lossy."""
    if not indent:
        return text
    lines = text.split("\n")
    interior = _interior_lines(text)
    for i, line in enumerate(lines):
        if i in interior or not line.strip(_BLANK):
            continue
        if not line.startswith(indent):
            return None
        lines[i] = line[len(indent) :]
    return "\n".join(lines)


def reindent(text: str, indent: str) -> str:
    """The inverse of `dedent`: `indent` before each line that is neither in a string nor blank."""
    if not indent:
        return text
    lines = text.split("\n")
    interior = _interior_lines(text)
    return "\n".join(
        line if i in interior or not line.strip(_BLANK) else indent + line
        for i, line in enumerate(lines)
    )


def _region_newline(raw: str, default: str) -> str | None:
    """The one newline used in `raw` (`default` when it has none); None when mixed."""
    if "\r" not in raw:
        return "\n" if "\n" in raw else default
    kinds = set(_NEWLINE.findall(raw))
    return kinds.pop() if len(kinds) == 1 else None


class _Cutter:
    """Cuts one parsed module; holds the text, its line starts and the statement spans."""

    def __init__(self, path: str, text: str, module: cst.Module, budget: int) -> None:
        self.path, self.text, self.module, self.budget = path, text, module, budget
        self.line_starts = _line_bounds(text)  # line i is [line_starts[i], line_starts[i + 1])
        self.pieces: list[_Piece] = []
        self.dedented: dict[tuple[int, int], str] = {}
        self.open_end = bool(text) and not text.endswith(("\n", "\r"))  # no final newline
        self.flat = _lf(text)  # same lines, "\n" only: what the candidate scans read
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

    def members(self, body: Sequence[cst.BaseStatement], *, indented: bool) -> list[_Member]:
        """The statements of a level with spans; attached comment lines stay with their statement."""
        out = []
        for node in body:
            start, end = self.spans[id(node)]
            lines: Sequence[cst.EmptyLine] = getattr(node, "leading_lines", ())
            attached = 0
            for line in reversed(lines):
                if line.comment is None or (indented and not line.indent):
                    break
                attached += 1
            skip = len(lines) - attached
            unit_start = self.line_starts[self.line_of(start) - 1 + skip] if skip else start
            out.append(_Member(node, start, end, unit_start))
        return out

    def signature(self, node: cst.FunctionDef | cst.ClassDef) -> str:
        """The def/class line alone, e.g. "def f(self, x: int) -> str: ..."."""
        stub = node.with_changes(
            leading_lines=(),
            decorators=(),
            lines_after_decorators=(),
            body=cst.SimpleStatementSuite(body=[cst.Expr(cst.Ellipsis())]),
        )
        return _lf(self.module.code_for_node(stub)).strip()

    def gap(self, start: int, end: int, what: str) -> None:
        if end > start:
            self.pieces.append(_Piece(start, end, name=what))

    def cut(self) -> None:
        module_members = self.members(self.module.body, indented=False)
        top_sigs = {
            id(m.node): self.signature(m.node)
            for m in module_members
            if isinstance(m.node, cst.FunctionDef | cst.ClassDef)
        }
        first = module_members[0].start if module_members else len(self.text)
        self.gap(0, first, "module header")
        run: list[_Member] = []
        for m in module_members:
            siblings = tuple(s for k, s in top_sigs.items() if k != id(m.node))
            node = m.node
            if isinstance(node, cst.FunctionDef):
                self.flush(run, (), "", siblings)
                self.unit(m, "function", node.name.value, "", (), "", siblings)
            elif isinstance(node, cst.ClassDef):
                self.flush(run, (), "", siblings)
                self.class_(m, node, siblings)
            else:
                self.add_to_run(run, m, (), "", tuple(top_sigs.values()))
        self.flush(run, (), "", tuple(top_sigs.values()))
        last = module_members[-1].end if module_members else len(self.text)
        self.gap(last, len(self.text), "module footer")

    def unit(
        self,
        m: _Member,
        kind: ChunkKind,
        name: str,
        indent: str,
        enclosing: tuple[ScopeKind, ...],
        class_header: str,
        siblings: tuple[str, ...],
    ) -> None:
        self.gap(m.start, m.unit_start, f"blank lines and comments before {name}")
        size = estimate_tokens(self.text[m.unit_start : m.end])
        self.pieces.append(
            _Piece(
                m.unit_start,
                m.end,
                kind,
                name,
                indent,
                enclosing,
                class_header,
                siblings,
                oversized=size > self.budget,
            )
        )

    def add_to_run(
        self,
        run: list[_Member],
        m: _Member,
        enclosing: tuple[ScopeKind, ...],
        prefix: str,
        siblings: tuple[str, ...],
        indent: str = "",
        class_header: str = "",
    ) -> None:
        """Grow the statements run with `m`, flushing first when `m` would push it over budget."""
        if run and estimate_tokens(self.text[run[0].unit_start : m.end]) > self.budget:
            self.flush(run, enclosing, prefix, siblings, indent, class_header)
        run.append(m)

    def flush(
        self,
        run: list[_Member],
        enclosing: tuple[ScopeKind, ...],
        prefix: str,
        siblings: tuple[str, ...],
        indent: str = "",
        class_header: str = "",
    ) -> None:
        """Emit the pending statements run as one chunk (oversized if it is a single huge statement)."""
        if not run:
            return
        start, end = run[0].unit_start, run[-1].end
        self.gap(run[0].start, start, "blank lines and comments before statements")
        name = f"{prefix}<statements {self.line_of(start)}-{self.line_of(end - 1)}>"
        size = estimate_tokens(self.text[start:end])
        self.pieces.append(
            _Piece(
                start,
                end,
                "statements",
                name,
                indent,
                enclosing,
                class_header,
                siblings,
                oversized=size > self.budget,
            )
        )
        run.clear()

    def class_(self, m: _Member, node: cst.ClassDef, siblings: tuple[str, ...]) -> None:
        """A class whole when it fits the budget (or cannot be split losslessly), else member by member."""
        name = node.name.value
        fits = estimate_tokens(self.text[m.unit_start : m.end]) <= self.budget
        if fits or not isinstance(node.body, cst.IndentedBlock) or not node.body.body:
            self.unit(m, "class", name, "", (), "", siblings)
            return
        block = node.body
        indent = self.module.default_indent if block.indent is None else block.indent
        if not self.class_lines(node, block, indent):
            self.unit(m, "class", name, "", (), "", siblings)
            return
        members = self.members(block.body, indented=True)
        if not all(self._dedents(x, indent) for x in members):
            self.unit(m, "class", name, "", (), "", siblings)
            return
        header = self.class_header(node, m, members[0].start)
        methods = {
            id(x.node): self.signature(x.node)
            for x in members
            if isinstance(x.node, cst.FunctionDef)
        }
        self.gap(m.start, members[0].start, f"header of class {name}")
        run: list[_Member] = []
        prefix = f"{name}."
        for x in members:
            if isinstance(x.node, cst.FunctionDef):
                self.flush(run, ("class",), prefix, tuple(methods.values()), indent, header)
                sibs = tuple(s for k, s in methods.items() if k != id(x.node))
                self.unit(x, "method", prefix + x.node.name.value, indent, ("class",), header, sibs)
            else:
                sibs = tuple(methods.values())
                self.add_to_run(run, x, ("class",), prefix, sibs, indent, header)
        self.flush(run, ("class",), prefix, tuple(methods.values()), indent, header)
        self.gap(members[-1].end, m.end, f"end of class {name}")

    def _dedents(self, m: _Member, indent: str) -> bool:
        """Whether a class member can go out dedented and come back byte-exactly (result cached).

        A method is checked from its unit start (its detached lines go to a gap); any other member
        from its very start, since a statements run takes in the detached lines of its later members.
        """
        start = m.unit_start if isinstance(m.node, cst.FunctionDef) else m.start
        raw = self.text[start : m.end]
        if _region_newline(raw, "\n") is None:
            return False
        body = dedent(_lf(raw), indent)
        if body is not None and start == m.unit_start:
            self.dedented[(start, m.end)] = body
        return body is not None

    def class_header(self, node: cst.ClassDef, m: _Member, body_start: int) -> str:
        """Decorators and the class line(s), e.g. "@dataclass\\nclass Foo(Base):"."""
        skip = len(node.leading_lines)
        start = self.line_starts[self.line_of(m.start) - 1 + skip] if skip else m.start
        return _lf(self.text[start:body_start]).rstrip()

    def imports(self) -> str:
        """The top-level import statements, verbatim, one after the other."""
        parts = []
        for node in self.module.body:
            if isinstance(node, cst.SimpleStatementLine) and all(
                isinstance(s, cst.Import | cst.ImportFrom) for s in node.body
            ):
                start, end = self.spans[id(node)]
                skip = len(node.leading_lines)
                if skip:
                    start = self.line_starts[self.line_of(start) - 1 + skip]
                parts.append(_lf(self.text[start:end]).rstrip("\n") + "\n")
        return "".join(parts)


def _lf(text: str) -> str:
    """`text` with "\\n" newlines only."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _byte_offsets(text: str, offsets: set[int], encoding: str, base: int) -> dict[int, int]:
    """Char offsets of `text` mapped to offsets in the encoded file (after `base` BOM bytes)."""
    if text.isascii():
        return {o: o + base for o in offsets}
    out, prev, pos = {}, 0, base
    for o in sorted(offsets):
        pos += len(text[prev:o].encode(encoding))
        out[o], prev = pos, o
    return out


def cut_module(
    path: str,
    text: str,
    budget: int = DEFAULT_BUDGET,
    *,
    encoding: str = "utf-8",
    bom: bool = False,
) -> ModulePlan:
    """Parse `text` once and cut it into chunks and never-sent gaps covering the file's bytes.

    `text` is the decoded file without its BOM; `encoding` and `bom` say how the file's bytes were
    made from it, so spans index those bytes. Raises libcst.ParserSyntaxError or ChunkingError.
    """
    return plan_parsed(path, text, cst.parse_module(text), budget, encoding=encoding, bom=bom)


def plan_parsed(
    path: str,
    text: str,
    module: cst.Module,
    budget: int = DEFAULT_BUDGET,
    *,
    encoding: str = "utf-8",
    bom: bool = False,
) -> ModulePlan:
    """`cut_module` for a module already parsed from `text` (the benchmark times this part alone)."""
    cutter = _Cutter(path, text, module, budget)
    cutter.cut()
    base = 3 if bom else 0
    where = _byte_offsets(
        text, {o for p in cutter.pieces for o in (p.start, p.end)}, encoding, base
    )
    context_imports = cutter.imports()
    chunks: list[Chunk] = []
    gaps: list[Gap] = [Gap(0, base, "byte order mark")] if bom else []
    for p in cutter.pieces:
        if p.kind is None:
            gaps.append(Gap(where[p.start], where[p.end], p.name))
            continue
        raw = text[p.start : p.end]
        newline = _region_newline(raw, module.default_newline)
        if newline is None:  # mixed newlines: only top-level pieces (see `_Cutter._dedents`)
            newline, body = "", raw
        else:
            found = cutter.dedented.get((p.start, p.end))
            flat = found if found is not None else dedent(_lf(raw), p.indent)
            if flat is None:  # `_Cutter._dedents` rules this out for every class member
                raise ChunkingError(f"{p.name} cannot be dedented losslessly")
            body = flat
        chunks.append(
            Chunk(
                path=path,
                start_byte=where[p.start],
                end_byte=where[p.end],
                start_line=cutter.line_of(p.start),
                end_line=cutter.line_of(p.end - 1),
                kind=p.kind,
                name=p.name,
                text=body,
                indent=p.indent,
                context=ChunkContext(context_imports, p.class_header, p.siblings),
                oversized=p.oversized,
                enclosing=p.enclosing,
                newline=newline,
                encoding=encoding,
            )
        )
    return ModulePlan(tuple(chunks), tuple(gaps))


def chunk_module(
    path: str,
    text: str,
    budget: int = DEFAULT_BUDGET,
    *,
    encoding: str = "utf-8",
    bom: bool = False,
) -> list[Chunk]:
    """The chunks of a module (see `cut_module`)."""
    return list(cut_module(path, text, budget, encoding=encoding, bom=bom).chunks)


def plan_file(src: SourceFile, budget: int = DEFAULT_BUDGET) -> list[Chunk] | SkippedFile:
    """The chunks of one source file, or the reason it is skipped (it does not parse)."""
    try:
        return chunk_module(src.path, src.text, budget, encoding=src.encoding, bom=src.bom)
    except cst.ParserSyntaxError as exc:
        return SkippedFile(src.path, SkipReason.PARSE_ERROR, _syntax_error_detail(src, exc))
    except ChunkingError as exc:
        return SkippedFile(src.path, SkipReason.PARSE_ERROR, str(exc))


def _syntax_error_detail(src: SourceFile, exc: cst.ParserSyntaxError) -> str:
    """ "line L, column C: message" for a file libcst rejects.

    libcst's native parser reports imprecise positions, so on this error path only Python's own
    parser is asked where the error is; when Python accepts the code, libcst's position is used.
    """
    try:
        compile(src.text, src.path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as err:
        return f"line {err.lineno}, column {err.offset}: {err.msg}"
    except (ValueError, RecursionError, MemoryError):
        pass
    where = re.match(r"parser error: error at (\d+):(\d+): (.*)", exc.message, re.DOTALL)
    if where:
        line, column, message = where.groups()
        return f"line {line}, column {int(column) + 1}: {message}"
    return f"line {exc.raw_line}, column {exc.raw_column + 1}: {exc.message}"


def check_coverage(plan: ModulePlan, size: int) -> None:
    """Raise ValueError unless chunks and gaps cover bytes [0, size) exactly once, in order."""
    spans = sorted(
        [(c.start_byte, c.end_byte, c.name) for c in plan.chunks]
        + [(g.start_byte, g.end_byte, g.what) for g in plan.gaps]
    )
    pos = 0
    for start, end, name in spans:
        if start != pos or end <= start:
            raise ValueError(f"{name}: bytes {start}-{end} do not follow byte {pos}")
        pos = end
    if pos != size:
        raise ValueError(f"bytes {pos}-{size} belong to no chunk and no gap")


def render(chunk: Chunk, replacement: str) -> bytes:
    """The bytes that replace the chunk's span: re-indented, the file's newline and encoding."""
    text = _lf(replacement) if chunk.newline else replacement
    if chunk.text.endswith("\n") and not text.endswith("\n"):
        text += "\n"
    elif not chunk.text.endswith("\n"):
        text = text.rstrip("\n")
    text = reindent(text, chunk.indent)
    if chunk.newline not in ("\n", ""):
        text = text.replace("\n", chunk.newline)
    try:
        return text.encode(chunk.encoding)
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{chunk.path}: {chunk.name}: the replacement cannot be written in {chunk.encoding}: "
            f"{exc.reason} at character {exc.start}"
        ) from exc


def splice(data: bytes, replacements: Sequence[tuple[Chunk, str]]) -> bytes:
    """`data` with each chunk's span replaced by its rendered text; every other byte unchanged."""
    ordered = sorted(replacements, key=lambda r: (r[0].start_byte, r[0].end_byte))
    out: list[bytes] = []
    pos = 0
    previous = ""
    for chunk, replacement in ordered:
        if chunk.start_byte < pos:
            raise ValueError(f"{chunk.path}: {chunk.name} overlaps {previous}")
        if chunk.end_byte > len(data) or chunk.start_byte > chunk.end_byte:
            raise ValueError(
                f"{chunk.path}: {chunk.name} spans bytes {chunk.start_byte}-{chunk.end_byte} "
                f"outside a {len(data)}-byte file"
            )
        out.append(data[pos : chunk.start_byte])
        out.append(render(chunk, replacement))
        pos, previous = chunk.end_byte, chunk.name
    out.append(data[pos:])
    return b"".join(out)
