"""A run's life through the real CLI with the local orchestrator: it starts without Prefect, stops cleanly
on SIGINT/SIGTERM, leaves no process behind (even after kill -9), and a dead endpoint is not a success."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from support.cli_support import CODEMILL, LLM, CliEnv, codemill, make_cli_env
from support.fake_model_server import FakeModelServer, FakeReply
from support.gitrepo import git, make_repo
from support.prefect_server import free_port

KEY = "sk-test-lifecycle-SECRET-0123"
FUNCTIONS = "".join(f"def f{i}(x):\n    return 'v%s' % x\n\n\n" for i in range(24))
IMPORTTIME = [sys.executable, "-X", "importtime", "-c", "from flows.cli import main; main()"]
SLOW_IMPORT = "import time\n\ntime.sleep(120)\n\n\ndef g(x):\n    return 'v%s' % x\n"


def modernizing(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
    """The echo answer with each `'v%s' % x` made an f-string: every chunk is accepted as a change."""
    user = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    code = re.findall(r"```python\n(.*?)```", user, re.DOTALL)[-1]
    return FakeReply.completion("```python\n" + code.replace("'v%s' % x", "f'v{x}'") + "```")


@pytest.fixture
def cli(tmp_path: Path) -> CliEnv:
    return make_cli_env(tmp_path / "home", prefect_api=None)


def end_record(report: Path) -> dict[str, Any]:
    last = (report / "ledger.jsonl").read_text(encoding="utf-8").splitlines()[-1]
    record: dict[str, Any] = json.loads(last)
    assert record["record"] == "end", last
    return record


def accepted_rows(home: Path) -> int:
    """Accepted chunk rows so far in the streamed ledgers of runs under `home` (judging is off the
    event loop, so an answer is recorded a little after the next requests went out)."""
    rows = 0
    for ledger in (home / "state" / "runs").glob("*/*/ledger.jsonl"):
        rows += ledger.read_text(encoding="utf-8").count('"status": "accepted"')
    return rows


def report_of(stdout: str) -> Path:
    lines = [ln for ln in stdout.splitlines() if ln.startswith("codemill: report ")]
    assert len(lines) == 1, stdout
    return Path(lines[0].removeprefix("codemill: report "))


def marked_processes(mark: str, running: str = "") -> list[int]:
    """Pids of live processes whose environment carries `mark` (every child inherits it) and whose
    command line holds `running`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().split(")")[-1].split()[0]
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        marked = f"LIFECYCLE_TEST_MARK={mark}".encode() in environ.split(b"\0")
        if marked and state != "Z" and running in command:
            found.append(int(entry.name))
    return found


