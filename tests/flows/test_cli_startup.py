"""Start-up: listing and showing recipes, and refusing a bad run, load none of the heavy packages.

Each command runs in a fresh interpreter (what a user's shell does), and the modules it imported are read
from `sys.modules` at exit: a module-level import of libcst, Prefect, httpx or GitPython creeping back
into these paths fails here, long before anyone notices the seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.cli_support import make_cli_env
from support.gitrepo import make_repo

HEAVY = {"libcst", "prefect", "httpx", "git"}
RUN_CLI = (
    "import atexit, json, sys\n"
    "atexit.register(lambda: print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})),"
    " file=sys.__stderr__))\n"
    "sys.argv = ['codemill', *sys.argv[1:]]\n"
    "from flows.cli import main\n"
    "main()\n"
)


def imported_by(args: list[str], cwd: Path) -> tuple[int, str, set[str]]:
    """Exit code, stdout and the top-level packages loaded by `codemill ARGS` in a new interpreter."""
    env = make_cli_env(cwd.parent / "home", prefect_api=None).env
    done = subprocess.run(
        [sys.executable, "-c", RUN_CLI, *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    packages = set(json.loads(done.stderr.strip().splitlines()[-1]))
    return done.returncode, done.stdout + done.stderr, packages


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--help"], "show-recipe"),
        (["recipes"], "modernize"),
        (["show-recipe", "modernize"], "f-strings"),
    ],
    ids=["help", "recipes", "show-recipe"],
)
def test_listing_and_showing_recipes_import_no_heavy_package(
    tmp_path: Path, args: list[str], says: str
) -> None:
    code, out, packages = imported_by(args, tmp_path)
    assert code == 0, out
    assert says in out
    assert not packages & HEAVY, packages & HEAVY
    assert not packages & {"pydantic", "rich"}, packages & {"pydantic", "rich"}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--recipe", "nope", "--dry-run"], "nope: no such recipe"),
        (["--dry-run", "--base", "nosuch"], "nosuch"),
        (["--branch", "main"], "branch 'main' already exists"),
    ],
    ids=["unknown-recipe", "bad-base", "branch-exists"],
)
def test_a_bad_run_is_refused_before_the_engines_load(
    tmp_path: Path, args: list[str], says: str
) -> None:
    repo = make_repo(tmp_path / "repo", {"m.py": "def f(x):\n    return 'v%s' % x\n"})
    code, out, packages = imported_by(["run", ".", *args], repo)
    assert code == 2, out
    assert says in out
    assert "git" in packages  # the repository was opened to check the base and the branch
    light = {"libcst", "prefect", "httpx", "pydantic"}  # pydantic: Typer's converter for options
    assert not packages & light, packages & light
