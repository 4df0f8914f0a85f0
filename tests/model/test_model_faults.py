"""Every provider fault over loopback HTTP: what is retried, how long it waits, what stops a run."""

from __future__ import annotations

import asyncio
import time
from email.utils import formatdate
from typing import Any

import pytest
from support.fake_model_server import FakeModelServer, FakeReply

from pipeline.model.client import ChatClient
from pipeline.model.completion import Completion
from pipeline.model.errors import (
    AuthenticationError,
    BadRequest,
    CodemillModelError,
    ConnectionDropped,
    FatalModelError,
    InsufficientCredits,
    MalformedResponse,
    ModelTimeout,
    ProviderBusy,
    RateLimited,
    RequestRejected,
    RetriesExhausted,
    RetryableModelError,
    ServerError,
)
from pipeline.model.limiter import Limiter
from pipeline.model.request import ModelSettings

KEY = "sk-fault-test-key-7f3a9c"
USER = [{"role": "user", "content": "Refactor:\n```python\nx = 1\n```"}]


class Recorder:
    """An injected sleep recording each backoff and the limiter's in-flight count at that time."""

    def __init__(self, limiter: Limiter | None = None) -> None:
        self.delays: list[float] = []
        self.in_flight_at_sleep: list[int] = []
        self.limiter = limiter

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if self.limiter is not None:
            self.in_flight_at_sleep.append(self.limiter.in_flight)


def call(
    server: FakeModelServer,
    *replies: FakeReply,
    sleep: Recorder | None = None,
    limiter: Limiter | None = None,
    **settings: Any,
) -> Completion:
    """Queue `replies`, then make one `complete` call through a fresh client."""
    server.enqueue(*replies)
    model_settings = ModelSettings(base_url=server.base_url, **settings)

    async def run() -> Completion:
        async with ChatClient(
            model_settings, api_key=KEY, limiter=limiter, sleep=sleep or Recorder()
        ) as client:
            return await client.complete(USER, max_tokens=512)

    return asyncio.run(run())


def test_429_without_retry_after_backs_off_with_full_jitter(fake_model: FakeModelServer) -> None:
    sleep = Recorder()
    result = call(
        fake_model,
        FakeReply.rate_limited(),
        FakeReply.rate_limited(),
        FakeReply.completion("ok"),
        sleep=sleep,
        backoff_base=2.0,
    )
    assert result.answer == "ok" and len(fake_model.requests) == 3
    assert len(sleep.delays) == 2
    assert 0 <= sleep.delays[0] <= 2.0 and 0 <= sleep.delays[1] <= 4.0


