"""Reports: the patch applies with real git (CRLF, no final newline, BOM, odd paths), the summary
counts, the JUnit XML parses with one case per file, the report dir is atomic and lives outside
the repository."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pipeline.judge.verdicts import Reason, Status
from pipeline.model.completion import Usage
from pipeline.paths import ReportError, default_report_dir, repo_key, state_dir
from pipeline.records.ledger import Ledger, LedgerRow, RunMeta
from pipeline.report.directory import write_report_dir
from pipeline.report.junit import junit_xml
from pipeline.report.line_diff import diffstat
from pipeline.report.markdown import summary_markdown
from pipeline.report.patch import unified_patch
from pipeline.repository import apply_check, open_repository


def git(cwd: Path, *args: str, stdin: bytes | None = None) -> bytes:
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    done = subprocess.run(
        ["git", *args], cwd=cwd, input=stdin, capture_output=True, check=True, env=env
    )
    return done.stdout


def repo_with(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "T")
    git(root, "config", "user.email", "t@example.org")
    git(root, "config", "core.autocrlf", "false")
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    return root


def applied(root: Path, patch: str) -> None:
    """Apply the patch to the index and working tree with git itself (fails loudly if rejected)."""
    git(root, "apply", "--index", "-", stdin=patch.encode("utf-8", "surrogateescape"))


CASES: dict[str, tuple[bytes, bytes]] = {
    "crlf.py": (b"a = 1\r\nb = 2\r\nc = 3\r\n", b"a = 1\r\nb = 20\r\nc = 3\r\n"),
    "no_eol_before.py": (b"x = 1\ny = 2", b"x = 1\ny = 2\n"),
    "no_eol_after.py": (b"x = 1\ny = 2\n", b"x = 1\ny = 3"),
    "no_eol_both.py": (b"p = 1\nq = 2", b"p = 10\nq = 2"),
    "bom.py": ("\ufeffs = 'é'\nt = 1\n".encode(), "\ufeffs = 'è'\nt = 1\n".encode()),
    "dir with space/ü.py": (b"v = 1\n", b"v = 2\n"),
    "lone_cr.py": (b"s = 'a\rb'\nz = 1\n", b"s = 'a\rc'\nz = 1\n"),
    "same.py": (b"unchanged = True\n", b"unchanged = True\n"),
    "emptied.py": (b"gone = 1\n", b""),
}


def test_patch_applies_with_git_and_reproduces_every_byte(tmp_path: Path) -> None:
    root = repo_with(tmp_path / "r", {p: before for p, (before, _) in CASES.items()})
    patch = unified_patch(CASES)
    assert apply_check(open_repository(root), "main", patch) is None
    applied(root, patch)
    for path, (_, after) in CASES.items():
        assert (root / path).read_bytes() == after, path
    assert "same.py" not in patch
    assert patch.count("\\ No newline at end of file") == 3  # once per side lacking it
    assert '"a/dir with space/\\303\\274.py"' in patch
    assert "\r\n" in patch  # CRLF lines kept as they are


def test_patch_order_is_deterministic() -> None:
    one = unified_patch(dict(CASES))
    two = unified_patch(dict(reversed(list(CASES.items()))))
    assert one == two
    headers = [ln for ln in one.splitlines() if ln.startswith("diff --git")]
    assert headers == sorted(headers, key=lambda h: h.replace('"', ""))


def test_random_edits_round_trip_through_git_apply(tmp_path: Path) -> None:
    rnd = random.Random(7)
    pieces = [b"x = 1", b"", b"def f():", b"    return 2", b"# c", b"y = [\r", b"]"]
    files: dict[str, tuple[bytes, bytes]] = {}
    for n in range(25):
        lines = [rnd.choice(pieces) for _ in range(rnd.randint(0, 40))]
        eol = rnd.choice([b"\n", b"\r\n"])
        before = eol.join(lines) + rnd.choice([b"", eol])
        edited = [ln for ln in lines if rnd.random() > 0.15]
        for _ in range(rnd.randint(0, 4)):
            edited.insert(rnd.randint(0, len(edited)), rnd.choice(pieces) + b" # new")
        after = eol.join(edited) + rnd.choice([b"", eol])
        files[f"f{n}.py"] = (before, after)
    root = repo_with(tmp_path / "r", {p: b for p, (b, _) in files.items()})
    applied(root, unified_patch(files, context=1))
    for path, (_, after) in files.items():
        assert (root / path).read_bytes() == after, path


def test_patch_is_empty_when_nothing_changed() -> None:
    assert unified_patch({}) == ""
    assert unified_patch({"a.py": (b"x\n", b"x\n")}) == ""


def test_diffstat_counts_added_and_removed_lines() -> None:
    assert diffstat(b"a\nb\nc\n", b"a\nB\nc\nd\n") == (2, 1)


def _ledger() -> Ledger:
    ledger = Ledger(RunMeta("run-9", "pep585", "llm", "MiniMax-M2.1", "f00d"))
    common = {"prompt_tokens": 100, "completion_tokens": 40, "cost_usd": 0.002}
    hit = Usage(**common, attempts=1, cache_hits=1, latency_s=0.5)
    ledger.append(
        LedgerRow(
            "run-9",
            "a.py",
            "f",
            "function",
            1,
            4,
            "d",
            Status.ACCEPTED,
            gates={"import": "passed", "tests": "passed"},
            usage=hit,
        )
    )
    ledger.append(
        LedgerRow(
            "run-9",
            "a.py",
            "C.m",
            "method",
            6,
            9,
            "d",
            Status.REJECTED,
            Reason.LAZY,
            "body elided with `...` | kept original",
            usage=Usage(**common, reasoning_tokens=12),
        )
    )
    ledger.append(
        LedgerRow(
            "run-9",
            "b.py",
            "g",
            "function",
            1,
            2,
            "d",
            Status.REJECTED,
            Reason.SYNTAX,
            "syntax error at line 2 \x00 ]]> <tag>",
            gates={"tests": "breaks-tests: tests/x::t"},
        )
    )
    ledger.append(
        LedgerRow(
            "run-9",
            "c.py",
            "h",
            "function",
            1,
            2,
            "d",
            Status.FAILED,
            Reason.PROVIDER_ERROR,
            "HTTP 503 after 3 attempts",
        )
    )
    ledger.append(LedgerRow("run-9", "d.py", "k", "function", 1, 2, "d", Status.UNCHANGED))
    ledger.append(LedgerRow.for_skipped_file("run-9", "gen.py", "generated", "generated file"))
    ledger.finish("max-cost reached")
    return ledger


def test_summary_has_counts_usage_stop_reason_and_per_file_tables() -> None:
    text = summary_markdown(_ledger(), {"a.py": (b"x\n", b"y\nz\n")})
    assert "# codemill run `run-9`" in text
    assert "model: MiniMax-M2.1" in text and "engine: llm" in text
    assert "**Stopped early:** max-cost reached" in text
    assert "| accepted | 1 |" in text and "| rejected | 2 |" in text
    assert "| failed | 1 |" in text and "| skipped | 1 |" in text and "| unchanged | 1 |" in text
    assert "| lazy | 1 |" in text and "| syntax | 1 |" in text and "| generated | 1 |" in text
    assert "| 200 | 80 | 12 | 0 | 0.0040 | 1/6 |" in text
    assert "### `a.py` (+2 -1)" in text
    assert "| `C.m` | 6-9 | rejected | lazy | body elided with `...` \\| kept original |  |" in text
    assert "import: passed; tests: passed" in text
    assert "tests: breaks-tests: tests/x::t" in text
    assert "| (file) |  | skipped | generated | generated file |  |" in text


def test_summary_of_an_interrupted_run_says_so() -> None:
    ledger = Ledger(RunMeta("run-1", "r", "codemod", None, None))
    assert "did not finish" in summary_markdown(ledger)
    assert "Stopped early" not in summary_markdown(ledger)


def test_junit_has_one_case_per_file_with_failures_errors_and_skips() -> None:
    root = ET.fromstring(junit_xml(_ledger()))
    (suite,) = root.findall("testsuite")
    cases = {c.get("name", ""): c for c in suite.findall("testcase")}
    assert sorted(cases) == ["a.py", "b.py", "c.py", "d.py", "gen.py"]
    assert (
        suite.get("tests"),
        suite.get("failures"),
        suite.get("errors"),
        suite.get("skipped"),
    ) == (
        "5",
        "2",
        "1",
        "1",
    )
    a_fail = cases["a.py"].find("failure")
    assert a_fail is not None and a_fail.get("message") == "lazy"
    assert "C.m (lines 6-9): lazy: body elided" in (a_fail.text or "")
    b_fail = cases["b.py"].find("failure")
    assert b_fail is not None and b_fail.get("message") == "syntax"
    assert "]]> <tag>" in (b_fail.text or "") and "\x00" not in (b_fail.text or "")
    c_err = cases["c.py"].find("error")
    assert c_err is not None and c_err.get("message") == "provider-error"
    skipped = cases["gen.py"].find("skipped")
    assert skipped is not None and skipped.get("message") == "generated"
    assert list(cases["d.py"]) == []
    assert cases["a.py"].get("time") == "0.500"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props == {"run_id": "run-9", "engine": "llm", "model": "MiniMax-M2.1"}


def test_write_report_dir_writes_every_report_whole(tmp_path: Path) -> None:
    ledger = _ledger()
    changes = {"a.py": (b"x = 1\r\n", b"x = 2\r\n")}
    out = tmp_path / "reports" / "run-9"
    paths = write_report_dir(out, ledger, changes)
    assert paths.patch.read_bytes().count(b"\r\n") == 2
    assert paths.summary.read_text().startswith("# codemill run `run-9`")
    assert Ledger.read(paths.ledger).rows == ledger.rows
    ET.parse(paths.junit)
    assert paths.html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    write_report_dir(out, ledger, {})  # rewriting replaces, leaves no temp files behind
    assert not paths.patch.exists()  # no change, no patch: `git apply` refuses an empty one
    assert sorted(p.name for p in out.iterdir()) == [
        "junit.xml",
        "ledger.jsonl",
        "report.html",
        "summary.md",
    ]


def test_every_view_of_a_report_reads_one_match_per_changed_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The patch, the summary's line counts and report.html share each file's line match (the
    costly part of a report), and each still shows the change."""
    import difflib

    from pipeline.report import line_diff

    matched: list[int] = []

    class Counting(difflib.SequenceMatcher[bytes]):
        def get_opcodes(self) -> list[tuple[str, int, int, int, int]]:  # type: ignore[override]
            matched.append(1)
            return super().get_opcodes()

    monkeypatch.setattr(line_diff.difflib, "SequenceMatcher", Counting)
    line_diff.line_opcodes.cache_clear()
    changes = {
        p: (b"a = 1\nb = 2\n", f"a = {p}\nb = 2\n".encode()) for p in ("a.py", "b.py", "c.py")
    }
    paths = write_report_dir(tmp_path / "out", _ledger(), changes)
    assert len(matched) == 3
    assert paths.patch.read_text().count("+a = ") == 3
    assert paths.summary.read_text().count("(+1 -1)") == 3
    html = paths.html.read_text(encoding="utf-8")
    assert html.count('<span class="plus">+1</span> <span class="minus">&minus;1</span>') == 3


