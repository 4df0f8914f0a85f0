"""The forge write limit: at most N writes a minute and one second between two, shared by every process
through one file; the forge's rate-limit answers (403 secondary limit, 429, an exhausted primary limit)
waited out as it says, doubling from a minute when it says nothing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from pipeline.forge.errors import ForgeError
from pipeline.forge.http import ForgeHttp
from pipeline.forge.throttle import WriteThrottle


class FakeTime:
    """A clock that moves only when slept on."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_one_second_between_writes_and_at_most_n_a_minute() -> None:
    fake = FakeTime()
    throttle = WriteThrottle(per_minute=5, min_interval=1.0, clock=fake.clock, sleep=fake.sleep)
    starts = []
    for _ in range(7):
        throttle.wait_turn()
        starts.append(fake.now - 1_000.0)
    assert starts == [0.0, 1.0, 2.0, 3.0, 4.0, 60.0, 61.0]


def test_at_most_n_an_hour_however_slowly_they_come() -> None:
    fake = FakeTime()
    throttle = WriteThrottle(
        per_minute=80, per_hour=3, min_interval=1.0, clock=fake.clock, sleep=fake.sleep
    )
    starts = []
    for _ in range(5):
        throttle.wait_turn()
        starts.append(fake.now - 1_000.0)
        fake.now += 100.0  # slower than a minute's limit would ever hold back
    assert starts == [0.0, 100.0, 200.0, 3600.0, 3700.0]


def test_processes_share_the_limit_through_one_file(tmp_path: Path) -> None:
    path = tmp_path / "state" / "forge-writes.json"
    seen: list[float] = []
    lock = threading.Lock()

    def writer() -> None:
        throttle = WriteThrottle(path, per_minute=80, min_interval=0.2)  # its own file handle
        for _ in range(3):
            with throttle.turn(), lock:
                seen.append(time.time())  # the write itself

    threads = [threading.Thread(target=writer) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    gaps = [b - a for a, b in zip(sorted(seen), sorted(seen)[1:], strict=False)]
    assert len(seen) == 9 and min(gaps) >= 0.2, gaps
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    path.write_text("not json", encoding="utf-8")  # a damaged file forgets, it does not fail
    assert WriteThrottle(path, min_interval=0.01).wait_turn() == 0.0


def _http(answers: list[httpx.Response], fake: FakeTime) -> tuple[ForgeHttp, list[str]]:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.method)
        return answers.pop(0)

    http = ForgeHttp("http://forge.test/api/v3", {}, "tok", WriteThrottle(min_interval=0.0),
                     sleep=fake.sleep)  # fmt: skip
    http._client = httpx.Client(
        base_url="http://forge.test", transport=httpx.MockTransport(handler)
    )
    return http, sent


SECONDARY = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}


def test_rate_limit_answers_are_waited_out_as_the_forge_says() -> None:
    fake = FakeTime()
    answers = [
        httpx.Response(403, json=SECONDARY, headers={"retry-after": "7"}),
        httpx.Response(
            429, json={"message": "429 Too Many Requests"}, headers={"retry-after": "3"}
        ),
        httpx.Response(403, json=SECONDARY),  # no header: a minute
        httpx.Response(403, json=SECONDARY),  # again: two
        httpx.Response(201, json={"number": 1}),
    ]
    http, sent = _http(answers, fake)
    answer = http.call("POST", "/repos/o/r/pulls", "opening", json={})
    assert answer.status == 201 and sent == ["POST"] * 5
    assert http.waits == [7.0, 3.0, 60.0, 120.0] and fake.slept == http.waits


def test_a_forge_that_keeps_refusing_is_one_sentence() -> None:
    fake = FakeTime()
    refusals = [httpx.Response(429, headers={"retry-after": "1"}) for _ in range(5)]
    http, _ = _http(refusals, fake)
    with pytest.raises(ForgeError, match=r"kept refusing for its rate limit; try again later$"):
        http.call("POST", "/repos/o/r/pulls", "opening the pull request", json={})
    assert fake.slept == [1.0] * 5


def test_an_exhausted_primary_limit_waits_until_its_reset() -> None:
    fake = FakeTime()
    reset = str(int(time.time()) + 30)
    exhausted = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    answers = [
        httpx.Response(403, json={"message": "API rate limit exceeded"}, headers=exhausted),
        httpx.Response(200, json=[]),
    ]
    http, sent = _http(answers, fake)
    assert http.call("GET", "/repos/o/r/pulls", "listing").status == 200
    assert sent == ["GET", "GET"] and 28 <= http.waits[0] <= 31
