"""ResponseCache on real SQLite files: hits, key sensitivity, WAL, concurrent writers, no key."""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.fake_model_server import FakeModelServer, FakeReply

from pipeline.model.cache import (
    DamagedCacheError,
    ResponseCache,
    endpoint_host,
    is_damage,
    worth_caching,
)
from pipeline.model.client import ChatClient
from pipeline.model.completion import Completion, Usage
from pipeline.model.request import ModelSettings
from pipeline.paths import default_cache_path

KEY = "sk-cache-test-4242-SECRET"
MESSAGES = [{"role": "user", "content": "Refactor:\n```python\nx = 1\n```"}]
BASE = {
    "base_url": "https://api.aimlapi.com/v1",
    "model": "minimax/m2-1",
    "params": {"temperature": 0.2, "top_p": 0.95, "seed": 7, "max_tokens": 4096},
    "messages": MESSAGES,
}


def completion(answer: str = "```python\ny = 1\n```", finish_reason: str = "stop") -> Completion:
    return Completion(
        content=f"<think>\nwhy\n</think>\n\n{answer}",
        reasoning="why",
        answer=answer,
        finish_reason=finish_reason,
        usage=Usage(10, 20, 5, 3, 30),
        cost_usd=0.001,
        credits=12.0,
        request_id="inf-1",
        latency_s=1.25,
        model="MiniMax-M2.1",
    )


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[ResponseCache]:
    db = ResponseCache(tmp_path / "c" / "responses.sqlite3")
    yield db
    db.close()


def test_miss_then_hit_round_trips_everything(cache: ResponseCache) -> None:
    key = cache.key(**BASE)  # type: ignore[arg-type]
    assert cache.get(key) is None
    stored = completion()
    assert cache.put(key, stored) is True
    hit = cache.get(key)
    assert hit == dataclasses.replace(stored, from_cache=True)
    assert len(cache) == 1


def test_only_complete_answers_are_stored(cache: ResponseCache) -> None:
    assert not worth_caching(completion(finish_reason="length"))
    assert not worth_caching(completion(answer=""))
    assert cache.put("k1", completion(finish_reason="length")) is False
    assert cache.put("k2", completion(answer="   ")) is False
    assert cache.get("k1") is None and len(cache) == 0


def test_the_caller_can_choose_what_is_worth_caching(tmp_path: Path) -> None:
    everything = ResponseCache(tmp_path / "all.sqlite3", accept=lambda c: True)
    try:
        assert everything.put("k", completion(finish_reason="length")) is True
        hit = everything.get("k")
        assert hit is not None and hit.finish_reason == "length"
    finally:
        everything.close()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("base_url", "https://api.minimax.io/v1"),
        ("base_url", "http://localhost:8000/v1"),
        ("model", "minimax/m2"),
        ("params", {"temperature": 0.3, "top_p": 0.95, "seed": 7, "max_tokens": 4096}),
        ("params", {"temperature": 0.2, "top_p": 0.9, "seed": 7, "max_tokens": 4096}),
        ("params", {"temperature": 0.2, "top_p": 0.95, "seed": 8, "max_tokens": 4096}),
        ("params", {"temperature": 0.2, "top_p": 0.95, "seed": 7, "max_tokens": 2048}),
        ("messages", [{"role": "user", "content": "Refactor:\n```python\nx = 2\n```"}]),
        ("messages", [{"role": "system", "content": "Be terse."}, *MESSAGES]),
    ],
)
def test_key_changes_with_everything_that_decides_the_answer(field: str, value: object) -> None:
    assert ResponseCache.key(**{**BASE, field: value}) != ResponseCache.key(**BASE)  # type: ignore[arg-type]


def test_key_ignores_scheme_path_noise_and_non_answer_params() -> None:
    same = [
        {**BASE, "base_url": "http://API.aimlapi.com/"},
        {**BASE, "base_url": "https://api.aimlapi.com"},
        {**BASE, "params": {**BASE["params"], "stream": True}},  # type: ignore[dict-item]
    ]
    for variant in same:
        assert ResponseCache.key(**variant) == ResponseCache.key(**BASE)  # type: ignore[arg-type]
    assert endpoint_host("http://127.0.0.1:8123/v1") == "127.0.0.1:8123"
    with pytest.raises(ValueError, match="no host"):
        endpoint_host("/v1/only-a-path")


