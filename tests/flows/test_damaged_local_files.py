"""`codemill run` in-process on a real repository with hostile or damaged local files (issue 18, items 12
and 13): a recipe naming a module that is not a codemod is refused before that module runs; a damaged
response cache or state file is moved aside with one warning line naming both paths, and the run goes on.
Each leaves the user's checkout byte-identical and nothing half-written."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.fake_model_server import FakeModelServer, FakeReply
from support.gitrepo import fingerprint, git, make_repo
from support.inprocess import isolated_runner
from support.samples import tidy_recipe
from typer.testing import CliRunner, Result

from flows.cli import app
from pipeline.paths import default_cache_path, state_file
from pipeline.run.state import load_last_run

FILES = {"pkg/util.py": 'def twice(x):\n    foo = "%s%s" % (x, x)\n    return foo\n'}
RENAME = """\
import libcst as cst
from libcst.codemod import VisitorBasedCodemodCommand


class RenameFoo(VisitorBasedCodemodCommand):
    DESCRIPTION = "foo -> bar"

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        return updated_node.with_changes(value="bar") if updated_node.value == "foo" else updated_node
"""


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    return isolated_runner(monkeypatch, tmp_path)


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory of the test's own modules on sys.path, forgotten afterwards."""
    root = tmp_path / "mods"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in [n for n in sys.modules if n.startswith("cm_")]:
        del sys.modules[name]


def invoke(runner: CliRunner, repo: Path, *args: str) -> Result:
    return runner.invoke(app, ["run", *args, "--orchestrator", "local", "--no-progress", str(repo)])


def codemod_recipe(tmp_path: Path, *codemods: str) -> Path:
    path = tmp_path / "with-codemods.md"
    text = tidy_recipe().replace("select:", f"codemods: [{', '.join(codemods)}]\nselect:")
    path.write_text(text, encoding="utf-8")
    return path


def warnings(output: str) -> list[str]:
    return re.findall(r"^codemill: warning: (.*)$", output, re.MULTILINE)


def test_a_recipe_naming_a_module_that_is_not_a_codemod_is_refused_before_it_runs(
    runner: CliRunner, tmp_path: Path, modules: Path
) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    before = fingerprint(repo)
    marker = tmp_path / "ran.txt"
    (modules / "cm_loud.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Command: ...\n")
    assert "this" not in sys.modules
    for dotted, module in (("this.Zen", "this"), ("cm_loud.Command", "cm_loud")):
        recipe = codemod_recipe(tmp_path, dotted)
        refused = invoke(runner, repo, "--recipe", str(recipe), "--engine", "codemod")
        assert refused.exit_code == 2, refused.output
        assert refused.output == (
            f"codemill: {recipe}: unknown codemod {dotted!r}: the source of {module} defines no "
            f"libcst codemod class {dotted.rpartition('.')[2]}, so it was not imported\n"
        )
    assert "this" not in sys.modules and "cm_loud" not in sys.modules and not marker.exists()
    assert not (tmp_path / "state").exists()  # no report, no state
    assert fingerprint(repo) == before and git(repo, "branch", "--list").split() == ["*", "main"]


def test_a_real_codemod_outside_codemill_still_runs(
    runner: CliRunner, tmp_path: Path, modules: Path
) -> None:
    (modules / "cm_rename.py").write_text(RENAME)
    repo = make_repo(tmp_path / "repo", FILES)
    recipe = codemod_recipe(tmp_path, "cm_rename.RenameFoo")
    done = invoke(runner, repo, "--recipe", str(recipe), "--engine", "codemod", "--branch", "ren")
    assert done.exit_code == 0, done.output
    assert (
        git(repo, "show", "ren:pkg/util.py")
        == 'def twice(x):\n    bar = "%s%s" % (x, x)\n    return bar\n'
    )


SPY = """\
import os

import libcst as cst
from libcst.codemod import VisitorBasedCodemodCommand


class Spy(VisitorBasedCodemodCommand):
    DESCRIPTION = "writes what key it can see"

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        keys = [os.environ.get(name) for name in ("AIMLAPI_API_KEY", "MY_API_KEY")]
        with open({seen!r}, "a") as out:
            out.write(f"{{os.getpid()}} {{keys[0]}} {{keys[1]}}\\n")
        return updated_node
"""


