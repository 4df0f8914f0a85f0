"""run_gates on real git repositories: broken imports and broken tests drop exactly their proposals."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import git
import pytest
from support.gitrepo import fingerprint, make_repo

from pipeline.engines.proposal import Proposal
from pipeline.gates.combined import GateSettings, run_gates
from pipeline.gates.suite import BaseTestsFail
from pipeline.judge.verdicts import Reason, Status, Verdict
from pipeline.model.completion import Usage
from pipeline.run.steps import FilePlan, assemble
from pipeline.source.chunking import chunk_module
from pipeline.source.files import SourceFile
from pipeline.source.splicing import splice

FILES = {
    "pkg/__init__.py": "",
    "pkg/config.py": 'import os\n\nTIMEOUT = int(os.environ.get("TIMEOUT", "30"))\n',
    "pkg/words.py": (
        'def greet(name):\n    return "hi %s" % name\n\n\n'
        'def bang(name):\n    return "%s!" % name\n'
    ),
    # The test command: a plain script, so each run costs one interpreter start, not pytest's.
    "check.py": (
        "from pkg.words import bang, greet\n\n"
        'assert greet("a") == "hi a", "greet broke"\n'
        'assert bang("a") == "a!", "bang broke"\n'
    ),
}
# The model's accepted answer, by chunk name.
NEW = {
    "<statements 1-3>": 'import os\n\nTIMEOUT = int(os.environ["CODEMILL_UNSET_VARIABLE_ZZ"])\n',
    "greet": 'def greet(name):\n    return f"hi {name}"\n',
    "bang": 'def bang(name):\n    return f"{name}?"\n',  # breaks check.py
}


def plans(paths: list[str]) -> list[FilePlan]:
    out = []
    for path in paths:
        text = FILES[path]
        out.append(FilePlan(SourceFile(path, text.encode(), text), tuple(chunk_module(path, text))))
    return out


def proposals_for(files: list[FilePlan]) -> list[Proposal]:
    """An accepted proposal for every chunk NEW has an answer for."""
    return [
        Proposal(chunk, Verdict.accepted(), NEW[chunk.name], usage=Usage(attempts=1))
        for plan in files
        for chunk in plan.chunks
        if chunk.name in NEW
    ]


def test_an_import_that_breaks_drops_its_file_and_keeps_the_others(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", FILES)
    before = fingerprint(root)
    files = plans(["pkg/config.py", "pkg/words.py"])
    proposals = proposals_for(files)
    changes = assemble(files, proposals)
    assert sorted(changes) == ["pkg/config.py", "pkg/words.py"]

    report = run_gates(git.Repo(root), "HEAD", changes, proposals, GateSettings(import_check=True))

    assert list(report.changes) == ["pkg/words.py"]
    assert report.changes["pkg/words.py"] == changes["pkg/words.py"]
    by_path: dict[str, list[Proposal]] = {}
    for proposal in proposals:
        by_path.setdefault(proposal.chunk.path, []).append(proposal)
    [config] = by_path["pkg/config.py"]
    assert config.chunk.name == "<statements 1-3>"
    assert (config.verdict.status, config.verdict.reason) == (
        Status.REJECTED,
        Reason.BREAKS_IMPORT,
    )
    assert config.verdict.detail == "KeyError: 'CODEMILL_UNSET_VARIABLE_ZZ'"
    assert config.gates == {"import": f"breaks-import: {config.verdict.detail}"}
    assert config.new_text is None
    for word in by_path["pkg/words.py"]:
        assert word.verdict.status is Status.ACCEPTED and word.new_text == NEW[word.chunk.name]
        assert word.gates == {"import": "passed"}
    assert report.summary == {"import": "2 modules checked, 1 broke their import"}
    assert fingerprint(root) == before


def test_a_chunk_that_breaks_the_tests_goes_and_its_sibling_stays(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", FILES)
    before = fingerprint(root)
    files = plans(["pkg/words.py"])
    proposals = proposals_for(files)
    greet, bang = proposals
    assert (greet.chunk.name, bang.chunk.name) == ("greet", "bang")
    changes = assemble(files, proposals)
    settings = GateSettings(test_cmd=f"{sys.executable} check.py", test_timeout=60)

    report = run_gates(git.Repo(root), "HEAD", changes, proposals, settings)

    assert (bang.verdict.status, bang.verdict.reason) == (Status.REJECTED, Reason.BREAKS_TESTS)
    assert "bang broke" in bang.verdict.detail and bang.new_text is None
    assert bang.gates["tests"].startswith("breaks-tests: ")
    assert greet.verdict.status is Status.ACCEPTED and greet.gates == {"tests": "passed"}
    base = FILES["pkg/words.py"].encode()
    assert report.changes == {"pkg/words.py": (base, splice(base, [(greet.chunk, NEW["greet"])]))}
    assert b'"%s!" % name' in report.changes["pkg/words.py"][1]
    summary = report.summary["tests"]
    assert re.fullmatch(r"\d+ test runs in \d+\.\d s, 1 changes dropped", summary), summary
    assert fingerprint(root) == before


def test_no_gate_enabled_changes_nothing(tmp_path: Path) -> None:
    files = plans(["pkg/words.py"])
    proposals = proposals_for(files)
    changes = assemble(files, proposals)
    report = run_gates(git.Repo.init(tmp_path), "HEAD", changes, proposals, GateSettings())

    assert report.changes == changes and report.summary == {}
    assert all(p.gates == {} and p.verdict.status is Status.ACCEPTED for p in proposals)


def test_tests_failing_on_the_base_stop_the_gate_with_one_sentence(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", {**FILES, "check.py": "raise SystemExit('base is red')\n"})
    files = plans(["pkg/words.py"])
    proposals = proposals_for(files)
    settings = GateSettings(test_cmd=f"{sys.executable} check.py", test_timeout=60)

    with pytest.raises(BaseTestsFail, match=r"already fails on the base commit .*base is red"):
        run_gates(git.Repo(root), "HEAD", assemble(files, proposals), proposals, settings)
    assert all(p.gates == {} and p.verdict.status is Status.ACCEPTED for p in proposals)
