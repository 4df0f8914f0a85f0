"""A member's run prepared in the cache and summed up; shards' ledgers combined into one branch and report.

No Prefect here: the shard ledgers are made the way a run writes them (accepted rows for real chunks of the
base files), and the combined branch must hold every file's change, whichever shard made it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from support.gitrepo import git, make_repo

from pipeline.fleet.combine import combine_shards
from pipeline.fleet.fleetfile import load_fleet
from pipeline.fleet.member import prepare, result_of
from pipeline.fleet.plan import FleetOptions, Member, plan_fleet
from pipeline.judge.policy import Policy
from pipeline.judge.verdicts import Status, Verdict
from pipeline.model.completion import Usage
from pipeline.records.ledger import Ledger, LedgerRow, RunMeta, Totals
from pipeline.records.repo_result import RepoResult, RepoStatus
from pipeline.run.state import LastRun
from pipeline.source.chunking import plan_file
from pipeline.source.files import list_sources

ENV = {"HOME": "/nonexistent"}


def module(n: int) -> str:
    return "".join(f'def f{n}_{i}(x):\n    return "%s" % x\n\n\n' for i in range(2))


def to_fstring(text: str) -> str:
    return text.replace('"%s" % x', 'f"{x}"')


def members(
    tmp_path: Path, shards: int, files: dict[str, str] | None = None, top: str = ""
) -> tuple[Path, list[Member]]:
    files = files or {f"pkg/m{n}.py": module(n) for n in range(4)}
    work = make_repo(tmp_path / "src", files)
    git(tmp_path, "clone", "-q", "--bare", str(work), str(tmp_path / "remote.git"))
    (tmp_path / "fleet.toml").write_text(
        f'push = "origin"\n{top}[[repo]]\nurl = "{(tmp_path / "remote.git").as_uri()}"\n'
    )
    options = FleetOptions("modernize", "t", shard_by="paths", shards=shards)
    [work_item] = plan_fleet(load_fleet(tmp_path / "fleet.toml"), options, tmp_path / "c", {}, None)
    return tmp_path / "c", list(work_item.members)


@dataclass
class Outcome:
    run_id: str
    report_dir: Path
    changed_files: list[str] = field(default_factory=list)
    totals: Totals = field(
        default_factory=lambda: Totals(
            0, 0, {"accepted": 2, "rejected": 1}, {}, Usage(10, 5, cost_usd=0.5), 0
        )
    )
    branch: str | None = "codemill/x"
    commits: list[str] = field(default_factory=lambda: ["c1"])
    pushed: bool = True
    stop_reason: str | None = None
    fatal: bool = False
    same_as: LastRun | None = None


def shard_run(
    root: Path, member: Member, report: Path, edit: Callable[[str], str] = to_fstring
) -> RepoResult:
    """What a shard's dry run leaves: a ledger whose accepted rows are its chunks edited by `edit`."""
    sources = list_sources(root, [str(root / p) for p in member.paths], base=member.base_commit)
    meta = RunMeta(f"shard{member.shard}", "modernize", "llm", "m", member.base_commit)
    meta.policy = Policy()  # what `report`/`apply` prove the rows again under
    ledger = Ledger(meta)
    for source in sources.files:
        chunks = plan_file(source)
        for chunk in chunks if isinstance(chunks, list) else []:  # an empty file has none
            new = edit(chunk.text)
            verdict = Verdict(Status.ACCEPTED if new != chunk.text else Status.UNCHANGED)
            ledger.append(LedgerRow.for_chunk(ledger.meta.run_id, chunk, verdict, new_text=new))
    ledger.finish()
    report.mkdir(parents=True)
    ledger.write(report / "ledger.jsonl")
    done = Outcome(f"shard{member.shard}", report, [s.path for s in sources.files], branch=None)
    return result_of(member, done, 1.0, 0)