def test_wal_mode_is_on(cache: ResponseCache) -> None:
    cache.put("k", completion())
    with sqlite3.connect(cache.path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert Path(f"{cache.path}-wal").exists()


def test_concurrent_writers_from_threads(cache: ResponseCache) -> None:
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            for i in range(50):
                key = f"t{worker}-{i}"
                cache.put(key, completion(f"a{worker}-{i}"))
                hit = cache.get(key)
                assert hit is not None and hit.answer == f"a{worker}-{i}"
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(cache) == 400


def _process_writer(path: str, worker: int, count: int) -> None:
    db = ResponseCache(Path(path))
    try:
        for i in range(count):
            db.put(f"p{worker}-{i}", completion(f"p{worker}-{i}"))
    finally:
        db.close()


def test_concurrent_writers_from_two_processes(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    ResponseCache(path).close()  # create the schema first
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(str(path), n, 200)) for n in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [proc.exitcode for proc in procs] == [0, 0]
    db = ResponseCache(path)
    try:
        assert len(db) == 400
        hit = db.get("p1-199")
        assert hit is not None and hit.answer == "p1-199" and hit.from_cache
    finally:
        db.close()


def test_the_api_key_never_reaches_the_db_file(tmp_path: Path, fake_model: FakeModelServer) -> None:
    fake_model.enqueue(FakeReply.completion("<think>\nhm\n</think>\n\n```python\nx = 1\n```"))
    settings = ModelSettings(base_url=fake_model.base_url)
    path = tmp_path / "responses.sqlite3"
    db = ResponseCache(path)

    async def run() -> Completion:
        async with ChatClient(settings, api_key=KEY) as client:
            return await client.complete(MESSAGES, temperature=0.2)

    result = asyncio.run(run())
    key = db.key(
        base_url=settings.base_url,
        model=settings.model,
        params={"temperature": 0.2},
        messages=MESSAGES,
    )
    assert db.put(key, result)
    db.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("responses"))
    assert b"x = 1" in raw  # the answer is there...
    assert KEY.encode() not in raw  # ...the key is not
    again = ResponseCache(path)
    try:
        hit = again.get(key)
        assert hit is not None and hit.from_cache and hit.usage == result.usage
        assert hit.cost_usd == result.cost_usd
    finally:
        again.close()


def test_default_cache_path_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert default_cache_path(env) == tmp_path / "xdg" / "codemill" / "responses.sqlite3"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home" / ".cache" / "codemill" / "responses.sqlite3"
    assert default_cache_path({}) == expected


def filled(path: Path, rows: int) -> bytes:
    """A real cache of `rows` answers, closed (its WAL folded in): the file's bytes."""
    db = ResponseCache(path)
    for number in range(rows):
        db.put(f"k{number}", completion(answer=f"```python\ny = {number}\n```" + " " * 900))
    db.close()
    return path.read_bytes()


def set_aside_files(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.broken-*"))


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_cache_is_moved_aside_and_a_fresh_one_used(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "responses.sqlite3"
    good = filled(path, 200)
    bad = b"not a database at all\n" * 300 if damage == "garbage" else good[: len(good) // 2]
    path.write_bytes(bad)
    db = ResponseCache(path)
    try:
        [aside] = set_aside_files(path)
        assert aside.read_bytes() == bad  # kept whole, to be looked at
        assert db.damage == (
            f"the response cache {path} was damaged ("
            f"{'file is not a database' if damage == 'garbage' else 'database disk image is malformed'}"
            f"): moved it to {aside} and started a fresh one"
        )
        assert len(db) == 0 and db.put("k", completion()) and db.get("k") is not None
    finally:
        db.close()
    assert ResponseCache(path).damage == ""  # the fresh one opens quietly next time


def test_a_damaged_page_found_by_a_lookup_moves_the_file_aside_and_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "responses.sqlite3"
    good = bytearray(filled(path, 400))
    middle = len(good) // 2 // 4096 * 4096
    good[middle : middle + 8192] = (
        b"\xff" * 8192
    )  # two whole pages  # opens fine; a scan of the rows reads garbage
    path.write_bytes(bytes(good))
    db = ResponseCache(path)
    try:
        assert db.damage == ""
        found = [db.get(f"k{number}") for number in range(400)]
        assert found[0] is not None and found[-1] is None  # the later lookups ask the fresh file
        [aside] = set_aside_files(path)
        assert db.damage.startswith(f"the response cache {path} was damaged (database disk image")
        assert f"moved it to {aside}" in db.damage
        assert caplog.messages == [f"codemill: warning: {db.damage}"]
        assert db.put("k", completion()) and db.get("k") is not None
    finally:
        db.close()


@pytest.mark.parametrize("stored", [b"\xff\xfe not utf-8", b'{"answer": 1}', b"[1, 2"])
def test_a_row_that_does_not_decode_is_a_miss_the_next_answer_replaces(
    cache: ResponseCache, stored: bytes
) -> None:
    cache.put("k", completion())
    with sqlite3.connect(cache.path) as db:
        db.execute("UPDATE responses SET completion = ?", (stored,))
    assert cache.get("k") is None
    assert cache.put("k", completion()) and cache.get("k") is not None


def test_a_damaged_cache_that_cannot_be_moved_names_it_and_the_way_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "responses.sqlite3"
    path.write_bytes(b"garbage" * 1000)

    def refuse(path: Path, *companions: str) -> Path:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("pipeline.model.cache.move_aside", refuse)
    with pytest.raises(DamagedCacheError) as info:
        ResponseCache(path)
    assert str(info.value) == (
        f"the response cache {path} is damaged (file is not a database) and cannot be moved "
        "aside (Permission denied): delete it, or run with --no-cache"
    )
    assert info.value.exit_code == 2 and path.read_bytes() == b"garbage" * 1000


def test_a_busy_cache_is_not_damage(tmp_path: Path) -> None:
    path = tmp_path / "responses.sqlite3"
    filled(path, 3)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sqlite3.OperationalError) as info:
            sqlite3.connect(path, timeout=0).execute("DELETE FROM responses")
        assert not is_damage(info.value)
    finally:
        holder.close()
    assert not set_aside_files(path)
