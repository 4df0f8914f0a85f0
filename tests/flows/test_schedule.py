"""Scheduled runs through the real CLI and a real Prefect server: serve and deploy, --since last-run,
and a repeated change that makes no new branch."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.cli_support import CODEMILL, CliEnv, codemill, make_cli_env
from support.gitrepo import fingerprint, git, make_repo

from pipeline.paths import repo_key

FILES = {
    "pkg/__init__.py": "",
    "pkg/models.py": "class Item(object):\n    def label(self):\n        return 'item %s' % self\n",
    "pkg/util.py": 'def twice(x):\n    return "%s%s" % (x, x)\n',
    "pkg/clean.py": "VALUE = 1\n",
}
CRON = "0 3 * * 1"
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@pytest.fixture
def cli(tmp_path: Path, prefect_api: str) -> CliEnv:
    return make_cli_env(tmp_path / "home", prefect_api)


def branches(repo: Path) -> list[str]:
    return git(repo, "branch", "--list", "--format=%(refname:short)").split()


def find_deployment(api: str, name: str, timeout: float = 90) -> dict[str, Any]:
    """Poll the server until the deployment `name` exists."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = httpx.post(
            f"{api}/deployments/filter", json={"deployments": {"name": {"any_": [name]}}}
        ).json()
        if found:
            return dict(found[0])
        time.sleep(0.5)
    raise AssertionError(f"deployment {name} never appeared")


def run_once(api: str, deployment_id: str, timeout: float = 180) -> dict[str, Any]:
    """Create a flow run of the deployment and wait for its final state."""
    for _ in range(60):  # a busy SQLite server answers 503 for a moment
        created = httpx.post(f"{api}/deployments/{deployment_id}/create_flow_run", json={})
        if created.status_code != 503:
            break
        time.sleep(0.5)
    assert created.status_code == 201, created.text
    run = created.json()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = httpx.get(f"{api}/flow_runs/{run['id']}").json()["state"]
        if state["type"] in FINAL:
            return dict(state)
        time.sleep(0.5)
    raise AssertionError(f"flow run {run['id']} did not finish in {timeout} s")


@contextmanager
def background(cli: CliEnv, *args: str, cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`codemill ARGS` running in the background; interrupted (then killed) at the end."""
    log = (cli.home / "background.log").open("wb")
    proc = subprocess.Popen(
        [CODEMILL, *args], cwd=cwd, env=cli.env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.slow  # the real CLI, twice
@pytest.mark.parametrize("command", [["serve", "--cron", CRON], ["deploy", "--pool", "p"]])
def test_without_a_prefect_server_says_how_to_start_one(tmp_path: Path, command: list[str]) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    cli = make_cli_env(tmp_path / "home", None)
    done = codemill(cli, *command, str(repo), cwd=repo, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1
    assert "prefect server start" in message
    assert "export PREFECT_API_URL=http://127.0.0.1:4200/api" in message


def test_serve_runs_a_scheduled_deployment_and_repeats_make_no_branch(
    tmp_path: Path, cli: CliEnv, prefect_api: str
) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    before = fingerprint(repo)
    name = f"{repo_key(repo)}-modernize"
    with background(cli, "serve", str(repo), "--cron", CRON, "--recipe", "modernize", cwd=tmp_path):
        deployment = find_deployment(prefect_api, name)
        crons = [s["schedule"].get("cron") for s in deployment["schedules"]]
        assert crons == [CRON]
        assert deployment["parameters"]["settings"] == {"recipe": "modernize"}

        first = run_once(prefect_api, deployment["id"])
        assert first["type"] == "COMPLETED", first
        made = branches(repo)
        assert len(made) == 2 and made[0].startswith("codemill/modernize/"), made
        assert 'f"{x}{x}"' in git(repo, "show", f"{made[0]}:pkg/util.py")

        second = run_once(prefect_api, deployment["id"])
        assert second["type"] == "COMPLETED", second
        assert branches(repo) == made  # the same change again: no new branch
    assert fingerprint(repo) == before
    state_files = list((cli.state_dir / "repos").rglob("modernize.json"))
    assert len(state_files) == 1
    record = json.loads(state_files[0].read_text())
    assert record["branch"] == made[0]
    assert record["base_commit"] == git(repo, "rev-parse", "HEAD").strip()
    ledgers = sorted(cli.state_dir.glob("runs/*/*/ledger.jsonl"))
    assert len(ledgers) == 2
    ends = [json.loads(p.read_text().splitlines()[-1]) for p in ledgers]
    assert ends[0]["stop_reason"] is None
    assert "same change as run" in ends[1]["stop_reason"]


def test_deploy_registers_on_a_process_pool_and_a_worker_runs_it(
    tmp_path: Path, cli: CliEnv, prefect_api: str
) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    prefect = str(Path(CODEMILL).parent / "prefect")
    env = cli.env
    subprocess.run(
        [prefect, "work-pool", "create", "cm-pool", "--type", "process"],
        env=env,
        check=True,
        capture_output=True,
    )
    done = codemill(
        cli,
        "deploy",
        str(repo),
        "--pool",
        "cm-pool",
        "--recipe",
        "modernize",
        "--dry-run",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    deployment = find_deployment(prefect_api, f"{repo_key(repo)}-modernize", timeout=5)
    assert deployment["entrypoint"] == "flows.schedule.scheduled_refactor"
    assert deployment["work_pool_name"] == "cm-pool"
    assert deployment["parameters"]["settings"] == {"recipe": "modernize", "dry_run": True}

    run = httpx.post(
        f"{prefect_api}/deployments/{deployment['id']}/create_flow_run", json={}
    ).json()
    worker = subprocess.run(
        [prefect, "worker", "start", "--pool", "cm-pool", "--run-once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    state = httpx.get(f"{prefect_api}/flow_runs/{run['id']}").json()["state"]
    assert state["type"] == "COMPLETED", (state, worker.stdout[-2000:], worker.stderr[-2000:])
    patches = list(cli.state_dir.glob("runs/*/*/changes.patch"))
    assert len(patches) == 1 and "b/pkg/util.py" in patches[0].read_text()
    assert branches(repo) == ["main"]

    missing = codemill(cli, "deploy", str(repo), "--pool", "no-such-pool", cwd=tmp_path)
    assert missing.returncode == 2
    assert "prefect work-pool create no-such-pool --type process" in missing.stderr


def test_since_last_run_and_the_same_change_through_run(tmp_path: Path, cli: CliEnv) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    first = codemill(cli, "run", ".", "--branch", "cm/1", cwd=repo)
    assert first.returncode == 0, first.stderr
    run_id = re.search(r"runs/[^/]+/([^/\s]+)", first.stdout)
    assert run_id

    again = codemill(cli, "run", ".", "--branch", "cm/2", cwd=repo)
    assert again.returncode == 0, again.stderr
    assert f"same change as run {run_id.group(1)} (branch cm/1); no new branch made" in again.stdout
    assert "cm/2" not in branches(repo)

    (repo / "pkg" / "clean.py").write_text("def hi(name):\n    return 'hi %s' % name\n")
    git(repo, "commit", "-qam", "a new old-style format")
    since = codemill(cli, "run", ".", "--branch", "cm/3", "--since", "last-run", cwd=repo)
    assert since.returncode == 0, since.stderr
    assert "branch cm/3: 1 commit" in since.stdout, since.stdout
    assert "--since: 1 file changed since run" in since.stdout
    assert git(repo, "diff", "--name-only", "main", "cm/3").split() == ["pkg/clean.py"]
