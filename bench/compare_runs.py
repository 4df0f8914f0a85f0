"""Issue 19's recorded comparison: the same dry runs by two codemill installs, patch and ledger compared.

Each case builds a fresh git repository (the bundled example, or every Nth module of the running Python's
standard library under `lib/`) with fixed commit dates, so both installs see the same bytes and base
commit, and runs `codemill run <repo> --dry-run --no-progress --report-dir DIR` through each install's
own CLI. Engines: "codemod" (the offline engine, the recipe's codemods), "llm" (`--recipe type-hints
--no-cache`) and "tidy" (the model engine with tests/support/samples.py's any-scope user recipe, on the
example only: its answers can pass the judge and break the example's tests, so the test gate drops changes
and gate repair turns run). Both model cases talk to one deterministic fake OpenAI-compatible server on
127.0.0.1 (tests/support/fake_model_server.py) whose answer depends only on the chunk asked about and the
turn: echo; `-> None` added to every def; a syntax error, then the annotation on the repair turn; an
out-of-scope edit on every turn; an undefined annotation (type-hints) or a `return None and ...` (tidy),
then the annotation.

Compared: changes.patch byte for byte; ledger rows matched by (path, chunk, kind, start_line), every field
but the ones that legitimately differ between runs (run_id, request ids, timestamps, latencies, and
durations written inside gate notes); the run and end records the same way. With `--prefect-api URL` (a
server started with `PREFECT_HOME=DIR PREFECT_SERVER_ANALYTICS_ENABLED=false prefect server start --host
127.0.0.1 --port N`) the example also runs with `--orchestrator prefect`, compared old against new and the
new install's Prefect run against its local run. One case ("example-codemod-landed") is not a dry run: the
commits it lands (tree and subject of each, on the one branch besides main) are compared too; the branch's
name is not (it holds the run id).

    python bench/compare_runs.py --old OLD/.venv/bin/codemill --new .venv/bin/codemill \
        [--stdlib-every 40] [--prefect-api http://127.0.0.1:PORT/api] [--only NAME] [--work DIR]

Exit status 0 when every pair matched, 1 otherwise; each difference is printed (file, row key, field).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SUPPORT = ROOT / "tests" / "support"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
}
# Fields that differ between any two runs of the same input: ids, clocks, durations.
VOLATILE = {
    "run_id",
    "request_id",
    "started",
    "finished",
    "latency_s",
    "duration_s",
    "elapsed_s",
    "wait_s",
}
SECONDS = re.compile(r"\b\d+(?:\.\d+)? s\b")  # "2 test runs in 2.6 s": a duration inside a note
FAKE = """
import hashlib, re, sys, threading
sys.path.insert(0, sys.argv[1])
from fake_model_server import FakeModelServer, FakeReply, BROKEN_ANSWERS, _chunk_of

def annotate(code):
    return re.sub(r"^([ \\t]*(?:async[ \\t]+)?def [^\\n]*\\))[ \\t]*:", r"\\1 -> None:", code, flags=re.M)

def answer(body, headers):
    chunk = _chunk_of(body)
    turn = sum(1 for m in body["messages"] if m["role"] == "user")
    mode = int(hashlib.sha256(chunk.encode()).hexdigest(), 16) % 5
    if mode == 0:
        text = "```python\\n" + chunk + "```"
    elif mode == 1 or (mode in (2, 4) and turn > 1):
        text = "```python\\n" + annotate(chunk) + "```"
    elif mode == 2:
        text = BROKEN_ANSWERS["syntax-error"](chunk)
    elif mode == 3:
        text = BROKEN_ANSWERS["out-of-scope"](chunk)
    elif "tidy" in body["messages"][0]["content"]:  # passes the judge, breaks the tests: gate turns
        text = "```python\\n" + re.sub(r"return (?=\\S)", "return None and ", chunk, count=1) + "```"
    else:  # an annotation the judge refuses (an undefined name), then the repair turn's
        text = "```python\\n" + annotate(chunk).replace("-> None:", "-> CodemillMissing:") + "```"
    return FakeReply.completion(text)

