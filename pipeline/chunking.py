"""Cut a module into chunks with libcst and splice replacement texts back byte-exactly.

Indentation convention (used everywhere): a chunk's `text` goes out dedented (its first line at column 0)
and a replacement comes back dedented; `splice` re-indents it with the chunk's `indent`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

ChunkKind = Literal["function", "class", "method", "statements"]
ScopeKind = Literal["class", "function", "async_function"]


@dataclass(frozen=True)
class ChunkContext:
    """Read-only context sent with a chunk: never changed by the model, only shown to it."""

    imports: str = ""
    class_header: str = ""
    sibling_signatures: tuple[str, ...] = ()


@dataclass(frozen=True)
class Chunk:
    """One unit of a module sent to an engine; spans index the file's original bytes."""

    path: str
    start_byte: int
    end_byte: int
    start_line: int
    end_line: int
    kind: ChunkKind
    name: str
    text: str
    indent: str = ""
    context: ChunkContext = field(default_factory=ChunkContext)
    oversized: bool = False
    enclosing: tuple[ScopeKind, ...] = ()  # outermost first; () for a top-level chunk

    @property
    def digest(self) -> str:
        """Content hash of the chunk text and its context; the cache and the ledger key on it."""
        h = hashlib.sha256()
        parts = (self.text, self.context.imports, self.context.class_header)
        for part in (*parts, *self.context.sibling_signatures):
            h.update(part.encode("utf-8"))
            h.update(b"\0")
        return h.hexdigest()
