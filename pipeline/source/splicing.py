"""Put replacement texts back into a file's bytes: every byte outside the replaced spans unchanged.

Spans index the original file bytes (BOM included) and `splice` encodes with `Chunk.encoding`. A
chunk ends with a newline exactly when its original region did (only the last chunk of a file
without a final newline does not); `splice` keeps it that way. A replacement is dedented text with
"\\n" newlines (the convention in `pipeline.source.layout`); `render` re-indents it and writes the chunk's
own newline (line by line from the original when the chunk mixes newlines).
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.source.chunking import Chunk
from pipeline.source.layout import NEWLINE, lf, reindent


def render(chunk: Chunk, replacement: str) -> bytes:
    """The bytes that replace the chunk's span: re-indented, the file's newline and encoding."""
    text = lf(replacement)
    if chunk.text.endswith("\n") and not text.endswith("\n"):
        text += "\n"
    elif not chunk.text.endswith("\n"):
        text = text.rstrip("\n")
    text = reindent(text, chunk.indent)
    if not chunk.newline:
        text = mixed_newlines(chunk.text, text)
    elif chunk.newline != "\n":
        text = text.replace("\n", chunk.newline)
    try:
        return text.encode(chunk.encoding)
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{chunk.path}: {chunk.name}: the replacement cannot be written in {chunk.encoding}: "
            f"{exc.reason} at character {exc.start}"
        ) from exc


def mixed_newlines(original: str, text: str) -> str:
    """`text` ("\\n" newlines) written with the newlines of `original`, a chunk whose newlines mix.

    Line by line when the line count is kept; otherwise every line gets the chunk's dominant newline.
    """
    endings = NEWLINE.findall(original)
    lines = text.split("\n")
    if len(lines) - 1 != len(endings):
        dominant = max(sorted(set(endings)), key=endings.count) if endings else "\n"
        return dominant.join(lines)
    return "".join(line + ending for line, ending in zip(lines, [*endings, ""], strict=True))


def splice(data: bytes, replacements: Sequence[tuple[Chunk, str]]) -> bytes:
    """`data` with each chunk's span replaced by its rendered text; every other byte unchanged."""
    ordered = sorted(replacements, key=lambda r: (r[0].start_byte, r[0].end_byte))
    out: list[bytes] = []
    pos = 0
    previous = ""
    for chunk, replacement in ordered:
        if chunk.start_byte < pos:
            raise ValueError(f"{chunk.path}: {chunk.name} overlaps {previous}")
        if chunk.end_byte > len(data) or chunk.start_byte > chunk.end_byte:
            raise ValueError(
                f"{chunk.path}: {chunk.name} spans bytes {chunk.start_byte}-{chunk.end_byte} "
                f"outside a {len(data)}-byte file"
            )
        out.append(data[pos : chunk.start_byte])
        out.append(render(chunk, replacement))
        pos, previous = chunk.end_byte, chunk.name
    out.append(data[pos:])
    return b"".join(out)
