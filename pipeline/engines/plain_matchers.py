"""libcst's matcher machinery made free for codemods that use none of it (LibCST issue #880).

Every libcst codemod is a MatcherDecoratableTransformer (its helpers and gatherers Visitors of the same
kind). Making one scans its ~1,500 attributes three times for matcher decorators (30-40 ms, so more than
a small file's parse), and every node visited pays the matcher checks (~3x a plain CSTTransformer's
visit). No codemod of the built-in recipes uses a decorator. Inside `plain_matchers()` the scan runs
once per class, and an instance with no matchers visits through CSTTransformer's (CSTVisitor's) own
methods: exactly what libcst's methods do when there is no matcher, minus their bookkeeping.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import libcst as cst
import libcst.matchers._visitors as _visitors  # private: the patch checks that it has what it needs

_GATHERERS = (
    "_gather_constructed_visit_funcs",
    "_gather_constructed_leave_funcs",
    "_gather_matchers",
)
_METHODS = ("on_visit", "on_leave", "on_visit_attribute", "on_leave_attribute")
_KINDS: tuple[tuple[type[Any], type[Any]], ...] = (
    (_visitors.MatcherDecoratableTransformer, cst.CSTTransformer),
    (_visitors.MatcherDecoratableVisitor, cst.CSTVisitor),
)
_found_nothing: dict[tuple[type[Any], str], bool] = {}  # (class, gatherer) -> it found no decorator
SUPPORTED = all(hasattr(_visitors, name) for name in _GATHERERS) and all(
    hasattr(kind, name) for kind, _ in _KINDS for name in _METHODS
)


@contextlib.contextmanager
def plain_matchers() -> Iterator[None]:
    """While inside: decorator scans memoized per class, and no matcher bookkeeping where none exist.

    Patches and restores libcst's module functions and two classes' methods: a worker process runs
    one file at a time, and nothing else uses libcst meanwhile. An unknown libcst version runs as is.
    """
    if not SUPPORTED:
        yield
        return
    saved: list[tuple[object, str, object]] = [
        (_visitors, n, getattr(_visitors, n)) for n in _GATHERERS
    ]
    saved += [(kind, n, kind.__dict__[n]) for kind, _ in _KINDS for n in _METHODS]
    for name in _GATHERERS:
        setattr(_visitors, name, _memoized(name, getattr(_visitors, name)))
    for kind, plain in _KINDS:
        for name in _METHODS:
            setattr(kind, name, _unless_matchers(kind.__dict__[name], getattr(plain, name)))
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


def _memoized(name: str, gather: Callable[[object], dict[Any, Any]]) -> Callable[[object], Any]:
    """`gather`, skipped for a class it already scanned and found nothing in (the result is per class)."""

    def memoized(obj: object) -> dict[Any, Any]:
        key = (type(obj), name)
        if _found_nothing.get(key):
            return {}
        found = gather(obj)
        _found_nothing[key] = not found
        return found

    return memoized


def _unless_matchers(
    with_matchers: Callable[..., Any], plain: Callable[..., Any]
) -> Callable[..., Any]:
    """The matcher-aware method for an instance with matchers or decorated functions; else `plain`."""

    def method(self: Any, *args: Any) -> Any:
        if self._matchers or self._extra_visit_funcs or self._extra_leave_funcs:
            return with_matchers(self, *args)
        return plain(self, *args)

    method.__name__ = with_matchers.__name__
    return method