def test_full_jitter_spreads_delays_below_the_exponential_ceiling(
    fake_model: FakeModelServer,
) -> None:
    sleep = Recorder()
    with pytest.raises(RetriesExhausted):
        call(
            fake_model, *[FakeReply.error(503)] * 6, sleep=sleep, backoff_base=1.0, backoff_cap=4.0
        )
    ceilings = [1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(sleep.delays) == 5
    assert all(0 <= d <= c for d, c in zip(sleep.delays, ceilings, strict=True))
    assert len(set(sleep.delays)) == 5  # jittered, not a fixed schedule


def test_429_retry_after_seconds_is_honoured(fake_model: FakeModelServer) -> None:
    sleep = Recorder()
    result = call(fake_model, FakeReply.rate_limited("7"), FakeReply.completion("ok"), sleep=sleep)
    assert result.answer == "ok" and sleep.delays == [7.0]


def test_429_retry_after_http_date_is_honoured(fake_model: FakeModelServer) -> None:
    sleep = Recorder()
    date = formatdate(time.time() + 30, usegmt=True)
    call(fake_model, FakeReply.rate_limited(date), FakeReply.completion("ok"), sleep=sleep)
    assert len(sleep.delays) == 1 and 27.0 <= sleep.delays[0] <= 30.0


def test_retry_after_beyond_the_total_wait_budget_gives_up(fake_model: FakeModelServer) -> None:
    sleep = Recorder()
    with pytest.raises(RetriesExhausted) as info:
        call(fake_model, FakeReply.rate_limited("400"), sleep=sleep, max_total_wait=300.0)
    assert isinstance(info.value.last, RateLimited) and info.value.last.retry_after == 400.0
    assert sleep.delays == [] and len(fake_model.requests) == 1
    assert "429" in str(info.value) and "concurrency" in str(info.value)


def test_429s_shrink_the_limiter_and_slots_are_released_before_sleeping(
    fake_model: FakeModelServer,
) -> None:
    limiter = Limiter(8, window=1000.0)
    sleep = Recorder(limiter)
    call(
        fake_model,
        FakeReply.rate_limited("1"),
        FakeReply.completion("ok"),
        sleep=sleep,
        limiter=limiter,
    )
    assert limiter.current_limit == 4 and limiter.rate_limited_count == 1
    assert sleep.in_flight_at_sleep == [0]
    assert limiter.in_flight == 0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried(fake_model: FakeModelServer, status: int) -> None:
    result = call(
        fake_model, FakeReply.error(status, "model under maintenance"), FakeReply.completion("ok")
    )
    assert result.answer == "ok" and len(fake_model.requests) == 2


def test_5xx_every_time_exhausts_the_attempts(fake_model: FakeModelServer) -> None:
    with pytest.raises(RetriesExhausted) as info:
        call(fake_model, *[FakeReply.error(502, "bad gateway")] * 6)
    assert info.value.attempts == 6 and len(fake_model.requests) == 6
    assert isinstance(info.value.last, ServerError) and info.value.last.status_code == 502
    assert "bad gateway" in str(info.value)


def test_slow_answer_times_out_then_succeeds(fake_model: FakeModelServer) -> None:
    slow = FakeReply.completion("late", delay=1.0)
    started = time.monotonic()
    result = call(fake_model, slow, FakeReply.completion("ok"), read_timeout=0.2)
    assert result.answer == "ok" and time.monotonic() - started < 1.0


def test_slow_answer_every_time_is_a_model_timeout(fake_model: FakeModelServer) -> None:
    with pytest.raises(RetriesExhausted) as info:
        call(fake_model, FakeReply.completion("late", delay=1.0), read_timeout=0.2, max_attempts=1)
    assert isinstance(info.value.last, ModelTimeout)
    assert "raise the timeout" in str(info.value)


def test_dropped_connection_is_retried(fake_model: FakeModelServer) -> None:
    result = call(fake_model, FakeReply.dropped(), FakeReply.completion("ok"))
    assert result.answer == "ok" and len(fake_model.requests) == 2


def test_dropped_connection_error_type(fake_model: FakeModelServer) -> None:
    with pytest.raises(RetriesExhausted) as info:
        call(fake_model, FakeReply.dropped(), max_attempts=1)
    assert isinstance(info.value.last, ConnectionDropped)


def test_connection_refused_is_a_dropped_connection() -> None:
    with FakeModelServer() as server:
        url = server.base_url
    settings = ModelSettings(base_url=url, max_attempts=2)

    async def run() -> Completion:
        async with ChatClient(settings, api_key=KEY, sleep=Recorder()) as client:
            return await client.complete(USER)

    with pytest.raises(RetriesExhausted) as info:
        asyncio.run(run())
    assert isinstance(info.value.last, ConnectionDropped) and KEY not in str(info.value)


@pytest.mark.parametrize(
    "text", ['{"choices": [', "", "[1, 2]", '{"choices": []}', "<html>502</html>"]
)
def test_malformed_or_empty_json_is_retried(fake_model: FakeModelServer, text: str) -> None:
    result = call(fake_model, FakeReply.malformed(text), FakeReply.completion("ok"))
    assert result.answer == "ok" and len(fake_model.requests) == 2


def test_malformed_every_time(fake_model: FakeModelServer) -> None:
    with pytest.raises(RetriesExhausted) as info:
        call(fake_model, FakeReply.malformed(), max_attempts=1)
    assert isinstance(info.value.last, MalformedResponse)


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1024, 1033, 1041, 2045])
def test_http_200_with_retryable_base_resp_is_retried(
    fake_model: FakeModelServer, code: int
) -> None:
    limiter = Limiter(4, window=1000.0)
    result = call(
        fake_model,
        FakeReply.provider_error(code, "busy"),
        FakeReply.completion("ok"),
        limiter=limiter,
    )
    assert result.answer == "ok" and len(fake_model.requests) == 2
    rate_codes = {1002, 1041, 2045}
    assert limiter.current_limit == (2 if code in rate_codes else 4)