server = FakeModelServer(answer, latency=0.01)
server.start()
print(server.base_url, flush=True)
threading.Event().wait()
"""


CORPUS_ENGINES = [
    ("example", "codemod"),
    ("example", "llm"),
    ("example", "tidy"),
    ("stdlib", "codemod"),
    ("stdlib", "llm"),
]


@dataclass(frozen=True)
class Case:
    """One input, one engine, one orchestrator."""

    name: str
    corpus: str  # "example" | "stdlib"
    engine: str  # "codemod" | "llm" (type-hints) | "tidy" (the model engine, a recipe of any scope)
    orchestrator: str  # "local" | "prefect"
    dry_run: bool = True  # False: the run lands a branch, whose commits' trees are compared too


@dataclass(frozen=True)
class Run:
    """One finished run: its report directory and the repository it ran on."""

    report: Path
    repo: Path


@dataclass(frozen=True)
class Setting:
    """What every run of this comparison shares."""

    work: Path
    every: int
    base_url: str
    tidy: Path
    prefect_api: str | None


def git(repo: Path, *args: str) -> str:
    env = os.environ | GIT_ENV
    done = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env)
    return done.stdout.decode()


def make_repo(root: Path, corpus: str, every: int) -> Path:
    """A fresh repository holding the corpus, committed at a fixed date (the same base commit each time)."""
    if corpus == "example":
        source = ROOT / "examples" / "legacy_app"
        shutil.copytree(source, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        stdlib = Path(sysconfig.get_paths()["stdlib"])
        files = sorted(p for p in stdlib.rglob("*.py") if "site-packages" not in p.parts)
        for path in files[::every]:
            target = root / "lib" / path.relative_to(stdlib)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "corpus")
    return root


def command(case: Case, repo: Path, reports: Path, setting: Setting) -> list[str]:
    """The `codemill run` arguments of a case."""
    args = ["run", str(repo), "--no-progress", "--report-dir", str(reports)]
    args += ["--orchestrator", case.orchestrator] + (["--dry-run"] if case.dry_run else [])
    if case.engine == "codemod":
        return [*args, "--engine", "codemod"]
    recipe = "type-hints" if case.engine == "llm" else str(setting.tidy)
    return [
        *args,
        "--engine",
        "llm",
        "--recipe",
        recipe,
        "--no-cache",
        "--base-url",
        setting.base_url,
    ]


def run_cli(codemill: str, case: Case, label: str, setting: Setting) -> Run:
    """One run of `case` by the install `codemill` on a fresh repository."""
    work = setting.work
    repo = make_repo(work / f"{label}-repo", case.corpus, setting.every)
    home, reports = work / f"{label}-home", work / f"{label}-reports"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEMILL_", "PREFECT_"))}
    env.update(CODEMILL_STATE_DIR=str(home), XDG_CACHE_HOME=str(home), XDG_CONFIG_HOME=str(home))
    if case.engine != "codemod":
        env["AIMLAPI_API_KEY"] = "x"
    if case.orchestrator == "prefect" and setting.prefect_api:
        env.update(PREFECT_API_URL=setting.prefect_api, PREFECT_HOME=str(home / "prefect"))
    args = command(case, repo, reports, setting)
    done = subprocess.run([codemill, *args], env=env, capture_output=True, text=True)
    (work / f"{label}.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    if done.returncode != 0:
        raise RuntimeError(f"{label}: exit {done.returncode}\n{done.stderr[-3000:]}")
    runs = sorted(reports.iterdir())
    if len(runs) != 1:
        raise RuntimeError(f"{label}: expected one report directory under {reports}, found {runs}")
    return Run(runs[0], repo)


def scrub(value: Any) -> Any:
    """`value` without its volatile fields, at any depth, and with durations in notes masked."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return SECONDS.sub("<seconds>", value)
    return value


