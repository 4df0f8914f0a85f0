"""A recipe's codemods over a whole module, and the new module mapped back to the old chunks.

Codemods need a module's full context (imports, scopes), so they run on the whole file; the result is then cut
into chunks again and paired with the original chunks, so every chunk is validated and recorded like an answer
from the model.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

import libcst as cst
from libcst.codemod import Codemod, CodemodCommand, CodemodContext, SkipFile
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor
from libcst.metadata import MetadataWrapper

from pipeline.codemods.triggers import trigger_for
from pipeline.engines.attribution import LineTrace, codemod_name
from pipeline.engines.plain_matchers import plain_matchers
from pipeline.errors import CodemillError
from pipeline.recipes.loading import Recipe, resolve_codemod
from pipeline.source.chunking import Chunk, ChunkContext
from pipeline.source.layout import dedent, lf


class CodemodError(CodemillError):
    """A codemod failed on a file; nothing of that file was changed."""

    def __init__(self, codemod: str, path: str, message: str) -> None:
        super().__init__(f"codemod {codemod} failed on {path}: {message}")
        self.codemod = codemod
        self.path = path


class ChunkMappingError(CodemillError):
    """The codemods changed bytes no chunk covers, so the change cannot be recorded per chunk."""


def module_names(path: str) -> tuple[str, str]:
    """The dotted module and package names of a repository-relative path (for relative imports)."""
    parts = list(PurePosixPath(path.replace("\\", "/")).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


class CodemodEngine:
    """Apply a recipe's codemods, in order, to whole modules.

    With `prefilter`, a codemod whose cheap trigger (`pipeline.codemods.triggers`) the module's text fails
    is skipped, and a module no codemod can change is never parsed at all (`may_change`).
    """

    def __init__(self, recipe: Recipe, *, prefilter: bool = True) -> None:
        self.recipe = recipe
        self.prefilter = prefilter
        self._classes = [(name, resolve_codemod(name)) for name in recipe.codemods]
        self._triggers = [trigger_for(name) if prefilter else None for name in recipe.codemods]

    def may_change(self, text: str) -> bool:
        """False when every codemod has a trigger and the text passes none: nothing can change."""
        return any(trigger is None or trigger.search(text) for trigger in self._triggers)

    def refactor_file(self, path: str, text: str) -> str:
        """The module after every codemod; CodemodError (and no partial result) when one fails."""
        try:
            tree = cst.parse_module(text)
        except cst.ParserSyntaxError as exc:
            raise CodemodError("(parse)", path, str(exc).splitlines()[0]) from None
        return self.refactor_tree(path, tree, text)[1]

    def refactor_tree(
        self, path: str, tree: cst.Module, text: str, trace: LineTrace | None = None
    ) -> tuple[cst.Module, str]:
        """The module after every codemod and its code, from `tree` as parsed from `text` (kept as is);
        `trace` follows each codemod's change back to the base lines."""
        with plain_matchers():
            return self._refactor(path, _Analysed(tree, text, fresh=True), trace or LineTrace(text))

    def _refactor(self, path: str, current: _Analysed, trace: LineTrace) -> tuple[cst.Module, str]:
        """`refactor_tree` from a freshly parsed tree (no copy needed) and its code."""
        module, package = module_names(path)
        new_context = functools.partial(  # a fresh one per codemod: its scratch is its own
            CodemodContext, filename=path, full_module_name=module, full_package_name=package
        )
        removals: list[object] = []  # imports the codemods found unneeded, removed once at the end
        for (name, cls), trigger in zip(self._classes, self._triggers, strict=True):
            if trigger is not None and not trigger.search(current.code):
                continue  # cannot change this module: skip the costly scope analysis
            context, before = new_context(), current
            try:
                with _reported(name, path):
                    current = _apply(cls(context), current)
            except SkipFile:
                continue
            if current is not before:
                trace.step(codemod_name(name), current.code)
            removals += context.scratch.get(RemoveImportsVisitor.CONTEXT_KEY, [])
        if removals:
            remover = RemoveImportsVisitor(
                new_context(scratch={RemoveImportsVisitor.CONTEXT_KEY: removals})
            )
            with _reported("RemoveImportsVisitor", path):
                current = current.after(_transform_once(remover, current))
            trace.step("RemoveImportsVisitor", current.code)
        return current.module, current.code


