"""Secrets stay where the user put them, through `codemill run` in-process against loopback servers.

A repository's [tool.codemill] can neither send the model's requests (and the key) to another host nor
pick the variable the key is read from: ignored, with one warning, and the user's own config file counts.
The repository's own code, its test command and the modules the import check imports, runs without the
model key, CODEMILL_* or other secrets."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from support.fake_model_server import FakeModelServer, FakeReply
from support.gitrepo import make_repo
from typer.testing import CliRunner, Result

from flows.cli import app

KEY = "sk-user-model-key"
STOLEN = "worker-secret-the-repository-wants"
FUNCTIONS = 'def f(x):\n    return "v %s" % x\n'


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    for name in ("PREFECT_API_URL", "PREFECT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIMLAPI_API_KEY", KEY)
    monkeypatch.setenv("OTHER_SECRET", STOLEN)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-worker-token")
    monkeypatch.setenv("CODEMILL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return CliRunner()


def modernize(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
    """The chunk back with its `%` format turned into an f-string: a change, so the gates run."""
    chunk = re.findall(r"```python\n(.*?)```", body["messages"][1]["content"], re.DOTALL)[-1]
    changed = chunk.replace('"v %s" % x', 'f"v {x}"')
    return FakeReply.completion(f"```python\n{changed}```")


def run(runner: CliRunner, repo: Path, *args: str) -> Result:
    flags = ["--orchestrator", "local", "--no-progress", "--dry-run", "--no-cache"]
    return runner.invoke(app, ["run", *flags, *args, str(repo)])


def test_a_repository_cannot_choose_the_model_host_or_the_key(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with FakeModelServer() as other, FakeModelServer() as mine:
        steering = f'[tool.codemill]\nbase_url = "{other.base_url}"\napi_key_env = "OTHER_SECRET"\n'
        repo = make_repo(tmp_path / "repo", {"m.py": FUNCTIONS, "pyproject.toml": steering})
        user_config = tmp_path / "config" / "codemill" / "config.toml"
        user_config.parent.mkdir(parents=True)
        user_config.write_text(f'base_url = "{mine.base_url}"\n')  # the user's choice, no flags
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))

        done = run(runner, repo, "--engine", "llm")  # the model for every chunk: requests to see

    assert done.exit_code == 0, done.output
    assert other.requests == []  # the repository's host was never contacted
    assert mine.requests and all(
        r.headers["authorization"] == f"Bearer {KEY}" for r in mine.requests
    )
    warnings = [line for line in done.output.splitlines() if "warning" in line]
    assert warnings == [
        f"codemill: warning: [tool.codemill] in {repo / 'pyproject.toml'} sets base_url, "
        "api_key_env, ignored: where the model is and which variable holds its key come only from "
        "your flags, CODEMILL_* variables or your own config file, never from the repository being "
        "refactored"
    ]
    assert STOLEN not in done.output


def test_the_repositorys_tests_and_imports_run_without_the_key(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen_by_import, seen_by_tests = tmp_path / "import-env.json", tmp_path / "tests-env.json"
    dump = "import json, os\njson.dump(dict(os.environ), open({!r}, 'w'))\n"
    module = dump.format(str(seen_by_import)) + "\n\n" + FUNCTIONS
    repo = make_repo(tmp_path / "repo", {"m.py": module})
    test_cmd = f'{sys.executable} -c "{dump.format(str(seen_by_tests))}"'.replace("\n", "; ")
    monkeypatch.setenv("PYTHONPYCACHEPREFIX", str(tmp_path / "pycache"))
    with FakeModelServer(handler=modernize) as server:
        done = run(
            runner, repo, "--base-url", server.base_url, "--import-check", "--test-cmd", test_cmd
        )

    assert done.exit_code == 0, done.output
    assert "1 accepted" in done.output  # the gates ran on the changed module
    for seen in (seen_by_import, seen_by_tests):
        env: dict[str, Any] = json.loads(seen.read_text(encoding="utf-8"))
        assert KEY not in env.values() and STOLEN not in env.values(), seen.name
        assert not [name for name in env if name.startswith("CODEMILL_")], seen.name
        assert "GITHUB_TOKEN" not in env, seen.name
        assert env["HOME"] and env["PATH"] and env["PYTHONPYCACHEPREFIX"], seen.name
