"""A fleet's shared limit on model requests: one slot of a Prefect global concurrency limit per request,
taken and given back with one API call each, the requests of a run asking side by side.

Prefect's own `concurrency()` sends every acquisition of a process through one queue, one at a time,
with a lease-renewal task and two events per slot: in a fleet of small repositories that cost 4 s of each
6-request repository's run (bench/RESULTS.md, issue 23). Here a request asks for its slot directly over
the run's one client; a full limit answers 423 and the request waits as the server says, then asks again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from uuid import UUID

import httpx
from prefect.client.orchestration import PrefectClient

from pipeline.errors import UsageError
from pipeline.model.limiter import SharedSlot

LEASE_S = (
    900.0  # longer than a request may last; a lease the run never gives back frees itself then
)
RETRY_S = 0.5  # the wait before asking again when the server names none
log = logging.getLogger("codemill.flows")


class SharedLimitError(UsageError):
    """The fleet's concurrency limit is missing; the message is one sentence."""


def shared_slot(client: PrefectClient, name: str) -> SharedSlot:
    """A slot of the global concurrency limit `name` (it must exist) per model request."""

    def hold() -> AbstractAsyncContextManager[None]:
        return _holding(client, name)

    return hold


@contextlib.asynccontextmanager
async def _holding(client: PrefectClient, name: str) -> AsyncIterator[None]:
    lease = await _acquire(client, name)
    try:
        yield
    finally:
        try:
            await client.release_concurrency_slots_with_lease(lease)
        except Exception as exc:  # the lease frees the slot when it runs out
            log.warning("could not give back a slot of %s: %s", name, exc)


async def _acquire(client: PrefectClient, name: str) -> UUID:
    """One slot, once the limit has one free (423: wait as the server says, then ask again)."""
    while True:
        try:
            response = await client.increment_concurrency_slots_with_lease(
                names=[name], slots=1, mode="concurrency", lease_duration=LEASE_S
            )
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != httpx.codes.LOCKED:
                raise
            await asyncio.sleep(_retry_after(exc.response))
            continue
        body = response.json()
        if not body.get("limits"):
            raise SharedLimitError(f"the fleet's concurrency limit {name!r} does not exist")
        return UUID(str(body["lease_id"]))


def _retry_after(response: httpx.Response) -> float:
    """The server's Retry-After in seconds (a number), else RETRY_S; never less than 0.05 s."""
    try:
        return max(0.05, float(response.headers.get("Retry-After", RETRY_S)))
    except ValueError:
        return RETRY_S
