"""The offline engine: a recipe's libcst codemods over a whole module, mapped back to its chunks.

Codemods need a module's full context (imports, scopes), so they run on the whole file; the result
is then cut into chunks again and paired with the original chunks, so every chunk is validated and
recorded like an answer from the model. Small codemods of our own cover what libcst does not
ship: `Optional[X]` -> `X | None`, `class C(object)` -> `class C`, `super(C, self)` -> `super()`,
and a one-pass `List[int]` -> `list[int]` (libcst's own takes six).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import ClassVar

import libcst as cst
import libcst.matchers as m
from libcst.codemod import CodemodContext, SkipFile, VisitorBasedCodemodCommand
from libcst.codemod.visitors import RemoveImportsVisitor
from libcst.metadata import QualifiedName, QualifiedNameProvider, QualifiedNameSource

from pipeline.chunking import Chunk, ChunkContext
from pipeline.layout import dedent
from pipeline.recipes import Recipe, resolve_codemod

# --- our own codemods (one transform per class, like libcst.codemod.commands) ---


class RenameTypingAliasesCommand(VisitorBasedCodemodCommand):
    """Rewrite `typing.List`/`Dict`/`Set`/`FrozenSet`/`Tuple`/`Type` as builtins in one pass.

    libcst's RenameTypingGenericAliases does the same in six passes (one full scope analysis each).
    """

    DESCRIPTION: str = (
        "Rename typing aliases of builtin generics (3.9+): `List[int]` -> `list[int]`"
    )
    METADATA_DEPENDENCIES = (QualifiedNameProvider,)
    ALIASES: ClassVar[dict[str, str]] = {
        "List": "list",
        "Dict": "dict",
        "Set": "set",
        "FrozenSet": "frozenset",
        "Tuple": "tuple",
        "Type": "type",
    }

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False  # the names being imported are not uses

    def _builtin(self, node: cst.CSTNode) -> str | None:
        for qualified in self.get_metadata(QualifiedNameProvider, node, set()):
            module, _, name = qualified.name.rpartition(".")
            if module == "typing" and name in self.ALIASES:
                return self.ALIASES[name]
        return None

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        builtin = self._builtin(original_node)
        return updated_node.with_changes(value=builtin) if builtin else updated_node

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        builtin = self._builtin(original_node)
        return cst.Name(builtin) if builtin else updated_node

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        for alias in self.ALIASES:
            RemoveImportsVisitor.remove_unused_import(self.context, module="typing", obj=alias)
        return updated_node


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


_COMMANDS = "libcst.codemod.commands."
_ALIASES = re.compile(r"\b(List|Tuple|Dict|FrozenSet|Set|Type)\b")
TRIGGERS: dict[str, re.Pattern[str]] = {
    # text a known codemod needs to see before it can change anything; a miss skips it
    _COMMANDS + "rename_typing_generic_aliases.RenameTypingGenericAliases": _ALIASES,
    "pipeline.codemods.RenameTypingAliasesCommand": _ALIASES,
    _COMMANDS + "convert_union_to_or.ConvertUnionToOrCommand": re.compile(r"\bUnion\b"),
    "pipeline.codemods.ConvertOptionalToOrCommand": re.compile(r"\bOptional\b"),
    _COMMANDS + "convert_percent_format_to_fstring.ConvertPercentFormatStringCommand": re.compile(
        "%"
    ),
    _COMMANDS + "convert_format_to_fstring.ConvertFormatStringCommand": re.compile(r"\.format\b"),
    _COMMANDS + "unnecessary_format_string.UnnecessaryFormatString": re.compile(
        r"(?i)\b(f|rf|fr)['\"]"
    ),
    "pipeline.codemods.RemoveObjectBaseCommand": re.compile(r"\bobject\b"),
    "pipeline.codemods.ZeroArgSuperCommand": re.compile(r"\bsuper\s*\(\s*\w"),
}


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
        code = text
        for name, cls in self._classes:
            trigger = TRIGGERS.get(name)
            if trigger is not None and not trigger.search(code):
                continue  # cannot change this module: skip the costly scope analysis
            context = CodemodContext(
                filename=path, full_module_name=module, full_package_name=package
            )
            try:
                tree = cls(context).transform_module(tree)
            except SkipFile:
                continue
            except Exception as exc:  # a codemod's own bug or refusal: report it, change nothing
                raise CodemodError(name, path, f"{type(exc).__name__}: {exc}") from exc
            code = tree.code
        return code


# --- mapping a new module back to the old chunks ---


def _key(chunk: Chunk) -> tuple[str, str, tuple[str, ...]]:
    """What pairs an old chunk with a new one: statements chunks are named by line, so not by name."""
    return (chunk.kind, chunk.name if chunk.kind != "statements" else "", chunk.enclosing)


@dataclass(frozen=True)
class _Region:
    """Consecutive old chunks, the new chunks that replace them, and whether the gaps around belong."""

    old: tuple[Chunk, ...]
    new: tuple[Chunk, ...]
    lead: bool = (
        False  # also covers the gap before it (back to the previous region, or the file head)
    )
    tail: bool = False  # also covers the rest of the file after it


def _regions(old: Sequence[Chunk], new: Sequence[Chunk]) -> list[_Region]:
    """Pair chunks by (kind, name) in order; an unmatched run becomes one region with a neighbour."""
    matcher = difflib.SequenceMatcher(
        a=[_key(c) for c in old], b=[_key(c) for c in new], autojunk=False
    )
    regions: list[_Region] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pairs = zip(range(i1, i2), range(j1, j2), strict=True)
            regions += [_Region((old[i],), (new[j],)) for i, j in pairs]
        else:
            regions.append(_Region(tuple(old[i1:i2]), tuple(new[j1:j2])))
    # a region with no old chunk (something added) or no new chunk (removed) joins its neighbour
    merged: list[_Region] = []
    for region in regions:
        if merged and not (region.old and region.new and merged[-1].old and merged[-1].new):
            last = merged.pop()
            region = _Region(last.old + region.old, last.new + region.new)
        merged.append(region)
    if not merged[0].new:
        raise ChunkMappingError(f"{old[0].path}: the codemods left the module without any chunk")
    return merged


def _absorb_changed_gaps(regions: list[_Region], old_data: bytes, new_data: bytes) -> list[_Region]:
    """Give every gap that changed (a class header, a comment, the file head) to a region."""
    result: list[_Region] = []
    old_end = new_end = 0
    for region in regions:
        gap_old = old_data[old_end : region.old[0].start_byte]
        gap_new = new_data[new_end : region.new[0].start_byte]
        result.append(replace(region, lead=gap_old != gap_new))
        old_end, new_end = region.old[-1].end_byte, region.new[-1].end_byte
    if old_data[old_end:] != new_data[new_end:]:
        result[-1] = replace(result[-1], tail=True)
    return result


def proposals_for_chunks(
    old_chunks: Sequence[Chunk],
    new_text: str,
    *,
    old_text: str,
    budget: int,
    bom: bool = False,
    chunker: Callable[[str, str, int], list[Chunk]] | None = None,
) -> list[tuple[Chunk, str]]:
    """Pair each original chunk (or a run of them) with its text in the codemodded module.

    Chunks pair by (kind, name) in order. Where the structure no longer lines up (a definition
    added or removed), the unmatched chunks and a neighbour become one `statements` chunk spanning
    them. A change between chunks (a split class's header, a comment, the file head or tail) goes
    to the chunk after it (before it, at the end), whose span then starts where the previous chunk
    ends and is re-cut at top level. So every change is recorded and none invented: splicing the
    pairs into the old bytes gives the new module. Unchanged chunks come back with their own text.
    """
    old = sorted(old_chunks, key=lambda c: c.start_byte)
    if not old:
        if new_text != old_text:
            raise ChunkMappingError("the codemods changed a module that has no chunks")
        return []
    path, encoding = old[0].path, old[0].encoding
    if chunker is None:
        from pipeline.chunking import chunk_module

        def chunker(p: str, t: str, b: int) -> list[Chunk]:
            return chunk_module(p, t, b, encoding=encoding, bom=bom)

    head = "\ufeff".encode(encoding) if bom else b""
    old_data, new_data = head + old_text.encode(encoding), head + new_text.encode(encoding)
    new = sorted(chunker(path, new_text, budget), key=lambda c: c.start_byte)
    if not new:
        raise ChunkMappingError(f"{path}: the codemods left the module without any chunk")
    regions = _absorb_changed_gaps(_regions(old, new), old_data, new_data)
    pairs: list[tuple[Chunk, str]] = []
    old_end = new_end = 0
    for region in regions:
        pairs.append(_pair(region, old_data, new_data, old_end, new_end))
        old_end, new_end = region.old[-1].end_byte, region.new[-1].end_byte
    return pairs


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _pair(
    region: _Region, old_data: bytes, new_data: bytes, old_from: int, new_from: int
) -> tuple[Chunk, str]:
    """The old chunk and its new text; a wider region becomes one chunk spanning it."""
    first, last = region.old[0], region.old[-1]
    if len(region.old) == len(region.new) == 1 and not (region.lead or region.tail):
        return first, region.new[0].text
    top = region.lead or region.tail or any(c.indent != first.indent for c in region.old)
    indent = "" if top else first.indent
    old_span = (
        old_from if region.lead else first.start_byte,
        len(old_data) if region.tail else last.end_byte,
    )
    new_span = (
        new_from if region.lead else region.new[0].start_byte,
        len(new_data) if region.tail else region.new[-1].end_byte,
    )
    old_raw = _lf(old_data[old_span[0] : old_span[1]].decode(first.encoding).lstrip("\ufeff"))
    new_raw = _lf(new_data[new_span[0] : new_span[1]].decode(first.encoding).lstrip("\ufeff"))
    old_text, new_text = dedent(old_raw, indent), dedent(new_raw, indent)
    if old_text is None or new_text is None:
        raise ChunkMappingError(
            f"{first.path}: lines {first.start_line}-{last.end_line} changed but cannot be "
            f"re-cut at their indentation"
        )
    single = len(region.old) == 1 and not top
    spanning = replace(
        first,
        kind=first.kind if single else "statements",
        name=first.name if len(region.old) == 1 else f"{first.name}..{last.name}",
        start_byte=old_span[0],
        end_byte=old_span[1],
        start_line=1 + old_data[: old_span[0]].count(b"\n"),
        end_line=old_data.count(b"\n") if region.tail else last.end_line,
        text=old_text,
        indent=indent,
        context=first.context if not top else ChunkContext(imports=first.context.imports),
        enclosing=first.enclosing if not top else (),
        oversized=any(c.oversized for c in region.old),
    )
    return spanning, new_text