def test_write_report_dir_refuses_a_path_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ReportError, match="cannot create report directory"):
        write_report_dir(tmp_path / "file" / "sub", _ledger(), {})


def test_default_report_dir_is_outside_the_repo_and_touches_nothing_in_it(tmp_path: Path) -> None:
    root = repo_with(tmp_path / "my repo", {"a.py": b"x = 1\n"})
    status_before = git(root, "status", "--porcelain", "--untracked-files=all", "--ignored")
    env = {"CODEMILL_STATE_DIR": str(tmp_path / "state")}
    where = default_report_dir(root, "20250101-000000-ab12", env)
    digest = hashlib.sha256(os.fsencode(root.resolve())).hexdigest()[:8]
    key = f"my_repo-{digest}"
    assert where == tmp_path / "state" / "runs" / key / "20250101-000000-ab12" and where.is_dir()
    assert repo_key(root) == key
    write_report_dir(where, _ledger(), {"a.py": (b"x = 1\n", b"x = 2\n")})
    assert git(root, "status", "--porcelain", "--untracked-files=all", "--ignored") == status_before
    assert sorted(p.name for p in root.iterdir()) == [".git", "a.py"]
    assert (root / "a.py").read_bytes() == b"x = 1\n"


def test_default_report_dir_keys_checkouts_by_absolute_path(tmp_path: Path) -> None:
    env = {"CODEMILL_STATE_DIR": str(tmp_path / "state")}
    one, two = tmp_path / "a" / "proj", tmp_path / "b" / "proj"
    one.mkdir(parents=True)
    two.mkdir(parents=True)
    first = default_report_dir(one, "r1", env)
    second = default_report_dir(two, "r1", env)
    assert first != second and first.parent.name.startswith("proj-")
    assert default_report_dir(one / ".." / "proj", "r2", env).parent == first.parent


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"CODEMILL_STATE_DIR": "/s/cm", "XDG_STATE_HOME": "/x", "HOME": "/h"}, "/s/cm"),
        ({"XDG_STATE_HOME": "/x", "HOME": "/h"}, "/x/codemill"),
        ({"XDG_STATE_HOME": "relative/x", "HOME": "/h"}, "/h/.local/state/codemill"),
        ({"CODEMILL_STATE_DIR": "", "HOME": "/h"}, "/h/.local/state/codemill"),
    ],
)
def test_state_dir_precedence(env: dict[str, str], expected: str) -> None:
    assert state_dir(env) == Path(expected)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CODEMILL_STATE_DIR": "rel/state", "HOME": "/h"}, "must be an absolute path"),
        ({}, "set CODEMILL_STATE_DIR or HOME"),
    ],
)
def test_state_dir_refuses_what_it_cannot_place(env: dict[str, str], message: str) -> None:
    with pytest.raises(ReportError, match=message):
        state_dir(env)