def test_prepare_puts_the_member_in_the_cache_and_caps_its_budget(tmp_path: Path) -> None:
    cache_dir, [member] = members(tmp_path, 1)
    ready = prepare(member, cache_dir, ENV, max_cost=0.25)
    assert ready.config.max_cost == 0.25 and ready.config.push == "origin"
    assert ready.config.base == member.base_commit and ready.paths == [str(ready.config.repo)]
    result = result_of(member, Outcome("r1", tmp_path / "none", ["pkg/m0.py"]), 2.5, 0)
    assert (result.status, result.files_changed, result.accepted, result.rejected) == (
        RepoStatus.CHANGED, 1, 2, 1,
    )  # fmt: skip
    assert (result.tokens, result.cost_usd, result.branch, result.pushed) == (
        15,
        0.5,
        "codemill/x",
        True,
    )
    stopped = result_of(
        member, Outcome("r2", tmp_path, fatal=True, stop_reason="key refused"), 1, 3
    )
    assert stopped.status is RepoStatus.STOPPED and stopped.exit_code == 3


def test_shards_combine_into_the_one_branch_and_patch_a_single_run_makes(tmp_path: Path) -> None:
    cache_dir, shards = members(tmp_path, 2)
    assert len(shards) == 2 and all(m.shard for m in shards)
    root = prepare(shards[0], cache_dir, ENV).config.repo
    parts = [shard_run(root, m, tmp_path / f"shard{m.shard}") for m in shards]
    combined = combine_shards(
        shards, parts, cache_dir, {"CODEMILL_STATE_DIR": str(tmp_path / "s")}, "all"
    )
    assert combined.status is RepoStatus.CHANGED and combined.files_changed == 4
    assert combined.shards == 2 and combined.pushed and combined.branch
    assert (Path(combined.report) / "changes.patch").read_text().count("+++ b/") == 4
    ledger = Ledger.read(Path(combined.report) / "ledger.jsonl")
    assert {r.run_id for r in ledger.rows} == {"all"} and len(ledger.rows) == 8
    pushed = git(tmp_path / "remote.git", "show", f"{combined.branch}:pkg/m3.py")
    assert pushed == module(3).replace('"%s" % x', 'f"{x}"')
    for n in range(4):  # every file, whichever shard had it
        shown = git(tmp_path / "remote.git", "show", f"{combined.branch}:pkg/m{n}.py")
        assert '"%s"' not in shown

    failed = RepoResult("src", shards[1].key, RepoStatus.FAILED, "git clone failed: gone", 2)
    broken = combine_shards(shards, [parts[0], failed], cache_dir, ENV, "x")
    assert broken.status is RepoStatus.FAILED and broken.branch is None
    assert broken.reason == "a shard: git clone failed: gone" and broken.exit_code == 2


PAIR = {
    "pkg/__init__.py": "",
    "pkg/a.py": "def f():\n    return 1\n",
    "pkg/b.py": "def g():\n    return 2\n",
    "check_pair.py": "from pkg.a import f\nfrom pkg.b import g\n\nassert (f(), g()) != (10, 20)\n",
}


def test_the_combined_change_is_gated_again_as_one_run_would_gate_it(tmp_path: Path) -> None:
    # Each shard's change passes the check alone, (10, 2) and (1, 20); together they break it.
    test_cmd = f"{sys.executable} check_pair.py"
    cache_dir, shards = members(tmp_path, 2, PAIR, top=f"test_cmd = {test_cmd!r}\n")
    root = prepare(shards[0], cache_dir, ENV).config.repo
    bigger = lambda text: text.replace("return 1", "return 10").replace("return 2", "return 20")  # noqa: E731
    parts = [shard_run(root, m, tmp_path / f"shard{m.shard}", bigger) for m in shards]

    combined = combine_shards(shards, parts, cache_dir, {"CODEMILL_STATE_DIR": str(tmp_path)}, "c")

    assert combined.status is RepoStatus.CHANGED and combined.files_changed == 1
    ledger = Ledger.read(Path(combined.report) / "ledger.jsonl")
    [dropped] = [r for r in ledger.rows if r.status is Status.REJECTED]
    assert dropped.reason == "breaks-tests" and dropped.new_text is None
    assert ledger.meta.gates["combined tests"].endswith("1 changes dropped")
    [kept] = [r for r in ledger.rows if r.status is Status.ACCEPTED]
    assert kept.gates["combined tests"] == "passed" and kept.path != dropped.path
    branch = combined.branch
    shown = [git(tmp_path / "remote.git", "show", f"{branch}:pkg/{m}.py") for m in "ab"]
    assert sorted(shown) == sorted([bigger(PAIR[kept.path]), PAIR[dropped.path]])
