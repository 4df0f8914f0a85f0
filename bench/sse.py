"""Reading a long SSE answer: codemill's line reader against httpx-sse, on the same bytes.

Usage: python bench/sse.py [--events N] [--reps R] [--chunk BYTES]
One streamed answer of N delta events (think tags split across events, usage and cost in the last
event, [DONE]) is served by httpx.MockTransport in CHUNK-byte pieces, so both readers get the same
network-shaped input through a real httpx.AsyncClient response. Timed: from the request to the
finished Completion, CPU time, best of R per reader, alternating. httpx-sse must be installed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx

try:
    from httpx_sse import EventSource
except ImportError:  # not a codemill dependency: only this comparison uses it
    raise SystemExit("bench/sse.py compares against httpx-sse: pip install httpx-sse") from None

from pipeline.model.completion import Completion
from pipeline.model.sse import StreamState

Reader = Callable[[httpx.Response], Awaitable[Completion]]


def stream_bytes(events: int) -> bytes:
    """An answer of `events` deltas: a think block split over the first events, code after it."""
    out = [
        {"choices": [{"delta": {"content": "<thi"}}]},
        {"choices": [{"delta": {"content": "nk>"}}]},
    ]
    out += [{"choices": [{"delta": {"content": f"step {i} "}}]} for i in range(events // 10)]
    out.append({"choices": [{"delta": {"content": "</think>```python\n"}}]})
    out += [{"choices": [{"delta": {"content": f"x{i} = {i}\n"}}]} for i in range(events)]
    out.append({"choices": [{"delta": {"content": "```"}, "finish_reason": "stop"}]})
    out.append(
        {
            "choices": [],
            "usage": {
                "prompt_tokens": 900,
                "completion_tokens": events,
                "total_tokens": 900 + events,
            },
            "meta": {"usage": {"credits_used": 1234, "usd_spent": 0.0123}},
        }
    )
    lines = [f"data: {json.dumps(e)}\n\n" for e in out] + ["data: [DONE]\n\n"]
    return "".join(lines).encode()


def transport(body: bytes, chunk: int) -> httpx.MockTransport:
    async def pieces() -> AsyncIterator[bytes]:
        for i in range(0, len(body), chunk):
            yield body[i : i + chunk]

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "text/event-stream"}
        return httpx.Response(200, headers=headers, content=pieces())

    return httpx.MockTransport(handler)


async def by_lines(response: httpx.Response) -> Completion:
    """codemill's reader: httpx's line iterator, one `data:` line at a time."""
    state = StreamState("KEY")
    async for line in response.aiter_lines():
        state.feed_line(line)
    return state.completion(response.headers, 0.0)


async def by_httpx_sse(response: httpx.Response) -> Completion:
    """httpx-sse's event source: spec-decoded events, their data fed to the same state."""
    state = StreamState("KEY")
    async for event in EventSource(response).aiter_sse():
        if event.data == "[DONE]":
            state.done = True
        else:
            state.feed(event.data)
    return state.completion(response.headers, 0.0)


async def timed(reader: Reader, client: httpx.AsyncClient) -> tuple[float, Completion]:
    start = time.process_time()
    async with client.stream("POST", "http://model.test/v1/chat/completions") as response:
        completion = await reader(response)
    return time.process_time() - start, completion


async def main_async(events: int, reps: int, chunk: int) -> None:
    body = stream_bytes(events)
    readers: dict[str, Reader] = {"line reader": by_lines, "httpx-sse": by_httpx_sse}
    times: dict[str, list[float]] = {name: [] for name in readers}
    answers: dict[str, Completion] = {}
    async with httpx.AsyncClient(transport=transport(body, chunk)) as client:
        for _ in range(reps):
            for name, reader in readers.items():
                seconds, answers[name] = await timed(reader, client)
                times[name].append(seconds)
    base = min(times["line reader"])
    print(f"{events} events, {len(body) / 1e6:.2f} MB in {chunk}-byte pieces, best CPU of {reps}")
    for name in readers:
        best = min(times[name])
        print(f"{name:12} {best * 1000:8.1f} ms  ({best / base:.2f}x the line reader)")
    one, other = (dataclasses.replace(answers[n], latency_s=0.0) for n in readers)
    print(f"same Completion (but for its latency): {one == other}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=1400)
    args = parser.parse_args()
    asyncio.run(main_async(args.events, args.reps, args.chunk))


if __name__ == "__main__":
    main()
