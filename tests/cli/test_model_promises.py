"""README promises of a model run, through the real `codemill` command on real repositories against the
loopback fake model: what a fatal error keeps (report, ledger, cache, the way to apply it), exhausted credits,
the cache flags, `CODEMILL_CACHE_PATH`, `--report-dir`, `--model`, `--api-key-env`, `--include/--exclude`,
`--no-progress`, `--max-cost` with requests in flight, and that the key reaches no output at all (Prefect's
database included)."""

from __future__ import annotations

import hashlib
import re
import shlex
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from support.cli_support import LLM, CliEnv, codemill, make_cli_env
from support.fake_model_server import FakeModelServer, FakeReply
from support.gitrepo import git, make_repo
from support.outputs import leaks, ledger_records, ledger_rows, report_dir

KEY = "sk-promise-KEY-5f3a9c1e77"
FUNCTIONS = "".join(f'def f{i}(x):\n    return "v{i} %s" % x\n\n\n' for i in range(4))
FILES = {
    "pkg/a.py": FUNCTIONS,
    "pkg/skip.py": 'def s(x):\n    return "s %s" % x\n',  # excluded
    "other/b.py": 'def b(x):\n    return "b %s" % x\n',  # not included
}
PROGRESS_LINE = re.compile(r"^codemill: \d+/\d+ chunks: ", re.MULTILINE)


class Model:
    """The loopback model's behaviour, switched between runs: answer, refuse the key, and how fast."""

    def __init__(self) -> None:
        self.mode = "answer"
        self.answers_before_401 = 0
        self.quote = '"'
        self.delay = 0.0
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
        chunk = re.findall(r"```python\n(.*?)```", body["messages"][-1]["content"], re.DOTALL)[-1]
        with self.lock:
            if self.mode == "401-after":
                if self.answers_before_401 <= 0:
                    return FakeReply.error(401, "Invalid API key")
                self.answers_before_401 -= 1
        match = re.search(r"def (\w+)\(x\):\n    return \"(\w+) %s\" % x", chunk)
        assert match, chunk
        name, prefix = match.groups()
        q = self.quote
        code = f"def {name}(x):\n    return f{q}{prefix} {{x}}{q}\n"
        reply = FakeReply.completion(f"<think>\nEasy.\n</think>\n\n```python\n{code}```", usd=0.001)
        reply.delay = self.delay
        return reply


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def cli(tmp_path: Path) -> CliEnv:
    """The local orchestrator: Prefect is not what these tests are about."""
    return make_cli_env(tmp_path / "home", None)


def test_a_fatal_error_keeps_what_was_accepted_and_the_cache_flags_do_what_they_say(
    tmp_path: Path, prefect_api: str, prefect_home: Path
) -> None:
    # The fatal run on Prefect (its database is searched for the key); the cache flags' runs are local.
    on_prefect = make_cli_env(tmp_path / "home", prefect_api)
    cli = make_cli_env(tmp_path / "home", None)
    repo = make_repo(tmp_path / "repo", FILES)
    cache = cli.home / "elsewhere" / "answers.sqlite3"
    reports = cli.home / "my-reports"
    model = Model()
    model.mode, model.answers_before_401 = "401-after", 2
    env = {"MY_MODEL_KEY": KEY, "CODEMILL_CACHE_PATH": str(cache), **LLM}
    common = ["--model", "test/model-x", "--api-key-env", "MY_MODEL_KEY", "--concurrency", "1"]
    scope = ["--include", "pkg/*.py", "--exclude", "skip.py", "--report-dir", str(reports)]
    runs: list[subprocess.CompletedProcess[str]] = []
    with FakeModelServer(handler=model) as server:

        def run(*args: str, where: CliEnv = cli) -> tuple[subprocess.CompletedProcess[str], int]:
            before = len(server.requests)
            done = codemill(
                where,
                "run",
                ".",
                "--recipe",
                "modernize",
                "--base-url",
                server.base_url,
                *common,
                *scope,
                *args,
                cwd=repo,
                extra_env=env,
            )
            runs.append(done)
            return done, len(server.requests) - before

        # 1. Two answers, then the key is refused: exit 3, the two accepted chunks kept everywhere.
        stopped, sent = run("--branch", "cm/partial", where=on_prefect)
        assert stopped.returncode == 3, stopped.stdout + stopped.stderr
        assert sent == 3 and "MY_MODEL_KEY" in stopped.stderr and "Traceback" not in stopped.stderr
        assert {r.body["model"] for r in server.requests} == {"test/model-x"}
        assert {r.headers["authorization"] for r in server.requests} == {f"Bearer {KEY}"}
        report = report_dir(stopped.stdout)
        assert report.parent == reports
        rows = ledger_rows(report)
        assert {r["path"] for r in rows} == {"pkg/a.py"}  # --include and --exclude held
        assert sorted(r["status"] for r in rows) == ["accepted", "accepted", "failed", "skipped"]
        assert (report / "changes.patch").read_text().count('+    return f"v') == 2
        assert "accepted" in (report / "summary.md").read_text()
        assert git(repo, "branch", "--list").strip() == "* main" and cache.is_file()
        assert not list(cli.state_dir.rglob("modernize.json"))  # a fatal run is no last run
        how = re.search(r"`(codemill apply [^`]+)`", stopped.stderr)
        assert how, stopped.stderr
        applied = codemill(
            on_prefect, *shlex.split(how.group(1))[1:], "--branch", "cm/partial", cwd=repo
        )
        runs.append(applied)
        assert applied.returncode == 0, applied.stderr
        assert git(repo, "show", "cm/partial:pkg/a.py").count('return f"v') == 2

        # 2. The two accepted answers come from the cache; the other two are asked (slowly: the
        #    progress line shows on a non-terminal every 5 s).
        model.mode, model.delay = "answer", 2.6
        cached, sent = run("--dry-run")
        assert cached.returncode == 0, cached.stderr
        assert sent == 2
        assert sum(r["cache_hit"] for r in ledger_rows(report_dir(cached.stdout))) == 2
        assert PROGRESS_LINE.search(cached.stderr), cached.stderr

        # 3. --no-cache asks everything again and leaves the cache as it was; --no-progress is quiet.
        model.delay = 1.4
        kept = sha(cache)
        uncached, sent = run("--dry-run", "--no-cache", "--no-progress")
        assert uncached.returncode == 0, uncached.stderr
        assert sent == 4 and sha(cache) == kept
        assert not PROGRESS_LINE.search(uncached.stderr), uncached.stderr

        # 4. --refresh-cache asks everything again and stores the new answers: 5. a plain run
        #    then asks nothing and gets the refreshed answers.
        model.delay, model.quote = 0.0, "'"
        refreshed, sent = run("--dry-run", "--refresh-cache")
        assert refreshed.returncode == 0 and sent == 4, refreshed.stderr
        again, sent = run("--dry-run")
        assert again.returncode == 0 and sent == 0, again.stderr
        assert (report_dir(again.stdout) / "changes.patch").read_text().count("return f'v") == 4

    assert not leaks([KEY], done=runs, roots=[cli.home, prefect_home], repos=[repo])