@contextlib.contextmanager
def _reported(name: str, path: str) -> Iterator[None]:
    """A codemod's own bug or refusal as a CodemodError naming it (SkipFile passes: the file is
    skipped by that codemod only); nothing of the file is changed."""
    try:
        yield
    except SkipFile:
        raise
    except Exception as exc:
        raise CodemodError(name, path, f"{type(exc).__name__}: {exc}") from exc


class _Analysed:
    """A module tree, its code, and libcst's metadata cache for that tree, made when a codemod asks.

    Scope and qualified-name analysis costs a codemod about ten parses; a codemod or import helper that
    leaves the code as it was keeps this tree, so the analysis runs once per distinct tree rather than
    once per codemod and once more per helper (libcst's own transform_module recomputes it every time,
    on a defensive deep copy). A tree a transform returned may hold a node twice, so it is copied before
    metadata is computed on it, and only then: the last codemod's result is never copied.
    """

    def __init__(self, module: cst.Module, code: str, *, fresh: bool) -> None:
        self.module = module
        self.code = code
        self._fresh = fresh  # as parsed: every node once, no copy needed
        self._wrapper: MetadataWrapper | None = None

    @property
    def wrapper(self) -> MetadataWrapper:
        """The tree's metadata wrapper; from here on `module` is the wrapper's (copied) tree."""
        if self._wrapper is None:
            self._wrapper = MetadataWrapper(self.module, unsafe_skip_copy=self._fresh)
            self.module = self._wrapper.module
        return self._wrapper

    def after(self, result: cst.Module) -> _Analysed:
        """This tree again when `result` has the same code; else `result`, with no metadata yet."""
        code = result.code
        return self if code == self.code else _Analysed(result, code, fresh=False)


def _apply(command: Codemod, tree: _Analysed) -> _Analysed:
    """What `command.transform_module(tree.module)` does, on the tree's shared metadata.

    Imports it added are added at once, as libcst does; imports it found unneeded are left to the
    caller, which removes every codemod's at the end: each removal pass costs a scope analysis of the
    whole module, and one pass sees what every earlier one would have. A multi-pass codemod goes
    through libcst's own loop (rare; none of the built-ins is one).
    """
    if command.should_allow_multiple_passes():
        return tree.after(command.transform_module(tree.module))
    tree = tree.after(_transform_once(command, tree))
    if (
        isinstance(command, CodemodCommand)
        and AddImportsVisitor.CONTEXT_KEY in command.context.scratch
    ):
        tree = tree.after(_transform_once(AddImportsVisitor(command.context), tree))
    return tree


def _transform_once(command: Codemod, tree: _Analysed) -> cst.Module:
    """One `transform_module_impl` with the tree's metadata resolved (libcst's metadata hand-over)."""
    previous = command.context
    with command.resolve(tree.wrapper):
        command.context = replace(previous, wrapper=tree.wrapper)
        try:
            return command.transform_module_impl(tree.module)
        finally:
            command.context = previous


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
        from pipeline.source.chunking import chunk_module

        def chunker(p: str, t: str, b: int) -> list[Chunk]:
            return chunk_module(p, t, b, encoding=encoding, bom=bom)

    head = "\ufeff".encode(encoding) if bom else b""
    old_data, new_data = head + old_text.encode(encoding), head + new_text.encode(encoding)
    new = sorted(chunker(path, new_text, budget), key=lambda c: c.start_byte)
    if not new:
        raise ChunkMappingError(f"{path}: the codemods left the module without any chunk")
    regions = _absorb_changed_gaps(_regions(old, new), old_data, new_data)
    pairs: list[tuple[Chunk, str]] = []
    old_end = new_end = len(head)  # a region that takes in the file head starts after the BOM
    for region in regions:
        pairs.append(_pair(region, old_data, new_data, old_end, new_end))
        old_end, new_end = region.old[-1].end_byte, region.new[-1].end_byte
    return pairs


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
    old_raw = lf(old_data[old_span[0] : old_span[1]].decode(first.encoding).lstrip("\ufeff"))
    new_raw = lf(new_data[new_span[0] : new_span[1]].decode(first.encoding).lstrip("\ufeff"))
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
