"""The safety gates through the real CLI: target syntax, runtime unions, broken imports, broken tests."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from support.cli_support import LLM, codemill, make_cli_env
from support.fake_model_server import FakeModelServer, FakeReply
from support.gitrepo import fingerprint, git, make_repo
from support.samples import tidy_recipe

RECIPE = tidy_recipe("function, method, class, statements")

FILES = {
    "pkg/__init__.py": "",
    "pkg/config.py": 'import os\n\nTIMEOUT = int(os.environ.get("TIMEOUT", "30"))\n',
    "pkg/shapes.py": (
        "from typing import Optional\n\n\n"
        "def area(w, h):\n    return w * h\n\n\n"
        'def label(name):\n    return "shape %s" % name\n\n\n'
        'Maybe = Optional["Shape"]\n'
    ),
    "pkg/words.py": (
        'def greet(name):\n    return "hi %s" % name\n\n\n'
        'def bang(name):\n    return "%s!" % name\n'
    ),
    "tests/test_shapes.py": (
        "from pkg.shapes import area, label\n\n\n"
        "def test_area():\n    assert area(2, 3) == 6\n\n\n"
        'def test_label():\n    assert label("x") == "shape x"\n'
    ),
    "tests/test_words.py": (
        "from pkg.words import bang, greet\n\n\n"
        'def test_greet():\n    assert greet("a") == "hi a"\n\n\n'
        'def test_bang():\n    assert bang("a") == "a!"\n'
    ),
}

# What the fake model answers, by a line of the chunk it was sent.
ANSWERS = {
    "TIMEOUT =": 'import os\n\nTIMEOUT = int(os.environ["CODEMILL_UNSET_VARIABLE"])\n',
    "def area": "def area(w, h):\n    return w * h + 1\n",  # breaks test_area
    "def label": 'def label(name):\n    return f"shape {name}"\n',
    "Maybe =": 'Maybe = "Shape" | None\n',  # TypeError at import: rejected before any gate
    "def greet": 'def greet(name):\n    return f"hi {name}"\n',
    "def bang": 'def bang(name):\n    return f"{name + "!"}"\n',  # PEP 701: Python 3.12 only
}


def answer(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
    chunk = re.findall(r"```python\n(.*?)```", body["messages"][1]["content"], re.DOTALL)[-1]
    for marker, code in ANSWERS.items():
        if marker in chunk:
            return FakeReply.completion(f"```python\n{code}```")
    return FakeReply.completion(f"```python\n{chunk}```")


def test_gates_keep_what_works_and_name_what_broke(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    recipe = tmp_path / "tidy.md"
    recipe.write_text(RECIPE)
    cli = make_cli_env(tmp_path / "home", None)
    before = fingerprint(repo)
    with FakeModelServer(handler=answer) as server:
        done = codemill(
            cli,
            "run",
            ".",
            "--recipe",
            str(recipe),
            "--base-url",
            server.base_url,
            "--branch",
            "cm/gates",
            "--target-python",
            "3.11",
            "--import-check",
            "--test-cmd",
            "python -m pytest -q -p no:cacheprovider tests",
            cwd=repo,
            extra_env={"AIMLAPI_API_KEY": "sk-test", **LLM},
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert fingerprint(repo) == before

    report = Path(re.search(r"^codemill: report (.+)$", done.stdout, re.MULTILINE).group(1))
    lines = [json.loads(x) for x in (report / "ledger.jsonl").read_text().splitlines()]
    rows = {r["chunk"]: r for r in lines if r["record"] == "row"}
    end = next(r for r in lines if r["record"] == "end")

    assert rows["bang"]["reason"] == "target-syntax" and "3.12" in rows["bang"]["detail"]
    statements = [
        r for r in rows.values() if r["path"] == "pkg/shapes.py" and r["kind"] == "statements"
    ]
    assert any(r["reason"] == "runtime-annotation" for r in statements)
    timeout_row = next(
        r for r in rows.values() if r["path"] == "pkg/config.py" and r["status"] != "skipped"
    )
    assert timeout_row["reason"] == "breaks-import"
    assert "KeyError" in timeout_row["detail"] and timeout_row["gates"]["import"].startswith(
        "breaks-import"
    )
    assert rows["area"]["reason"] == "breaks-tests"
    assert "tests/test_shapes.py::test_area" in rows["area"]["detail"]
    for kept in ("label", "greet"):
        assert rows[kept]["status"] == "accepted", rows[kept]
        gates = {g: d for g, d in rows[kept]["gates"].items() if g != "shadow"}  # (its calls)
        assert gates == {"import": "passed", "tests": "passed"}
    runs = int(re.match(r"(\d+) test runs", end["gates"]["tests"]).group(1))
    assert 3 <= runs <= 8

    # Only the working changes reached the branch.
    shapes = git(repo, "show", "cm/gates:pkg/shapes.py")
    assert 'f"shape {name}"' in shapes and "w * h\n" in shapes and "Optional[" in shapes
    assert git(repo, "show", "cm/gates:pkg/config.py") == FILES["pkg/config.py"]
    words = git(repo, "show", "cm/gates:pkg/words.py")
    assert 'f"hi {name}"' in words and '"%s!" % name' in words
    summary = (report / "summary.md").read_text()
    assert "test runs in" in summary and "breaks-tests" in summary and "breaks-import" in summary


def test_a_red_base_still_refuses_the_run_with_the_early_base_run(tmp_path: Path) -> None:
    """The base run now starts with the run; its red outcome still refuses the run at the gate."""
    files = {**FILES, "tests/test_old.py": "def test_already_broken():\n    assert False\n"}
    repo = make_repo(tmp_path / "repo", files)
    cli = make_cli_env(tmp_path / "home", None)
    before = fingerprint(repo)
    tests = "python -m pytest -q -p no:cacheprovider tests"
    args = ["run", ".", "--engine", "codemod", "--recipe", "modernize", "--no-import-check"]
    done = codemill(cli, *args, "--branch", "cm/red", "--test-cmd", tests, cwd=repo)
    assert done.returncode == 2, done.stdout + done.stderr
    assert (
        "already fails on the base commit (tests/test_old.py::test_already_broken)" in done.stderr
    )
    assert git(repo, "branch", "--list", "cm/red") == ""
    assert git(repo, "worktree", "list").count("\n") == 1
    assert fingerprint(repo) == before
    allowed = codemill(
        cli, *args, "--branch", "cm/red", "--test-cmd", tests, "--allow-failing-base", cwd=repo
    )
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "cm/red" in git(repo, "branch", "--list", "cm/red")