def ledger(report: Path) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The ledger's records by key: rows by (path, chunk, kind, start_line), others by record name."""
    records: dict[tuple[Any, ...], dict[str, Any]] = {}
    for line in (report / "ledger.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        kind = record.get("record")
        key: tuple[Any, ...] = (kind,)
        if kind == "row":
            key = ("row", record["path"], record["chunk"], record["kind"], record["start_line"])
        if key in records:
            raise RuntimeError(f"{report}: two ledger records with key {key}")
        records[key] = scrub(record)
    return records


def landing(repo: Path) -> list[str]:
    """The commits a run added on its branch (the one branch besides main): tree and subject of each."""
    branches = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()
    landed = [name for name in branches if name != "main"]
    if not landed:
        return []
    if len(landed) > 1:
        return [f"branches {branches}"]
    log = git(repo, "log", "--reverse", "--format=%T %s", f"main..{landed[0]}")
    return log.splitlines()


def compare(a: Path, b: Path) -> list[str]:
    """Every difference between two runs' patches (bytes) and ledgers (records), one line each."""
    diffs: list[str] = []
    patch_a, patch_b = (a / "changes.patch").read_bytes(), (b / "changes.patch").read_bytes()
    if patch_a != patch_b:
        diffs.append(f"changes.patch differs ({len(patch_a)} against {len(patch_b)} bytes)")
    rows_a, rows_b = ledger(a), ledger(b)
    for key in sorted(set(rows_a) | set(rows_b), key=repr):
        if key not in rows_a or key not in rows_b:
            diffs.append(f"ledger {key}: only in the {'second' if key not in rows_a else 'first'}")
            continue
        for field in sorted(set(rows_a[key]) | set(rows_b[key])):
            old, new = rows_a[key].get(field, "<absent>"), rows_b[key].get(field, "<absent>")
            if old != new:
                diffs.append(f"ledger {key} field {field!r}: {old!r:.300} -> {new!r:.300}")
    return diffs


def start_fake() -> tuple[subprocess.Popen[str], str]:
    """The deterministic fake model server in its own process; it and its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-c", FAKE, str(SUPPORT)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1"):
        proc.kill()
        raise RuntimeError("the fake model server did not start")
    return proc, url


def cases(prefect: bool) -> list[Case]:
    """Every case: each corpus and engine locally, and the example on Prefect when a server is given."""
    local = [Case(f"{c}-{e}-local", c, e, "local") for c, e in CORPUS_ENGINES]
    local.append(Case("example-codemod-landed", "example", "codemod", "local", dry_run=False))
    remote = [
        Case(f"example-{e}-prefect", "example", e, "prefect") for e in ("codemod", "llm", "tidy")
    ]
    return local + (remote if prefect else [])


def summary(report: Path) -> str:
    """The ledger's row statuses and gate notes, for the printed record."""
    counts: dict[str, int] = {}
    gates = None
    for record in ledger(report).values():
        if record.get("record") == "row":
            counts[record["status"]] = counts.get(record["status"], 0) + 1
        elif record.get("record") == "end":
            gates = record.get("gates")
    return f"{sum(counts.values())} rows {counts}, gates {gates}"


def report(title: str, a: Run, b: Run) -> bool:
    """Print one pair's comparison (and of the branches they landed); whether the two runs matched."""
    diffs = compare(a.report, b.report)
    commits_a, commits_b = landing(a.repo), landing(b.repo)
    if commits_a != commits_b:
        diffs.append(f"landed commits (tree subject): {commits_a} -> {commits_b}")
    landed = f"; {len(commits_b)} commits landed, trees compared" if commits_b else ""
    print(f"{title}: {'same' if not diffs else 'DIFFERENT'}; {summary(b.report)}{landed}")
    for line in diffs:
        print(f"    {line}")
    return not diffs


def compare_all(old: str, new: str, only: str | None, setting: Setting) -> int:
    """Run every case with both installs; how many pairs differed."""
    failed = 0
    done: dict[tuple[str, str], Run] = {}
    for case in cases(bool(setting.prefect_api)):
        if only and only not in case.name:
            continue
        for side, cli in (("old", old), ("new", new)):
            done[case.name, side] = run_cli(cli, case, f"{case.name}-{side}", setting)
        failed += not report(
            f"{case.name} old vs new", done[case.name, "old"], done[case.name, "new"]
        )
        local = case.name.replace("-prefect", "-local")
        if case.orchestrator == "prefect" and (local, "new") in done:
            title = f"{case.name}: new local vs new prefect"
            failed += not report(title, done[local, "new"], done[case.name, "new"])
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--old", required=True, help="the old install's codemill executable")
    parser.add_argument("--new", required=True, help="the new install's codemill executable")
    parser.add_argument("--stdlib-every", type=int, default=40, help="take every Nth stdlib module")
    parser.add_argument("--prefect-api", help="a running Prefect server's API URL (adds cases)")
    parser.add_argument("--only", help="run the cases whose name contains this")
    parser.add_argument("--work", type=Path, help="keep the runs here (default: a temporary dir)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="codemill-compare-"))
    work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(SUPPORT))
    from samples import tidy_recipe

    tidy = work / "tidy.md"
    tidy.write_text(tidy_recipe("function,method,class"), encoding="utf-8")
    fake, url = start_fake()
    try:
        setting = Setting(work, args.stdlib_every, url, tidy, args.prefect_api)
        failed = compare_all(args.old, args.new, args.only, setting)
    finally:
        fake.terminate()
        fake.wait()
    print(f"work directory: {work}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
