"""The cost of `codemill apply` on a big reviewed run: hundreds of files, thousands of accepted chunks.

A repository of FILES modules, each one class over the chunk budget with METHODS methods that call
`super(Cls, self)`, is dry-run with the `modernize` codemods (offline, no model), so every method is an
accepted chunk. Then `codemill apply` on that report is timed REPS times (each to a new branch), as a
real subprocess with the wall clock. With `--code DIR`, the codemill under DIR runs instead (e.g. a
`git archive` of an older commit): so an apply that proves every chunk again is measured against one that
did not, on the same machine and the same input.

    python bench/apply_replay.py --files 300 --methods 12 --reps 3
    python bench/apply_replay.py --code /tmp/codemill-before --files 300 --methods 12 --reps 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MAIN = "from flows.cli import main; main()"


def module(index: int, methods: int) -> str:
    """One class over the budget: each method a chunk the `modernize` codemods change. No `(object)`
    base: the codemods would change the class header, which an apply before span replay refused."""
    name = f"Model{index}"
    body = "".join(
        f"    def m{k}(self, x):\n        y = super({name}, self).m{k}(x)\n"
        f"        return y + {k}\n\n"
        for k in range(methods)
    )
    return f"class {name}:\n    '''Model {index}.'''\n\n{body}"


def git(repo: Path, *args: str) -> None:
    ident = ["-c", "user.name=Bench", "-c", "user.email=bench@example.invalid"]
    subprocess.run(["git", *ident, *args], cwd=repo, check=True, capture_output=True)


def make_repo(root: Path, files: int, methods: int) -> Path:
    repo = root / "repo"
    (repo / "pkg").mkdir(parents=True)
    for i in range(files):
        (repo / "pkg" / f"m{i:04d}.py").write_text(module(i, methods))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "bench")
    return repo


def codemill(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The codemill on PYTHONPATH (else the installed one), run from `cwd`: `-c` puts the working
    directory first on sys.path, so it must not be a checkout."""
    done = subprocess.run(
        [sys.executable, "-c", MAIN, *args], env=env, cwd=cwd, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"codemill {args[0]} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def accepted(report: Path) -> int:
    lines = (report / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    return sum(1 for r in map(json.loads, lines) if r.get("status") == "accepted")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--methods", type=int, default=12)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--code", type=Path, help="run the codemill under this directory")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="apply-replay-"))
    env = {**os.environ, "CODEMILL_STATE_DIR": str(root / "state"), "CODEMILL_BUDGET": "200"}
    env.pop("AIMLAPI_API_KEY", None)
    if args.code is not None:
        env["PYTHONPATH"] = str(args.code.resolve())
    repo = make_repo(root, args.files, args.methods)
    report = root / "report"
    codemill(env, root, "run", str(repo), "--dry-run", "--engine", "codemod", "--no-import-check",
             "--orchestrator", "local", "--no-progress", "--report-dir", str(report))  # fmt: skip
    run_dir = next(p.parent for p in report.rglob("ledger.jsonl"))
    if args.code is not None and '"sha256"' in (run_dir / "ledger.jsonl").read_text():
        raise SystemExit(f"the run was made by this checkout's codemill, not by {args.code}'s")
    walls, cpus = [], []
    for rep in range(args.reps):
        started, before = time.perf_counter(), _children_cpu()
        codemill(env, root, "apply", str(run_dir), "--repo", str(repo), "--branch", f"bench/{rep}")
        walls.append(time.perf_counter() - started)
        cpus.append(_children_cpu() - before)
    print(
        f"apply: {args.files} files, {accepted(run_dir)} accepted chunks, wall best "
        f"{min(walls):.2f} s, median {statistics.median(walls):.2f} s; CPU (user+sys, with git and "
        f"workers) best {min(cpus):.2f} s, median {statistics.median(cpus):.2f} s; over {args.reps} "
        f"({'code ' + str(args.code) if args.code else 'this checkout'})"
    )


def _children_cpu() -> float:
    """CPU seconds of every finished child process and their waited-for descendants: steadier than
    the wall clock on a machine others load."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
