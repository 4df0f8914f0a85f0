"""A fleet on two workers against the same repositories one after another in one process.

Sets up N small repositories behind local bare remotes, a real `prefect server start`, a process work pool
with W `prefect worker start` processes and the loopback fake model (latency L per answer), then times:

- sequential: one process, every repository in turn through the member's own steps (cache checkout, load
  the settings, `refactor_repo`), the way a loop over `codemill run` would go without its start-up;
- fleet: `codemill fleet` with --max-repos-in-flight W and --repos-per-run R (default auto: the small
  repositories packed by size into W child flow runs; 1: each repository its own child flow run).

Both are real runs (branches made, nothing pushed) with the response cache off, against fresh caches.
The per-repository overhead of a child flow run is W * fleet / N - sequential / N: what a repository
costs beyond its own run when W workers share the work.

    python bench/fleet.py [--repos 20] [--workers 2] [--latency 0.05] [--repos-per-run auto]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.fake_model_server import FakeModelServer, FakeReply  # noqa: E402
from support.gitrepo import git, make_repo  # noqa: E402
from support.prefect_server import prefect_server  # noqa: E402

PERCENT = re.compile(r'"([^"%]*)%s([^"%]*)" % (\w+)')
POOL = "bench-fleet"
BIN = Path(sys.executable).parent
FLEET_WALL: list[float] = []  # the fleet command's start and end, wall clock


def modernizer(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
    """Turn `"..%s.." % x` into an f-string in the chunk sent."""
    chunk = re.findall(r"```python\n(.*?)```", body["messages"][-1]["content"], re.DOTALL)[-1]
    modern = PERCENT.sub(r'f"\1{\3}\2"', chunk)
    return FakeReply.completion(f"```python\n{modern}```")


def make_remotes(root: Path, count: int) -> Path:
    """`count` repositories of two modules each, behind bare remotes; the fleet file naming them."""
    lines = []
    for n in range(count):
        files = {
            f"pkg{n}/m{m}.py": "".join(
                f'def greet_{m}_{i}(name):\n    return "Hi {i} %s!" % name\n\n\n' for i in range(3)
            )
            for m in range(2)
        }
        work = make_repo(root / "src" / f"r{n:02d}", files)
        bare = root / "remotes" / f"r{n:02d}.git"
        git(root, "clone", "-q", "--bare", str(work), str(bare))
        lines.append(f'[[repo]]\nurl = "{bare.as_uri()}"\n')
    fleet = root / "fleet.toml"
    fleet.write_text("\n".join(lines))
    return fleet


def sequential(fleet: Path, env: dict[str, str], base_url: str) -> tuple[float, int]:
    """Every repository in turn in this process; (seconds, repositories changed)."""
    os.environ.update(env)
    from flows.refactor import refactor_repo
    from pipeline.fleet.fleetfile import load_fleet
    from pipeline.fleet.member import prepare
    from pipeline.fleet.plan import FleetOptions, plan_fleet

    options = FleetOptions(
        "modernize", "bench", {"engine": "llm", "base_url": base_url, "no_cache": True}
    )
    cache_dir = Path(env["XDG_CACHE_HOME"]) / "seq"
    plan = plan_fleet(load_fleet(fleet), options, cache_dir, {}, None)
    started = time.perf_counter()
    changed = 0
    for work in plan:
        ready = prepare(work.members[0], cache_dir, os.environ)
        run = asyncio.run(refactor_repo(ready.config, ready.paths, show_progress=False))
        changed += bool(run.changed_files)
    return time.perf_counter() - started, changed


def fleet_run(
    fleet: Path, env: dict[str, str], base_url: str, workers: int, per_run: str
) -> tuple[float, dict[str, Any]]:
    """`codemill fleet` over the pool; (seconds, fleet.json)."""
    args = [str(BIN / "codemill"), "fleet", str(fleet), "--recipe", "modernize", "--pool", POOL,
            "--max-repos-in-flight", str(workers), "--repos-per-run", per_run, "--set", "engine=llm", "--set",
            f"base_url={base_url}", "--set", "no_cache=true", "--fresh", "--force"]  # fmt: skip
    started, wall = time.perf_counter(), time.time()
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - started
    FLEET_WALL[:] = [wall, time.time()]
    if done.returncode != 0:
        raise RuntimeError(f"codemill fleet exited {done.returncode}: {done.stderr[-2000:]}")
    where = re.search(r"^codemill: fleet report (.+)$", done.stdout, re.MULTILINE)
    assert where, done.stdout
    return seconds, json.loads((Path(where.group(1)) / "fleet.json").read_text())


def timeline(started: float, ended: float) -> dict[str, Any]:
    """Where the fleet's wall time went, from the API: when its child flow runs started and ended,
    in seconds from the command's start (wall clock), and how long each ran."""
    from prefect.client.orchestration import get_client

    async def read() -> list[Any]:
        async with get_client() as client:
            return list(await client.read_flow_runs(limit=200))

    members = [r for r in asyncio.run(read()) if "codemill-fleet" in r.tags and r.start_time]
    starts = sorted(r.start_time.timestamp() - started for r in members)
    ends = sorted(r.end_time.timestamp() - started for r in members if r.end_time)
    return {
        "child_runs": len(members),
        "first_child_started_s": round(starts[0], 1) if starts else None,
        "child_run_seconds": sorted(round(r.total_run_time.total_seconds(), 1) for r in members),
        "command_end_after_last_child_s": round(ended - started - ends[-1], 1) if ends else None,
    }


