"""Cut a parsed module into chunks (sent to engines) and gaps (never sent) that tile its bytes.

Chunk, ChunkContext and the plan types live here; `pipeline.source.cutter` groups the statements into
pieces. A chunk's text is dedented with "\\n" newlines (`pipeline.source.layout`); statement spans
come from `pipeline.source.spans`; `pipeline.source.splicing` puts replacements back. Spans index the
original file bytes (BOM included).
"""

from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass, field

import libcst as cst

from pipeline.config import DEFAULT_BUDGET
from pipeline.source.cutter import Cutter, byte_offsets
from pipeline.source.files import SkippedFile, SkipReason, SourceFile
from pipeline.source.guard import UnsafeParse, guarded_parse
from pipeline.source.kinds import ChunkKind as ChunkKind  # re-exported: importers name it here
from pipeline.source.kinds import ScopeKind as ScopeKind
from pipeline.source.layout import dedent, lf, region_newline
from pipeline.source.spans import ChunkingError


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
    cutter = Cutter(path, text, module, budget)
    cutter.cut()
    base = 3 if bom else 0
    where = byte_offsets(text, {o for p in cutter.pieces for o in (p.start, p.end)}, encoding, base)
    context_imports = cutter.imports()
    chunks: list[Chunk] = []
    gaps: list[Gap] = [Gap(0, base, "byte order mark")] if bom else []
    for p in cutter.pieces:
        if p.kind is None:
            gaps.append(Gap(where[p.start], where[p.end], p.name))
            continue
        raw = text[p.start : p.end]
        newline = region_newline(raw, module.default_newline)
        if newline is None:  # mixed newlines: only top-level pieces (see `Cutter._dedents`)
            newline, body = "", raw
        else:
            found = cutter.dedented.get((p.start, p.end))
            flat = found if found is not None else dedent(lf(raw), p.indent)
            if flat is None:  # `Cutter._dedents` rules this out for every class member
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
    """The chunks of one source file, or the reason it is skipped (it does not parse, or is empty)."""
    tree = parse_source(src)
    return tree if isinstance(tree, SkippedFile) else chunks_of(src, tree, budget)


def parse_source(src: SourceFile) -> cst.Module | SkippedFile:
    """The file's libcst module (guarded: `pipeline.source.guard`), or the parse-error skip saying why."""
    try:
        return guarded_parse(src.text)
    except cst.ParserSyntaxError as exc:
        return SkippedFile(src.path, SkipReason.PARSE_ERROR, _syntax_error_detail(src, exc))
    except UnsafeParse as exc:
        return SkippedFile(src.path, SkipReason.PARSE_ERROR, str(exc))
    except RecursionError:
        return SkippedFile(src.path, SkipReason.PARSE_ERROR, _TOO_DEEP)


def chunks_of(
    src: SourceFile, tree: cst.Module, budget: int = DEFAULT_BUDGET
) -> list[Chunk] | SkippedFile:
    """The chunks of a file already parsed into `tree`, or why none: it cannot be cut losslessly, or
    it holds no statement (every file of a run ends in the ledger with a reason)."""
    try:
        plan = plan_parsed(src.path, src.text, tree, budget, encoding=src.encoding, bom=src.bom)
    except ChunkingError as exc:
        return SkippedFile(src.path, SkipReason.PARSE_ERROR, str(exc))
    except RecursionError:
        return SkippedFile(src.path, SkipReason.PARSE_ERROR, _TOO_DEEP)
    if not plan.chunks:
        return SkippedFile(src.path, SkipReason.NO_STATEMENTS, _no_statements(src))
    return list(plan.chunks)


_TOO_DEEP = "nested too deeply to cut into chunks (RecursionError)"


def _no_statements(source: SourceFile) -> str:
    """Why a file gave no chunk: it is empty, or holds only comments and blank lines."""
    if not source.text.strip():
        return "empty file: nothing to refactor"
    return "only comments and blank lines: nothing to refactor"


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
