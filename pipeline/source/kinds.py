"""The kinds of chunk and of enclosing scope: names only, so recipes can check them without libcst."""

from __future__ import annotations

from typing import Literal

ChunkKind = Literal["function", "class", "method", "statements"]
ScopeKind = Literal["class", "function", "async_function"]
