"""Reading a response body with its decoded size capped, inflating gzip and deflate here.

httpx would inflate a whole network read at once (a 64 KiB gzip read can become 64 MB) and decode any
encoding a library happens to be installed for (br, zstd); here the body is inflated in bounded steps
(`max_length`), so a gzip bomb stops at the cap having held no more than it, and other encodings are
refused. Requests ask for gzip and deflate only (ACCEPT_ENCODING).
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import aclosing

import httpx

from pipeline.model.errors import CodemillModelError, MalformedResponse

ACCEPT_ENCODING = "gzip, deflate"
STEP = 64 * 1024  # the most decoded bytes taken from the inflater at once
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class Inflater:
    """Decodes one body's content-encoding (identity, gzip or deflate) in pieces of at most STEP."""

    def __init__(self, content_encoding: str | None) -> None:
        coding = (content_encoding or "identity").strip().lower()
        self._zlib: zlib._Decompress | None = None
        if coding in _WBITS:
            self._zlib = zlib.decompressobj(_WBITS[coding])
        elif coding not in ("", "identity"):
            raise MalformedResponse(f"the body is encoded as {coding[:40]!r}, not gzip or deflate")

    def pieces(self, data: bytes) -> Iterator[bytes]:
        """The decoded bytes of `data`, a piece of at most STEP bytes at a time."""
        if self._zlib is None:
            yield data
            return
        while data:
            try:
                out = self._zlib.decompress(data, STEP)
            except zlib.error:
                raise MalformedResponse("the compressed body is corrupt") from None
            if out:
                yield out
            data = self._zlib.unconsumed_tail


async def decoded(
    response: httpx.Response, cap: int, too_large: Callable[[], CodemillModelError]
) -> AsyncGenerator[bytes, None]:
    """The body decoded, piece by piece; `too_large()` is raised once it passes `cap` bytes."""
    size = 0
    async for raw, inflater in _raw(response):
        for piece in inflater.pieces(raw):
            size += len(piece)
            if size > cap:
                raise too_large()
            yield piece


async def _raw(response: httpx.Response) -> AsyncIterator[tuple[bytes, Inflater]]:
    """The body as sent, each piece with the inflater that decodes it; a body httpx has read
    already (a response built in memory, as by httpx.MockTransport) comes decoded, whole."""
    try:
        content = response.content
    except httpx.ResponseNotRead:
        inflater = Inflater(response.headers.get("content-encoding"))
        async for raw in response.aiter_raw():
            yield raw, inflater
    else:
        yield content, Inflater(None)


async def read_capped(
    response: httpx.Response, cap: int, too_large: Callable[[], CodemillModelError]
) -> bytes:
    """The whole body decoded; `too_large()` past `cap` bytes."""
    return b"".join([piece async for piece in decoded(response, cap, too_large)])


async def read_error_text(response: httpx.Response, cap: int) -> str:
    """The first `cap` bytes of an error body as text (only its message is needed); empty when the
    body cannot be decoded: the status says enough."""
    kept = bytearray()
    pieces = decoded(response, cap + STEP, lambda: MalformedResponse("past the cap"))
    try:
        async with aclosing(pieces):
            async for piece in pieces:
                kept += piece
                if len(kept) >= cap:
                    break
    except MalformedResponse:
        return ""
    return bytes(kept[:cap]).decode("utf-8", "replace")
