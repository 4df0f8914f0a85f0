"""`codemill fleet` with the real parts: a real Prefect server, a process work pool with two workers, three
repositories behind local bare remotes (file://), and the loopback fake model.

One test, three commands (each costs tens of seconds): the first fleet run (two repositories in one child
run, --repos-per-run 2) pushes a branch to every remote and stays inside the global concurrency limit at
the model server; the second skips all three as unchanged;
a sharded dry run gives the same patch as the single run of the first. Another: ten repositories packed
into child runs publish their pull requests to the fake forge, never two writes within a second.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.cli_support import CliEnv, codemill, make_cli_env
from support.fake_forge import FakeForge
from support.fake_model_server import FakeModelServer, FakeReply
from support.gitrepo import git, make_repo

KEY = "sk-fleet-test-SECRET-0123456789"
TOKEN = "ghp_fleetFORGEtoken0123456789SECRET"
POOL = "fleet-test-pool"
LIMIT = 2
PERCENT = re.compile(r'"([^"%]*)%s([^"%]*)" % (\w+)')

pytestmark = pytest.mark.slow


def module(n: int, names: int = 3) -> str:
    body = "".join(
        f'def greet_{n}_{i}(name):\n    return "Hi {i} %s!" % name\n\n\n' for i in range(names)
    )
    return f'"""Module {n}."""\n\n\n{body.rstrip()}\n'


def modernizer(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
    """A model that turns `"..%s.." % x` into an f-string in the chunk it is sent."""
    chunk = re.findall(r"```python\n(.*?)```", body["messages"][-1]["content"], re.DOTALL)[-1]
    modern = PERCENT.sub(r'f"\1{\3}\2"', chunk)
    return FakeReply.completion(f"```python\n{modern}```", usd=0.001)


def remotes(root: Path) -> dict[str, Path]:
    """Three repositories, each pushed to its own bare remote; name -> remote path."""
    out = {}
    for name, count in (("app", 4), ("lib", 2), ("tools", 1)):
        files = {f"{name}/m{n}.py": module(n) for n in range(count)} | {"README.md": "x\n"}
        work = make_repo(root / "src" / name, files)
        bare = root / "remotes" / f"{name}.git"
        git(root, "clone", "-q", "--bare", str(work), str(bare))
        out[name] = bare
    return out


@pytest.fixture
def workers(tmp_path: Path, prefect_api: str) -> Iterator[CliEnv]:
    """A process work pool and two `prefect worker start` processes with the model key."""
    cli = make_cli_env(tmp_path / "home", prefect_api)
    cli.env["GITHUB_TOKEN"] = TOKEN  # the workers publish with it (only from the environment)
    cli.env["PREFECT_CLIENT_MAX_RETRIES"] = (
        "10"  # a loaded machine's SQLite server answers 503 at times
    )
    prefect = str(Path(sys.executable).parent / "prefect")
    env = {
        **cli.env,
        "AIMLAPI_API_KEY": KEY,
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
    }
    subprocess.run(
        [prefect, "work-pool", "create", POOL, "--type", "process", "--overwrite"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    procs = []
    for i in range(2):
        log = (tmp_path / f"worker{i}.log").open("wb")
        procs.append(
            subprocess.Popen(
                [
                    prefect,
                    "worker",
                    "start",
                    "--pool",
                    POOL,
                    "--type",
                    "process",
                    "--name",
                    f"w{i}",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
    try:
        yield cli
    finally:
        for proc in procs:
            os.killpg(proc.pid, 15)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()


def fleet(
    cli: CliEnv, fleet_file: Path, server: FakeModelServer, *args: str
) -> subprocess.CompletedProcess[str]:
    return codemill(
        cli, "fleet", str(fleet_file), "--recipe", "modernize", "--pool", POOL,
        "--fleet-concurrency", str(LIMIT), "--max-repos-in-flight", "3", "--limit-name", "fleet-test",
        "--set", "engine=llm", "--set", f"base_url={server.base_url}", *args,
        cwd=fleet_file.parent, timeout=1200,
    )  # fmt: skip


def report(stdout: str) -> dict[str, Any]:
    match = re.search(r"^codemill: fleet report (.+)$", stdout, re.MULTILINE)
    assert match, stdout
    return dict(json.loads((Path(match.group(1)) / "fleet.json").read_text()))


def test_fleet_on_a_process_pool_with_two_workers(tmp_path: Path, workers: CliEnv) -> None:
    bare = remotes(tmp_path)
    fleet_file = tmp_path / "fleet.toml"
    fleet_file.write_text('push = "origin"\n' + "".join(
        f'\n[[repo]]\nurl = "{path.as_uri()}"\n' for path in bare.values()
    ))  # fmt: skip
    with FakeModelServer(handler=modernizer, latency=0.3) as server:
        first = fleet(workers, fleet_file, server, "--repos-per-run", "2")  # app+lib, tools
        assert first.returncode == 0, first.stdout + first.stderr
        peak, sent = server.peak_in_flight, len(server.requests)
        done = report(first.stdout)
        second = fleet(workers, fleet_file, server)
        assert second.returncode == 0, second.stderr
        after_second = len(server.requests)

        rows = {r["name"]: r for r in done["repos"]}
        assert sorted(rows) == ["app", "lib", "tools"]
        for name, files in (("app", 4), ("lib", 2), ("tools", 1)):
            row = rows[name]
            assert row["status"] == "changed", row
            assert (row["files_changed"], row["accepted"], row["rejected"]) == (files, 3 * files, 0)
            assert row["pushed"] and row["branch"].startswith("codemill/modernize/")
            pushed = git(bare[name], "show", f"{row['branch']}:{name}/m0.py")
            assert 'return f"Hi 0 {name}!"' in pushed and "%" not in pushed
        assert done["totals"]["files_changed"] == 7 and done["totals"]["accepted"] == 21
        assert sent == 21 and 1 <= peak <= LIMIT  # every worker's requests under one limit
        assert peak == LIMIT  # and the limit was reached: 2 child runs, 16 slots each, wanted more

        again = report(second.stdout)
        assert [r["status"] for r in again["repos"]] == ["skipped"] * 3
        assert all("unchanged since fleet run" in r["reason"] for r in again["repos"])
        assert after_second == sent  # nothing sent for the skipped repositories

        shard_file = tmp_path / "shard.toml"
        shard_file.write_text(f'[[repo]]\nurl = "{bare["app"].as_uri()}"\n')
        sharded = fleet(workers, shard_file, server, "--shard-by", "paths", "--shards", "2",
                        "--dry-run")  # fmt: skip
    assert sharded.returncode == 0, sharded.stdout + sharded.stderr
    [app] = report(sharded.stdout)["repos"]
    assert app["status"] == "changed" and app["shards"] == 2 and app["branch"] is None
    single = (Path(rows["app"]["report"]) / "changes.patch").read_text()
    combined = (Path(app["report"]) / "changes.patch").read_text()
    assert combined == single and combined.count("+++ b/") == 4
    for text in (
        first.stdout,
        first.stderr,
        sharded.stdout,
        (tmp_path / "worker0.log").read_text(),
    ):
        assert KEY not in text


def test_a_fleet_publishes_ten_pull_requests_never_two_writes_within_a_second(
    tmp_path: Path, workers: CliEnv
) -> None:
    fleet_file = tmp_path / "fleet.toml"
    with FakeForge(tmp_path / "forge", TOKEN) as forge:
        remotes = []
        for n in range(10):
            work = make_repo(tmp_path / "src" / f"r{n}", {f"r{n}/m.py": module(n, names=1)})
            remotes.append(forge.add_repo(f"octo/r{n}", seed=work))
        fleet_file.write_text("".join(f'\n[[repo]]\nurl = "{bare.as_uri()}"\n' for bare in remotes))
        with FakeModelServer(handler=modernizer) as server:
            done = fleet(
                workers, fleet_file, server, "--publish", "--repos-per-run", "auto",
                "--set", f"forge_url={forge.github_url}", "--set", "forge_write_interval=1",
            )  # fmt: skip
        writes, opened = forge.writes(), [forge.open_pulls(f"octo/r{n}") for n in range(10)]
        bodies = "".join(str(r.body) for r in forge.requests)  # the token only in its header
    assert done.returncode == 0, done.stdout + done.stderr
    rows = report(done.stdout)["repos"]
    assert [r["status"] for r in rows] == ["changed"] * 10
    assert all(len(pulls) == 1 for pulls in opened)  # one pull request each
    times = sorted(w.at for w in writes)
    assert len(times) == 10 and min(b - a for a, b in itertools.pairwise(times)) >= 0.95
    logs = "".join(p.read_text() for p in tmp_path.glob("worker*.log"))
    for text in (done.stdout, done.stderr, logs, bodies):
        assert TOKEN not in text