def start_workers(env: dict[str, str], count: int, logs: Path) -> list[subprocess.Popen[bytes]]:
    subprocess.run([str(BIN / "prefect"), "work-pool", "create", POOL, "--type", "process",
                    "--overwrite"], env=env, check=True, capture_output=True)  # fmt: skip
    procs = []
    for i in range(count):
        log = (logs / f"worker{i}.log").open("wb")
        procs.append(subprocess.Popen(
            [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--type", "process"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        ))  # fmt: skip
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each worker's process group; SIGKILL the ones still there after 30 s."""
    for proc in procs:
        os.killpg(proc.pid, 15)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--repos-per-run", default="auto")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeModelServer(handler=modernizer, latency=args.latency) as model,
    ):
        root = Path(tmp)
        fleet = make_remotes(root, args.repos)
        with prefect_server(root / "prefect") as api:
            env = {**os.environ, "PREFECT_API_URL": api, "PREFECT_HOME": str(root / "prefect"),
                   "XDG_CACHE_HOME": str(root / "cache"), "CODEMILL_STATE_DIR": str(root / "state"),
                   "AIMLAPI_API_KEY": "bench", "PREFECT_WORKER_QUERY_SECONDS": "1",
                   "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL"}  # fmt: skip
            procs = start_workers(env, args.workers, root)
            try:
                fleet_s, report = fleet_run(
                    fleet, env, model.base_url, args.workers, args.repos_per_run
                )
                print(f"fleet side: {fleet_s:.1f} s", file=sys.stderr, flush=True)
                seq_s, seq_changed = sequential(fleet, env, model.base_url)
                print(f"sequential side: {seq_s:.1f} s", file=sys.stderr, flush=True)
                spent = timeline(*FLEET_WALL)
            finally:
                stop_workers(procs)
    inside = sorted(r["seconds"] for r in report["repos"])
    n = args.repos
    print(json.dumps({
        "machine": f"{platform.node()} nproc={os.cpu_count()} load={os.getloadavg()[0]:.1f}",
        "repos": n, "workers": args.workers, "latency_s": args.latency,
        "repos_per_run": args.repos_per_run,
        "sequential_s": round(seq_s, 1), "fleet_s": round(fleet_s, 1),
        "ratio_fleet_over_sequential": round(fleet_s / seq_s, 2),
        "sequential_per_repo_s": round(seq_s / n, 2),
        "child_run_overhead_per_repo_s": round(args.workers * fleet_s / n - seq_s / n, 2),
        "median_seconds_inside_child": inside[len(inside) // 2],
        "changed": [seq_changed, report["totals"]["by_status"].get("changed", 0)],
        **spent,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
