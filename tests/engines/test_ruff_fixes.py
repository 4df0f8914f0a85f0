"""ruff's fixes as a recipe's rewrites: `ruff:` entries in a recipe, ruff run once over every file of the run
(never once per file), the run's target Python, safe fixes unless the recipe opts in, each change proven per
chunk and naming its rule, and a missing or failing ruff as one sentence."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from support.gitrepo import make_repo
from typer.testing import CliRunner

from flows.cli import app
from pipeline.engines import ruff_fixes
from pipeline.engines.codemod_files import CodemodFileEngine
from pipeline.engines.ruff_fixes import RuffError, RuffFixer
from pipeline.judge.policy import Policy
from pipeline.judge.verdicts import Status
from pipeline.recipes.loading import RecipeError, load_recipe, parse_recipe
from pipeline.source.files import SourceFile

BODY = "## System\nsys\n## User\nDo it.\n$chunk\n"
OLD_STYLE = """\
from typing import Optional


class A(object):
    def f(self, x: Optional[int]):
        d = {"a": x}
        if "a" in d.keys():
            return "%s" % x
        return x
"""


def recipe_text(entries: str, extra: str = "") -> str:
    return f"---\nname: r\ndescription: d\nscope: any\ncodemods: {entries}\n{extra}---\n{BODY}"


def source(path: str, text: str) -> SourceFile:
    return SourceFile(path, text.encode(), text)


def fixed(
    rules: tuple[str, ...], text: str, target: tuple[int, int] = (3, 11), unsafe: bool = False
) -> str:
    found = RuffFixer(rules, target, unsafe=unsafe).fix([source("m.py", text)])
    return found["m.py"].text if "m.py" in found else text


def test_a_recipe_lists_ruff_rules_beside_its_codemods() -> None:
    codemod = "pipeline.codemods.RemoveObjectBaseCommand"
    recipe = parse_recipe(
        recipe_text(f"[{codemod}, 'ruff:UP', 'ruff:SIM118']", "unsafe_fixes: true\n"), "r.md"
    )
    assert recipe.codemods == (codemod,)
    assert recipe.ruff_rules == ("UP", "SIM118") and recipe.unsafe_fixes
    assert recipe.deterministic
    assert parse_recipe(recipe_text("['ruff:UP']"), "r.md").unsafe_fixes is False
    with pytest.raises(RecipeError, match=r"r.md: `ruff:up; rm` in `codemods` is not a ruff rule"):
        parse_recipe(recipe_text("['ruff:up; rm']"), "r.md")
    with pytest.raises(RecipeError, match="`unsafe_fixes` must be true or false"):
        parse_recipe(recipe_text("['ruff:UP']", "unsafe_fixes: yes please\n"), "r.md")
    assert load_recipe("modernize").ruff_rules == ("UP",)


def test_ruff_runs_twice_for_the_whole_run_not_once_per_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[list[str]] = []
    real = subprocess.run

    def spy(args: list[str], **kwargs: Any) -> Any:
        calls.append(args)
        return real(args, **kwargs)

    monkeypatch.setattr(ruff_fixes.subprocess, "run", spy)
    files = [source(f"pkg/m{i}.py", OLD_STYLE) for i in range(40)]
    files.append(source("pkg/clean.py", "x = 1\n"))
    found = RuffFixer(("UP", "SIM118"), (3, 11)).fix(files)

    assert len(calls) == 2  # the JSON report and the fixes, each over all 41 files
    assert sorted(found) == sorted(f"pkg/m{i}.py" for i in range(40))
    rules = {span.rule: (span.first, span.last) for span in found["pkg/m7.py"].spans}
    assert rules == {"ruff:UP004": (4, 4), "ruff:UP045": (5, 5), "ruff:SIM118": (7, 7)}
    assert "class A:" in found["pkg/m7.py"].text and 'if "a" in d:' in found["pkg/m7.py"].text


def test_safe_fixes_only_unless_the_recipe_opts_in_and_at_the_runs_target() -> None:
    assert '"%s" % x' in fixed(("UP031",), OLD_STYLE)  # UP031's fix is unsafe
    assert '"{}".format(x)' in fixed(("UP031",), OLD_STYLE, unsafe=True)
    assert "Optional[int]" in fixed(("UP045",), OLD_STYLE, target=(3, 9))  # X | None is 3.10
    assert "x: int | None" in fixed(("UP045",), OLD_STYLE, target=(3, 10))


def test_a_missing_or_failing_ruff_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    files = [source("m.py", OLD_STYLE)]
    with pytest.raises(RuffError, match=r"^ruff could not run \(/nowhere/ruff\): "):
        RuffFixer(("UP",), (3, 11), command=["/nowhere/ruff"]).fix(files)
    with pytest.raises(RuffError, match=r"^ruff failed \(exit 2\) on the run's files: .*ZZZ999"):
        RuffFixer(("ZZZ999",), (3, 11)).fix(files)
    monkeypatch.setitem(__import__("sys").modules, "ruff.__main__", None)
    with pytest.raises(RuffError, match=r"^the recipe lists ruff rules but ruff is not installed"):
        ruff_fixes.ruff_command()


def test_each_chunk_ruff_changed_is_proven_and_names_its_rules() -> None:
    """Under modernize's scope: what ruff changed is judged per chunk, as a model's answer is."""
    recipe = replace(load_recipe("modernize"), codemods=(), ruff_rules=("UP", "SIM118"))
    text = OLD_STYLE + '\n\ndef g(p):\n    return "<{}>".format(p)\n'
    engine = CodemodFileEngine(recipe, Policy(recipe.allowances), budget=2000)
    engine.find_ruff_fixes([source("m.py", text)])
    outcome = engine.refactor_source(source("m.py", text))
    by_name = {p.chunk.name: p for p in outcome.proposals}

    # modernize's scope keeps out SIM118's dropped call: proven like any answer, and rejected
    assert by_name["A"].verdict.status is Status.REJECTED and by_name["A"].new_text is None
    assert "outside the recipe's scope (modernize)" in by_name["A"].verdict.detail
    assert by_name["A"].rules == ("ruff:UP004", "ruff:UP045", "ruff:SIM118")
    assert by_name["g"].rules == ("ruff:UP032",) and by_name["g"].engine == "codemod"
    assert by_name["g"].new_text == 'def g(p):\n    return f"<{p}>"\n'


def test_an_offline_run_lands_ruffs_fixes_and_a_missing_ruff_stops_it_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AIMLAPI_API_KEY", raising=False)
    monkeypatch.setenv("CODEMILL_STATE_DIR", str(tmp_path / "state"))
    repo = make_repo(tmp_path / "repo", {"pkg/m.py": OLD_STYLE})
    recipe = tmp_path / "ruff.md"
    recipe.write_text(recipe_text("['ruff:UP', 'ruff:SIM118']", "allow: {annotations: true}\n"))
    args = ["run", "--recipe", str(recipe), "--orchestrator", "local", "--no-progress"]
    done = CliRunner().invoke(app, [*args, "--branch", "ruffed", str(repo)])
    monkeypatch.setattr(ruff_fixes, "find_ruff_bin", None, raising=False)
    monkeypatch.setitem(__import__("sys").modules, "ruff.__main__", None)
    missing = CliRunner().invoke(app, [*args, "--dry-run", str(repo)])

    assert done.exit_code == 0, done.output
    report = Path(next(line for line in done.output.splitlines() if "report" in line).split()[-1])
    rows = [json.loads(line) for line in (report / "ledger.jsonl").read_text().splitlines()]
    [a] = [r for r in rows if r.get("chunk") == "A"]
    assert a["status"] == "accepted" and a["engine"] == "codemod"
    assert a["rule"] == "ruff:UP004,ruff:UP045,ruff:SIM118"
    assert "`ruff:UP004` 1" in (report / "summary.md").read_text()
    assert missing.exit_code == 2
    assert missing.output.strip().endswith(
        "ruff is not installed: pip install ruff (codemill's pinned dependency)"
    )


def test_a_ruff_fix_out_of_scope_never_costs_the_codemods_own_change() -> None:
    """UP010 drops a `__future__` import (out of modernize's scope) in the chunk where the object base
    goes: that chunk gets the libcst codemods' change alone, and the file still changes."""
    recipe = load_recipe("modernize")
    head = "from __future__ import print_function\nimport sys\n\n"
    text = head + "if sys:\n    class A(object):\n        pass\n"
    engine = CodemodFileEngine(recipe, Policy(recipe.allowances), budget=2000)
    engine.find_ruff_fixes([source("m.py", text)])
    [only] = engine.refactor_source(source("m.py", text)).proposals

    assert only.verdict.status is Status.ACCEPTED
    assert only.rules == ("RemoveObjectBaseCommand",)
    assert only.verdict.detail.startswith("without ruff:UP010, ruff:UP004: Line 1 changes")
    assert only.new_text == text.replace("A(object)", "A")
