"""The cost forecast (`codemill run --estimate`) against the actual tokens of the same run, counted by a real
tokenizer: llama.cpp's llama-server with SmolLM2-135M-Instruct (bash scripts/setup-real-model.sh first).

Targets: the example (examples/legacy_app) and a real package (colorama's source, from this venv), each a
fresh git repository. For each, the forecast first (nothing sent), then the same run (--dry-run --no-cache)
with one of two answer sources; the actual tokens are the server's `usage`, summed from the ledger:
  real       SmolLM2 itself answers (a few files, 1,280-token window, no repair turns): real prompts,
             and completions as long as a 135M model makes them
  realistic  the loopback fake answers every chunk with the chunk unchanged in a fence (an answer of the
             size a correct refactor has), its usage counted by SmolLM2's tokenizer (llama-server's
             /tokenize): the prompt through SmolLM2's chat template (ChatML), and the answer
Also printed: bytes per token of the prompts under SmolLM2's tokenizer, to calibrate BYTES_PER_TOKEN.
SmolLM2's tokenizer (a 49,152-entry BPE) is not MiniMax-M2.1's (not to be had here): its figures are
measured, the forecast's defaults stay MiniMax's.

    python bench/forecast.py [--recipe modernize] [--answers realistic,real] [--targets example,package]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.fake_model_server import FakeModelServer, FakeReply  # noqa: E402
from support.gitrepo import make_repo  # noqa: E402
from support.real_model import RunningServer, installed, llama_server  # noqa: E402

CODEMILL = str(Path(sys.executable).parent / "codemill")
KEY = "bench-forecast-key"
CONTEXT = 8192  # SmolLM2's trained window: the server's, for /tokenize and the realistic runs
REAL_CONTEXT = 1280  # a real answer's window: SmolLM2 rambles to its end, at 5-40 tokens/s here
REAL_FILES = {
    "example": ("legacy_app/pricing.py",),
    "package": ("colorama/ansi.py", "colorama/winterm.py"),
}
MODEL = "SmolLM2-135M-Instruct"
FORECAST = re.compile(r"total: .*?~([\d,]+) prompt \+ ~([\d,]+) completion tokens")


@dataclass(frozen=True)
class Tokens:
    """Prompt and completion tokens."""

    prompt: int
    completion: int

    @property
    def total(self) -> int:
        return self.prompt + self.completion


def example_repo(root: Path) -> Path:
    """examples/legacy_app in a fresh repository."""
    shutil.copytree(
        ROOT / "examples" / "legacy_app", root, ignore=shutil.ignore_patterns("__pycache__")
    )
    return make_repo(root, {})


def package_repo(root: Path) -> Path:
    """A real package's source (colorama, installed with codemill's dependencies) in a fresh repository."""
    import colorama

    source = Path(colorama.__file__).parent
    shutil.copytree(source, root / "colorama", ignore=shutil.ignore_patterns("__pycache__"))
    return make_repo(root, {})


TARGETS = {"example": example_repo, "package": package_repo}


def codemill(repo: Path, home: Path, base_url: str, recipe: str, *args: str) -> str:
    """Run `codemill run .` against `base_url`; its stdout (it must succeed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "CODEMILL_"))}
    env.update(LLAMA_API_KEY=KEY, CODEMILL_STATE_DIR=str(home), XDG_CACHE_HOME=str(home))
    flags = ["--recipe", recipe, "--engine", "llm", "--base-url", base_url, "--model", MODEL]
    flags += ["--api-key-env", "LLAMA_API_KEY", "--no-cache"]
    done = subprocess.run(
        [CODEMILL, "run", ".", *flags, *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise RuntimeError(f"codemill exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def forecast_of(stdout: str) -> Tokens:
    """The total forecast `--estimate` printed."""
    match = FORECAST.search(stdout)
    if not match:
        raise RuntimeError(f"no forecast in:\n{stdout}")
    return Tokens(*(int(g.replace(",", "")) for g in match.groups()))


def ledger_rows(stdout: str) -> list[dict[str, Any]]:
    """The chunk rows of the run's ledger."""
    match = re.search(r"^codemill: report (.+)$", stdout, re.MULTILINE)
    if not match:
        raise RuntimeError(f"no report in:\n{stdout}")
    lines = (Path(match.group(1)) / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    return [r for r in rows if r["record"] == "row" and r["kind"] != "file"]


def actual_of(rows: list[dict[str, Any]], *, first_only: bool) -> Tokens:
    """Tokens of every model turn of the run, or of each chunk's first answer only."""
    turns = [t for r in rows for t in (r["turns"][:1] if first_only else r["turns"])]
    return Tokens(
        sum(t["prompt_tokens"] for t in turns), sum(t["completion_tokens"] for t in turns)
    )


class RealisticAnswers:
    """The fake's handler: the chunk back unchanged, its tokens counted by the real server's tokenizer."""

    def __init__(self, real: RunningServer) -> None:
        self.real = real
        self.prompt_bytes = 0
        self.prompt_tokens = 0

    def __call__(self, body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
        messages = body["messages"]
        chunk = re.findall(r"```python\n(.*?)```", messages[-1]["content"], re.DOTALL)[-1]
        content = f"```python\n{chunk}```"
        prompt = self.templated(messages)
        usage = {"prompt_tokens": self.real.tokens(prompt), "completion_tokens": 0}
        usage["completion_tokens"] = self.real.tokens(content) + 1  # and the end-of-turn token
        self.prompt_bytes += sum(len(m["content"].encode()) for m in messages)
        self.prompt_tokens += usage["prompt_tokens"]
        return FakeReply.completion(content, usage=usage, usd=None, model=MODEL)

    @staticmethod
    def templated(messages: list[dict[str, str]]) -> str:
        """The prompt the model reads: SmolLM2's chat template (ChatML), then the assistant's turn."""
        turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        return turns + "<|im_start|>assistant\n"


@contextmanager
def answer_source(kind: str, real: RunningServer) -> Iterator[tuple[str, RealisticAnswers | None]]:
    """The base URL the run talks to, and the realistic handler when there is one."""
    if kind == "real":
        yield real.base_url, None
        return
    handler = RealisticAnswers(real)
    with FakeModelServer(handler=handler) as fake:
        yield fake.base_url, handler


def apart(forecast: int, actual: int) -> str:
    return f"{forecast:,} / {actual:,} ({(forecast - actual) / actual:+.1%})" if actual else "-"


def measure(target: str, kind: str, recipe: str, real: RunningServer, work: Path) -> list[str]:
    """One row of the table: forecast against actual for one target and answer source."""
    repo = TARGETS[target](work / f"{target}-{kind}")
    home = work / f"home-{target}-{kind}"
    flags = ["--context-tokens", str(CONTEXT)]
    if kind == "real":  # a few files, one answer a chunk: real answers are slow here
        flags = ["--context-tokens", str(REAL_CONTEXT), "--repair-turns", "0"]
        flags += [arg for path in REAL_FILES[target] for arg in ("--include", path)]
    with answer_source(kind, real) as (base_url, handler):
        forecast = forecast_of(codemill(repo, home, base_url, recipe, "--estimate", *flags))
        rows = ledger_rows(codemill(repo, home, base_url, recipe, "--dry-run", *flags))
    every, first = actual_of(rows, first_only=False), actual_of(rows, first_only=True)
    ratio = f"{handler.prompt_bytes / handler.prompt_tokens:.2f}" if handler else "-"
    sent = sum(1 for r in rows if r["turns"])
    return [
        f"| {target} | {kind} | {sent} | {apart(forecast.prompt, every.prompt)} "
        f"| {apart(forecast.completion, every.completion)} | {apart(forecast.total, every.total)} "
        f"| {apart(forecast.total, first.total)} | {ratio} |"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="modernize")
    parser.add_argument("--answers", default="realistic,real")
    parser.add_argument("--targets", default="example,package")
    args = parser.parse_args()
    found = installed()
    print(f"# {platform.node()} {platform.machine()}, {os.cpu_count()} cores; recipe {args.recipe}")
    print(f"# server {found.server.name}, model {found.model.name}")
    print(
        "| target | answers | chunks sent | prompt: forecast / actual | completion | total "
        "| total vs first answers | prompt bytes/token |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-forecast-")))
        real = stack.enter_context(llama_server(found, work, context=CONTEXT, api_key=KEY))
        for target in args.targets.split(","):
            for kind in args.answers.split(","):
                print("\n".join(measure(target, kind, args.recipe, real, work)), flush=True)


if __name__ == "__main__":
    main()
