"""Shadow runs through `codemill run` in-process, on a real repository whose pytest suite calls its functions
without checking what they return: a behaviour-changing answer is rejected `behaviour-changed` with the call
that showed it (without shadow runs the same suite passes it), a correct one is shadowed with its call count,
and the calls that cannot be compared (random, time, I/O, a generator, an uncopyable argument) are counted,
never rejected. Gate repair turns see the observed call."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from support.fake_model_server import FakeModelServer, FakeReply
from support.gitrepo import make_repo
from support.samples import tidy_recipe
from typer.testing import CliRunner, Result

from flows.cli import app

KEY = "sk-test-shadow-SECRET"
CALC = """import random
import threading
import time

LIMIT = 10


def clamp(x):
    return min(x, LIMIT)


def area(w, h):
    return w * h


def jitter(x):
    return x + random.random()


def stamp():
    return time.time()


def first_line(path):
    with open(path) as handle:
        return handle.readline()


def evens(n):
    for i in range(n):
        if i % 2 == 0:
            yield i


def guarded(lock, x):
    with lock:
        return x
"""
TESTS = """import threading

from pkg.calc import area, clamp, evens, first_line, guarded, jitter, stamp


def test_calls_without_checking(tmp_path):
    clamp(3)
    clamp(25)
    jitter(1.0)
    stamp()
    path = tmp_path / "f.txt"
    path.write_text("one\\ntwo\\n")
    first_line(str(path))
    list(evens(5))
    guarded(threading.Lock(), 4)


def test_area():
    assert area(2, 3) == 6
    assert area(0, 9) == 0
"""
# The model's answers: clamp's comparison flipped (tests call it, never check it); area rewritten correctly;
# the not-comparable functions changed in ways a comparison would catch, if one could be made.
ANSWERS = {
    "clamp": "def clamp(x):\n    return max(x, LIMIT)\n",
    "area": "def area(w, h):\n    return h * w\n",
    "jitter": "def jitter(x):\n    return x + random.random() * 2\n",
    "stamp": "def stamp():\n    return time.time() + 3600\n",
    "first_line": (
        "def first_line(path):\n    with open(path) as handle:\n        return handle.readline().strip()\n"
    ),
    "evens": "def evens(n):\n    for i in range(n):\n        if i % 2:\n            yield i\n",
    "guarded": "def guarded(lock, x):\n    with lock:\n        return x + 1\n",
}
STILL_WRONG = "def clamp(x):\n    return max(x, LIMIT)  # capped\n"  # the gate turn's answer


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    for name in ("PREFECT_API_URL", "PREFECT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIMLAPI_API_KEY", KEY)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("CODEMILL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return CliRunner()


def answer(body: dict[str, Any]) -> str:
    """ANSWERS' text for the chunk's function; any other chunk (the tests) unchanged."""
    chunk = re.findall(r"```python\n(.*?)```", body["messages"][1]["content"], re.DOTALL)[-1]
    found = re.search(r"^def (\w+)", chunk, re.MULTILINE)
    return ANSWERS.get(found.group(1) if found else "", chunk)


def run(runner: CliRunner, tmp_path: Path, test_cmd: str, turns: list[str]) -> Result:
    repo = make_repo(
        tmp_path / "repo",
        {"pkg/__init__.py": "", "pkg/calc.py": CALC, "tests/test_calc.py": TESTS},
    )
    (tmp_path / "tidy.md").write_text(tidy_recipe())

    def handler(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
        messages = body["messages"]
        if len(messages) > 2:  # a gate turn: the repaired answer
            turns.append(messages[-1]["content"])
            return FakeReply.completion(f"```python\n{STILL_WRONG}```")
        return FakeReply.completion(f"```python\n{answer(body)}```")

    with FakeModelServer(handler=handler) as server:
        return runner.invoke(
            app,
            [
                *("run", "--recipe", str(tmp_path / "tidy.md"), "--base-url", server.base_url),
                *("--test-cmd", test_cmd, "--dry-run", "--gate-repairs", "1"),
                *("--orchestrator", "local", "--no-progress", str(repo)),
            ],
        )


def records(output: str) -> list[dict[str, Any]]:
    match = re.search(r"^codemill: report (.+)$", output, re.MULTILINE)
    assert match, output
    lines = (Path(match.group(1)) / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def rows(output: str) -> dict[str, dict[str, Any]]:
    return {r["chunk"]: r for r in records(output) if r["record"] == "row"}


def run_record(output: str) -> dict[str, Any]:
    return next(r for r in records(output) if r["record"] == "end")


PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider tests"


def test_a_flipped_comparison_is_rejected_with_its_call_and_what_cannot_be_compared_is_counted(
    runner: CliRunner, tmp_path: Path
) -> None:
    turns: list[str] = []
    done = run(runner, tmp_path, PYTEST, turns)

    assert done.exit_code == 0, done.output
    found = rows(done.output)
    clamp = found["clamp"]
    observed = (
        "clamp(3) returned 10 but the original returned 3 "
        "(called by tests/test_calc.py::test_calls_without_checking)"
    )
    # the gate turn is shown the call; its answer, still flipped, is shadowed again and dropped
    [turn] = turns
    assert "changed what a call the tests make returns" in turn and observed in turn
    assert (clamp["status"], clamp["reason"], clamp["detail"]) == (
        "rejected",
        "behaviour-changed",
        observed,
    )
    assert clamp["gates"]["shadow"] == f"behaviour-changed after a gate turn: {observed}"
    assert clamp["gates"]["repaired"] == "dropped"
    assert run_record(done.output)["gates"]["shadow"] == (
        "7 functions shadowed, 4 calls compared, 1 behaviour changed"
    )
    area = found["area"]
    assert (area["status"], area["shadow_calls"], area["shadow_equal"]) == ("accepted", 2, 2)
    assert area["gates"]["shadow"] == "2 calls, 2 compared, 2 equal"
    # what cannot be compared is counted, never rejected, whatever the answer changed
    causes = {
        "jitter": "nondeterministic",
        "stamp": "nondeterministic",
        "first_line": "io",
        "evens": "generator",
        "guarded": "uncopyable",
    }
    for name, cause in causes.items():
        row = found[name]
        assert row["status"] == "accepted", row
        assert row["gates"]["shadow"] == f"1 calls, 0 compared, 0 equal; not comparable: {cause} 1"
        assert (row["shadow_calls"], row["shadow_equal"]) == (0, 0)


def test_without_pytest_the_same_answer_passes_the_tests(runner: CliRunner, tmp_path: Path) -> None:
    """What the shadow run adds: the suite alone (run as a plain script, not by pytest) passes it."""
    script = tmp_path / "run_tests.py"
    script.write_text(
        "import sys, pytest\nsys.path.insert(0, '.')\n"
        "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', 'tests']))\n"
    )
    done = run(runner, tmp_path, f"{sys.executable} {script}", [])

    found = rows(done.output)
    assert found["clamp"]["status"] == "accepted" and found["clamp"]["shadow_calls"] is None
    assert "shadow" not in found["clamp"]["gates"]
