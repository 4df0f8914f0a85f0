"""Issue 23: the hybrid engine against the model engine, and offline modernize with ruff's fixes.

`model`: one real project (docutils' sdist from PyPI, committed into a temporary git repository) dry-run
twice with `--recipe modernize` against the project's own fake model server (tests/support/
fake_model_server.py) on 127.0.0.1: `--engine llm` (every selected chunk to the model) and `--engine
hybrid` (the recipe's rewrites first). The fake stands in for a capable model: its answer is the chunk
with ruff's pyupgrade fixes applied, unsafe ones included (`ruff check --fix-only --unsafe-fixes --select UP`
on the chunk through stdin), and it reports token counts (4 characters a token) and no price, so codemill
prices every answer at the model's list prices. Reported per engine: chunks sent, tokens, cost, accepted
changes, and what made each.

`offline`: `--engine codemod --recipe modernize` on real projects (six, docutils, simplejson: sdists), with
and without the recipe's `ruff:UP` line: the changes each finds (chunks accepted, the rules named in the
ledger), whether every fix ruff finds alone is found (named in a row) by the run with ruff's rules; then the
run with ruff's rules lands a branch (its import check on), every changed file of the branch is compiled
and the project's own tests run on it (and on the base, for comparison). Timed in the same invocation,
wall and CPU (user + sys of the process tree): codemill's dry run (import check off, as bench/offline.py),
`ruff check --select UP --fix` alone on a copy, and `python -m libcst.tool codemod` with one codemod
(ConvertPercentFormatStringCommand) on a copy.

    python bench/hybrid.py model [--work DIR] [--jobs N]
    python bench/hybrid.py offline [--work DIR] [--jobs N] [--projects six,docutils,simplejson]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
IDENTITY = ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
# each project: its sdist's name, the target Python its floor gives, and its own test command
PROJECTS = {
    "six": (
        "3.11",
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_six.py"],
    ),
    "docutils": ("3.9", [sys.executable, "test/alltests.py"]),
    "simplejson": (
        "3.9",
        [sys.executable, "-m", "unittest", "discover", "-s", "simplejson/tests", "-t", "."],
    ),
}
FAKE = """
import subprocess, sys, threading
sys.path.insert(0, sys.argv[1])
from fake_model_server import FakeModelServer, FakeReply, _chunk_of

RUFF = [sys.argv[2], "check", "--isolated", "--no-cache", "--select=UP", "--fix-only",
        "--unsafe-fixes", "--exit-zero", "--target-version=py39", "--stdin-filename=chunk.py", "-"]

