"""README promises of `codemill run` with the offline engine, through the real command on real repositories:
`--base`, `--commit-per` from `[tool.codemill]`, `--force-branch` and the messages of a refused run, exit
code 1 and `--debug`, dry runs that gate (the codemod engine's import check on by default,
`--no-import-check`), `--test-cmd` with `--allow-failing-base` and `--test-timeout`, and a failed push whose
URL password shows nowhere."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest
from support.cli_support import CliEnv, codemill, make_cli_env
from support.gitrepo import git, make_repo
from support.outputs import leaks, ledger_rows, report_dir

OLD_STYLE = {
    "pyproject.toml": (
        '[project]\nname = "demo"\nversion = "0"\n\n'
        '[tool.codemill]\ncommit_per = "run"\nexclude = ["legacy/"]\n'
    ),
    "pkg/__init__.py": "",
    "pkg/models.py": "class Item(object):\n    pass\n",
    "pkg/util.py": 'def twice(x):\n    return "%s%s" % (x, x)\n',
    "legacy/old.py": "class Old(object):\n    pass\n",
}

# Optional[Thing] -> `Thing | None`: evaluated at import, where Thing's metaclass refuses unions.
REFUSES_UNIONS = """from typing import Optional


class Meta(type):
    def __or__(cls, other):
        raise TypeError("Thing makes no unions")


class Thing(metaclass=Meta):
    pass


def find(name: Optional[Thing] = None) -> Optional[Thing]:
    return name