def test_default_report_dir_uses_xdg_state_home(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {"XDG_STATE_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}
    where = default_report_dir(repo, "run-1", env)
    assert where.parent.parent == tmp_path / "xdg" / "codemill" / "runs"
    assert not (tmp_path / "home").exists()


def test_default_report_dir_refuses_a_state_dir_inside_the_repo(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    with pytest.raises(ReportError, match="inside the repository"):
        default_report_dir(repo, "run-1", {"CODEMILL_STATE_DIR": str(repo / ".state")})
    assert list(repo.iterdir()) == []


def test_default_report_dir_reports_an_uncreatable_dir(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    env = {"CODEMILL_STATE_DIR": str(tmp_path / "file")}
    with pytest.raises(ReportError, match="cannot create report directory"):
        default_report_dir(tmp_path / "repo", "run-1", env)


@pytest.mark.parametrize("run_id", ["", "..", "../x", "a/b", ".hidden", "a b"])
def test_default_report_dir_refuses_unsafe_run_ids(tmp_path: Path, run_id: str) -> None:
    env = {"CODEMILL_STATE_DIR": str(tmp_path / "state")}
    with pytest.raises(ReportError, match="not a safe directory name"):
        default_report_dir(tmp_path, run_id, env)
    assert not (tmp_path / "state").exists()
