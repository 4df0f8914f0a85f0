"""Gate overhead on a generated repository with N changed modules, against running the tests once.

The repository (made in a temp dir) has a package of N modules, each with two small functions and
an import of a shared helper, and a small pytest suite (one test file per 30 modules). Every module
gets a trivial change (`x * 2` -> `2 * x`). Measured:

* baseline: the test command run once in the checkout (what a CI step costs anyway), best of 3;
* import gate: `check_imports` over all N modules, jobs=1 and jobs=2, and its per-module cost,
  next to the naive design (a fresh `python -I` per module, measured on a sample and scaled);
* test gate, all changes pass: `run_test_gate` (base run + one run);
* test gate, one change breaks a test's assertion: the runs the prefix bisection takes, its time;
* test gate, one change raises inside its module (the traceback names it): suspects-first runs.

    python bench/gates.py [--modules 300] [--sample 40]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import git  # noqa: E402

from pipeline.gates.import_check import check_imports  # noqa: E402
from pipeline.gates.suite import run_test_gate  # noqa: E402

TEST_CMD = (
    f"PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 {sys.executable} -m pytest -q -p no:cacheprovider tests"
)


def module_source(i: int) -> bytes:
    return (
        f"from bigpkg.helpers import clamp\n\n\n"
        f"def double_{i}(x):\n    return x * 2\n\n\n"
        f"def bounded_{i}(x):\n    return clamp(x + {i}, 0, 1000)\n"
    ).encode()


def make_repo(root: Path, modules: int) -> git.Repo:
    """The generated repository, committed."""
    pkg = root / "bigpkg"
    (root / "tests").mkdir(parents=True)
    pkg.mkdir()
    (pkg / "__init__.py").write_bytes(b"")
    (pkg / "helpers.py").write_bytes(b"def clamp(x, lo, hi):\n    return max(lo, min(hi, x))\n")
    for i in range(modules):
        (pkg / f"mod_{i:03d}.py").write_bytes(module_source(i))
    for start in range(0, modules, 30):
        lines = [
            f"from bigpkg.mod_{i:03d} import double_{i}, bounded_{i}"
            for i in range(start, min(start + 30, modules))
        ]
        tests = [
            f"def test_mod_{i:03d}():\n    assert double_{i}(3) == 6\n    assert bounded_{i}(1) >= 0\n"
            for i in range(start, min(start + 30, modules))
        ]
        (root / "tests" / f"test_block_{start:03d}.py").write_text(
            "\n".join(lines) + "\n\n\n" + "\n\n".join(tests)
        )
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b"}
    env |= {"GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run(["git", "add", "."], cwd=root, check=True)
    subprocess.run(["git", "commit", "-qm", "base"], cwd=root, check=True, env=env)
    return git.Repo(root)


def timed(label: str, fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    seconds = time.perf_counter() - started
    print(f"  {label}: {seconds:.2f} s", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modules", type=int, default=300)
    parser.add_argument("--sample", type=int, default=40)
    args = parser.parse_args()
    n = args.modules
    print(f"{platform.platform()} | {os.cpu_count()} cpus | Python {platform.python_version()}")
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="codemill-bench-gates-") as tmp:
        root = Path(tmp) / "repo"
        repo = make_repo(root, n)
        changes = {
            f"bigpkg/mod_{i:03d}.py": (
                module_source(i),
                module_source(i).replace(b"x * 2", b"2 * x"),
            )
            for i in range(n)
        }

        baseline = min(
            timed(
                "baseline: test command once",
                lambda: subprocess.run(
                    TEST_CMD, shell=True, cwd=root, check=True, capture_output=True
                ),
            )
            for _ in range(3)
        )

        path_setup = f"import sys; sys.path.insert(0, {str(root)!r})"

        def naive() -> None:
            for i in range(args.sample):
                subprocess.run(
                    [sys.executable, "-I", "-c", f"{path_setup}; import bigpkg.mod_{i:03d}"],
                    env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
                    check=True,
                )

        naive_s = timed(f"naive fresh interpreter per module ({args.sample} sampled)", naive)

        results: dict[str, object] = {}

        def imports(jobs: int) -> None:
            results[f"j{jobs}"] = check_imports(repo, "HEAD", changes, timeout=30, jobs=jobs)

        imp1 = timed(f"import gate, {n} modules, jobs=1", lambda: imports(1))
        imp2 = timed(f"import gate, {n} modules, jobs=2", lambda: imports(2))
        for key, found in results.items():
            assert isinstance(found, dict)
            assert all(r.ok and not r.detail for r in found.values()), key

        passing = run_test_gate(repo, "HEAD", changes, {}, test_cmd=TEST_CMD, timeout=300)
        assert not passing.dropped
        print(f"  test gate, all pass: {passing.seconds:.2f} s, {passing.runs} runs")

        broken = dict(changes)
        bad = "bigpkg/mod_123.py" if n > 123 else "bigpkg/mod_000.py"
        broken[bad] = (changes[bad][0], changes[bad][0].replace(b"x * 2", b"x * 3"))
        one_bad = run_test_gate(repo, "HEAD", broken, {}, test_cmd=TEST_CMD, timeout=300)
        assert [d.unit_id for d in one_bad.dropped] == [bad]
        print(
            f"  test gate, one culprit: {one_bad.seconds:.2f} s, {one_bad.runs} runs, "
            f"dropped {bad}: {one_bad.dropped[0].detail}"
        )

        raising = dict(changes)
        culprit = f"bigpkg/mod_{n // 2:03d}.py"
        raising[culprit] = (changes[culprit][0], changes[culprit][0].replace(b", 0, 1000)", b")"))
        named = run_test_gate(repo, "HEAD", raising, {}, test_cmd=TEST_CMD, timeout=300)
        assert [d.unit_id for d in named.dropped] == [culprit]
        print(
            f"  test gate, culprit named in a traceback: {named.seconds:.2f} s, {named.runs} runs"
        )

    naive_per = naive_s / args.sample
    print("\nsummary")
    print(f"  baseline (test command once)          {baseline:.2f} s = 1.00x")
    print(f"  import gate jobs=1                    {imp1:.2f} s = {imp1 / baseline:.2f}x")
    print(f"  import gate jobs=2                    {imp2:.2f} s = {imp2 / baseline:.2f}x")
    print(f"  import gate per module (jobs=1)       {1000 * imp1 / n:.1f} ms")
    print(f"  naive fresh interpreter per module    {1000 * naive_per:.1f} ms")
    print(
        f"  test gate all pass ({passing.runs} runs)           "
        f"{passing.seconds:.2f} s = {passing.seconds / baseline:.2f}x"
    )
    print(
        f"  test gate one culprit ({one_bad.runs} runs)       "
        f"{one_bad.seconds:.2f} s = {one_bad.seconds / baseline:.2f}x"
    )
    print(
        f"  test gate named culprit ({named.runs} runs)      "
        f"{named.seconds:.2f} s = {named.seconds / baseline:.2f}x"
    )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
