"""The codemod engine keeps a UTF-8 BOM when the file's first chunk changes."""

from __future__ import annotations

from pipeline.engines.codemod_module import proposals_for_chunks
from pipeline.source.chunking import chunk_module
from pipeline.source.splicing import splice

BOM = b"\xef\xbb\xbf"


def test_a_change_in_the_first_chunk_keeps_the_bom() -> None:
    old = "from typing import List\n\n\ndef f(x: List[int]) -> List[int]:\n    return x\n"
    new = "\n\ndef f(x: list[int]) -> list[int]:\n    return x\n"  # the import went: chunks merge
    data = BOM + old.encode()
    chunks = chunk_module("a.py", old, bom=True)
    pairs = proposals_for_chunks(chunks, new, old_text=old, budget=2000, bom=True)
    after = splice(data, [(chunk, text) for chunk, text in pairs])
    assert after == BOM + new.encode()
