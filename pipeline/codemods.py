"""The offline engine: a recipe's libcst codemods over a whole module, mapped back to its chunks.

Codemods need a module's full context (imports, scopes), so they run on the whole file; the result
is then cut into chunks again and paired with the original chunks, so every chunk is validated and
recorded like an answer from the model. Three small codemods of our own cover what libcst does not
ship: `Optional[X]` -> `X | None`, `class C(object)` -> `class C`, `super(C, self)` -> `super()`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

import libcst as cst
import libcst.matchers as m
from libcst.codemod import CodemodContext, SkipFile, VisitorBasedCodemodCommand
from libcst.codemod.visitors import RemoveImportsVisitor
from libcst.metadata import QualifiedName, QualifiedNameProvider, QualifiedNameSource

from pipeline.chunking import Chunk
from pipeline.recipes import Recipe, resolve_codemod

# --- our own codemods (one transform per class, like libcst.codemod.commands) ---


class ConvertOptionalToOrCommand(VisitorBasedCodemodCommand):
    """Rewrite `Optional[X]` as `X | None` (3.10+); string forward references stay as they are."""

    DESCRIPTION: str = "Convert `Optional[X]` to `X | None` in Python 3.10+"
    METADATA_DEPENDENCIES = (QualifiedNameProvider,)

    def leave_Subscript(
        self, original_node: cst.Subscript, updated_node: cst.Subscript
    ) -> cst.BaseExpression:
        name = QualifiedName(name="typing.Optional", source=QualifiedNameSource.IMPORT)
        if not QualifiedNameProvider.has_name(self, original_node, name):
            return updated_node
        if len(updated_node.slice) != 1:
            return updated_node
        index = updated_node.slice[0].slice
        if not isinstance(index, cst.Index) or m.findall(index.value, m.SimpleString()):
            return (
                updated_node  # `"Foo" | None` fails at runtime: keep the forward reference as it is
            )
        return cst.BinaryOperation(left=index.value, operator=cst.BitOr(), right=cst.Name("None"))

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        RemoveImportsVisitor.remove_unused_import(self.context, module="typing", obj="Optional")
        return updated_node


class RemoveObjectBaseCommand(VisitorBasedCodemodCommand):
    """Drop the redundant `object` base: `class C(object):` -> `class C:`."""

    DESCRIPTION: str = "Remove the explicit `object` base class"
    METADATA_DEPENDENCIES = (QualifiedNameProvider,)

    def leave_ClassDef(
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.ClassDef:
        builtin = QualifiedName(name="builtins.object", source=QualifiedNameSource.BUILTIN)
        kept = [
            arg
            for arg, orig in zip(updated_node.bases, original_node.bases, strict=True)
            if not QualifiedNameProvider.has_name(self, orig.value, builtin)
        ]
        if len(kept) == len(updated_node.bases):
            return updated_node
        if kept:
            kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            return updated_node.with_changes(bases=kept)
        if updated_node.keywords:
            keywords = list(updated_node.keywords)
            return updated_node.with_changes(bases=[], keywords=keywords)
        return updated_node.with_changes(
            bases=[], lpar=cst.MaybeSentinel.DEFAULT, rpar=cst.MaybeSentinel.DEFAULT
        )


class ZeroArgSuperCommand(VisitorBasedCodemodCommand):
    """Rewrite `super(C, self)` as `super()` directly in a method of C, not in a nested scope."""

    DESCRIPTION: str = "Convert `super(Class, self)` to `super()`"
    _SCOPES = (
        cst.ClassDef,
        cst.FunctionDef,
        cst.Lambda,
        cst.ListComp,
        cst.SetComp,
        cst.DictComp,
        cst.GeneratorExp,
    )

    def __init__(self, context: CodemodContext) -> None:
        super().__init__(context)
        self._scopes: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, self._SCOPES):
            self._scopes.append(node)
        return super().on_visit(node)

    def on_leave(
        self, original_node: cst.CSTNodeT, updated_node: cst.CSTNodeT
    ) -> cst.CSTNodeT | cst.RemovalSentinel:
        result = super().on_leave(original_node, updated_node)
        if isinstance(original_node, self._SCOPES):
            self._scopes.pop()
        return result

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if not m.matches(updated_node, m.Call(func=m.Name("super"), args=[m.Arg(), m.Arg()])):
            return updated_node
        if len(self._scopes) < 2:
            return updated_node
        method, cls = self._scopes[-1], self._scopes[-2]
        if not (isinstance(method, cst.FunctionDef) and isinstance(cls, cst.ClassDef)):
            return updated_node
        params = [*method.params.posonly_params, *method.params.params]
        if not params:
            return updated_node
        first, second = (arg.value for arg in updated_node.args)
        if (
            m.matches(first, m.Name(cls.name.value))
            and m.matches(second, m.Name(params[0].name.value))
            and all(arg.keyword is None and arg.star == "" for arg in updated_node.args)
        ):
            return updated_node.with_changes(args=[])
        return updated_node


# --- the engine ---


class CodemodError(Exception):
    """A codemod failed on a file; nothing of that file was changed."""

    def __init__(self, codemod: str, path: str, message: str) -> None:
        super().__init__(f"codemod {codemod} failed on {path}: {message}")
        self.codemod = codemod
        self.path = path


class ChunkMappingError(Exception):
    """The codemods changed bytes no chunk covers, so the change cannot be recorded per chunk."""


def module_names(path: str) -> tuple[str, str]:
    """The dotted module and package names of a repository-relative path (for relative imports)."""
    parts = list(PurePosixPath(path.replace("\\", "/")).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


class CodemodEngine:
    """Apply a recipe's codemods, in order, to whole modules."""

    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self._classes = [(name, resolve_codemod(name)) for name in recipe.codemods]

    def refactor_file(self, path: str, text: str) -> str:
        """The module after every codemod; CodemodError (and no partial result) when one fails."""
        try:
            tree = cst.parse_module(text)
        except cst.ParserSyntaxError as exc:
            raise CodemodError("(parse)", path, str(exc).splitlines()[0]) from None
        module, package = module_names(path)
        for name, cls in self._classes:
            context = CodemodContext(
                filename=path, full_module_name=module, full_package_name=package
            )
            try:
                tree = cls(context).transform_module(tree)
            except SkipFile:
                continue
            except Exception as exc:  # a codemod's own bug or refusal: report it, change nothing
                raise CodemodError(name, path, f"{type(exc).__name__}: {exc}") from exc
        return tree.code