def test_base_resp_retryable_keeps_its_code(fake_model: FakeModelServer) -> None:
    with pytest.raises(RetriesExhausted) as info:
        call(fake_model, FakeReply.provider_error(1033, "system error"), max_attempts=1)
    assert isinstance(info.value.last, ProviderBusy) and info.value.last.code == 1033


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (1004, AuthenticationError),
        (2049, AuthenticationError),
        (1008, InsufficientCredits),
        (2056, InsufficientCredits),
    ],
)
def test_http_200_with_fatal_base_resp_stops_at_once(
    fake_model: FakeModelServer, code: int, error: type[FatalModelError]
) -> None:
    with pytest.raises(error) as info:
        call(fake_model, FakeReply.provider_error(code, "no"), FakeReply.completion("never"))
    assert len(fake_model.requests) == 1
    assert isinstance(info.value, FatalModelError) and KEY not in str(info.value)


@pytest.mark.parametrize("code", [1026, 1027, 1039, 2013])
def test_http_200_with_per_request_base_resp_is_neither_retried_nor_fatal(
    fake_model: FakeModelServer, code: int
) -> None:
    with pytest.raises(RequestRejected) as info:
        call(
            fake_model,
            FakeReply.provider_error(code, "input sensitive"),
            FakeReply.completion("never"),
        )
    assert len(fake_model.requests) == 1 and info.value.code == code
    assert not isinstance(info.value, FatalModelError | RetryableModelError)
    assert "input sensitive" in str(info.value)


def test_finish_reason_length_is_returned_not_retried(fake_model: FakeModelServer) -> None:
    result = call(
        fake_model, FakeReply.completion("<think>\nstill thinking", finish_reason="length")
    )
    assert result.finish_reason == "length" and result.answer == ""
    assert len(fake_model.requests) == 1


def test_401_is_fatal_and_names_the_variable(fake_model: FakeModelServer) -> None:
    with pytest.raises(AuthenticationError) as info:
        call(fake_model, FakeReply.error(401, f"Invalid key {KEY}"), FakeReply.completion("never"))
    message = str(info.value)
    assert "AIMLAPI_API_KEY" in message and "401" in message and KEY not in message
    assert len(fake_model.requests) == 1


def test_401_names_a_custom_variable(fake_model: FakeModelServer) -> None:
    with pytest.raises(AuthenticationError, match="MY_MODEL_KEY"):
        call(fake_model, FakeReply.error(401, "Unauthorized"), api_key_env="MY_MODEL_KEY")


def test_400_is_fatal_with_the_providers_message(fake_model: FakeModelServer) -> None:
    with pytest.raises(BadRequest) as info:
        call(
            fake_model,
            FakeReply.error(400, "temperature must be <= 2"),
            FakeReply.completion("never"),
        )
    assert info.value.message == "temperature must be <= 2" and info.value.status_code == 400
    assert "temperature must be <= 2" in str(info.value) and len(fake_model.requests) == 1


def test_403_is_out_of_credits(fake_model: FakeModelServer) -> None:
    with pytest.raises(InsufficientCredits, match="top up"):
        call(fake_model, FakeReply.error(403, "Insufficient credits"))
    assert len(fake_model.requests) == 1


def test_every_error_is_one_sentence_that_says_what_to_do() -> None:
    errors: list[CodemillModelError] = [
        RateLimited(None),
        ServerError(503),
        ModelTimeout("read"),
        ConnectionDropped("reset"),
        MalformedResponse("not JSON"),
        ProviderBusy(1002),
        RequestRejected(1039),
        BadRequest(400, "bad"),
        AuthenticationError("AIMLAPI_API_KEY"),
        InsufficientCredits(),
        RetriesExhausted(ServerError(500), 6),
    ]
    for error in errors:
        text = str(error)
        assert "\n" not in text and text.count(". ") == 0
        assert any(
            verb in text
            for verb in ("retry", "lower", "raise", "check", "shrink", "set", "top up", "retried")
        ), text
