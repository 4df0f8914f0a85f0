"""The evidence's cost: the test gate with per-test coverage against without, on a real project's suite, and a
bisection with one culprit with and without the coverage map.

1. Gate cost. more-itertools' sdist from PyPI (pip download; its own pytest suite, 663 tests), committed
   into a git repository; one module changed, then both (a harmless line appended); `run_test_gate` (base
   run + one run on the changes, all passing) with `python -m pytest -q` measured by codemill's plugin
   against the same command with the plugin blocked (`-p no:codemill_coverage`), runs interleaved; wall
   time and the children's CPU time (user + sys).
2. Bisection. A generated package of N modules with one test each (bench/gates.py's repository shape), every
   module changed, one change breaking its test's assertion (no traceback names the module, so the suspects-
   first shortcut cannot help): runs and seconds with the map (guided; node ids selected) and without.

    python bench/evidence.py [--reps 3] [--modules 64] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import git  # noqa: E402

from pipeline.gates.suite import TestGateResult, run_test_gate  # noqa: E402

PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider"
UNMEASURED = f"{PYTEST} -p no:codemill_coverage"
PROJECT = "more-itertools==10.5.0"


def commit_all(repo: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b"}
    env |= {"GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "base"], cwd=repo, check=True, env=env)


def fetch_project(work: Path) -> Path:
    """more-itertools' sdist, unpacked and committed under `work` (kept for the next run)."""
    repo = work / "more-itertools"
    if (repo / ".git").is_dir():
        return repo
    downloads = work / "sdist"
    pip = [sys.executable, "-m", "pip", "download", PROJECT, "--no-binary", ":all:", "--no-deps"]
    subprocess.run([*pip, "--quiet", "-d", str(downloads)], check=True)
    [archive] = downloads.glob("more-itertools-*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(work / "unpacked", filter="data")
    [top] = (work / "unpacked").iterdir()
    shutil.move(str(top), repo)
    commit_all(repo)
    return repo


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def gated(
    repo: git.Repo, changes: dict[str, tuple[bytes, bytes]], command: str
) -> tuple[float, float, TestGateResult]:
    cpu, started = children_cpu(), time.perf_counter()
    result = run_test_gate(repo, "HEAD", changes, {}, test_cmd=command, timeout=600)
    return time.perf_counter() - started, children_cpu() - cpu, result


def gate_cost(work: Path, reps: int, paths: tuple[str, ...]) -> None:
    root = fetch_project(work)
    repo = git.Repo(root)
    changes = {}
    for path in paths:
        old = (root / path).read_bytes()
        changes[path] = (old, old + b"\n_codemill_bench = 1\n")
    rows: dict[str, list[tuple[float, float]]] = {"measured": [], "unmeasured": []}
    for _ in range(reps):
        for label, command in (("unmeasured", UNMEASURED), ("measured", PYTEST)):
            wall, cpu, result = gated(repo, changes, command)
            assert not result.dropped and result.runs == 2, result
            if label == "measured":
                assert result.coverage is not None and result.coverage.measured(paths[0])
            rows[label].append((wall, cpu))
            print(f"  {label}: wall {wall:.2f} s, children CPU {cpu:.2f} s", flush=True)
    for label, values in rows.items():
        walls, cpus = sorted(w for w, _ in values), sorted(c for _, c in values)
        print(
            f"{label}: wall median {walls[len(walls) // 2]:.2f} s, CPU median {cpus[len(cpus) // 2]:.2f} s"
        )
    ratio = (
        sorted(c for _, c in rows["measured"])[reps // 2]
        / sorted(c for _, c in rows["unmeasured"])[reps // 2]
    )
    print(f"measured / unmeasured, CPU medians: {ratio:.2f}")


def bisection(work: Path, modules: int) -> None:
    root = work / f"bisect-{modules}"
    if not (root / ".git").is_dir():
        (root / "mods").mkdir(parents=True)
        (root / "tests").mkdir()
        (root / "mods" / "__init__.py").write_text("")
        for i in range(modules):
            (root / "mods" / f"m{i:03d}.py").write_text(f"def value_{i}():\n    return {i}\n")
            test = f"def test_value_{i}():\n    assert value_{i}() == {i}\n"
            (root / "tests" / f"test_m{i:03d}.py").write_text(
                f"from mods.m{i:03d} import value_{i}\n\n\n{test}"
            )
        commit_all(root)
    culprit = modules * 2 // 3
    changes = {}
    for i in range(modules):
        old = f"def value_{i}():\n    return {i}\n".encode()
        new = old.replace(b"return", b"return 1 +" if i == culprit else b"return 0 +")
        changes[f"mods/m{i:03d}.py"] = (old, new)
    repo = git.Repo(root)
    for label, select in (("without the map", False), ("with the map", True)):
        command = PYTEST if select else UNMEASURED
        cpu, started = children_cpu(), time.perf_counter()
        result = run_test_gate(
            repo, "HEAD", changes, {}, test_cmd=command, timeout=600, select_tests=select
        )
        wall = time.perf_counter() - started
        assert [d.path for d in result.dropped] == [f"mods/m{culprit:03d}.py"], result.dropped
        print(
            f"{label}: {result.runs} runs, wall {wall:.2f} s, children CPU {children_cpu() - cpu:.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--modules", type=int, default=64)
    parser.add_argument(
        "--work", type=Path, default=None, help="keep the download and repositories here"
    )
    args = parser.parse_args()
    print(f"{platform.platform()} | {os.cpu_count()} cpus | Python {platform.python_version()}")
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="codemill-bench-evidence-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for paths in (
            ("more_itertools/recipes.py",),
            ("more_itertools/more.py", "more_itertools/recipes.py"),
        ):
            print(
                f"gate cost on {PROJECT}'s suite, {' and '.join(paths)} changed, {args.reps} reps:"
            )
            gate_cost(work, args.reps, paths)
        print(f"bisection over {args.modules} changed modules, one culprit:")
        bisection(work, args.modules)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