# --- mapping a new module back to the old chunks ---


def _key(chunk: Chunk) -> tuple[str, str, tuple[str, ...]]:
    return (chunk.kind, chunk.name if chunk.kind != "statements" else "", chunk.enclosing)


def _dedent(raw: str, indent: str) -> str:
    """Strip `indent` from each line that starts with it (the chunk text convention)."""
    if not indent:
        return raw
    lines = raw.splitlines(keepends=True)
    return "".join(line[len(indent) :] if line.startswith(indent) else line for line in lines)


@dataclass(frozen=True)
class _Region:
    """Consecutive old chunks and the new chunks that replace them."""

    old: tuple[Chunk, ...]
    new: tuple[Chunk, ...]


def _regions(old: Sequence[Chunk], new: Sequence[Chunk]) -> list[_Region]:
    """Pair chunks by (kind, name) in order; unmatched runs become one region with a neighbour."""
    matcher = difflib.SequenceMatcher(
        a=[_key(c) for c in old], b=[_key(c) for c in new], autojunk=False
    )
    regions: list[_Region] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            regions += [
                _Region((old[i],), (new[j],))
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            ]
        else:
            regions.append(_Region(tuple(old[i1:i2]), tuple(new[j1:j2])))
    # a region with no old chunk (something added) or no new chunk (removed) joins its neighbour
    merged: list[_Region] = []
    for region in regions:
        if merged and (
            not region.old or not region.new or not merged[-1].new or not merged[-1].old
        ):
            last = merged.pop()
            region = _Region(last.old + region.old, last.new + region.new)
        merged.append(region)
    return merged


