"""Find the char spans of a module's statements from its line structure, with a codegen fallback.

Spans come from the line structure, proven without generating code for statement bodies (see
`StatementSpans.level`): the statements of a level (the module, a split class's body) tile its lines,
and each one's first line is `len(leading_lines)` lines (plus its decorators) above its anchor line
(the line of its first token, at the level's indent). A cheap scan lists the candidate lines: every
line at the level's indent that could begin a statement, a superset of the anchors. A run of
statements between two proven lines that holds exactly as many candidates as statements owns one
each, in order. A statement holding more (a docstring or string with text at the level's indent) is
generated alone and found, once, in the text. When that does not prove every line, one pass of
libcst's code generator records the spans (`pipeline.source.codegen`), as does a file with form
feeds. libcst's metadata providers record every node and cost 6x-12x a codegen pass (bench/RESULTS.md).
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

import libcst as cst

from pipeline.errors import CodemillError
from pipeline.source.anchors import ANCHOR_HEAD, anchor_pattern, first_token, line_bounds, newlines
from pipeline.source.codegen import code_until, generate, record_spans
from pipeline.source.layout import lf


class ChunkingError(CodemillError):
    """libcst parsed the module but could not regenerate it (nesting deeper than the recursion limit)."""


class StatementSpans:
    """The char spans of one parsed module's top-level statements and, on demand, a class's members."""

    def __init__(self, text: str, module: cst.Module) -> None:
        self.text, self.module = text, module
        self.line_starts = line_bounds(text)  # line i is [line_starts[i], line_starts[i + 1])
        self.open_end = bool(text) and not text.endswith(("\n", "\r"))  # no final newline
        self.flat = lf(text)  # same lines, "\n" only: what the candidate scans read
        self.flat_bounds = self.line_starts if self.flat is text else line_bounds(self.flat)
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
        tokens = [first_token(node) for node in body]
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
        if first == 0 and ANCHOR_HEAD.match(flat) and not indent:
            lines.append(0)
        pattern = anchor_pattern(indent)
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
            decorators = sum(newlines(self.module.code_for_node(d)) for d in node.decorators)
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
        try:
            code = generate(self.module, node, indent)
        except RecursionError:
            return None
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
        first = start + newlines(code_until(self.module, node, block)) + 1
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
        try:
            code, spans = record_spans(self.module, watched)
        except RecursionError as exc:
            raise ChunkingError(
                "libcst cannot regenerate this module: nesting deeper than the recursion limit"
            ) from exc
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
        for key, span in spans.items():  # a file without a final newline: its last is popped
            span[0], span[1] = min(span[0], size), min(span[1], size)
            self.lines[key] = (self.line_of(span[0]) - 1, bisect_left(self.line_starts, span[1]))
        self.spans = spans

    def line_of(self, offset: int) -> int:
        """1-based line number of the char at `offset`."""
        return bisect_right(self.line_starts, offset)
