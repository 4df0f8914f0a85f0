"""The only use of libcst's private code generator: codemill's spans need hooks libcst does not publish.

libcst generates code by calling `node._codegen(state)` with a `libcst._nodes.internal.CodegenState`,
whose `before_codegen`/`after_codegen` run around every node. Nothing public gives a node's offset in
the generated text without the metadata providers, which cost 6x-12x a codegen pass (bench/RESULTS.md),
so these two private names are used here and nowhere else; tests/source/test_codegen.py fails first
if libcst moves or renames them.
"""

from __future__ import annotations

import contextlib

import libcst as cst
from libcst._nodes.internal import CodegenState


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