def answer(body, headers):
    chunk = _chunk_of(body)
    fixed = subprocess.run(RUFF, input=chunk, capture_output=True, text=True).stdout or chunk
    sent = sum(len(m["content"]) for m in body["messages"])
    usage = {"prompt_tokens": sent // 4, "completion_tokens": len(fixed) // 4 + 8,
             "total_tokens": sent // 4 + len(fixed) // 4 + 8}
    return FakeReply.completion("```python\\n" + fixed + "```", usage=usage, cost_in="none")

server = FakeModelServer(answer)
server.start()
print(server.base_url, flush=True)
threading.Event().wait()
"""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *IDENTITY, *args], cwd=repo, check=True, capture_output=True)
    return done.stdout.decode()


def fetch(name: str, work: Path) -> Path:
    """A project's sdist from PyPI, unpacked and committed into a git repository under `work`."""
    repo = work / name
    if (repo / ".git").is_dir():
        return repo
    downloads = work / "sdist"
    pip = [sys.executable, "-m", "pip", "download", name, "--no-binary", ":all:", "--no-deps"]
    subprocess.run([*pip, "--quiet", "-d", str(downloads)], check=True)
    [archive] = downloads.glob(f"{name}-*.tar.gz")
    unpacked = work / f"unpacked-{name}"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    [top] = unpacked.iterdir()
    shutil.move(str(top), repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", archive.name)
    return repo


def timed(
    command: list[str], cwd: Path, env: dict[str, str] | None = None
) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + sys of the command and every child it waited for), output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout + done.stderr


def codemill_env(work: Path, key: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODEMILL_", "AIMLAPI"))}
    env.update(CODEMILL_STATE_DIR=str(work / "state"), XDG_CACHE_HOME=str(work / "cache"))
    if key:
        env["AIMLAPI_API_KEY"] = "sk-bench"
    return env


def codemill(repo: Path, work: Path, *args: str, key: bool = False) -> tuple[float, float, Path]:
    """One `codemill run` in `repo`: wall, CPU and its report directory."""
    command = [str(BIN / "codemill"), "run", ".", "--no-progress", *args]
    wall, cpu, output = timed(command, repo, codemill_env(work, key))
    match = re.search(r"^codemill: report (.+)$", output, re.MULTILINE)
    if match is None:
        raise SystemExit(f"codemill {' '.join(args)}: no report\n{output[-3000:]}")
    return wall, cpu, Path(match.group(1))


def rows(report: Path) -> list[dict[str, Any]]:
    lines = (report / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["record"] == "row" and r["kind"] != "file"]


def engines_line(found: list[dict[str, Any]]) -> str:
    accepted = Counter(r["engine"] for r in found if r["status"] == "accepted")
    return ", ".join(f"{engine} {n}" for engine, n in sorted(accepted.items())) or "none"


# --- model: the hybrid against the model engine ---


def start_fake(work: Path) -> tuple[subprocess.Popen[str], str]:
    script = work / "fake.py"
    script.write_text(FAKE, encoding="utf-8")
    args = [sys.executable, str(script), str(ROOT / "tests" / "support"), str(BIN / "ruff")]
    server = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    return server, server.stdout.readline().strip()


def model_bench(work: Path, jobs: int) -> None:
    repo = fetch("docutils", work)
    server, base_url = start_fake(work)
    print(f"docutils, {len(git(repo, 'ls-files', '*.py').split())} Python files; jobs {jobs}")
    print(
        "| engine | wall | chunks sent | prompt tokens | completion tokens | cost (list prices) "
        "| accepted | made by |"
    )
    print("|---|---|---|---|---|---|---|---|")
    try:
        for engine in ("llm", "hybrid"):
            flags = ["--engine", engine, "--base-url", base_url, "--no-cache", "--dry-run"]
            flags += ["--jobs", str(jobs), "--target-python", "3.9", "--concurrency", "32"]
            wall, _, report = codemill(repo, work, *flags, key=True)
            found = rows(report)
            sent = [r for r in found if r["turns"]]
            prompt = sum(r["prompt_tokens"] for r in found)
            completion = sum(r["completion_tokens"] for r in found)
            cost = sum(r["cost_usd"] for r in found)
            accepted = sum(r["status"] == "accepted" for r in found)
            print(
                f"| {engine} | {wall:.1f} s | {len(sent)} of {len(found)} | {prompt:,} | "
                f"{completion:,} | ${cost:.4f} | {accepted} | {engines_line(found)} |"
            )
    finally:
        server.kill()


# --- offline: modernize with and without ruff's rules, against ruff and libcst alone ---


def copy_of(repo: Path, work: Path, name: str) -> Path:
    copy = work / name
    shutil.rmtree(copy, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", str(repo), str(copy)], check=True)
    return copy


def ruff_alone(repo: Path, work: Path, target: str) -> tuple[float, float, dict[str, set[str]]]:
    """`ruff check --select UP --fix` on a copy: wall, CPU, and per file the rules of the safe fixes
    it had (from its JSON report of the base, as codemill reads it)."""
    copy = copy_of(repo, work, "ruff-copy")
    version = f"--target-version=py{target.replace('.', '')}"
    base = ["check", "--isolated", "--no-cache", "--exit-zero", "--select=UP", version]
    report = subprocess.run(
        [str(BIN / "ruff"), *base, "--output-format=json", "."],
        cwd=copy,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fixes: dict[str, set[str]] = {}
    for violation in json.loads(report):
        if violation["fix"] and violation["fix"]["applicability"] == "safe":
            path = Path(violation["filename"]).relative_to(copy.resolve()).as_posix()
            fixes.setdefault(path, set()).add(f"ruff:{violation['code']}")
    wall, cpu, _ = timed([str(BIN / "ruff"), *base, "--fix", "."], copy)
    return wall, cpu, fixes


def libcst_alone(repo: Path, work: Path, jobs: int) -> tuple[float, float]:
    copy = copy_of(repo, work, "libcst-copy")
    codemod = "convert_percent_format_to_fstring.ConvertPercentFormatStringCommand"
    command = [sys.executable, "-m", "libcst.tool", "codemod", codemod, "-j", str(jobs)]
    wall, cpu, _ = timed([*command, "--no-format", "--hide-progress", "."], copy)
    return wall, cpu


def without_ruff(work: Path) -> Path:
    """The modernize recipe less its `ruff:UP` line, as a user recipe file."""
    text = (ROOT / "prompts" / "modernize.md").read_text(encoding="utf-8")
    recipe = work / "modernize-no-ruff.md"
    recipe.write_text(re.sub(r"^  - ruff:UP.*\n", "", text, flags=re.MULTILINE), encoding="utf-8")
    return recipe


def branch_checks(repo: Path, work: Path, branch: str, test: list[str]) -> str:
    """Compile every file the branch changed and run the project's tests on it and on the base."""
    changed = git(repo, "diff", "--name-only", f"main..{branch}").split()
    results = []
    for ref in ("main", branch):
        tree = work / f"tree-{ref.replace('/', '-')}"
        shutil.rmtree(tree, ignore_errors=True)
        git(repo, "worktree", "prune")
        git(repo, "worktree", "add", "-q", "--detach", str(tree), ref)
        compiled = subprocess.run(
            [sys.executable, "-m", "py_compile", *changed], cwd=tree, capture_output=True, text=True
        )
        tests = subprocess.run(test, cwd=tree, capture_output=True, text=True)
        tail = (tests.stdout + tests.stderr).strip().splitlines()[-1:] or ["(no output)"]
        ok = (
            "all compile"
            if compiled.returncode == 0
            else f"compile FAILED: {compiled.stderr[:300]}"
        )
        results.append(f"{ref}: {ok}; tests exit {tests.returncode}: {tail[0]}")
    return f"{len(changed)} files changed; " + " | ".join(results)


def offline_project(name: str, work: Path, jobs: int) -> None:
    repo = fetch(name, work)
    target, test = PROJECTS[name]
    common = ["--engine", "codemod", "--jobs", str(jobs), "--target-python", target]
    dry = [*common, "--dry-run", "--no-import-check"]
    print(
        f"\n### {name}: {len(git(repo, 'ls-files', '*.py').split())} Python files, target {target}, "
        f"jobs {jobs}, load {os.getloadavg()[0]:.1f}\n"
    )
    ruff_wall, ruff_cpu, ruff_fixes = ruff_alone(repo, work, target)
    cst_wall, cst_cpu = libcst_alone(repo, work, jobs)
    with_wall, with_cpu, with_report = codemill(repo, work, *dry, "--recipe", "modernize")
    no_wall, no_cpu, no_report = codemill(repo, work, *dry, "--recipe", str(without_ruff(work)))
    found, before = rows(with_report), rows(no_report)
    print("| side | wall | CPU | found |")
    print("|---|---|---|---|")
    safe = sum(len(v) for v in ruff_fixes.values())
    print(
        f"| `ruff check --select UP --fix` alone | {ruff_wall:.2f} s | {ruff_cpu:.2f} s | "
        f"{safe} (file, rule) safe fixes in {len(ruff_fixes)} files |"
    )
    print(f"| `libcst.tool codemod` (one codemod) | {cst_wall:.2f} s | {cst_cpu:.2f} s | - |")
    for label, wall, cpu, got in (
        ("modernize, no ruff", no_wall, no_cpu, before),
        ("modernize + ruff:UP", with_wall, with_cpu, found),
    ):
        accepted = [r for r in got if r["status"] == "accepted"]
        rejected = Counter(r["reason"] for r in got if r["status"] == "rejected")
        print(
            f"| codemill {label} | {wall:.2f} s | {cpu:.2f} s | {len(accepted)} chunks accepted "
            f"in {len({r['path'] for r in accepted})} files; rejected {dict(rejected)} |"
        )
    accepted = [r for r in found if r["status"] == "accepted"]
    rules = Counter(rule for r in accepted for rule in r["rule"].split(",") if rule)
    print(f"\nRules of the accepted changes (with ruff): {dict(rules.most_common())}")
    named: dict[str, set[str]] = {}
    for r in found:  # a rule is found when a row names it, as its rule or as a fix left out
        named.setdefault(r["path"], set()).update(x for x in r["rule"].split(",") if x)
        named[r["path"]].update(re.findall(r"ruff:[A-Z]+[0-9]+", r["detail"]))
    missed = {p: sorted(rs - named.get(p, set())) for p, rs in ruff_fixes.items()}
    missed = {p: rs for p, rs in missed.items() if rs}
    print(
        f"ruff's safe fixes not named by any row of the run with ruff's rules: {missed or 'none'}"
    )
    landed = ["--branch", "cm/hybrid-bench", "--force-branch"]
    codemill(repo, work, *common, *landed, "--recipe", "modernize")
    print(f"Branch (import check on): {branch_checks(repo, work, 'cm/hybrid-bench', test)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("model", "offline"))
    parser.add_argument("--work", type=Path, default=None, help="keep downloads and copies here")
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--projects", default="six,docutils,simplejson")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="codemill-bench-hybrid-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.what == "model":
        model_bench(work, args.jobs)
    else:
        for name in args.projects.split(","):
            offline_project(name, work, args.jobs)


if __name__ == "__main__":
    main()
