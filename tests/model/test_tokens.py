"""Token counts: the bound holds for the worst text codemill sends (checked against SmolLM2's real counts,
recorded from the llama-server the suite builds), the server's /tokenize is probed once and asked once per
text, only when the bound leaves too little room, and prompt + max_tokens then fits the window."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from support.fake_model_server import FakeModelServer, FakeReply

from pipeline.model.client import ChatClient
from pipeline.model.context import (
    MESSAGE_OVERHEAD_TOKENS,
    PROMPT_OVERHEAD_TOKENS,
    answer_floor,
    prompt_tokens_upper,
)
from pipeline.model.errors import ContextTooLong
from pipeline.model.request import ModelSettings
from pipeline.model.tokens import tokenize_root, tokens_upper

# The worst text codemill sends: the model's repetitive output, digits, hex tables, escapes, non-ASCII.
WORST: dict[str, Callable[[], str]] = {
    "dt-args": lambda: ", ".join(f"dt{i}=None" for i in range(1, 438)),
    "digits": lambda: "".join(str(i) for i in range(2000)),
    "hex-table": lambda: ", ".join(f"0x{i % 256:02x}" for i in range(1000)),
    "same-line": lambda: "    return None\n" * 300,
    "cjk": lambda: "这是一个测试字符串，用于检查分词器。" * 50,  # noqa: RUF001 (a CJK comma)
    "emoji": lambda: "😀🎉🚀✨" * 200,
    "accented": lambda: "déjà vu, naïve café, Ærøskøbing " * 60,
    "punctuation": lambda: "(){}[]<>;:,.!?@#$%^&*-+=|\\/~`'\"" * 60,
    "escapes": lambda: "'\\x00\\x01\\x02\\x03\\x04'" * 100,
    "cyrillic": lambda: "Привет мир, это проверка. " * 40,
    "camel-case": lambda: "aAbBcCdDeE_xYzQ" * 100,
    "blank-lines": lambda: "\n\n\n\n" * 100,
    "indents": lambda: "        \n" * 100,
    "tabs": lambda: "\t\t\t x\n" * 100,
}
COUNTS = Path(__file__).parents[1] / "data" / "servers" / "smollm2-counts.json"
CODE = "def greet(name):\n    return 'hi %s' % name\n" * 40
MESSAGES = [
    {"role": "system", "content": "You refactor Python. " * 30},
    {"role": "user", "content": f"Refactor:\n```python\n{CODE}```"},
]


def quarter(text: str) -> int:
    """A fake tokenizer: a token per 4 characters."""
    return len(text) // 4 + 1


def ask(
    server: FakeModelServer, messages: Sequence[Mapping[str, str]], times: int = 1, **kw: Any
) -> None:
    """Send `messages` `times` times (answer_for the code) through one client with the given window."""
    settings = ModelSettings(base_url=server.base_url, max_attempts=1, **kw)

    async def run() -> None:
        async with ChatClient(settings, api_key=None) as client:
            for _ in range(times):
                await client.complete(messages, max_tokens=8192, answer_for=CODE)

    asyncio.run(run())


def counted(messages: Sequence[Mapping[str, str]]) -> int:
    """The prompt's tokens as the client adds them up from the fake tokenizer's counts."""
    each = sum(quarter(m["content"]) for m in messages)
    return each + MESSAGE_OVERHEAD_TOKENS * len(messages) + PROMPT_OVERHEAD_TOKENS


def test_the_bound_holds_for_the_worst_text_against_smollm2s_real_counts() -> None:
    recorded = json.loads(COUNTS.read_text(encoding="utf-8"))
    assert set(recorded) == set(WORST)
    under = {n: (tokens_upper(WORST[n]()), c) for n, c in recorded.items()}
    assert {n: v for n, v in under.items() if v[0] < v[1]} == {}
    assert recorded["dt-args"] > len(WORST["dt-args"]()) / 3  # bytes / 3, the old bound, was under


def test_the_server_counts_when_the_bound_leaves_too_little_room_each_text_once(
    fake_model: FakeModelServer,
) -> None:
    fake_model.tokenizer = quarter
    window = prompt_tokens_upper(MESSAGES) + 600  # the bound leaves less than max_tokens asks

    ask(fake_model, MESSAGES, times=2, context_tokens=window)

    probe_and_texts = ["x", MESSAGES[0]["content"], MESSAGES[1]["content"], CODE]
    assert fake_model.tokenize_requests == probe_and_texts  # the second request: all cached
    for request in fake_model.requests:
        assert request.body["max_tokens"] == window - counted(MESSAGES)


def test_a_server_without_tokenize_is_probed_once_then_bounded(
    fake_model: FakeModelServer,
) -> None:
    room = answer_floor(tokens_upper(CODE)) + 100  # what the bounds leave: the floor and a little
    window = prompt_tokens_upper(MESSAGES) + room

    ask(fake_model, MESSAGES, times=2, context_tokens=window)

    assert fake_model.tokenize_requests == ["x", "None"]  # llama.cpp's shape, then vLLM's
    for request in fake_model.requests:
        assert request.body["max_tokens"] == room


def test_no_count_is_asked_when_the_bound_leaves_room(fake_model: FakeModelServer) -> None:
    fake_model.tokenizer = quarter
    ask(fake_model, MESSAGES, context_tokens=204_800)
    assert fake_model.tokenize_requests == []
    assert fake_model.requests[0].body["max_tokens"] == 8192


def test_a_turn_whose_room_cannot_hold_the_chunk_rewritten_is_not_sent(
    fake_model: FakeModelServer,
) -> None:
    fake_model.tokenizer = quarter
    floor = answer_floor(quarter(CODE))
    window = counted(MESSAGES) + floor - 1

    with pytest.raises(ContextTooLong, match="not sent") as info:
        ask(fake_model, MESSAGES, context_tokens=window)
    assert info.value.sent is False and fake_model.requests == []

    fake_model.enqueue(FakeReply.completion("```python\nx = 1\n```"))
    ask(fake_model, MESSAGES, context_tokens=window + 1)  # one token more: room for the floor
    assert fake_model.requests[0].body["max_tokens"] == floor


def test_tokenize_lives_at_the_servers_root() -> None:
    assert tokenize_root("http://127.0.0.1:8080/v1/") == "http://127.0.0.1:8080/tokenize"
    assert tokenize_root("http://vllm:8000") == "http://vllm:8000/tokenize"