def wait_until_gone(mark: str, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := marked_processes(mark)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def start(cli: CliEnv, repo: Path, *args: str, mark: str) -> subprocess.Popen[str]:
    """`codemill run .` in the background, in its own process group (as a terminal would run it)."""
    env = {
        **cli.env,
        "AIMLAPI_API_KEY": KEY,
        **LLM,
        "LIFECYCLE_TEST_MARK": mark,
    }  # no CODEMILL_*: children never see those
    return subprocess.Popen(
        [CODEMILL, "run", ".", "--no-progress", *args],
        cwd=repo,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_a_local_run_imports_no_prefect_and_starts_no_server(tmp_path: Path, cli: CliEnv) -> None:
    repo = make_repo(tmp_path / "repo", {"m.py": FUNCTIONS})
    done = subprocess.run(
        [*IMPORTTIME, "run", ".", "--recipe", "modernize", "--dry-run", "--no-progress"],
        cwd=repo,
        env=cli.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "codemill: orchestrator local (in-process, no Prefect API configured)" in done.stderr
    imported = {ln.split("|")[-1].strip() for ln in done.stderr.splitlines() if "|" in ln}
    assert "pipeline.run.execute" in imported  # the run really went through here
    assert not {m for m in imported if m.split(".")[0] in ("prefect", "uvicorn", "fastapi")}
    assert list((cli.home / "prefect").iterdir()) == []  # no temporary server's database either
    # an offline (codemod) run loads neither the model's HTTP client nor Typer's pydantic converter
    assert not {m for m in imported if m.split(".")[0] in ("httpx", "httpcore", "pydantic")}


def test_prefect_orchestrator_without_an_api_is_refused(tmp_path: Path, cli: CliEnv) -> None:
    repo = make_repo(tmp_path / "repo", {"m.py": FUNCTIONS})
    done = codemill(cli, "run", ".", "--dry-run", "--orchestrator", "prefect", cwd=repo)
    assert done.returncode == 2, done.stderr
    assert "--orchestrator prefect needs a Prefect API" in done.stderr
    assert "prefect server start" in done.stderr


def test_a_base_url_without_a_scheme_is_a_usage_error(tmp_path: Path, cli: CliEnv) -> None:
    repo = make_repo(tmp_path / "repo", {"m.py": FUNCTIONS})
    done = codemill(
        cli, "run", ".", "--dry-run", "--base-url", "127.0.0.1:9/v1", cwd=repo,
        extra_env={"AIMLAPI_API_KEY": KEY, **LLM},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "--base-url='127.0.0.1:9/v1' must start with http:// or https://" in done.stderr


STOP_SIGNALS = pytest.mark.parametrize(  # how a run is stopped, and the exit code that says so
    ("how", "code"), [("SIGINT to the group", 130), ("SIGTERM", 143)], ids=["sigint", "sigterm"]
)


@pytest.mark.slow
@STOP_SIGNALS
def test_a_signal_stops_a_model_run_cleanly(
    tmp_path: Path, cli: CliEnv, how: str, code: int
) -> None:
    repo = make_repo(tmp_path / "repo", {"m.py": FUNCTIONS})
    mark = uuid.uuid4().hex
    with FakeModelServer(modernizing, latency=2.0) as server:
        proc = start(
            cli, repo, "--recipe", "modernize", "--branch", "cm/x", "--concurrency", "4",
            "--base-url", server.base_url, mark=mark,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while not (len(server.requests) >= 8 and accepted_rows(cli.home)):
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)  # the first answers are judged and recorded, more are in flight
        assert len(server.requests) >= 8 and accepted_rows(cli.home), proc.stderr
        sent = time.monotonic()
        if code == 130:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
        asked = len(server.requests)
    assert proc.returncode == code, err
    assert took < 5.0, f"the run took {took:.1f} s to stop"
    assert asked < 24  # the rest was never sent
    report = report_of(out)
    end = end_record(report)
    assert end["outcome"] == "interrupted"
    assert f"interrupted by {signal.Signals(code - 128).name}" in end["stop_reason"]
    for name in ("changes.patch", "summary.md", "junit.xml", "report.html"):
        assert (report / name).is_file(), name
    assert "partial" in (report / "summary.md").read_text(encoding="utf-8")
    assert "accepted" in out
    assert git(repo, "branch", "--list", "cm/x") == ""  # no branch half-made
    assert git(repo, "worktree", "list").count("\n") == 1
    assert wait_until_gone(mark, 5) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "hang",
    ["import check", "test command"],
    ids=["import-server", "test-command"],
)
def test_kill_9_of_the_run_leaves_no_child(tmp_path: Path, cli: CliEnv, hang: str) -> None:
    files = {"pkg/__init__.py": "", "pkg/slow.py": SLOW_IMPORT}
    args = ["--engine", "codemod", "--recipe", "modernize", "--dry-run"]
    helper = "import_server.py"
    if hang == "test command":  # the base commit's test run hangs
        files["pkg/slow.py"] = FUNCTIONS
        args += ["--no-import-check", "--test-cmd", "sleep 120"]
        helper = "sleep 120"
    repo = make_repo(tmp_path / "repo", files)
    mark = uuid.uuid4().hex
    proc = start(cli, repo, *args, mark=mark)
    deadline = time.monotonic() + 120
    while len(marked_processes(mark, helper)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)  # the helper, and what it forked or runs (the hanging import, the tests)
    assert len(marked_processes(mark, helper)) >= 2, proc.poll()
    proc.kill()
    proc.wait()
    assert wait_until_gone(mark, 10) == []


@pytest.mark.slow
@STOP_SIGNALS
def test_a_signal_during_the_early_base_test_run_leaves_nothing_behind(
    tmp_path: Path, cli: CliEnv, how: str, code: int
) -> None:
    repo = make_repo(tmp_path / "repo", {"pkg/__init__.py": "", "pkg/m.py": FUNCTIONS})
    mark = uuid.uuid4().hex
    args = ["--engine", "codemod", "--recipe", "modernize", "--dry-run", "--no-import-check"]
    proc = start(cli, repo, *args, "--test-cmd", "sleep 120", mark=mark)
    deadline = time.monotonic() + 120
    while not marked_processes(mark, "lifetime.py") and time.monotonic() < deadline:
        time.sleep(0.1)  # the base run (under its reaper) started with the run, before the engines
    assert marked_processes(mark, "lifetime.py"), proc.poll()
    if code == 130:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert wait_until_gone(mark, 5) == []
    assert git(repo, "worktree", "list").count("\n") == 1  # the base run's worktree is gone
    if "before the run began" not in err:  # the signal came once the run had begun
        end = end_record(report_of(out))
        assert end["outcome"] == "interrupted"


@pytest.mark.slow
def test_an_unreachable_endpoint_trips_the_breaker_and_exits_5(tmp_path: Path, cli: CliEnv) -> None:
    repo = make_repo(tmp_path / "repo", {"m.py": FUNCTIONS})
    started = time.monotonic()
    done = codemill(
        cli, "run", ".", "--recipe", "modernize", "--branch", "cm/x", "--no-progress",
        "--base-url", f"http://127.0.0.1:{free_port()}/v1", cwd=repo,
        extra_env={"AIMLAPI_API_KEY": KEY, **LLM},
    )  # fmt: skip
    took = time.monotonic() - started
    assert done.returncode == 5, done.stderr
    assert "the model endpoint is unreachable" in done.stderr
    assert took < 30, f"{took:.1f} s"
    assert git(repo, "branch", "--list", "cm/x") == ""
    end = end_record(report_of(done.stdout))
    assert end["outcome"] == "stopped" and "unreachable" in end["stop_reason"]


@pytest.mark.slow
def test_a_server_that_dies_mid_run_commits_nothing_and_exits_5(
    tmp_path: Path, cli: CliEnv
) -> None:
    repo = make_repo(tmp_path / "repo", {"m.py": FUNCTIONS})
    mark = uuid.uuid4().hex
    server = FakeModelServer(modernizing, latency=0.5)
    server.start()
    proc = start(
        cli, repo, "--recipe", "modernize", "--branch", "cm/x", "--concurrency", "2",
        "--base-url", server.base_url, mark=mark,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while len(server.requests) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.stop()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 5, err
    assert "the model endpoint is unreachable" in err
    assert git(repo, "branch", "--list", "cm/x") == ""
    report = report_of(out)
    rows = [json.loads(ln) for ln in (report / "ledger.jsonl").read_text().splitlines()]
    accepted = [r for r in rows if r.get("status") == "accepted"]
    assert accepted and "codemill apply --partial" in err
    assert end_record(report)["outcome"] == "stopped"