def test_exhausted_credits_stop_the_run_with_exit_3(tmp_path: Path, cli: CliEnv) -> None:
    repo = make_repo(tmp_path / "repo", {"pkg/a.py": FUNCTIONS})
    with FakeModelServer(handler=lambda b, h: FakeReply.provider_error(1008, "balance")) as server:
        done = codemill(
            cli,
            "run",
            ".",
            "--recipe",
            "modernize",
            "--base-url",
            server.base_url,
            "--concurrency",
            "1",
            cwd=repo,
            extra_env={"AIMLAPI_API_KEY": KEY, **LLM},
        )
        sent = len(server.requests)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "out of credits" in done.stderr and "Traceback" not in done.stderr
    assert sent == 1  # every later request would fail the same way: none is sent
    rows = ledger_rows(report_dir(done.stdout))
    assert sorted(r["status"] for r in rows) == ["failed", "skipped", "skipped", "skipped"]
    assert git(repo, "branch", "--list").strip() == "* main"
    assert not list(cli.state_dir.rglob("modernize.json"))  # a fatal run is no last run


def test_max_cost_lets_the_requests_in_flight_finish_commits_them_and_saves_no_state(
    tmp_path: Path, cli: CliEnv
) -> None:
    many = "".join(f'def f{i}(x):\n    return "v{i} %s" % x\n\n\n' for i in range(12))
    repo = make_repo(tmp_path / "repo", {"pkg/a.py": many})
    model = Model()
    model.delay = 0.5  # the first wave of four is in flight together before any cost is known

    with FakeModelServer(handler=model) as server:
        done = codemill(
            cli,
            "run",
            ".",
            "--recipe",
            "modernize",
            "--base-url",
            server.base_url,
            "--branch",
            "cm/budget",
            "--concurrency",
            "4",
            "--max-cost",
            "0.0005",
            "--force",  # past the up-front forecast: this is the budget stop while requests fly
            cwd=repo,
            extra_env={"AIMLAPI_API_KEY": KEY, **LLM},
        )
        sent = len(server.requests)
    assert done.returncode == 0, done.stderr
    assert sent == 4  # the first answer's cost reached the limit: nothing was sent after it
    report = report_dir(done.stdout)
    rows = ledger_rows(report)
    answered = [r for r in rows if r["attempts"]]
    assert len(answered) == 4 and all(r["status"] == "accepted" for r in answered)
    assert sum(r["cost_usd"] for r in rows) == pytest.approx(0.004)  # in-flight spend kept
    budget = [r for r in rows if r["reason"] == "budget"]
    assert len(budget) == 12 - sent and all(r["status"] == "skipped" for r in budget)
    end = next(r for r in ledger_records(report) if r["record"] == "end")
    assert "max cost" in str(end) and "max cost" in (report / "summary.md").read_text()
    assert "max cost" in done.stderr
    assert git(repo, "show", "cm/budget:pkg/a.py").count('return f"v') == 4
    assert not list(cli.state_dir.rglob("modernize.json"))  # stopped early: no last run