"""
GATED = {
    "pkg/__init__.py": "",
    "pkg/things.py": REFUSES_UNIONS,
    "pkg/util.py": 'def twice(x):\n    return "%s%s" % (x, x)\n',
    "tests/test_util.py": (
        "from pkg.util import twice\n\n\n"
        'def test_twice():\n    assert twice("a") == "aa"\n\n\n'
        "def test_known_broken():\n    assert False, 'broken before codemill'\n"
    ),
}
PYTEST = "python -m pytest -q -p no:cacheprovider tests"


@pytest.fixture
def cli(tmp_path: Path) -> CliEnv:
    return make_cli_env(tmp_path / "home", None)  # local; the test about Prefect makes its own


def test_base_settings_from_pyproject_force_branch_and_refusals(
    tmp_path: Path, cli: CliEnv
) -> None:
    repo = make_repo(tmp_path / "repo", OLD_STYLE)
    first = git(repo, "rev-parse", "HEAD").strip()
    (repo / "pkg" / "util.py").write_text(OLD_STYLE["pkg/util.py"] + '\n\nNOTE = "%d" % 2\n')
    git(repo, "commit", "-qam", "second")

    done = codemill(cli, "run", ".", "--base", "HEAD~1", "--branch", "cm/base", cwd=repo)

    assert done.returncode == 0, done.stdout + done.stderr
    assert git(repo, "rev-parse", "cm/base~1").strip() == first  # branched from --base
    subjects = git(repo, "log", "--format=%s", "main~1..cm/base").splitlines()
    assert subjects == ["refactor(modernize): 2 files"]  # commit_per = "run" from [tool.codemill]
    assert "NOTE" not in git(repo, "show", "cm/base:pkg/util.py")
    assert git(repo, "show", "cm/base:legacy/old.py") == OLD_STYLE["legacy/old.py"]

    taken = codemill(cli, "run", ".", "--branch", "cm/base", cwd=repo)
    assert taken.returncode == 2
    assert re.search(  # a hint that never offers to overwrite another run's branch
        r"branch 'cm/base' already holds codemill run \S+; name another with --branch$",
        taken.stderr,
    ), taken.stderr
    forced = codemill(cli, "run", ".", "--branch", "cm/base", "--force-branch", cwd=repo)
    assert forced.returncode == 0, forced.stderr
    assert git(repo, "rev-parse", "cm/base~1").strip() == git(repo, "rev-parse", "main").strip()

    missing = codemill(cli, "run", str(tmp_path / "nowhere"), cwd=repo)
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"codemill: {tmp_path / 'nowhere'} does not exist"
    version = codemill(cli, "run", ".", "--dry-run", "--target-python", "abc", cwd=repo)
    assert version.returncode == 2
    assert "--target-python='abc' is not a Python version: expected X.Y" in version.stderr


def test_an_internal_failure_exits_1_and_debug_shows_the_traceback(
    tmp_path: Path, cli: CliEnv
) -> None:
    repo = make_repo(tmp_path / "repo", {"pkg/util.py": OLD_STYLE["pkg/util.py"]})
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(
        "import pipeline.repository as repository\n\n\n"
        "def broken(path):\n    raise RuntimeError('injected fault')\n\n\n"
        "repository.open_repository = broken\n"
    )
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(inject), os.environ.get("PYTHONPATH")]))}

    plain = codemill(cli, "run", ".", "--dry-run", cwd=repo, extra_env=env)
    debug = codemill(cli, "run", ".", "--dry-run", "--debug", cwd=repo, extra_env=env)

    assert plain.returncode == 1, plain.stdout + plain.stderr
    assert plain.stderr.strip() == "codemill: internal error: RuntimeError: injected fault"
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert "injected fault" in debug.stderr.splitlines()[-1]


def test_dry_runs_gate_too_and_the_gates_follow_their_flags(tmp_path: Path, cli: CliEnv) -> None:
    repo = make_repo(tmp_path / "repo", GATED)

    def dry(*args: str) -> subprocess.CompletedProcess[str]:
        return codemill(cli, "run", ".", "--dry-run", *args, cwd=repo)

    refused = dry("--test-cmd", PYTEST)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "test_known_broken" in refused.stderr and "base" in refused.stderr

    gated = dry("--test-cmd", PYTEST, "--allow-failing-base")
    assert gated.returncode == 0, gated.stdout + gated.stderr
    report = report_dir(gated.stdout)
    rows = {r["path"]: r for r in ledger_rows(report) if r["status"] != "skipped"}
    assert (
        rows["pkg/things.py"]["reason"] == "breaks-import"
    )  # the codemod default: import check on
    assert "Thing makes no unions" in rows["pkg/things.py"]["detail"]
    assert rows["pkg/util.py"]["status"] == "accepted"
    assert rows["pkg/util.py"]["gates"]["tests"] == "passed"  # only the known failure failed
    patch = (report / "changes.patch").read_text()
    assert "b/pkg/util.py" in patch and "pkg/things.py" not in patch

    unchecked = dry("--no-import-check")
    assert unchecked.returncode == 0, unchecked.stderr
    assert (
        "+def find(name: Thing | None = None)"
        in (report_dir(unchecked.stdout) / "changes.patch").read_text()
    )

    slow = dry("--test-cmd", "python -c 'import time; time.sleep(60)'", "--test-timeout", "1")
    assert slow.returncode == 2, slow.stdout + slow.stderr
    assert "did not finish within 1 s on the base commit" in slow.stderr


def test_a_failed_push_to_a_url_shows_its_password_nowhere(tmp_path: Path, cli: CliEnv) -> None:
    repo = make_repo(tmp_path / "repo", {"pkg/util.py": OLD_STYLE["pkg/util.py"]})
    password = "pw-5EC12E7-push"
    url = f"http://alice:{password}@127.0.0.1:9/team/repo.git"  # port 9: nothing listens

    done = codemill(cli, "run", ".", "--branch", "cm/push", "--push", url, cwd=repo)

    assert done.returncode != 0, done.stdout + done.stderr
    assert "was committed but pushing to http://***@127.0.0.1:9/team/repo.git failed" in (
        done.stderr
    )
    assert git(repo, "rev-parse", "--verify", "cm/push")
    assert not leaks([password], done=[done], roots=[cli.home], repos=[repo])


def test_a_push_url_password_never_reaches_prefect(
    tmp_path: Path, prefect_api: str, prefect_home: Path
) -> None:
    cli = make_cli_env(tmp_path / "home", prefect_api)
    repo = make_repo(tmp_path / "repo", {"pkg/util.py": OLD_STYLE["pkg/util.py"]})
    password = "pw-PREFECT-5EC12E7"
    url = f"http://alice:{password}@127.0.0.1:9/team/repo.git"
    done = codemill(cli, "run", ".", "--branch", "cm/push", "--push", url, cwd=repo)
    runs = httpx.post(f"{prefect_api}/flow_runs/filter", json={}).json()
    assert done.stderr and runs
    assert password not in json.dumps(runs)
    assert not leaks([password], done=[done], roots=[prefect_home], repos=[repo])
