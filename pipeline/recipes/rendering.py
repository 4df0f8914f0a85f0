"""Rendering a chunk for a prompt: fenced blocks, the read-only context, and the template placeholders.

The chunk's own code block is always rendered last, so the fixed prompt prefix stays cacheable.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.source.chunking import Chunk

RUN_PLACEHOLDERS = frozenset({"target_python"})
CHUNK_PLACEHOLDERS = frozenset(
    {"path", "kind", "name", "start_line", "end_line", "context", "chunk"}
)
DEFAULT_REPAIR = (
    "Your previous answer was rejected: $error\n\n"
    "Fix that and answer again with exactly one ```python block holding the complete rewritten "
    "chunk, dedented like the original, with nothing elided."
)


def fence(code: str, info: str = "python") -> str:
    """A Markdown fenced block around `code`, longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`{3,}", code)), default=2)
    ticks = "`" * (longest + 1)
    return f"{ticks}{info}\n{code.rstrip(chr(10))}\n{ticks}"


def render_context(chunk: Chunk) -> str:
    """The read-only context of a chunk, each part in its own fenced block marked read-only."""
    ctx = chunk.context
    parts: list[str] = []
    if ctx.imports.strip():
        parts.append(f"Imports of the module (read-only):\n{fence(ctx.imports)}")
    if ctx.class_header.strip():
        parts.append(f"Enclosing class header (read-only):\n{fence(ctx.class_header)}")
    if ctx.sibling_signatures:
        sigs = "\n".join(ctx.sibling_signatures)
        parts.append(
            f"Other definitions in the same scope, signatures only (read-only):\n{fence(sigs)}"
        )
    if not parts:
        return "Read-only context: none."
    return "Read-only context (for reference only: do not repeat or change it):\n\n" + "\n\n".join(
        parts
    )


def render_chunk(chunk: Chunk) -> str:
    """Heading and fenced block of the code to rewrite: always the user message's last block."""
    span = f"lines {chunk.start_line}-{chunk.end_line}"
    return (
        f"Rewrite this {chunk.kind} `{chunk.name}` ({chunk.path}, {span}):\n\n{fence(chunk.text)}"
    )


def version_text(target_python: tuple[int, int]) -> str:
    """`(3, 11)` as the prompts write it: `3.11`."""
    return f"{target_python[0]}.{target_python[1]}"
