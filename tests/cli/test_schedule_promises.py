"""README promises of scheduled runs through the real command and a real Prefect server: `deploy` and `serve`
over several repositories at once, with `--set`, `--push` and `--since` carried into each deployment, and a
worker run of one that pushes its branch with the settings it was given."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest
from support.cli_support import CODEMILL, CliEnv, codemill, make_cli_env
from support.gitrepo import git, make_repo

from pipeline.paths import repo_key

FILES = {
    "pkg/__init__.py": "",
    "pkg/models.py": "class Item(object):\n    pass\n",
    "pkg/util.py": 'def twice(x):\n    return "%s%s" % (x, x)\n',
}
CRON = "0 3 * * 1"
POOL = "cm-promises-pool"


@pytest.fixture
def cli(tmp_path: Path, prefect_api: str) -> CliEnv:
    return make_cli_env(tmp_path / "home", prefect_api)


def deployments(api: str, names: list[str]) -> dict[str, dict[str, object]]:
    found = httpx.post(
        f"{api}/deployments/filter", json={"deployments": {"name": {"any_": names}}}
    ).json()
    return {d["name"]: d for d in found}


def with_remote(root: Path) -> Path:
    repo = make_repo(root, FILES)
    remote = root.parent / f"{root.name}-remote.git"
    git(root.parent, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    return remote


def test_deploy_and_serve_several_repositories_with_their_settings(
    tmp_path: Path, cli: CliEnv, prefect_api: str
) -> None:
    remotes = [with_remote(tmp_path / "app"), with_remote(tmp_path / "lib")]
    repos = [tmp_path / "app", tmp_path / "lib"]
    names = [f"{repo_key(r.resolve())}-modernize" for r in repos]
    prefect = str(Path(CODEMILL).parent / "prefect")
    subprocess.run(
        [prefect, "work-pool", "create", POOL, "--type", "process"],
        env=cli.env,
        check=True,
        capture_output=True,
    )
    settings = ["--set", "commit_per=run", "--set", "concurrency=2", "--push", "origin"]

    done = codemill(
        cli,
        "deploy",
        *map(str, repos),
        "--pool",
        POOL,
        "--recipe",
        "modernize",
        "--since",
        "last-run",
        *settings,
        cwd=tmp_path,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    found = deployments(prefect_api, names)
    assert sorted(found) == sorted(names)
    for deployment in found.values():
        assert deployment["parameters"] == {
            "repo": deployment["parameters"]["repo"],  # type: ignore[index]
            "settings": {
                "commit_per": "run",
                "concurrency": "2",
                "recipe": "modernize",
                "push": "origin",
            },
            "since": "last-run",
        }
    run = httpx.post(
        f"{prefect_api}/deployments/{found[names[1]]['id']}/create_flow_run", json={}
    ).json()
    worker = subprocess.run(
        [prefect, "worker", "start", "--pool", POOL, "--run-once"],
        env=cli.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    state = httpx.get(f"{prefect_api}/flow_runs/{run['id']}").json()["state"]
    assert state["type"] == "COMPLETED", (state, worker.stdout[-2000:], worker.stderr[-2000:])
    pushed = git(remotes[1], "for-each-ref", "--format=%(refname:short)", "refs/heads").split()
    assert len(pushed) == 1 and pushed[0].startswith("codemill/modernize/"), pushed
    assert git(remotes[1], "log", "--format=%s", pushed[0]).splitlines()[0] == (
        "refactor(modernize): 2 files"  # commit_per=run from --set
    )
    assert git(remotes[0], "for-each-ref", "refs/heads") == ""  # only the run asked for ran

    log = cli.home / "serve.log"
    with log.open("wb") as out:
        serving = subprocess.Popen(
            [CODEMILL, "serve", *map(str, repos), "--cron", CRON, "--set", "dry_run=true"],
            cwd=tmp_path,
            env=cli.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while log.read_text().count("codemill: serving ") < 2 and serving.poll() is None:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
        finally:
            serving.terminate()
            serving.wait(timeout=30)
    text = log.read_text()
    assert all(f"serving {name} on '{CRON}'" in text for name in names), text
