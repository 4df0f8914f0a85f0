"""Whether a recipe's codemod is a libcst codemod, decided before its module is imported.

The trust model: libcst and codemill's own modules are trusted and imported to be checked; so is a module
already imported (importing it again runs nothing). Any other module is first read, not run: it is found
without importing it or its packages (`importlib.util.find_spec("a.b")` would import `a`), and its source
must define (or import from a module that defines) the named class, deriving from a libcst codemod. Only
then is it imported, which runs that module and its packages, as running any codemod does. So a recipe
naming a module that is not a codemod (`this`, a module with import side effects) is refused before any of
its code runs.
"""

from __future__ import annotations

import ast
import importlib
import sys
from importlib.machinery import ModuleSpec

TRUSTED_ROOTS = frozenset({"libcst", "pipeline"})  # codemill's own code and its codemod library
MAX_HOPS = 32  # classes and imports followed from the named class to a libcst codemod base


def is_trusted(module: str) -> bool:
    """Whether importing `module` runs no code the user did not already trust (or run)."""
    return module.partition(".")[0] in TRUSTED_ROOTS or module in sys.modules


def find_spec_unimported(module: str) -> ModuleSpec | None:
    """The module's spec, found without importing it or any package above it (None: not found)."""
    spec, path = None, None
    parts = module.split(".")
    for depth in range(1, len(parts) + 1):
        name = ".".join(parts[:depth])
        if depth > 1 and path is None:
            return None  # the parent is a module, not a package
        loaded = sys.modules.get(name)
        if loaded is not None:
            spec, path = loaded.__spec__, getattr(loaded, "__path__", None)
            continue
        spec = _find(name, path)
        if spec is None:
            return None
        path = spec.submodule_search_locations
    return spec


def _find(name: str, path: list[str] | None) -> ModuleSpec | None:
    """What the import system's finders say of `name` in `path`, as `import` asks them."""
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is not None and (spec := find(name, path)) is not None:
            return spec  # type: ignore[no-any-return]
    return None


def derives_from_codemod(module: str, name: str) -> bool:
    """Whether `module.name` is a class deriving from a libcst codemod; untrusted modules are read
    from source, never imported."""
    return _Walk().derives(module, name)


class _Walk:
    """One check: the classes and imports followed so far (a cycle or a long chain is a refusal)."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()
        self.sources: dict[str, _Source | None] = {}

    def derives(self, module: str, name: str) -> bool:
        """Whether `module.name` is, or derives from, a libcst codemod: a class here is followed
        through its bases, an imported name to the module it comes from."""
        if (module, name) in self.seen or len(self.seen) >= MAX_HOPS:
            return False
        self.seen.add((module, name))
        if is_trusted(module):
            return _live_codemod(module, name)
        if module not in self.sources:
            self.sources[module] = _Source.read(module)
        source = self.sources[module]
        if source is None:
            return False
        found = source.names.get(name)
        if isinstance(found, ast.ClassDef):
            return any(self.derives(*ref) for ref in source.bases(found))
        if found is not None:
            return self.derives(*found)
        return any(self.derives(star, name) for star in source.stars)


def _live_codemod(module: str, name: str) -> bool:
    """For a trusted module: import it and look (libcst's own classes cannot be read statically)."""
    from libcst.codemod import Codemod

    try:
        obj = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return False
    return isinstance(obj, type) and issubclass(obj, Codemod)


class _Source:
    """A module's top-level names as its source binds them: classes, imports and `*` imports."""

    def __init__(self, module: str, package: str, tree: ast.Module) -> None:
        self.module, self.package = module, package
        self.names: dict[str, ast.ClassDef | tuple[str, str]] = {}  # a class, or (module, name)
        self.modules: dict[str, str] = {}  # a bound name -> the module it stands for
        self.stars: list[str] = []
        for node in tree.body:
            self._bind(node)

    @classmethod
    def read(cls, module: str) -> _Source | None:
        """The module's parsed source, found and read without running it (None: no source)."""
        spec = find_spec_unimported(module)
        get_source = getattr(spec.loader, "get_source", None) if spec else None
        if spec is None or get_source is None:
            return None
        try:
            tree = ast.parse(get_source(module) or "")
        except (ImportError, OSError, SyntaxError, ValueError, RecursionError, MemoryError):
            return None
        package = module if spec.submodule_search_locations is not None else spec.parent
        return cls(module, package or "", tree)

    def _bind(self, node: ast.stmt) -> None:
        """Record the names one top-level statement binds (a name bound in an `if` is not seen)."""
        if isinstance(node, ast.ClassDef):
            self.names[node.name] = node
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self.modules[alias.asname] = alias.name
                else:
                    head = alias.name.partition(".")[0]
                    self.modules[head] = head
        elif isinstance(node, ast.ImportFrom):
            source = self._absolute(node.module or "", node.level)
            for alias in node.names:
                if alias.name == "*":
                    self.stars.append(source)
                else:
                    self.names[alias.asname or alias.name] = (source, alias.name)
                    self.modules[alias.asname or alias.name] = f"{source}.{alias.name}"

    def _absolute(self, module: str, level: int) -> str:
        """The absolute name of `from <level dots><module> import ...` in this module."""
        if not level:
            return module
        base = self.package.rsplit(".", level - 1)[0] if level > 1 else self.package
        return f"{base}.{module}" if module else base

    def bases(self, node: ast.ClassDef) -> list[tuple[str, str]]:
        """Each base class as (module, name): `Base`, `mod.Base` or `package.mod.Base`."""
        refs: list[tuple[str, str]] = []
        for base in node.bases:
            dotted = _dotted(base)
            if dotted is None:
                continue
            head, _, rest = dotted.partition(".")
            if not rest:  # a name of this module: a class here, an import or a `*` import
                refs.append((self.module, head))
            elif head in self.modules:
                module, _, attr = f"{self.modules[head]}.{rest}".rpartition(".")
                refs.append((module, attr))
        return refs


def _dotted(node: ast.expr) -> str | None:
    """`a.b.C` for a name or an attribute chain; None for anything else (a call, a subscript)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and (head := _dotted(node.value)) is not None:
        return f"{head}.{node.attr}"
    return None