@pytest.mark.parametrize("engine", ["codemod", "hybrid"])
@pytest.mark.parametrize("jobs", ["1", "2"], ids=["in-process", "forked-workers"])
def test_the_recipes_codemods_run_without_the_model_key(
    runner: CliRunner,
    tmp_path: Path,
    modules: Path,
    monkeypatch: pytest.MonkeyPatch,
    jobs: str,
    engine: str,
) -> None:
    """A hybrid run's model session keeps its key, and the process has it back after the codemods."""
    seen = tmp_path / "seen.txt"
    (modules / "cm_spy.py").write_text(SPY.format(seen=str(seen)))
    monkeypatch.setenv("AIMLAPI_API_KEY", "sk-default-SECRET")
    monkeypatch.setenv("MY_API_KEY", "sk-named-SECRET")
    files = {**FILES, "pkg/more.py": FILES["pkg/util.py"]}
    repo = make_repo(tmp_path / "repo", files)
    recipe = codemod_recipe(tmp_path, "cm_spy.Spy")
    args = ("--recipe", str(recipe), "--engine", engine, "--api-key-env", "MY_API_KEY")
    with FakeModelServer(handler=reply) as server:
        done = invoke(
            runner, repo, *args, "--jobs", jobs, "--dry-run", "--base-url", server.base_url
        )
    assert done.exit_code == 0, done.output
    lines = seen.read_text().splitlines()
    assert len(lines) == 2 and all(line.endswith(" None None") for line in lines), lines
    if engine == "hybrid":
        assert server.requests and all(
            r.headers["authorization"] == "Bearer sk-named-SECRET" for r in server.requests
        )
        assert os.environ["MY_API_KEY"] == "sk-named-SECRET"


def reply(body: dict[str, Any], headers: dict[str, str]) -> FakeReply:
    chunk = re.findall(r"```python\n(.*?)```", body["messages"][1]["content"], re.DOTALL)[-1]
    return FakeReply.completion(f"```python\n{chunk.replace('foo', 'bar')}```")


def test_a_damaged_response_cache_is_moved_aside_and_the_run_goes_on(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIMLAPI_API_KEY", "sk-test")
    repo = make_repo(tmp_path / "repo", FILES)
    before = fingerprint(repo)
    cache = default_cache_path({"XDG_CACHE_HOME": str(tmp_path / "cache")})
    with FakeModelServer(handler=reply) as server:
        args = ("--recipe", str(codemod_recipe(tmp_path)), "--base-url", server.base_url)
        first = invoke(runner, repo, *args, "--dry-run")
        assert first.exit_code == 0 and not warnings(first.output), first.output
        whole = cache.read_bytes()
        bad = whole[: len(whole) // 2]  # truncated (garbage: tests/model/test_cache.py)
        cache.write_bytes(bad)
        damaged = invoke(runner, repo, *args, "--dry-run")
        again = invoke(runner, repo, *args, "--dry-run")
    assert damaged.exit_code == 0, damaged.output
    [aside] = cache.parent.glob("responses.sqlite3.broken-*")
    assert aside.read_bytes() == bad
    assert warnings(damaged.output) == [
        f"the response cache {cache} was damaged (database disk image is malformed): moved it to {aside} "
        "and started a fresh one"
    ]
    assert "1 accepted" in damaged.output and "0 cache hits" in damaged.output
    assert again.exit_code == 0 and not warnings(again.output) and "1 cache hit\n" in again.output
    assert len(server.requests) == 2  # the first run's answer, then the damaged run's
    assert fingerprint(repo) == before


@pytest.mark.parametrize("record", ['{"recipe": 1}', "{not json"])
def test_a_damaged_state_file_is_moved_aside_and_since_last_run_covers_every_file(
    runner: CliRunner, tmp_path: Path, record: str
) -> None:
    repo = make_repo(tmp_path / "repo", FILES)
    before = fingerprint(repo)
    path = state_file(repo, "modernize", {"CODEMILL_STATE_DIR": str(tmp_path / "state")})
    path.parent.mkdir(parents=True)
    path.write_text(record)
    done = invoke(runner, repo, "--recipe", "modernize", "--since", "last-run", "--branch", "m")
    assert done.exit_code == 0, done.output
    [aside] = path.parent.glob("modernize.json.broken-*")
    assert aside.read_text() == record
    [warning] = warnings(done.output)
    assert warning.startswith(f"state file {path} was damaged (")
    assert warning.endswith(f"): moved it to {aside}; --since last-run covers every file")
    assert "codemill: --since: no previous successful run recorded: all files" in done.output
    saved = load_last_run(path)  # the run's own record replaced the damaged one
    assert saved is not None and saved.branch == "m"
    assert 'foo = f"{x}{x}"' in git(repo, "show", "m:pkg/util.py")
    assert fingerprint(repo) == before
