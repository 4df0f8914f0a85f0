"""A real OpenAI-compatible server with a real model: llama.cpp's llama-server and SmolLM2-135M-Instruct, as
installed by scripts/setup-real-model.sh (which records them in real-model.env in its cache directory).

Shared by tests/cli/test_real_model.py and bench/forecast.py; `RepairProxy` stands in front of it to make
its first answer a long repetitive one (issue 24). `installed()` says exactly why the server
cannot be had: the setup script was not run, or its build ran out of CI's budget and resumes on the next
run (`NotSetUp`); or it ran and failed (`SetupFailed`, with the failed step).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from pipeline.judge.looping import looping, normalized
from pipeline.model.context import MESSAGE_OVERHEAD_TOKENS, PROMPT_OVERHEAD_TOKENS, answer_floor
from pipeline.recipes.loading import Recipe
from tests.support.fake_model_server import FakeReply
from tests.support.prefect_server import free_port
from tests.support.processes import stop, wait_healthy

SETUP = Path(__file__).resolve().parents[2] / "scripts" / "setup-real-model.sh"
STARTUP_TIMEOUT_S = 120.0  # loading a 100 MB model on a loaded 2-core machine


class NotSetUp(Exception):
    """scripts/setup-real-model.sh has not been run here, or has not finished its build yet."""


class SetupFailed(Exception):
    """scripts/setup-real-model.sh ran and could not install the server or the model."""


@dataclass(frozen=True)
class RealModel:
    """The installed server binary and model file."""

    server: Path
    model: Path


def cache_dir() -> Path:
    """Where the setup script caches what it installs (its CODEMILL_TEST_CACHE)."""
    default = Path.home() / ".cache" / "codemill-tests"
    return Path(os.environ.get("CODEMILL_TEST_CACHE", default))


def installed() -> RealModel:
    """What the setup script installed, or why there is nothing."""
    cache = cache_dir()
    failed, env = cache / "real-model.failed", cache / "real-model.env"
    pending = cache / "real-model.pending"
    if failed.is_file():
        raise SetupFailed(f"{SETUP.name} failed: {failed.read_text(encoding='utf-8').strip()}")
    if pending.is_file():
        raise NotSetUp(f"{SETUP.name}: {pending.read_text(encoding='utf-8').strip()}")
    if not env.is_file():
        raise NotSetUp(f"{SETUP.name} was not run on this machine (no {env}); run: bash {SETUP}")
    values = dict(
        line.split("=", 1) for line in env.read_text(encoding="utf-8").splitlines() if "=" in line
    )
    found = RealModel(Path(values.get("LLAMA_SERVER", "")), Path(values.get("LLAMA_MODEL", "")))
    for what in (found.server, found.model):
        if not what.is_file():
            raise SetupFailed(f"{env} names {what}, which is gone: rerun bash {SETUP}")
    return found


@dataclass(frozen=True)
class RunningServer:
    """A llama-server on 127.0.0.1: its OpenAI base URL, its API key, and its log."""

    base_url: str
    api_key: str
    log: Path

    @property
    def root(self) -> str:
        return self.base_url.removesuffix("/v1")

    def tokens(self, text: str) -> int:
        """How many tokens the model's own tokenizer makes of `text` (llama-server's /tokenize)."""
        reply = httpx.post(
            f"{self.root}/tokenize",
            json={"content": text},
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=30,
        )
        reply.raise_for_status()
        return len(reply.json()["tokens"])


@contextmanager
def llama_server(
    found: RealModel, workdir: Path, *, context: int, api_key: str, parallel: int = 1
) -> Iterator[RunningServer]:
    """Run llama-server for the duration of the block, its key required, answering `parallel` requests
    at once. `context` is each request's window: the only bound on an answer, since a request's
    max_tokens overrides the server's own -n."""
    port = free_port()
    log = workdir / "llama-server.log"
    args = [str(found.server), "-m", str(found.model), "--host", "127.0.0.1", "--port", str(port)]
    # One thread: on 2 shared cores, two of llama.cpp's threads spin at every barrier while the other is
    # descheduled (measured 1.7 tokens/s with -t 2 against 38 with -t 1 at load average 5).
    args += ["-c", str(context * parallel), "-t", "1", "--parallel", str(parallel)]
    args += ["--api-key", api_key, "--seed", "7"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        running = RunningServer(f"http://127.0.0.1:{port}/v1", api_key, log)
        health = f"{running.root}/health"
        wait_healthy(proc, health, what="llama-server", timeout=STARTUP_TIMEOUT_S, log=log)
        yield running
    finally:
        stop(proc, timeout=10)


@dataclass
class Forwarded:
    """One chat request the proxy passed to the real server: max_tokens as sent, the server's counts."""

    max_tokens: int | None
    prompt_tokens: int
    completion_tokens: int
    messages: list[dict[str, str]]


class RepairProxy:
    """A FakeModelServer handler in front of a real llama-server: the first chat request gets a canned,
    repetitive answer (`dt1=None, dt2=None, ...`, cut off), sized so the repair turn that sends it back
    leaves the chunk's answer floor plus `spare` tokens of the window by the server's own count; every
    later request is forwarded, and `forwarded` records what it asked and what the server counted.
    `/tokenize` is the server's (FakeModelServer.tokenizer)."""

    def __init__(
        self, server: RunningServer, window: int, chunk: str, recipe: Recipe, spare: int = 16
    ) -> None:
        self.server = server
        self.recipe = recipe  # the run's: its repair message is part of the conversation
        self.window = window
        self.chunk = chunk
        self.spare = spare
        self.canned = ""
        self.forwarded: list[Forwarded] = []

    def __call__(self, body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
        if not self.canned:
            self.canned = self._fitted(body["messages"])
            return FakeReply.completion(self.canned, finish_reason="length")
        reply = httpx.post(
            f"{self.server.base_url}/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {self.server.api_key}"},
            timeout=300,
        )
        data = reply.json()
        usage = data.get("usage") or {}
        self.forwarded.append(
            Forwarded(
                body.get("max_tokens"),
                usage.get("prompt_tokens", 0),
                usage.get("completion_tokens", 0),
                body["messages"],
            )
        )
        return FakeReply.json(reply.status_code, data)

    def _fitted(self, messages: list[dict[str, str]]) -> str:
        """The longest canned answer whose repair conversation, as codemill counts it (the server's
        counts plus the template's overhead), leaves at least the floor plus `spare`."""
        want = self.window - answer_floor(self.server.tokens(self.chunk)) - self.spare
        low, high = 1, 2000
        while low < high:
            middle = (low + high + 1) // 2
            if self._counted(messages, canned_loop(middle)) <= want:
                low = middle
            else:
                high = middle - 1
        return canned_loop(low)

    def _counted(self, messages: list[dict[str, str]], canned: str) -> int:
        reason = looping(canned, normalized(self.chunk)) or ""
        answer = {"role": "assistant", "content": canned}
        repair = [*messages, answer, self.recipe.repair_message(reason)]
        tokens = sum(self.server.tokens(m["content"]) for m in repair)
        return tokens + MESSAGE_OVERHEAD_TOKENS * len(repair) + PROMPT_OVERHEAD_TOKENS


def canned_loop(items: int) -> str:
    """A model's looping answer: a python fence opening a def whose parameters count up, cut off."""
    return "```python\ndef greet(" + "".join(f"dt{n}=None, " for n in range(1, items + 1))
