"""A sharded connection-pool transport, because one big httpcore pool costs CPU quadratic in its size.

httpcore scans every pooled connection on each request (encode/httpcore#1035): with 64 connections a run
took 3.5x its ideal wall time. Spreading requests over pools of at most 8 connections keeps that cost flat
(bench/concurrency.py measures it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx


class ShardedTransport(httpx.AsyncBaseTransport):
    """Small connection pools, each request to the least busy: one big httpcore pool costs
    O(connections^2) CPU per request (encode/httpcore#1035; 64 connections ran 3.5x over ideal)."""

    def __init__(self, pool: int, shard_size: int = 8) -> None:
        count = max(1, -(-pool // shard_size))
        per_shard = -(-pool // count)
        limits = httpx.Limits(max_connections=per_shard, max_keepalive_connections=per_shard)
        ssl_context = httpx.create_ssl_context()  # one CA bundle load, not one per shard
        self._shards = [
            httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits) for _ in range(count)
        ]
        self._busy = [0] * count

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = min(range(len(self._shards)), key=self._busy.__getitem__)
        self._busy[index] += 1
        try:
            response = await self._shards[index].handle_async_request(request)
        except BaseException:
            self._busy[index] -= 1
            raise
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_ReleasingStream(stream, lambda: self._release(index)),
            extensions=response.extensions,
        )

    def _release(self, index: int) -> None:
        self._busy[index] -= 1

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.aclose()


class _ReleasingStream(httpx.AsyncByteStream):
    """A response body that tells its shard, once, when it is closed."""

    def __init__(self, stream: httpx.AsyncByteStream, on_close: Callable[[], None]) -> None:
        self._stream = stream
        self._on_close: Callable[[], None] | None = on_close

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._on_close is not None:
                self._on_close()
                self._on_close = None
