"""The fleet's shared slot, its rules in-process (the real server's test is tests/fleet/
test_shared_limit.py, slow): a full limit (423) is waited out as the server says, then asked again; a
limit that does not exist is one sentence; every slot taken is given back with its lease, and a failed give-
back is a warning, never the request's failure."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from flows.shared_limit import SharedLimitError, _retry_after, shared_slot


class Server:
    """Answers increment_concurrency_slots_with_lease as Prefect's API does: 423 while full, else a lease."""

    def __init__(
        self, full_times: int = 0, exists: bool = True, release_fails: bool = False
    ) -> None:
        self.full_times, self.exists, self.release_fails = full_times, exists, release_fails
        self.leases: list[UUID] = []
        self.released: list[UUID] = []
        self.asked = 0

    async def increment_concurrency_slots_with_lease(self, **params: Any) -> httpx.Response:
        self.asked += 1
        request = httpx.Request("POST", "http://prefect/v2/concurrency_limits/increment-with-lease")
        if self.full_times:
            self.full_times -= 1
            locked = httpx.Response(423, headers={"Retry-After": "0.05"}, request=request)
            raise httpx.HTTPStatusError("locked", request=request, response=locked)
        if not self.exists:
            return httpx.Response(
                200, json={"limits": [], "lease_id": str(uuid4())}, request=request
            )
        self.leases.append(uuid4())
        body = {"limits": [{"name": params["names"][0]}], "lease_id": str(self.leases[-1])}
        return httpx.Response(200, json=body, request=request)

    async def release_concurrency_slots_with_lease(self, lease: UUID) -> None:
        if self.release_fails:
            raise httpx.ConnectError("the API went away")
        self.released.append(lease)


async def hold(server: Server) -> None:
    async with shared_slot(server, "codemill-fleet")():  # type: ignore[arg-type]
        pass


def test_a_full_limit_is_waited_out_and_the_slot_given_back() -> None:
    server = Server(full_times=2)
    asyncio.run(hold(server))
    assert server.asked == 3 and server.released == server.leases and len(server.leases) == 1


def test_a_missing_limit_is_one_sentence() -> None:
    with pytest.raises(SharedLimitError, match="'codemill-fleet' does not exist"):
        asyncio.run(hold(Server(exists=False)))


def test_a_failed_give_back_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="codemill.flows"):
        asyncio.run(hold(Server(release_fails=True)))
    assert "could not give back a slot of codemill-fleet" in caplog.text


def test_retry_after_is_the_servers_or_half_a_second() -> None:
    request = httpx.Request("POST", "http://prefect/")
    assert _retry_after(httpx.Response(423, headers={"Retry-After": "2"}, request=request)) == 2.0
    assert (
        _retry_after(httpx.Response(423, headers={"Retry-After": "soon"}, request=request)) == 0.5
    )
    assert _retry_after(httpx.Response(423, request=request)) == 0.5
