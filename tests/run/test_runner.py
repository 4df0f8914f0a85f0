"""The run's steps without Prefect: engine choice, plan, shards, a shard's chunks, assembly, ledger rows."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from pathlib import Path

import pytest
from support.fake_model_server import FakeModelServer, FakeReply
from support.gitrepo import make_repo

from pipeline.config import ConfigError, RunConfig
from pipeline.engines.codemod_files import CodemodFileEngine
from pipeline.engines.model_engine import LLMEngine
from pipeline.engines.proposal import RUN_ONLY, Proposal
from pipeline.judge.policy import Policy
from pipeline.judge.verdicts import Reason, Status, Verdict
from pipeline.model.client import ChatClient
from pipeline.model.completion import Usage
from pipeline.model.limiter import Limiter
from pipeline.model.request import ModelSettings
from pipeline.recipes.loading import Recipe, load_recipe
from pipeline.records.ledger import Ledger, LedgerRow, RunMeta
from pipeline.run.steps import (
    FilePlan,
    assemble,
    choose_engine,
    ledger_row,
    plan_run,
    record_gates,
    record_skipped,
    refactor_codemod,
    refactor_shard_llm,
    shard_files,
)
from pipeline.source.chunking import chunk_module
from pipeline.source.files import SkippedFile, SkipReason, SourceFile
from pipeline.source.splicing import splice

MODERNIZE = load_recipe("modernize")
DOCSTRINGS = load_recipe("docstrings")
POLICY = Policy(MODERNIZE.allowances, (3, 11))

GREETINGS = '''"""Greetings."""

import os


def greet(name):
    return "Hello, %s!" % name


def shout(name):
    return "HEY %s" % name.upper()


def plain(x):
    return x + 1


HOME = os.environ.get("HOME", "")
'''
MATH = "def add(a, b):\n    return a + b\n\n\ndef label(n):\n    return 'n=%s' % n\n"


def file_plan(path: str, text: str) -> FilePlan:
    source = SourceFile(path, text.encode("utf-8"), text)
    return FilePlan(source, tuple(chunk_module(path, text)))


def functions(count: int) -> str:
    return "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(count))


# --- choose_engine -------------------------------------------------------------------------------

ENV = "MY_MODEL_KEY"


@pytest.mark.parametrize("recipe", [MODERNIZE, DOCSTRINGS], ids=["codemods", "no-codemods"])
@pytest.mark.parametrize("key", ["sk-x", None, "  "], ids=["key", "no-key", "blank-key"])
@pytest.mark.parametrize("setting", ["auto", "llm", "codemod", "hybrid"])
def test_choose_engine(setting: str, key: str | None, recipe: Recipe) -> None:
    config = RunConfig(repo=Path("."), engine=setting, api_key_env=ENV)  # type: ignore[arg-type]
    env = {"AIMLAPI_API_KEY": "sk-not-the-named-one"} | ({ENV: key} if key is not None else {})
    has_key = bool(key and key.strip())
    keyed = "hybrid" if recipe.codemods else "llm"  # auto, with a key: the hybrid when it can
    expected = {
        "llm": "llm" if has_key else None,
        "codemod": "codemod" if recipe.codemods else None,
        "hybrid": "hybrid" if has_key and recipe.codemods else None,
        "auto": keyed if has_key else ("codemod" if recipe.codemods else None),
    }[setting]
    if expected is not None:
        assert choose_engine(config, recipe, env) == expected
        return
    with pytest.raises(ConfigError) as info:
        choose_engine(config, recipe, env)
    message = str(info.value)
    assert ENV in message or setting == "hybrid"
    if setting in ("llm", "hybrid") and not has_key:
        assert message.startswith(f"--engine {setting} needs an API key")
    elif setting == "hybrid":
        assert message.startswith(f"recipe {recipe.name!r} has no codemods or ruff rules")
    else:
        assert f"recipe {recipe.name!r} has no offline codemods" in message
        # The message says what is true: it claims no key only when there is none.
        assert ("no API key is set" in message) == (not has_key)


# --- plan_run and shard_files --------------------------------------------------------------------


def test_plan_run_chunks_committed_files_and_skips_the_unparsable(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "repo",
        {
            "greetings.py": GREETINGS,
            "pkg/math.py": MATH,
            "broken.py": "def f(:\n",
            "notes.txt": "x",
        },
    )
    plan = plan_run(RunConfig(repo=repo), ["."])

    assert sorted(f.source.path for f in plan.files) == ["greetings.py", "pkg/math.py"]
    assert [(s.path, s.reason) for s in plan.skipped] == [("broken.py", SkipReason.PARSE_ERROR)]
    assert "line 1" in plan.skipped[0].detail
    assert plan.chunk_count == 5 + 2
    assert len(plan.base_commit) == 40 and plan.uncommitted == []
    only = plan_run(RunConfig(repo=repo), ["."], only=["pkg/math.py"])
    assert [f.source.path for f in only.files] == ["pkg/math.py"]


def test_files_with_nothing_to_send_are_skipped_with_a_reason(tmp_path: Path) -> None:
    files = {"pkg/__init__.py": "", "blank.py": "\n\n", "notes.py": "# only\n# comments\n"}
    repo = make_repo(tmp_path / "repo", {**files, "pkg/math.py": MATH})
    plan = plan_run(RunConfig(repo=repo), ["."])

    assert [f.source.path for f in plan.files] == ["pkg/math.py"]
    reasons = {s.path: (s.reason, s.detail) for s in plan.skipped}
    assert reasons == {
        "pkg/__init__.py": (SkipReason.NO_STATEMENTS, "empty file: nothing to refactor"),
        "blank.py": (SkipReason.NO_STATEMENTS, "empty file: nothing to refactor"),
        "notes.py": (
            SkipReason.NO_STATEMENTS,
            "only comments and blank lines: nothing to refactor",
        ),
    }


def test_shard_files_balances_chunk_counts_and_loses_no_file() -> None:
    sizes = [9, 7, 5, 4, 3, 3, 2, 1, 1, 1]
    files = [file_plan(f"m{i}.py", functions(n)) for i, n in enumerate(sizes)]
    assert [len(f.chunks) for f in files] == sizes

    for shards in (1, 2, 3, 4, len(files), 50):
        groups = shard_files(files, shards)
        paths = [f.source.path for g in groups for f in g]
        assert sorted(paths) == sorted(f.source.path for f in files), shards
        assert len(groups) == min(shards, len(files))
        loads = [sum(len(f.chunks) for f in g) for g in groups]
        assert max(loads) - min(loads) <= max(sizes), (shards, loads)
    assert sorted(sum(len(f.chunks) for f in g) for g in shard_files(files, 2)) == [18, 18]
    assert sorted(sum(len(f.chunks) for f in g) for g in shard_files(files, 3)) == [12, 12, 12]
    assert shard_files(files, 0) == [files]
    assert shard_files([], 4) == []


# --- assemble ------------------------------------------------------------------------------------


def test_assemble_splices_only_accepted_proposals() -> None:
    greetings = file_plan("greetings.py", GREETINGS)
    maths = file_plan("pkg/math.py", MATH)
    untouched = file_plan("other.py", functions(2))
    by_name = {c.name: c for f in (greetings, maths, untouched) for c in f.chunks}
    greet_new = 'def greet(name):\n    return f"Hello, {name}!"\n'
    shout_new = 'def shout(name):\n    return f"HEY {name.upper()}"\n'
    proposals = [
        Proposal(by_name["greet"], Verdict.accepted(), greet_new),
        Proposal(by_name["shout"], Verdict.accepted(), shout_new),
        Proposal(by_name["plain"], Verdict.unchanged()),
        # a rejected proposal's text never reaches a file, even if one was left on it
        Proposal(by_name["label"], Verdict.rejected(Reason.LAZY, "stub"), "def label(n): ...\n"),
        Proposal(by_name["f0"], Verdict(Status.SKIPPED, Reason.BUDGET)),
        # accepted but byte-identical once rendered: the file does not count as changed
        Proposal(by_name["f1"], Verdict.accepted(), by_name["f1"].text),
    ]
    changes = assemble([greetings, maths, untouched], proposals)

    assert list(changes) == ["greetings.py"]
    before, after = changes["greetings.py"]
    assert before == GREETINGS.encode()
    expected = GREETINGS.replace('"Hello, %s!" % name', 'f"Hello, {name}!"').replace(
        '"HEY %s" % name.upper()', 'f"HEY {name.upper()}"'
    )
    assert after == expected.encode()
    assert assemble([greetings], []) == {}


# --- ledger rows ---------------------------------------------------------------------------------


def test_ledger_row_carries_every_field_of_the_proposal() -> None:
    chunk = file_plan("greetings.py", GREETINGS).chunks[1]
    proposal = Proposal(
        chunk,
        Verdict.rejected(Reason.BREAKS_TESTS, "tests/test_g.py::test_greet failed"),
        new_text="def greet(name):\n    return name\n",
        usage=Usage(
            attempts=2,
            prompt_tokens=11,
            completion_tokens=22,
            reasoning_tokens=7,
            cached_tokens=5,
            cost_usd=0.125,
            cache_hits=2,
            latency_s=1.5,
        ),
        model="MiniMax-M2.1",
        gates={"import": "passed", "tests": "breaks-tests: x"},
    )
    row = ledger_row("run-1", proposal, engine="llm", concurrency_limit=6)

    for f in dataclasses.fields(Proposal):
        if f.name not in ("chunk", "verdict", "engine", "rules", *RUN_ONLY):
            assert getattr(row, f.name) == getattr(proposal, f.name), f.name
    attributed = dataclasses.replace(
        proposal, engine="codemod+llm", rules=("ruff:UP031", "ZeroArgSuperCommand")
    )
    row_of = ledger_row("run-1", attributed, engine="hybrid", concurrency_limit=6)
    assert (row_of.engine, row_of.rule) == ("codemod+llm", "ruff:UP031,ZeroArgSuperCommand")
    assert row.gates is not proposal.gates
    assert (row.run_id, row.engine, row.concurrency_limit) == ("run-1", "llm", 6)
    assert (row.path, row.chunk, row.kind) == ("greetings.py", "greet", "function")
    assert (row.start_line, row.end_line, row.digest) == (6, 7, chunk.digest)
    assert (row.status, row.reason, row.detail) == (
        Status.REJECTED,
        Reason.BREAKS_TESTS,
        "tests/test_g.py::test_greet failed",
    )
    assert LedgerRow.from_json(row.to_json()) == row


def test_record_gates_amends_only_gated_rows_and_keeps_their_limit() -> None:
    greet, shout = file_plan("greetings.py", GREETINGS).chunks[1:3]
    ledger = Ledger(RunMeta("run-1", "modernize", "llm", "m", "abc"))
    proposals = [
        Proposal(greet, Verdict.accepted(), "x = 1\n"),
        Proposal(shout, Verdict.accepted()),
    ]
    for index, proposal in enumerate(proposals):
        ledger.append(ledger_row("run-1", proposal, engine="llm", concurrency_limit=4 + index))
    proposals[0].verdict = Verdict.rejected(Reason.BREAKS_IMPORT, "KeyError: 'X'")
    proposals[0].new_text = None
    proposals[0].gates["import"] = "breaks-import: KeyError: 'X'"

    record_gates(ledger, "run-1", proposals, engine="llm")

    first, second = ledger.rows
    assert (first.status, first.reason, first.gates) == (
        Status.REJECTED,
        Reason.BREAKS_IMPORT,
        {"import": "breaks-import: KeyError: 'X'"},
    )
    assert first.new_text is None and first.concurrency_limit == 4
    assert (second.status, second.gates, second.concurrency_limit) == (Status.ACCEPTED, {}, 5)


def test_record_skipped_writes_one_row_per_file() -> None:
    ledger = Ledger(RunMeta("run-1", "modernize", "llm", "m", "abc"))
    record_skipped(
        "run-1",
        ledger,
        [
            SkippedFile("a.py", SkipReason.PARSE_ERROR, "line 1, column 7: invalid syntax"),
            SkippedFile("gen.py", SkipReason.GENERATED, "marked @generated"),
        ],
    )
    rows = [(r.path, r.kind, r.status, r.reason, r.detail) for r in ledger.rows]
    assert rows == [
        ("a.py", "file", Status.SKIPPED, "parse-error", "line 1, column 7: invalid syntax"),
        ("gen.py", "file", Status.SKIPPED, "generated", "marked @generated"),
    ]


# --- refactoring a shard -------------------------------------------------------------------------


def run_llm_shard(
    server: FakeModelServer, files: list[FilePlan], concurrency: int = 4
) -> list[Proposal]:
    recorded: list[Proposal] = []

    async def go() -> None:
        settings = ModelSettings(base_url=server.base_url, max_attempts=1)
        limiter = Limiter(concurrency)
        async with ChatClient(settings, api_key="sk-test", limiter=limiter) as client:
            engine = LLMEngine(client, MODERNIZE, POLICY)
            await refactor_shard_llm(engine, files, recorded.append)

    asyncio.run(go())
    return recorded


def test_an_llm_shard_records_one_proposal_per_chunk(fake_model: FakeModelServer) -> None:
    files = [file_plan("greetings.py", GREETINGS), file_plan("pkg/math.py", MATH)]
    chunks = [c for f in files for c in f.chunks]
    selected = [c for c in chunks if MODERNIZE.selects(c)]
    assert [c.name for c in selected] == ["greet", "shout", "label"]

    recorded = run_llm_shard(fake_model, files)

    assert Counter((p.chunk.path, p.chunk.start_byte) for p in recorded) == Counter(
        (c.path, c.start_byte) for c in chunks
    )
    by_name = {p.chunk.name: p for p in recorded}
    for chunk in chunks:
        proposal = by_name[chunk.name]
        if chunk in selected:
            assert proposal.verdict.status is Status.UNCHANGED and proposal.usage.attempts == 1
        else:
            assert (proposal.verdict.status, proposal.verdict.reason) == (
                Status.SKIPPED,
                Reason.NOT_SELECTED,
            )
            assert proposal.verdict.detail == "not a candidate for recipe modernize"
            assert proposal.usage.attempts == 0
    sent = sorted(r.body["messages"][1]["content"].rsplit("`", 1)[0] for r in fake_model.requests)
    assert len(sent) == len(selected) == len(set(sent))


def test_a_fatal_error_in_a_shard_fails_one_chunk_and_skips_the_rest(
    fake_model: FakeModelServer,
) -> None:
    fake_model.handler = lambda body, headers: FakeReply.error(401, "Invalid API key")
    files = [
        file_plan("many.py", "".join(f'def f{i}(x):\n    return "%s" % x\n\n\n' for i in range(6)))
    ]

    recorded = run_llm_shard(fake_model, files, concurrency=1)

    assert len(fake_model.requests) == 1 and len(recorded) == 6
    outcomes = Counter((p.verdict.status, p.verdict.reason) for p in recorded)
    assert outcomes == {
        (Status.FAILED, Reason.PROVIDER_ERROR): 1,
        (Status.SKIPPED, Reason.FATAL_STOP): 5,
    }
    [failed] = [p for p in recorded if p.verdict.status is Status.FAILED]
    assert "AIMLAPI_API_KEY" in failed.verdict.detail


def test_a_codemod_shard_records_one_proposal_per_chunk() -> None:
    files = [file_plan("greetings.py", GREETINGS), file_plan("pkg/math.py", MATH)]
    engine = CodemodFileEngine(MODERNIZE, POLICY, budget=2000)
    recorded: list[Proposal] = []
    left_out: list[SkippedFile] = []
    refactor_codemod(engine, files, recorded.append, left_out.append, jobs=2)

    assert not left_out
    assert len(recorded) == sum(len(f.chunks) for f in files)
    accepted = {p.chunk.name: p.new_text for p in recorded if p.verdict.status is Status.ACCEPTED}
    assert accepted == {
        "greet": 'def greet(name):\n    return f"Hello, {name}!"\n',
        "shout": 'def shout(name):\n    return f"HEY {name.upper()}"\n',
        "label": "def label(n):\n    return f'n={n}'\n",
    }
    changes = assemble(files, recorded)
    assert sorted(changes) == ["greetings.py", "pkg/math.py"]
    assert changes["pkg/math.py"][1] == splice(
        MATH.encode(), [(files[1].chunks[1], accepted["label"])]
    )


def test_a_fatal_error_on_a_repair_turn_keeps_the_paid_first_turn_in_the_record(
    fake_model: FakeModelServer,
) -> None:
    lazy = "```python\ndef greet(name):\n    # rest of code unchanged\n    ...\n```"
    fake_model.enqueue(
        FakeReply.completion(lazy, usd=0.01), FakeReply.error(403, "Insufficient credits")
    )
    files = [file_plan("greetings.py", GREETINGS)]
    files = [FilePlan(files[0].source, tuple(c for c in files[0].chunks if c.name == "greet"))]

    [proposal] = run_llm_shard(fake_model, files)

    assert len(fake_model.requests) == 2
    assert (proposal.verdict.status, proposal.verdict.reason) == (
        Status.FAILED,
        Reason.PROVIDER_ERROR,
    )
    assert "out of credits" in proposal.verdict.detail
    # Two attempts: the paid answer and the refused repair (issue 24: every attempt is counted).
    assert (proposal.usage.attempts, proposal.usage.cost_usd, proposal.usage.prompt_tokens) == (
        2,
        0.01,
        39,
    )
    assert proposal.model == "MiniMax-M2.1"


def test_prepare_run_decides_everything_before_any_file_is_read(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from support.gitrepo import git

    from pipeline.repository import BranchExistsError, UnknownBaseError
    from pipeline.run.steps import prepare_run

    repo = make_repo(tmp_path / "repo", {"greetings.py": GREETINGS})
    env = {"CODEMILL_STATE_DIR": str(tmp_path / "state")}
    when = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)

    setup = prepare_run(RunConfig(repo=repo), env, when)
    assert (setup.engine, setup.model) == ("codemod", "libcst-codemods")
    assert setup.run_id.startswith("20261126-030000-")
    assert setup.branch == f"codemill/modernize/{setup.run_id}"  # one run, one name
    again = prepare_run(RunConfig(repo=repo), env, when)
    assert again.branch != setup.branch  # two runs in the same second never share a branch
    assert setup.base_commit == git(repo, "rev-parse", "HEAD").strip()
    assert setup.last is None and setup.since.only is None
    assert setup.state_path.is_relative_to(tmp_path / "state")

    keyed = prepare_run(RunConfig(repo=repo, dry_run=True), {**env, "AIMLAPI_API_KEY": "k"}, when)
    assert (keyed.engine, keyed.model, keyed.branch) == ("hybrid", "minimax/m2-1", None)

    with pytest.raises(UnknownBaseError):
        prepare_run(RunConfig(repo=repo, base="no-such-ref"), env, when)
    git(repo, "branch", "taken")
    with pytest.raises(BranchExistsError):
        prepare_run(RunConfig(repo=repo, branch="taken"), env, when)
