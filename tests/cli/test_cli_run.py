"""`codemill run` end to end through the real CLI on real git repositories: locally, and once on a real
Prefect server for the artifacts it publishes there."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.cli_support import LLM, CliEnv, codemill, make_cli_env
from support.fake_model_server import FakeModelServer, FakeReply
from support.gitrepo import copy_example, fingerprint, git, make_repo

KEY = "sk-test-0123456789-SECRET-abcdef"

GREETINGS = '''"""Greetings."""

import os


def greet(name):
    return "Hello, %s!" % name


def shout(name):
    return "HEY %s" % name.upper()


HOME = os.environ.get("HOME", "")
'''


@pytest.fixture
def cli(tmp_path: Path) -> CliEnv:
    """Local runs; the test of what a run publishes to Prefect makes its own."""
    return make_cli_env(tmp_path / "home", None)


def last_python_block(text: str) -> str:
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)[-1]


def run_with_model(
    cli: CliEnv, repo: Path, server: FakeModelServer, *args: str, recipe: str = "modernize"
) -> subprocess.CompletedProcess[str]:
    """`codemill run .` in `repo` against the loopback model, with a key set."""
    return codemill(
        cli,
        "run",
        ".",
        "--recipe",
        recipe,
        "--base-url",
        server.base_url,
        *args,
        cwd=repo,
        extra_env={"AIMLAPI_API_KEY": KEY, **LLM},
    )


def run_dir(cli: CliEnv, stdout: str) -> Path:
    match = re.search(r"^codemill: report (.+)$", stdout, re.MULTILINE)
    assert match, stdout
    return Path(match.group(1))


def ledger_rows(report: Path) -> list[dict[str, Any]]:
    lines = (report / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["record"] == "row"]


def artifacts(api: str, run_id: str) -> dict[str, dict[str, Any]]:
    """The Prefect artifacts of the flow run whose codemill run id is `run_id`, by key."""
    runs = httpx.post(f"{api}/flow_runs/filter", json={}).json()
    [flow_run] = [r for r in runs if r["parameters"].get("run_id") == run_id] or [None]
    assert flow_run is not None, f"no flow run for {run_id}"
    found = httpx.post(
        f"{api}/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [flow_run["id"]]}}}
    ).json()
    return {a["key"]: a for a in found}


def test_offline_run_commits_a_branch_and_leaves_the_checkout_untouched(
    tmp_path: Path, prefect_api: str
) -> None:
    cli = make_cli_env(tmp_path / "home", prefect_api)
    repo = copy_example("legacy_app", tmp_path / "repo")
    models = repo / "legacy_app" / "models.py"
    models.write_text(models.read_text() + "\n# a local edit, not committed\n")
    (repo / "scratch.py").write_text("print('%s' % 1)\n")
    before = fingerprint(repo)

    done = codemill(cli, "run", ".", "--recipe", "modernize", "--branch", "cm/test", cwd=repo)

    assert done.returncode == 0, done.stderr
    assert fingerprint(repo) == before
    assert "engine codemod" in done.stdout
    assert "uncommitted changes" in done.stdout
    subjects = git(repo, "log", "--format=%s", "main..cm/test").split("\n")
    assert "refactor(modernize): legacy_app/models.py" in subjects
    body = git(repo, "log", "-1", "--format=%B", "cm/test")
    assert "Codemill-Recipe: modernize" in body and "Codemill-Run: " in body
    committed = git(repo, "show", "cm/test:legacy_app/models.py")
    assert "a local edit" not in committed
    assert "(object)" not in committed
    changed = git(repo, "diff", "--name-only", "main", "cm/test").split()
    assert "scratch.py" not in changed and changed
    worktree = tmp_path / "check"
    git(repo, "worktree", "add", "-q", str(worktree), "cm/test")
    tests = subprocess.run(
        ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=worktree,
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout[-2000:]

    shown = artifacts(prefect_api, run_dir(cli, done.stdout).name)
    assert shown["codemill-progress"]["data"] == 100.0
    summary = shown["codemill-summary"]["data"]  # the changed chunks and their diffs, first
    assert "## Changed chunks (" in summary and "legacy_app/models.py" in summary
    assert "legacy_app/models.py" in json.dumps(shown["codemill-chunks"]["data"])


def test_dry_run_writes_a_patch_that_applies_on_the_base(tmp_path: Path) -> None:
    # No PREFECT_API_URL here: the run is local, as for a new user.
    cli = make_cli_env(tmp_path / "home", prefect_api=None)
    repo = copy_example("legacy_app", tmp_path / "repo")
    branches = git(repo, "branch", "--list")

    done = codemill(cli, "run", "legacy_app", "--recipe", "modernize", "--dry-run", cwd=repo)

    assert done.returncode == 0, done.stderr
    assert git(repo, "branch", "--list") == branches
    report = run_dir(cli, done.stdout)
    assert report.is_relative_to(cli.state_dir)
    patch = (report / "changes.patch").read_text()
    assert "+++ b/legacy_app/models.py" in patch
    subprocess.run(["git", "apply", "--check", "-"], input=patch, text=True, cwd=repo, check=True)
    summary = (report / "summary.md").read_text()
    assert "accepted" in summary
    rows = ledger_rows(report)
    chunks = [r for r in rows if r["kind"] != "file"]  # a file left out (no trigger) ran no engine
    assert chunks and all(r["engine"] == "codemod" for r in chunks)


def greet_handler(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
    """A model that answers `greet` lazily first, then properly when told why; `shout` at once."""
    messages = body["messages"]
    chunk = last_python_block(messages[1]["content"])
    if "def greet" in chunk and len(messages) == 2:
        return FakeReply.completion(
            "<think>\nShort answer.\n</think>\n\n```python\ndef greet(name):\n"
            "    # rest of code unchanged\n    ...\n```"
        )
    if "def greet" in chunk:
        return FakeReply.completion(
            "<think>\nThe body must stay whole.\n</think>\n\n```python\n"
            'def greet(name):\n    return f"Hello, {name}!"\n```'
        )
    if "def shout" in chunk:
        return FakeReply.completion(
            '```python\ndef shout(name):\n    return f"HEY {name.upper()}"\n```'
        )
    return FakeReply.completion("```python\n" + chunk + "```")


def test_llm_run_with_a_repair_turn(tmp_path: Path, cli: CliEnv) -> None:
    repo = make_repo(tmp_path / "repo", {"greetings.py": GREETINGS})
    before = fingerprint(repo)
    with FakeModelServer(handler=greet_handler) as server:
        done = run_with_model(cli, repo, server, "--branch", "cm/llm")
        requests = list(server.requests)
        server_port = int(server.base_url.split(":")[-1].split("/")[0])

    assert done.returncode == 0, done.stderr
    assert fingerprint(repo) == before
    assert "engine llm" in done.stdout and "minimax/m2-1" in done.stdout
    new = git(repo, "show", "cm/llm:greetings.py")
    assert new == GREETINGS.replace('"Hello, %s!" % name', 'f"Hello, {name}!"').replace(
        '"HEY %s" % name.upper()', 'f"HEY {name.upper()}"'
    )
    repairs = [r for r in requests if len(r.body["messages"]) == 4]
    assert len(repairs) == 1
    assistant = repairs[0].body["messages"][2]
    assert assistant["role"] == "assistant" and assistant["content"].startswith("<think>")
    rows = {r["chunk"]: r for r in ledger_rows(run_dir(cli, done.stdout))}
    assert rows["greet"]["status"] == "accepted" and rows["greet"]["attempts"] == 2
    assert rows["shout"]["attempts"] == 1
    assert all(r.headers.get("authorization") == f"Bearer {KEY}" for r in requests)

    # The same run again, against the same endpoint, is answered from the cache: no request at all.
    with FakeModelServer(handler=greet_handler, port=server_port) as server:
        again = run_with_model(cli, repo, server, "--dry-run")
        assert server.requests == []
    assert again.returncode == 0, again.stderr
    rows = ledger_rows(run_dir(cli, again.stdout))
    assert [r for r in rows if r["attempts"]] and all(r["cache_hit"] for r in rows if r["attempts"])
    assert sum(r["cost_usd"] for r in rows) == 0


def test_user_recipe_file(tmp_path: Path, cli: CliEnv) -> None:
    repo = make_repo(tmp_path / "repo", {"greetings.py": GREETINGS})
    recipe = tmp_path / "shout-less.md"
    recipe.write_text(
        "---\nname: shout-less\ndescription: Make shout polite.\nscope: any\nselect:\n  regex: ['HEY']\n---\n"
        "## System\nYou are MARKER-SYSTEM, a polite refactorer.\n\n## User\n"
        "Rewrite this chunk of $path.\n\n$context\n\n$chunk\n"
    )
    seen: list[dict[str, Any]] = []

    def handler(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
        seen.append(body)
        return FakeReply.completion('```python\ndef shout(name):\n    return "Hi %s" % name\n```')

    with FakeModelServer(handler=handler) as server:
        done = run_with_model(cli, repo, server, "--dry-run", recipe=str(recipe))
    assert done.returncode == 0, done.stderr
    assert len(seen) == 1
    assert "MARKER-SYSTEM" in seen[0]["messages"][0]["content"]
    patch = (run_dir(cli, done.stdout) / "changes.patch").read_text()
    assert '+    return "Hi %s" % name' in patch


def test_refused_key_stops_with_exit_3_and_never_shows_the_key(tmp_path: Path, cli: CliEnv) -> None:
    repo = make_repo(tmp_path / "repo", {"greetings.py": GREETINGS})
    with FakeModelServer(handler=lambda b, h: FakeReply.error(401, "Invalid API key")) as server:
        done = run_with_model(cli, repo, server)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "AIMLAPI_API_KEY" in done.stderr
    assert "Traceback" not in done.stderr
    assert git(repo, "branch", "--list").strip() == "* main"
    outputs = [done.stdout, done.stderr, git(repo, "log", "--all", "-p")]
    for path in cli.home.rglob("*"):
        if path.is_file():
            outputs.append(path.read_bytes().decode("utf-8", "replace"))
    assert not [o for o in outputs if KEY in o]


def test_no_key_and_no_codemods_is_a_usage_error(tmp_path: Path, cli: CliEnv) -> None:
    repo = make_repo(tmp_path / "repo", {"greetings.py": GREETINGS})
    done = codemill(cli, "run", ".", "--recipe", "docstrings", cwd=repo)
    assert done.returncode == 2
    assert "AIMLAPI_API_KEY" in done.stderr


def test_max_cost_stops_sending_and_the_report_says_so(tmp_path: Path, cli: CliEnv) -> None:
    functions = "".join(f'def f{i}(x):\n    return "v{i} %s" % x\n\n\n' for i in range(8))
    repo = make_repo(tmp_path / "repo", {"many.py": functions})

    def handler(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
        chunk = last_python_block(body["messages"][1]["content"])
        return FakeReply.completion(f"```python\n{chunk}```", usd=0.01)

    with FakeModelServer(handler=handler) as server:
        done = run_with_model(
            cli, repo, server, "--dry-run", "--concurrency", "1", "--max-cost", "0.025"
        )
        sent = len(server.requests)
    assert done.returncode == 0, done.stderr
    assert sent == 3  # 0.01 + 0.01 < 0.025, the third reaches it: nothing after
    assert "max cost" in done.stderr
    report = run_dir(cli, done.stdout)
    rows = ledger_rows(report)
    budget = [r for r in rows if r["reason"] == "budget"]
    assert len(budget) == 5 and all(r["status"] == "skipped" for r in budget)
    assert "max cost" in (report / "summary.md").read_text()
    everything = [done.stdout, done.stderr] + [
        p.read_bytes().decode("utf-8", "replace") for p in cli.home.rglob("*") if p.is_file()
    ]
    assert not [text for text in everything if KEY in text]


def test_recipes_are_listed_and_shown(tmp_path: Path) -> None:
    cli = make_cli_env(tmp_path / "home", prefect_api=None)
    listed = codemill(cli, "recipes", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines()]
    assert names == ["docstrings", "modernize", "simplify", "type-hints", "unittest-to-pytest"]
    assert "[llm, codemod, hybrid]" in listed.stdout.splitlines()[1]
    shown = codemill(cli, "show-recipe", "type-hints", cwd=tmp_path)
    assert "allows:    annotations" in shown.stdout and "none (needs a model)" in shown.stdout
    unknown = codemill(cli, "show-recipe", "no-such-recipe", cwd=tmp_path)
    assert unknown.returncode == 2 and "no such recipe" in unknown.stderr


def test_streamed_answers_end_to_end(tmp_path: Path, cli: CliEnv) -> None:
    repo = make_repo(tmp_path / "repo", {"greetings.py": GREETINGS})
    streamed: list[bool] = []

    def handler(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
        streamed.append(body.get("stream") is True and body["stream_options"]["include_usage"])
        reply = greet_handler({"messages": body["messages"][-1:] * 2}, headers)
        content = json.loads(reply.body)["choices"][0]["message"]["content"]
        return FakeReply.stream(f"<think>\nWorking it out.\n</think>\n\n{content}", usd=0.002)

    with FakeModelServer(handler=handler) as server:
        done = run_with_model(cli, repo, server, "--stream", "--repair-turns", "0", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert streamed and all(streamed)
    rows = {r["chunk"]: r for r in ledger_rows(run_dir(cli, done.stdout))}
    assert rows["shout"]["status"] == "accepted" and rows["shout"]["cost_usd"] == 0.002
    assert rows["greet"]["reason"] == "lazy"  # the think block split across events was stripped
    patch = (run_dir(cli, done.stdout) / "changes.patch").read_text()
    assert '+    return f"HEY {name.upper()}"' in patch
