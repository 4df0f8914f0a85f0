"""The parent flow's body without a server: known results journaled and reported, the fleet budget keeping
a repository from starting, the fleet's memory updated; and the command's up-front checks."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from flows.fleet import FleetJob, refactor_fleet
from flows.fleet_setup import checked_overrides, recipe_text
from pipeline.config import ConfigError
from pipeline.fleet import memory
from pipeline.fleet.fleetfile import FleetEntry
from pipeline.fleet.plan import Member, Work
from pipeline.fleet.spend import FleetSpend
from pipeline.recipes.loading import load_recipe
from pipeline.records.repo_result import RepoResult, RepoStatus


def test_parent_flow_reports_known_results_and_refuses_what_the_budget_cannot_pay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done = RepoResult("app", "app-1", RepoStatus.CHANGED, base_commit="a" * 40, run_id="r1",
                      fingerprint="p", files_changed=2, accepted=3)  # fmt: skip
    waiting = Member("lib", "lib-2", "file:///x", "b" * 40, {}, "p")
    spent = FleetSpend(1.0, spent=1.0)
    job = FleetJob(
        fleet_run="f1", fleet_file=tmp_path / "fleet.toml", recipe="modernize", fingerprint="fp",
        plan=[Work(FleetEntry("app", "s", 1), known=done),
              Work(FleetEntry("lib", "file:///x", 4), members=(waiting,))],
        deployment="none/none", directory=tmp_path / "state", report_dir=tmp_path / "report",
        spend=spent,
    )  # fmt: skip
    run = asyncio.run(refactor_fleet.fn(job))
    assert [r.status for r in run.results] == [RepoStatus.CHANGED, RepoStatus.NOT_STARTED]
    assert "--max-cost was reached" in run.results[1].reason and run.exit_code == 0
    told = capsys.readouterr().err.splitlines()  # each repository said as it ends; known ones not
    assert [line for line in told if line.startswith("codemill: [")] == [
        f"codemill: [1/1] lib: not-started: {run.results[1].reason}"
    ]
    report = json.loads((tmp_path / "report" / "fleet.json").read_text())
    assert report["totals"]["by_status"] == {"changed": 1, "not-started": 1}
    fingerprint, ended, journaled = memory.read_journal(
        tmp_path / "state" / "runs" / "f1" / memory.JOURNAL
    )
    assert (fingerprint, ended, [r.name for r in journaled]) == ("fp", True, ["app", "lib"])
    assert set(memory.load_memory(tmp_path / "state")) == {"app-1"}  # only the success


def test_recipe_text_is_stable_and_settings_are_checked_up_front() -> None:
    recipe = load_recipe("modernize")
    assert recipe_text(recipe) == recipe_text(load_recipe("modernize"))
    assert recipe_text(recipe) != recipe_text(load_recipe("docstrings"))
    assert checked_overrides({"max-cost": "0.5"}) == {"max_cost": "0.5"}
    with pytest.raises(ConfigError, match="concurrency"):
        checked_overrides({"concurrency": "lots"})
