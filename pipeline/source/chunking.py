"""Cut a parsed module into chunks (sent to engines) and gaps (never sent) that tile its bytes.

Chunk, ChunkContext and the plan types live here with the cutter. A chunk's text is dedented with
"\\n" newlines (`pipeline.source.layout`); statement spans come from `pipeline.source.spans`;
`pipeline.source.splicing` puts replacements back. Spans index the original file bytes (BOM included).
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import libcst as cst

from pipeline.config import DEFAULT_BUDGET
from pipeline.source.files import SkippedFile, SkipReason, SourceFile
from pipeline.source.guard import UnsafeParse, guarded_parse
from pipeline.source.layout import dedent, lf, region_newline
from pipeline.source.spans import ChunkingError, StatementSpans

ChunkKind = Literal["function", "class", "method", "statements"]
ScopeKind = Literal["class", "function", "async_function"]


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


def estimate_tokens(text: str) -> int:
    """Model tokens for `text`: UTF-8 bytes / 4, rounded up.

    BPE tokenizers average about 4 bytes of source code per token; the estimate is cheap, monotonic,
    needs no tokenizer download, and only decides where chunks are cut.
    """
    return -(-len(text.encode("utf-8")) // 4)


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


class _Cutter(StatementSpans):
    """Cuts one parsed module into pieces, on the statement spans `StatementSpans` finds."""

    def __init__(self, path: str, text: str, module: cst.Module, budget: int) -> None:
        self.path, self.budget = path, budget
        self.pieces: list[_Piece] = []
        self.dedented: dict[tuple[int, int], str] = {}
        super().__init__(text, module)

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
        return lf(self.module.code_for_node(stub)).strip()

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
        if region_newline(raw, "\n") is None:
            return False
        body = dedent(lf(raw), indent)
        if body is not None and start == m.unit_start:
            self.dedented[(start, m.end)] = body
        return body is not None

    def class_header(self, node: cst.ClassDef, m: _Member, body_start: int) -> str:
        """Decorators and the class line(s), e.g. "@dataclass\\nclass Foo(Base):"."""
        skip = len(node.leading_lines)
        start = self.line_starts[self.line_of(m.start) - 1 + skip] if skip else m.start
        return lf(self.text[start:body_start]).rstrip()

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
                parts.append(lf(self.text[start:end]).rstrip("\n") + "\n")
        return "".join(parts)


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
    made from it, so spans index those bytes. Raises libcst.ParserSyntaxError, ChunkingError, or
    UnsafeParse (nesting that could crash libcst: `pipeline.source.guard`).
    """
    return plan_parsed(path, text, guarded_parse(text), budget, encoding=encoding, bom=bom)


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
        newline = region_newline(raw, module.default_newline)
        if newline is None:  # mixed newlines: only top-level pieces (see `_Cutter._dedents`)
            newline, body = "", raw
        else:
            found = cutter.dedented.get((p.start, p.end))
            flat = found if found is not None else dedent(lf(raw), p.indent)
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
    except UnsafeParse as exc:
        return SkippedFile(src.path, SkipReason.PARSE_ERROR, str(exc))
    except RecursionError:
        detail = "nested too deeply to cut into chunks (RecursionError)"
        return SkippedFile(src.path, SkipReason.PARSE_ERROR, detail)


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
