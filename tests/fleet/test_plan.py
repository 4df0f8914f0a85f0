"""The fleet's decisions: skip what is unchanged, resume what was stopped, --since per repository, shards,
one budget, one exit code."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.gitrepo import git, make_repo

from pipeline.fleet import memory
from pipeline.fleet.fleetfile import load_fleet
from pipeline.fleet.memory import Journal
from pipeline.fleet.plan import FleetOptions, Member, plan_fleet
from pipeline.fleet.shards import split_paths
from pipeline.fleet.spend import FleetSpend
from pipeline.records.repo_result import RepoResult, RepoStatus, fleet_exit_code

OPTIONS = FleetOptions(recipe="modernize", recipe_text="the recipe")


def two_repos(tmp_path: Path) -> Path:
    for name in ("app", "lib"):
        files = {f"{name}/m{i}.py": f"x = {i}\n" for i in range(5)} | {"README.md": "r\n"}
        make_repo(tmp_path / name, files)
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('push = "origin"\n[[repo]]\npath = "app"\n[[repo]]\npath = "lib"\n')
    return fleet


def succeeded(member: Member) -> RepoResult:
    return RepoResult(
        member.name,
        member.key,
        RepoStatus.CHANGED,
        base_commit=member.base_commit,
        run_id="r",
        fingerprint=member.fingerprint,
    )


def test_unchanged_repositories_are_skipped_until_base_or_settings_move(tmp_path: Path) -> None:
    fleet = load_fleet(two_repos(tmp_path))
    store, state = tmp_path / "cache", tmp_path / "state"
    first = plan_fleet(fleet, OPTIONS, store, memory.load_memory(state), None)
    assert all(w.known is None and len(w.members) == 1 for w in first)
    remembered = memory.load_memory(state)
    for work in first:
        memory.remember(state, remembered, succeeded(work.members[0]), "f1")

    again = plan_fleet(fleet, OPTIONS, store, memory.load_memory(state), None)
    assert [w.known.status if w.known else None for w in again] == ["skipped", "skipped"]
    assert again[0].known is not None and "unchanged since fleet run f1" in again[0].known.reason

    git(tmp_path / "lib", "commit", "-q", "--allow-empty", "-m", "moved")
    other = FleetOptions("modernize", "the recipe", overrides={"concurrency": 2}, since="last-run")
    moved = plan_fleet(fleet, other, store, memory.load_memory(state), None)
    assert all(w.known is None for w in moved)  # one has a new base, both new settings
    lib = moved[1].members[0]
    assert lib.since == first[1].members[0].base_commit  # last-run: the files since that base
    assert lib.settings["base"] == git(tmp_path / "lib", "rev-parse", "HEAD").strip()
    forced = FleetOptions("modernize", "the recipe", force=True)
    assert all(w.known is None for w in plan_fleet(fleet, forced, store, remembered, None))


def test_a_stopped_fleet_run_resumes_with_what_it_had_not_finished(tmp_path: Path) -> None:
    fleet = load_fleet(two_repos(tmp_path))
    plan = plan_fleet(fleet, OPTIONS, tmp_path / "cache", {}, None)
    directory = tmp_path / "state"
    journal = Journal(directory / "runs" / "f1" / memory.JOURNAL)
    journal.start("f1", "print")
    journal.add(succeeded(plan[0].members[0]))
    interrupted = succeeded(plan[1].members[0])
    journal.add(RepoResult(interrupted.name, interrupted.key, RepoStatus.STOPPED, exit_code=130))
    with journal.path.open("a") as torn:
        torn.write('{"record": "repo", "na')  # killed mid-line

    resume = memory.resumable(directory, "print")
    assert resume is not None and resume.fleet_run == "f1"
    assert set(resume.finished) == {plan[0].entry.key}
    resumed = plan_fleet(fleet, OPTIONS, tmp_path / "cache", {}, resume)
    assert resumed[0].known is not None and resumed[1].known is None
    assert memory.resumable(directory, "other settings") is None
    journal.end(0)
    assert memory.resumable(directory, "print") is None


def test_shard_by_paths_splits_python_files_into_contiguous_dry_runs(tmp_path: Path) -> None:
    fleet = load_fleet(two_repos(tmp_path))
    options = FleetOptions("modernize", "t", shard_by="paths", shards=2)
    work = plan_fleet(fleet, options, tmp_path / "cache", {}, None)[0]
    assert [m.paths for m in work.members] == [
        ("app/m0.py", "app/m1.py"),
        ("app/m2.py", "app/m3.py", "app/m4.py"),
    ]
    assert all(m.run_settings()["dry_run"] is True and m.shards == 2 for m in work.members)
    assert "dry_run" not in work.members[0].settings  # the combined run commits as configured
    assert [m.label for m in work.members] == ["app [1/2]", "app [2/2]"]
    assert Member.from_params(work.members[1].to_params()) == work.members[1]
    assert split_paths(["a.py", "b/c.py", "b/d.txt"], ["b"], 5) == [("b/c.py",)]


def test_a_repository_that_cannot_be_fetched_fails_alone(tmp_path: Path) -> None:
    fleet_file = two_repos(tmp_path)
    fleet = load_fleet(fleet_file)
    git(tmp_path / "lib", "update-ref", "-d", "refs/heads/main")  # no commit to run on
    plan = plan_fleet(fleet, OPTIONS, tmp_path / "cache", {}, None)
    assert plan[0].known is None
    assert plan[1].known is not None and plan[1].known.status is RepoStatus.FAILED
    assert plan[1].known.exit_code == 2 and "\n" not in plan[1].known.reason


def test_one_budget_shared_by_the_runs_in_flight() -> None:
    budget = FleetSpend(1.0)
    assert budget.start("a", 2) == pytest.approx(0.5)
    assert budget.start("b", 1) == pytest.approx(0.5)
    assert not budget.can_start()  # all of it is shared out
    budget.finish("a", 0.2)
    assert budget.can_start() and budget.start("c", 1) == pytest.approx(0.3)
    budget.finish("b", 0.5)
    budget.finish("c", 0.3)
    assert budget.exhausted and not budget.can_start()
    assert FleetSpend(None).start("x", 3) is None


@pytest.mark.parametrize(
    ("codes", "changed", "fail_on_changes", "expected"),
    [
        ([0, 0], False, False, 0),
        ([0, 3, 2], False, False, 3),
        ([5, 1], False, False, 5),
        ([0, 2], False, False, 2),
        ([0, 0], True, True, 4),
        ([0, 0], True, False, 0),
        ([130, 3], False, False, 130),
    ],
)
def test_fleet_exit_code(
    codes: list[int], changed: bool, fail_on_changes: bool, expected: int
) -> None:
    rows = [
        RepoResult(
            f"r{i}", f"k{i}", RepoStatus.CHANGED if changed else RepoStatus.NO_CHANGE, exit_code=c
        )
        for i, c in enumerate(codes)
    ]
    assert fleet_exit_code(rows, fail_on_changes=fail_on_changes) == expected
