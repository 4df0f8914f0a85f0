"""The only use of libcst's private code generator: spans and lines need hooks libcst does not publish.

libcst generates code by calling `node._codegen(state)` with a `libcst._nodes.internal.CodegenState`,
whose `before_codegen`/`after_codegen` run around every node. Nothing public gives a node's offset in
the generated text without the metadata providers, which cost 6x-12x a codegen pass (bench/RESULTS.md),
so these two private names are used here and nowhere else; tests/source/test_codegen.py fails first
if libcst moves or renames them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, MutableMapping

import libcst as cst
from libcst._nodes.internal import CodegenState
from libcst.metadata import BaseMetadataProvider


class SpanState(CodegenState):
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


def code_until(module: cst.Module, node: cst.CSTNode, stop: cst.CSTNode) -> str:
    """The code `node` generates before reaching `stop` (indentation left out)."""
    state = _PrefixState(module, stop)
    with contextlib.suppress(_Stop):
        node._codegen(state)
    return "".join(state.tokens)


def generate(module: cst.Module, node: cst.CSTNode, indent: str) -> str:
    """The code of `node` alone at `indent`, as the module's code generator writes it."""
    state = CodegenState(
        default_indent=module.default_indent, default_newline=module.default_newline
    )
    if indent:
        state.increase_indent(indent)
    node._codegen(state)
    return "".join(state.tokens)


def record_spans(module: cst.Module, watched: set[int]) -> tuple[str, dict[int, list[int]]]:
    """The module's code, and the [start, end) offsets of the watched nodes (by id) in it."""
    state = SpanState(module, watched)
    module._codegen(state)
    return "".join(state.tokens), state.spans


class StartLineProvider(BaseMetadataProvider[int]):
    """The line each node starts on, as libcst's PositionProvider gives it, for an eighth of its cost.

    The judge needs only lines (to name where an answer goes wrong), and PositionProvider builds two
    CodePosition objects and a CodeRange per node (10x a codegen pass, bench/RESULTS.md). Same rules:
    a node's start is where its syntactic position is recorded, else where its code begins.
    """

    def _gen_impl(self, module: cst.Module) -> None:
        module._codegen(_LineState(module, self._computed))


class _LineState(CodegenState):
    """Codegen state counting newlines and recording each node's start line into `lines`."""

    def __init__(self, module: cst.Module, lines: MutableMapping[cst.CSTNode, object]) -> None:
        super().__init__(
            default_indent=module.default_indent, default_newline=module.default_newline
        )
        self.line = 1
        self.lines = lines
        self._starts: list[int] = []

    def add_token(self, value: str) -> None:
        self.tokens.append(value)
        if "\n" in value or "\r" in value:  # a newline is \r\n, \r or \n, as libcst counts them
            self.line += value.count("\n") + value.count("\r") - value.count("\r\n")

    def before_codegen(self, node: cst.CSTNode) -> None:
        self._starts.append(self.line)

    def after_codegen(self, node: cst.CSTNode) -> None:
        start = self._starts.pop()
        self.lines.setdefault(node, start)  # a syntactic position recorded inside wins

    @contextlib.contextmanager
    def record_syntactic_position(
        self,
        node: cst.CSTNode,
        *,
        start_node: cst.CSTNode | None = None,
        end_node: cst.CSTNode | None = None,
    ) -> Iterator[None]:
        start = self.line
        yield
        self.lines[node] = self.lines[start_node] if start_node is not None else start
