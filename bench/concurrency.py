"""Client overhead against the ideal: N requests at concurrency C to a fake server of fixed latency L.

Ideal wall time is N*L/C (2,000 x 0.2 s / 64 = 6.25 s). The fake server runs in its own process by
default (`--server thread` puts it in a thread of this process, sharing the GIL with the client) so
the number measures ChatClient + Limiter, not the server.

    python bench/concurrency.py [--requests 2000] [--concurrency 64] [--latency 0.2] [--stream]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fake_model_server import FakeModelServer  # noqa: E402

from pipeline.model.client import ChatClient  # noqa: E402
from pipeline.model.limiter import Limiter  # noqa: E402
from pipeline.model.request import ModelSettings  # noqa: E402

PROMPT = "Refactor this chunk.\n```python\ndef f(x):\n    return x + 1\n```"


def start_server_process(latency: float) -> tuple[subprocess.Popen[str], str]:
    """The fake server as a subprocess; returns it and its base URL once it listens."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "fake_model_server.py"),
            "--port",
            "0",
            "--latency",
            str(latency),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"http://\S+", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"the fake server did not start: {line!r}")
    return proc, match.group(0)


async def run_batch(
    base_url: str, n: int, concurrency: int, stream: bool
) -> tuple[float, int, int]:
    """Send n requests through one ChatClient + Limiter; wall seconds, peak in flight, failures."""
    limiter = Limiter(concurrency)
    settings = ModelSettings(base_url=base_url, stream=stream, max_attempts=1)
    messages = [{"role": "user", "content": PROMPT}]
    failures = 0
    async with ChatClient(settings, api_key="bench-key", limiter=limiter) as client:

        async def one() -> None:
            nonlocal failures
            completion = await client.complete(messages, max_tokens=1024)
            if "return x + 1" not in completion.answer:
                failures += 1

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        wall = time.perf_counter() - started
    return wall, limiter.peak_in_flight, failures


async def run_raw_httpx(base_url: str, n: int, concurrency: int) -> float:
    """Reference: stock httpx.AsyncClient (one pool) behind a semaphore, same requests; wall seconds."""
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    body = {"model": "minimax/m2-1", "messages": [{"role": "user", "content": PROMPT}]}
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def one() -> None:
            async with gate:
                response = await client.post(f"{base_url}/chat/completions", json=body)
                json.loads(response.text)

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--stream", action="store_true", help="use SSE streaming answers")
    parser.add_argument("--server", choices=("process", "thread"), default="process")
    parser.add_argument("--tracemalloc", action="store_true", help="Python heap peak (slower)")
    parser.add_argument(
        "--baseline", action="store_true", help="also time stock httpx on the same server"
    )
    args = parser.parse_args()

    proc = None
    thread_server = None
    if args.server == "process":
        proc, base_url = start_server_process(args.latency)
    else:
        thread_server = FakeModelServer(latency=args.latency)
        thread_server.start()
        base_url = thread_server.base_url
    try:
        if args.tracemalloc:
            tracemalloc.start()
        wall, peak, failures = asyncio.run(
            run_batch(base_url, args.requests, args.concurrency, args.stream)
        )
        heap_peak = tracemalloc.get_traced_memory()[1] if args.tracemalloc else None
        baseline = (
            asyncio.run(run_raw_httpx(base_url, args.requests, args.concurrency))
            if args.baseline
            else None
        )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        if thread_server is not None:
            thread_server.stop()
    ideal = args.requests * args.latency / args.concurrency
    result = {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "latency_s": args.latency,
        "stream": args.stream,
        "server": args.server,
        "wall_s": round(wall, 3),
        "ideal_s": round(ideal, 3),
        "ratio": round(wall / ideal, 3),
        "stock_httpx_ratio": round(baseline / ideal, 3) if baseline is not None else None,
        "floor_ratio": round(-(-args.requests // args.concurrency) * args.latency / ideal, 3),
        "peak_in_flight": peak,
        "failures": failures,
        "maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "tracemalloc_peak_mb": round(heap_peak / 2**20, 1) if heap_peak is not None else None,
        "machine": f"{platform.machine()}, {os.cpu_count()} cpu, Python {platform.python_version()}",
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