def _gaps_hold(regions: Sequence[_Region], old_data: bytes, new_data: bytes) -> int | None:
    """Index of the first region whose preceding gap differs in old and new; None if all hold."""
    old_end = new_end = 0
    for index, region in enumerate([*regions, _Region((), ())]):
        old_start = region.old[0].start_byte if region.old else len(old_data)
        new_start = region.new[0].start_byte if region.new else len(new_data)
        if old_data[old_end:old_start] != new_data[new_end:new_start]:
            return index
        if region.old:
            old_end, new_end = region.old[-1].end_byte, region.new[-1].end_byte
    return None


def _merge(regions: list[_Region], index: int) -> list[_Region]:
    """Join the region at `index` with the one before it (a change fell between them)."""
    if index == 0 or index >= len(regions):
        raise ChunkMappingError("the codemods changed text outside every chunk (file head or tail)")
    joined = _Region(
        regions[index - 1].old + regions[index].old, regions[index - 1].new + regions[index].new
    )
    return [*regions[: index - 1], joined, *regions[index + 1 :]]


def proposals_for_chunks(
    old_chunks: Sequence[Chunk],
    new_text: str,
    *,
    old_text: str,
    budget: int,
    chunker: Callable[[str, str, int], list[Chunk]] | None = None,
) -> list[tuple[Chunk, str]]:
    """Pair each original chunk (or merged run of chunks) with its text in the codemodded module.

    Chunks pair by (kind, name) in order. Where the structure no longer lines up (a definition
    added or removed) or a change falls between chunks, the affected neighbours are merged into one
    `statements` chunk spanning them, so the change is recorded, never dropped. A change outside
    every chunk raises ChunkMappingError. Every returned chunk comes with its new dedented text
    (equal to its old text when unchanged).
    """
    if chunker is None:
        from pipeline.chunking import chunk_module

        chunker = chunk_module
    old = sorted(old_chunks, key=lambda c: c.start_byte)
    if not old:
        if new_text != old_text:
            raise ChunkMappingError("the codemods changed a module that has no chunks")
        return []
    path = old[0].path
    new = sorted(chunker(path, new_text, budget), key=lambda c: c.start_byte)
    old_data, new_data = old_text.encode("utf-8"), new_text.encode("utf-8")
    regions = _regions(old, new)
    while (bad := _gaps_hold(regions, old_data, new_data)) is not None:
        regions = _merge(regions, bad)
    return [_pair(region, old_data, new_data) for region in regions]


def _pair(region: _Region, old_data: bytes, new_data: bytes) -> tuple[Chunk, str]:
    """The old chunk and its new text; a multi-chunk region becomes one chunk spanning it."""
    if len(region.old) == 1 and len(region.new) == 1:
        return region.old[0], region.new[0].text
    first, last = region.old[0], region.old[-1]
    indent = first.indent
    if any(c.indent != indent for c in region.old):
        raise ChunkMappingError(
            f"{first.path}: a change spans chunks at different indentation "
            f"(lines {first.start_line}-{last.end_line})"
        )
    old_raw = old_data[first.start_byte : last.end_byte].decode("utf-8")
    new_raw = new_data[region.new[0].start_byte : region.new[-1].end_byte].decode("utf-8")
    spanning = replace(
        first,
        kind="statements",
        name=f"{first.name}..{last.name}" if first is not last else first.name,
        end_byte=last.end_byte,
        end_line=last.end_line,
        text=_dedent(old_raw, indent),
        oversized=any(c.oversized for c in region.old),
    )
    return spanning, _dedent(new_raw, indent)
