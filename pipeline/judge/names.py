"""Undefined names: a name the answer reads that the original did not, and that nothing binds.

Python's own scope analysis decides (`symtable`): the answer is wrapped in stand-ins for its enclosing
scopes (`pipeline.judge.compiling.wrap`), and every name it reads that resolves to the module's globals
must be bound by the base module (at module level, or from a function through `global`), be a builtin
or a module attribute (`__file__`), or, for code run directly in a class body, be bound in that class.
Comprehension, lambda and `nonlocal` scopes, `del`, class scopes that methods do not see and
conditional imports all behave as Python's compiler says. The base module's names are computed once
per file (`module_names`); a module with a star import or `globals()` writes is unknown: nothing is
rejected there, and the verdict's detail says why.
"""

from __future__ import annotations

import builtins
import re
import symtable
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from pipeline.judge.compiling import wrap

_MODULE_ATTRIBUTES = frozenset(
    {"__file__", "__cached__", "__builtins__", "__path__", "__annotations__", "__dict__"}
)
_KNOWN = frozenset(dir(builtins)) | _MODULE_ATTRIBUTES
_STAR_IMPORT = re.compile(r"^[ \t]*from[ \t]+[\w.]+[ \t]+import[ \t]*\*", re.MULTILINE)
_DYNAMIC = re.compile(
    r"\b(?:globals|vars)\(\s*\)\s*(?:\[|\.(?:update|setdefault|__setitem__)\b)"
    r"|\bsys\.modules\[\s*__name__\s*\]"
)


@dataclass(frozen=True)
class ModuleNames:
    """What the base module binds: module-level names, each top-level class's body names."""

    module: frozenset[str]
    classes: dict[str, frozenset[str]]
    unknown: str | None = None  # why names cannot be decided in this module (then nothing is)


def _bound_here(table: symtable.SymbolTable) -> Iterator[str]:
    for symbol in table.get_symbols():
        if symbol.is_local() or symbol.is_imported() or symbol.is_namespace():
            yield symbol.get_name()


def _declared_global(table: symtable.SymbolTable) -> Iterator[str]:
    """Names any nested function binds at module level through `global`."""
    for child in table.get_children():
        for symbol in child.get_symbols():
            if symbol.is_declared_global() and symbol.is_assigned():
                yield symbol.get_name()
        yield from _declared_global(child)


@lru_cache(maxsize=256)
def module_names(text: str) -> ModuleNames:
    """The base module's bindings, from Python's own symbol table (once per file text)."""
    if _STAR_IMPORT.search(text):
        return ModuleNames(frozenset(), {}, "the module has a star import")
    if _DYNAMIC.search(text):
        return ModuleNames(frozenset(), {}, "the module writes its globals dynamically")
    try:
        top = symtable.symtable(text, "<module>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return ModuleNames(
            frozenset(), {}, f"the module has no symbol table ({type(exc).__name__})"
        )
    classes = {
        child.get_name(): frozenset(_bound_here(child))
        for child in top.get_children()
        if child.get_type() == "class"
    }
    return ModuleNames(frozenset(_bound_here(top)) | frozenset(_declared_global(top)), classes)


def _global_reads(table: symtable.SymbolTable, depth: int, class_level: int) -> Iterator[str]:
    """Names read in `table` and below that resolve to globals (`class_level`: the chunk's class)."""
    for symbol in table.get_symbols():
        if not symbol.is_referenced() or symbol.is_local() or symbol.is_free():
            continue
        if table.get_type() == "class" and depth == class_level:
            yield "@" + symbol.get_name()  # read in the class body itself: the class may bind it
        elif symbol.is_global() or table.get_type() == "module":
            yield symbol.get_name()
    for child in table.get_children():
        yield from _global_reads(child, depth + 1, class_level)


@lru_cache(maxsize=4096)
def global_reads(
    text: str, enclosing: tuple[str, ...], nonlocals: frozenset[str]
) -> frozenset[str]:
    """Names `text` reads from its module (prefixed "@" when read in its enclosing class's body)."""
    wrapped = wrap(text, enclosing, set(nonlocals))
    try:
        top = symtable.symtable(wrapped.source, "<chunk>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return frozenset()
    in_class = bool(enclosing) and enclosing[-1] == "class" and wrapped.offset == len(enclosing)
    class_level = len(enclosing) if in_class else -1
    return frozenset(_global_reads(top, 0, class_level))


def undefined_name(
    original: str,
    proposed: str,
    *,
    chunk_name: str,
    enclosing: tuple[str, ...],
    nonlocals: frozenset[str],
    names: ModuleNames,
) -> tuple[int, str] | None:
    """The first name the answer newly reads that nothing binds: (chunk line, name), or None."""
    before = global_reads(original, enclosing, nonlocals)
    after = global_reads(proposed, enclosing, nonlocals)
    owner = names.classes.get(chunk_name.split(".")[0], frozenset()) if enclosing else frozenset()
    missing = []
    for read in sorted(after - before):
        name = read.lstrip("@")
        if name in _KNOWN or name in names.module or name in before:
            continue
        if read.startswith("@") and (name in owner or "@" + name in before):
            continue
        missing.append(name)
    if not missing:
        return None
    found = [(_first_line(proposed, name), name) for name in missing]
    return min(found)


def _first_line(text: str, name: str) -> int:
    pattern = re.compile(rf"(?<![\w.]){re.escape(name)}\b")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.search(line.split("#", 1)[0]):
            return number
    return 1
