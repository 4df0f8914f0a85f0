"""Several small repositories per child flow run: `--repos-per-run K` in the plan's order, `auto` by the
bytes of Python at each repository's base (big ones alone, the rest balanced over the runs in flight,
smallest first inside a run); shards and known results are never packed."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.gitrepo import git, make_repo
from support.inprocess import isolated_runner

from pipeline.fleet import packing
from pipeline.fleet.cache import base_commit, python_bytes
from pipeline.fleet.fleetfile import FleetEntry
from pipeline.fleet.packing import PackingError, pack, repos_per_run
from pipeline.fleet.plan import Member, Work
from pipeline.records.repo_result import RepoResult, RepoStatus


def work(name: str, shards: int = 1) -> Work:
    entry = FleetEntry(name, f"file:///{name}", 1)
    member = Member(name, entry.key, entry.source, "a" * 40, {}, "p")
    return Work(entry, members=(member,) * shards)


def names(packs: list[list[Work]]) -> list[list[str]]:
    return [[w.entry.name for w in p] for p in packs]


def test_repos_per_run_takes_a_count_or_auto_and_refuses_the_rest() -> None:
    assert repos_per_run("3") == 3 and repos_per_run("auto") is None
    assert repos_per_run(" AUTO ") is None
    for bad in ("0", "-2", "many", "1.5"):
        with pytest.raises(PackingError, match="at least 1, or auto"):
            repos_per_run(bad)


def test_a_count_packs_in_order_and_leaves_shards_and_known_results_alone() -> None:
    known = Work(FleetEntry("done", "s", 1), known=RepoResult("done", "k", RepoStatus.SKIPPED))
    plan = [work("a"), work("big", shards=2), known, work("b"), work("c"), work("d"), work("e")]
    packs = pack(plan, 2, in_flight=4, size_of=lambda m: 0)
    assert names(packs) == [["big"], ["a", "b"], ["c", "d"], ["e"]]
    assert names(pack(plan, 1, 4, lambda m: 0)) == [["big"], ["a"], ["b"], ["c"], ["d"], ["e"]]


def test_auto_runs_big_repositories_alone_and_balances_the_small_over_the_runs_in_flight() -> None:
    sizes = {"huge": packing.BIG_BYTES + 1} | {f"s{i}": 1000 * (i + 1) for i in range(10)}
    plan = [work(name) for name in sizes]
    packs = pack(plan, None, in_flight=2, size_of=lambda m: sizes[m.name])
    assert names(packs)[0] == ["huge"]
    small = packs[1:]
    assert len(small) == 2 and sorted(n for p in names(small) for n in p) == sorted(
        n for n in sizes if n != "huge"
    )
    loads = [sum(sizes[w.entry.name] for w in p) for p in small]
    assert abs(loads[0] - loads[1]) <= 1000  # the heaviest first into the lightest run
    for p in small:
        inside = [sizes[w.entry.name] for w in p]
        assert inside == sorted(inside)  # smallest first: early results, a slow one last


def test_auto_never_puts_more_than_max_per_run_in_one_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packing, "MAX_PER_RUN", 3)
    plan = [work(f"r{i}") for i in range(10)]
    packs = pack(plan, None, in_flight=2, size_of=lambda m: 10)
    assert len(packs) == 4 and max(len(p) for p in packs) <= 3
    assert sum(len(p) for p in packs) == 10


def test_python_bytes_counts_the_python_at_the_base_commit(tmp_path: Path) -> None:
    src = make_repo(
        tmp_path / "src", {"a.py": "x = 1\n", "pkg/b.pyi": "y: int\n", "README": "z" * 99}
    )
    git(tmp_path, "clone", "-q", "--bare", str(src), str(tmp_path / "r.git"))
    source = (tmp_path / "r.git").as_uri()
    base = base_commit(source, "r-1", tmp_path / "cache", None)
    assert python_bytes(source, "r-1", tmp_path / "cache", base) == len("x = 1\n") + len("y: int\n")


def test_the_fleet_command_refuses_a_bad_repos_per_run_before_asking_anything(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from flows.cli import app

    runner = isolated_runner(monkeypatch, tmp_path)
    fleet_file = tmp_path / "fleet.toml"
    fleet_file.write_text('[[repo]]\nurl = "https://h/a.git"\n')
    args = ["fleet", str(fleet_file), "--recipe", "modernize", "--pool", "p", "--repos-per-run"]
    done = runner.invoke(app, [*args, "none"])
    assert done.exit_code == 2
    assert done.output == (
        "codemill: --repos-per-run 'none' must be a whole number of at least 1, or auto\n"
    )
    done = runner.invoke(app, [*args, "auto"])  # accepted: the next check is the server's
    assert done.exit_code == 2 and "needs a Prefect server" in done.output
