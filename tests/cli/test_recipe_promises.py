"""Each built-in recipe that needs the model, driven end to end through the real `codemill` command with the
loopback model answering as a good model would: the change lands in the patch, accepted. (`modernize` runs
end to end offline and with the model in the other CLI tests.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from support.cli_support import LLM, CliEnv, codemill, make_cli_env
from support.fake_model_server import FakeModelServer, FakeReply
from support.gitrepo import make_repo
from support.outputs import ledger_rows, report_dir

FILES = {
    "docs.py": "def area(w, h):\n    return w * h\n",
    "hints.py": "def scale(value, factor):\n    return value * factor\n",
    "nested.py": (
        "def first_even(items):\n"
        "    for item in items:\n"
        "        if item is not None:\n"
        "            if item % 2 == 0:\n"
        "                return item\n"
        "    return None\n"
    ),
    "test_legacy.py": (
        "import unittest\n\n\n"
        "class TestMath(unittest.TestCase):\n"
        "    def test_add(self):\n"
        "        self.assertEqual(1 + 1, 2)\n"
    ),
}
# recipe -> (its file, the rewrite a good model makes in the chunk it is sent, a line of the new file)
RECIPES = {
    "docstrings": (
        "docs.py",
        ("def area(w, h):\n", 'def area(w, h):\n    """The area of a w by h rectangle."""\n'),
        '+    """The area of a w by h rectangle."""',
    ),
    "type-hints": (
        "hints.py",
        ("def scale(value, factor):", "def scale(value: float, factor: float) -> float:"),
        "+def scale(value: float, factor: float) -> float:",
    ),
    "simplify": (
        "nested.py",
        (
            "if item is not None:\n            if item % 2 == 0:\n                return item\n",
            "if item is not None and item % 2 == 0:\n            return item\n",
        ),
        "+        if item is not None and item % 2 == 0:",
    ),
    "unittest-to-pytest": (
        "test_legacy.py",
        ("self.assertEqual(1 + 1, 2)", "assert 1 + 1 == 2"),
        "+        assert 1 + 1 == 2",
    ),
}


@pytest.fixture
def cli(tmp_path: Path) -> CliEnv:
    """No Prefect API: these runs prove answers, not orchestration, so they run local (seconds cheaper)."""
    return make_cli_env(tmp_path / "home", None)


def test_every_model_recipe_end_to_end(tmp_path: Path, cli: CliEnv) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    rewrites = dict(rewrite for _, rewrite, _ in RECIPES.values())

    def good_model(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
        chunk = re.findall(r"```python\n(.*?)```", body["messages"][-1]["content"], re.DOTALL)[-1]
        for old, new in rewrites.items():
            chunk = chunk.replace(old, new)
        return FakeReply.completion(f"<think>\nDone.\n</think>\n\n```python\n{chunk}```")

    with FakeModelServer(handler=good_model) as server:
        for recipe, (path, _, added) in RECIPES.items():
            done = codemill(
                cli,
                "run",
                ".",
                "--recipe",
                recipe,
                "--dry-run",
                "--include",
                path,
                "--base-url",
                server.base_url,
                cwd=repo,
                extra_env={"AIMLAPI_API_KEY": "sk-recipes", **LLM},
            )
            assert done.returncode == 0, (recipe, done.stdout + done.stderr)
            report = report_dir(done.stdout)
            assert added in (report / "changes.patch").read_text(), recipe
            statuses = {r["status"] for r in ledger_rows(report) if r["attempts"]}
            assert "accepted" in statuses and "rejected" not in statuses, (recipe, statuses)
