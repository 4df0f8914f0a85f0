"""The cutter: one parsed module's statements grouped into pieces (chunks and gaps) within a token budget.

Top-level functions and classes are units; a class over the budget is split into its header and its
methods; runs of other statements are grouped up to the budget. Statement spans come from
`pipeline.source.spans`; `pipeline.source.chunking` turns the pieces into Chunks and Gaps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from pipeline.source.layout import dedent, lf, region_newline
from pipeline.source.spans import StatementSpans

if TYPE_CHECKING:  # annotations only: chunking imports this module
    from pipeline.source.chunking import ChunkKind, ScopeKind


def estimate_tokens(text: str) -> int:
    """Model tokens for `text`: UTF-8 bytes / 4, rounded up.

    BPE tokenizers average about 4 bytes of source code per token; the estimate is cheap, monotonic,
    needs no tokenizer download, and only decides where chunks are cut.
    """
    return -(-len(text.encode("utf-8")) // 4)


@dataclass
class Member:
    """One statement of a level (module or class body) with its char span and where its unit starts."""

    node: cst.BaseStatement
    start: int
    end: int
    unit_start: int  # after detached blank lines/comments of leading_lines


@dataclass
class Piece:
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


class Cutter(StatementSpans):
    """Cuts one parsed module into pieces, on the statement spans `StatementSpans` finds."""

    def __init__(self, path: str, text: str, module: cst.Module, budget: int) -> None:
        self.path, self.budget = path, budget
        self.pieces: list[Piece] = []
        self.dedented: dict[tuple[int, int], str] = {}
        super().__init__(text, module)

    def members(self, body: Sequence[cst.BaseStatement], *, indented: bool) -> list[Member]:
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
            out.append(Member(node, start, end, unit_start))
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
            self.pieces.append(Piece(start, end, name=what))

    def cut(self) -> None:
        module_members = self.members(self.module.body, indented=False)
        top_sigs = {
            id(m.node): self.signature(m.node)
            for m in module_members
            if isinstance(m.node, cst.FunctionDef | cst.ClassDef)
        }
        first = module_members[0].start if module_members else len(self.text)
        self.gap(0, first, "module header")
        run: list[Member] = []
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
        m: Member,
        kind: ChunkKind,
        name: str,
        indent: str,
        enclosing: tuple[ScopeKind, ...],
        class_header: str,
        siblings: tuple[str, ...],
    ) -> None:
        self.gap(m.start, m.unit_start, f"blank lines and comments before {name}")
        self.piece(m.unit_start, m.end, kind, name, indent, enclosing, class_header, siblings)

    def add_to_run(
        self,
        run: list[Member],
        m: Member,
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
        run: list[Member],
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
        self.piece(start, end, "statements", name, indent, enclosing, class_header, siblings)
        run.clear()

    def piece(
        self,
        start: int,
        end: int,
        kind: ChunkKind,
        name: str,
        indent: str,
        enclosing: tuple[ScopeKind, ...],
        class_header: str,
        siblings: tuple[str, ...],
    ) -> None:
        """Record one chunk's span, oversized when its text alone is over the budget."""
        oversized = estimate_tokens(self.text[start:end]) > self.budget
        piece = Piece(start, end, kind, name, indent, enclosing, class_header, siblings, oversized)
        self.pieces.append(piece)

    def class_(self, m: Member, node: cst.ClassDef, siblings: tuple[str, ...]) -> None:
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
        run: list[Member] = []
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

    def _dedents(self, m: Member, indent: str) -> bool:
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

    def class_header(self, node: cst.ClassDef, m: Member, body_start: int) -> str:
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


def byte_offsets(text: str, offsets: set[int], encoding: str, base: int) -> dict[int, int]:
    """Char offsets of `text` mapped to offsets in the encoded file (after `base` BOM bytes)."""
    if text.isascii():
        return {o: o + base for o in offsets}
    out, prev, pos = {}, 0, base
    for o in sorted(offsets):
        pos += len(text[prev:o].encode(encoding))
        out[o], prev = pos, o
    return out
