"""The model path through the CLI against the loopback fake: wall time against the ideal plus start-up.

A generated repository of FILES x FUNCTIONS one-chunk functions, `codemill run --dry-run --engine llm
--no-cache --orchestrator local` against the fake model server (its own process, fixed latency L, echo
answers: every chunk is judged "unchanged"). Ideal model time is ceil(chunks / C) x L. Start-up (and the
tail: gates, report) is measured in the same session as the wall time of the same command over a one-chunk
repository minus one latency. Target: wall <= 1.10 x (ideal + start-up).

    python bench/model_path.py [--files 20] [--functions 26] [--concurrency 16] [--latency 0.5] [--reps 2]

`--loop-lag` instead runs the same kind of repository in this process (`execute_run`, the local steps)
against a fake whose answers annotate every function (type-hints: each answer is validated and accepted),
with a ticker coroutine on the run's event loop: how late its 10 ms sleeps wake is how long the loop was
kept from the requests.

    python bench/model_path.py --loop-lag [--files 8] [--functions 26] [--concurrency 16] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODEMILL = str(Path(sys.executable).parent / "codemill")
FAKE = ROOT / "tests" / "support" / "fake_model_server.py"


def start_fake(latency: float) -> tuple[subprocess.Popen[str], str]:
    """The fake model server in its own process; it and its base URL."""
    proc = subprocess.Popen(
        [sys.executable, str(FAKE), "--port", "0", "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    match = re.search(r"http://\S+", proc.stdout.readline())
    if not match:
        proc.kill()
        raise RuntimeError("the fake model server did not start")
    return proc, match.group(0)


def make_repo(root: Path, files: int, functions: int) -> Path:
    """A committed repository of `files` modules with `functions` small functions each."""
    root.mkdir(parents=True)
    for i in range(files):
        # '%' formatting: the default recipe (modernize) selects, and so sends, every function
        body = "".join(
            f"def f{i}_{j}(x):\n    return 'v%s' % (x + {j})\n\n\n" for j in range(functions)
        )
        (root / f"m{i}.py").write_text(body, encoding="utf-8")
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "bench"]):
        subprocess.run(["git", *ident, *args], cwd=root, check=True)
    return root


def timed_run(repo: Path, base_url: str, concurrency: int, home: Path) -> float:
    """Wall seconds of one dry run through the CLI (it must succeed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "CODEMILL_"))}
    env.update(AIMLAPI_API_KEY="bench-key", CODEMILL_STATE_DIR=str(home), XDG_CACHE_HOME=str(home))
    args = ["run", ".", "--dry-run", "--engine", "llm", "--no-cache", "--no-progress"]
    args += ["--orchestrator", "local", "--base-url", base_url, "--concurrency", str(concurrency)]
    started = time.perf_counter()
    done = subprocess.run([CODEMILL, *args], cwd=repo, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return wall


REWRITING_FAKE = """
import re, sys, threading
sys.path.insert(0, sys.argv[1])
from fake_model_server import FakeModelServer, FakeReply

def rewrite(body, headers):
    user = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    code = re.findall(r"```python\\n(.*?)```", user, re.DOTALL)[-1]
    return FakeReply.completion("```python\\n" + re.sub(r"\\(x\\):", "(x: int) -> int:", code) + "```")

server = FakeModelServer(rewrite, latency=float(sys.argv[2]))
server.start()
print(server.base_url, flush=True)
threading.Event().wait()
"""


def loop_lag(args: argparse.Namespace) -> None:
    """The run's event-loop lag (a 10 ms ticker's late wake-ups) over a model run in this process."""
    import asyncio
    import statistics

    from flows.console import TerminalView
    from pipeline.config import load_config
    from pipeline.run.execute import execute_run
    from pipeline.run.runner import LocalRunner

    server = subprocess.Popen(
        [sys.executable, "-c", REWRITING_FAKE, str(FAKE.parent), str(args.latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    lags: list[float] = []

    async def ticker() -> None:
        while True:
            due = time.perf_counter() + 0.01
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - due)

    async def run(repo: Path, env: dict[str, str]) -> float:
        config = load_config(repo, {"engine": "llm", "dry_run": True, "base_url": url,
                                    "concurrency": args.concurrency, "no_cache": True,
                                    "import_check": False, "recipe": "type-hints"}, env)  # fmt: skip
        tick = asyncio.create_task(ticker())
        started = time.perf_counter()
        result = await execute_run(
            config, ["."], runner=LocalRunner(), view=TerminalView(False), env=env
        )
        wall = time.perf_counter() - started
        tick.cancel()
        print(f"chunks {result.totals.by_status}")
        return wall

    try:
        with tempfile.TemporaryDirectory(prefix="codemill-lag-") as tmp:
            repo = make_repo(Path(tmp) / "repo", args.files, args.functions)
            env = {k: v for k, v in os.environ.items() if not k.startswith("CODEMILL_")}
            env.update(AIMLAPI_API_KEY="bench-key", CODEMILL_STATE_DIR=str(Path(tmp) / "home"))
            wall = asyncio.run(run(repo, env))
    finally:
        server.terminate()
        server.wait()
    chunks = args.files * args.functions
    ideal = math.ceil(chunks / args.concurrency) * args.latency
    lags.sort()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(f"{chunks} chunks, concurrency {args.concurrency}, latency {args.latency} s")
    print(f"wall {wall:.2f} s, ideal model time {ideal:.2f} s, ratio {wall / ideal:.2f}")
    print(
        f"loop lag over {len(lags)} ticks: median {statistics.median(lags) * 1000:.1f} ms, "
        f"p99 {lags[int(len(lags) * 0.99)] * 1000:.1f} ms, max {lags[-1] * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--functions", type=int, default=26)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--loop-lag", action="store_true", help="the event loop's lag, in process")
    args = parser.parse_args()
    if args.loop_lag:
        loop_lag(args)
        return
    chunks = args.files * args.functions
    ideal = math.ceil(chunks / args.concurrency) * args.latency
    server, url = start_fake(args.latency)
    try:
        with tempfile.TemporaryDirectory(prefix="codemill-bench-") as tmp:
            big = make_repo(Path(tmp) / "big", args.files, args.functions)
            small = make_repo(Path(tmp) / "small", 1, 1)
            home = Path(tmp) / "home"
            startups, walls = [], []
            for _ in range(args.reps):
                startups.append(timed_run(small, url, args.concurrency, home) - args.latency)
                walls.append(timed_run(big, url, args.concurrency, home))
    finally:
        server.terminate()
        server.wait()
    startup, wall = min(startups), min(walls)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(f"chunks {chunks}, concurrency {args.concurrency}, latency {args.latency} s")
    print(f"ideal model time {ideal:.2f} s; start-up + tail {startup:.2f} s (best of {args.reps})")
    print(
        f"wall {wall:.2f} s (best of {args.reps}); ratio to ideal + start-up: "
        f"{wall / (ideal + startup):.3f} (target <= 1.10)"
    )


if __name__ == "__main__":
    main()
